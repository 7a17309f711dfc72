"""Log lines of the process: one JSON object a line (the default) or readable text.

:func:`configure_logging` sets up the root logger once, for ``serve`` and
``worker``; every module keeps logging through ``logging.getLogger(__name__)``.
A JSON line has ``ts`` (UTC, ISO 8601), ``level``, ``logger`` and ``message``,
then whatever the call passed in ``extra=`` (the access log's fields), and
``exc`` with the traceback when there is one. Text lines carry the same
extras as ``key=value`` after the message.

``salesflow_graphql.access`` has one line per request (per GraphQL request,
per request to any other logged route, per refusal anywhere, per WebSocket
operation; see :mod:`.edge.observe`).
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

#: The logger of the per-request access lines.
ACCESS_LOGGER = "salesflow_graphql.access"

#: Attributes every LogRecord has; anything else on a record came from ``extra=``.
_RECORD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's ANSI-coloured copy of the message
}


def record_extras(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a log call passed with ``extra=``."""
    return {
        key: value
        for key, value in record.__dict__.items()
        if key not in _RECORD_ATTRIBUTES and not key.startswith("_")
    }


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, the extras, exc."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record_extras(record).items():
            entry.setdefault(key, value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    """``time level logger: message key=value ...`` for people reading a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = record_extras(record)
        if not extras:
            return line
        first, newline, rest = line.partition("\n")  # keep a traceback below the fields
        fields = " ".join(f"{key}={_text_value(value)}" for key, value in extras.items())
        return f"{first} {fields}{newline}{rest}"


def _text_value(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(map(str, value)) or "-"
    return "-" if value is None else str(value)


def configure_logging(level: str, log_format: str, *, stream: TextIO | None = None) -> None:
    """Send every logger's lines to ``stream`` (stderr) in ``log_format`` (json or text).

    Replaces the root logger's handlers, so calling it again reconfigures.
    uvicorn's loggers are made to propagate here instead of keeping their own
    handlers (run uvicorn with ``log_config=None``).
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format.lower() == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.setLevel(logging.NOTSET)  # the root's level, until uvicorn sets its own
        uvicorn_logger.propagate = True
    logging.captureWarnings(True)  # Python warnings become log lines too, not raw stderr
    # One line per Java call is DEBUG detail: the access line counts them (upstream_calls).
    logging.getLogger("httpx").setLevel(
        logging.DEBUG if level.upper() == "DEBUG" else logging.WARNING
    )
