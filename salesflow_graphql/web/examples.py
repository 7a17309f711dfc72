"""GraphiQL's default tabs: the operations in ``examples/operations`` when there are any.

In a source checkout, every ``examples/operations/*.graphql`` file is a tab
(variables from ``<name>.variables.json`` or ``<name>.json`` next to it), read
at request time so an edited example shows on the next page load. Operations
with an ``Upload`` variable are left out: GraphiQL cannot send files. The dashboard,
forecast and alert operations come first. An installed gateway (no checkout) or
an empty folder falls back to the built-in examples below.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

log = logging.getLogger(__name__)

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples" / "operations"
MAX_TABS = 12
UPLOAD_VARIABLE = re.compile(r"\$\w+\s*:\s*\[?\s*Upload\b")
#: Files whose names contain these words come first, in this order; the rest by name.
PREFERRED = (
    "dashboard",
    "forecast",
    "alerts-subscription",
    "anomaly",
    "alert",
    "product",
    "report",
    "import",
)

BUILT_IN: list[dict[str, str]] = [
    {
        "query": """# The dashboard: sales KPIs, the weekly trend, top products and stock to reorder.
# Run with Ctrl-Enter. Needs a token (the bar above); USER or ADMIN.
query Dashboard {
  salesAnalytics(granularity: WEEK, top: 5) {
    range { start end days }
    kpis { revenue orders averageOrderValue revenueChange }
    trend { period revenue orders }
    topProducts { product { sku name category } revenue shareOfRevenue }
    categories { category revenue shareOfRevenue }
  }
  stockAnalytics(lookbackDays: 30, leadTimeDays: 7) {
    kpis { productCount stockValue outOfStock reorderNeeded averageDaysOfCover }
    items(status: REORDER) { product { sku name } daysOfCover suggestedReorderQuantity }
  }
}
""",
    },
    {
        "query": """# 14 days of revenue for a category, with intervals and the backtest.
query Forecast($key: String = "Electronics") {
  forecast(input: { level: CATEGORY, key: $key, metric: REVENUE, horizonDays: 14 }) {
    model
    trainedAt
    points { date value lower upper }
    backtest { folds mase baselineMase smape intervalCoverage }
  }
}
""",
        "variables": '{\n  "key": "Electronics"\n}\n',
    },
    {
        "query": """# Alerts as they are raised (over WebSocket). Start it, then run the
# RunAnomalyCheck tab (ADMIN token) or wait for the scheduled check.
subscription Alerts {
  alerts(minSeverity: LOW) {
    id
    kind
    severity
    subject
    message
    observed
    expected
    detectedAt
  }
}
""",
    },
    {
        "query": """# Scan the shop for anomalies now (ADMIN only); subscribers get each new alert.
mutation RunAnomalyCheck {
  runAnomalyCheck {
    checkedSeries
    notified
    alerts { id kind severity subject message }
  }
}
""",
    },
]


def _rank(path: Path) -> tuple[int, str]:
    name = path.stem.lower()
    for index, word in enumerate(PREFERRED):
        if word in name:
            return index, name
    return len(PREFERRED), name


def _variables(path: Path) -> str | None:
    for candidate in (path.with_suffix(".variables.json"), path.with_suffix(".json")):
        if candidate.is_file():
            try:
                return json.dumps(json.loads(candidate.read_text(encoding="utf-8")), indent=2)
            except (OSError, ValueError):
                log.warning("ignoring unreadable example variables %s", candidate)
    return None


def graphiql_examples(directory: Path = EXAMPLES_DIR) -> list[dict[str, str]]:
    """GraphiQL ``defaultTabs``: ``[{"query": ..., "variables": ...}, ...]``."""
    tabs: list[dict[str, str]] = []
    if directory.is_dir():
        for path in sorted(directory.glob("*.graphql"), key=_rank)[:MAX_TABS]:
            try:
                query = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                log.warning("ignoring unreadable example %s", path)
                continue
            if not query.strip() or UPLOAD_VARIABLE.search(query):
                continue  # GraphiQL cannot send files (multipart): an upload tab would only fail
            tab = {"query": query}
            variables = _variables(path)
            if variables:
                tab["variables"] = variables
            tabs.append(tab)
    return tabs or [dict(tab) for tab in BUILT_IN]
