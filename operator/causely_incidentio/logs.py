"""Logging setup shared by the commands: one line per event, as text or as JSON (``--log-format json``).

Tokens never reach log calls. As a second line of defence, both formats redact ``Bearer <value>`` wherever it
appears (message, exception, extra fields), and the JSON format — which, unlike the text format, writes a
record's ``extra`` fields — redacts any extra field whose name says it holds a secret.
"""

from __future__ import annotations

import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
REDACTED = "[redacted]"
_BEARER = re.compile(r"(?i)\b(bearer)(\s+)[^\s\"'\\,;]+")
_SECRET_FIELD = re.compile(r"(?i)token|authorization|secret|password|api_?key|credential")
_JSON_FIELDS = {"asctime": "time", "levelname": "level", "name": "logger", "message": "message"}

_default_format = "text"


def redact(text: str) -> str:
    return _BEARER.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(_JsonFormatter):
    """One JSON object per line: ``time`` (RFC 3339, UTC), ``level``, ``logger``, ``message``, then
    ``exception`` / ``stack`` when present and any ``extra`` fields."""

    def __init__(self) -> None:
        super().__init__(
            list(_JSON_FIELDS),
            rename_fields={**_JSON_FIELDS, "exc_info": "exception", "stack_info": "stack"},
        )

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        moment = datetime.fromtimestamp(record.created, tz=UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        core = set(_JSON_FIELDS.values()) | {"exception", "stack"}
        return {key: (REDACTED if key not in core and _SECRET_FIELD.search(key) else value)
                for key, value in log_data.items()}

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def use_format(fmt: str) -> None:
    """Make ``fmt`` the format of every later :func:`setup_logging` that names none (set by ``--log-format``)."""
    global _default_format
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    _default_format = fmt


def make_formatter(fmt: str) -> logging.Formatter:
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    return JsonFormatter() if fmt == "json" else TextFormatter()


def setup_logging(level: str = "INFO", fmt: str | None = None) -> None:
    """Log to stderr at ``level`` in ``fmt`` (default: the ``--log-format`` chosen on the command line, else text).

    Like :func:`logging.basicConfig`, it leaves a root logger that already has handlers alone (tests, embedding).
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(make_formatter(fmt or _default_format))
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO), handlers=[handler])
    # httpx logs every request URL at INFO; keep that for DEBUG.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
