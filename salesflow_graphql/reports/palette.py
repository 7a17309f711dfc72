"""The reports' colours: one navy-and-teal palette for the PDF, its charts and the XLSX."""

from __future__ import annotations

from reportlab.lib import colors

INK = colors.HexColor("#1B2A41")
MUTED = colors.HexColor("#667085")
PRIMARY = colors.HexColor("#1F4E79")
PRIMARY_FILL = colors.HexColor("#DCE7F3")
ACCENT = colors.HexColor("#2A9D8F")
BAND = colors.HexColor("#CDEBE7")
GRID = colors.HexColor("#E4E8EE")
PANEL = colors.HexColor("#F4F6F9")
POSITIVE = colors.HexColor("#1E7B4F")
NEGATIVE = colors.HexColor("#B42318")
WARNING = colors.HexColor("#B54708")

#: Status colours, shared by the PDF's reorder table and the XLSX's conditional formats.
STATUS_HEX = {
    "OUT_OF_STOCK": ("B42318", "FEE4E2"),
    "LOW_STOCK": ("B54708", "FEF0C7"),
    "REORDER": ("1F4E79", "DCE7F3"),
    "DEAD_STOCK": ("475467", "EAECF0"),
    "OK": ("1E7B4F", "D1FADF"),
}

CATEGORY_HEX = (
    "1F4E79",
    "2A9D8F",
    "E9C46A",
    "F4A261",
    "E76F51",
    "7A9E7E",
    "6D597A",
    "4F86C6",
    "B5838D",
)
CATEGORY_COLOURS = tuple(colors.HexColor("#" + h) for h in CATEGORY_HEX)
