"""Structured logs: one JSON object per line."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class _DropAlembicPreamble(logging.Filter):
    """Alembic announces its dialect and DDL mode before every upgrade, even with nothing to do."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(("Context impl", "Will assume"))


class OncePerOutage(logging.Filter):
    """SAQ logs a traceback every second while Redis is unreachable ("Upkeep task failed unexpectedly",
    "Error processing job None"): the first of an outage becomes one warning without the traceback, the
    rest are dropped until `quiet_seconds` pass without one (the outage is over)."""

    def __init__(self, quiet_seconds: float = 30.0):
        super().__init__()
        self.quiet_seconds = quiet_seconds
        self._last: float | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        from core.exhaustion import exhausted_resource

        exc = record.exc_info[1] if record.exc_info else None
        resource = exhausted_resource(exc) if exc is not None else None
        if resource is None:
            return True
        first = self._last is None or record.created - self._last > self.quiet_seconds
        self._last = record.created
        if first:
            record.msg, record.args = (
                "%s (the %s is unreachable: %s); retrying quietly",
                (
                    record.getMessage(),
                    resource,
                    exc,
                ),
            )
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return first


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # alembic.runtime.plugins: seven "setup plugin ..." lines on every import of alembic.
    for noisy in ("uvicorn.access", "saq", "alembic.runtime.plugins"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    saq = logging.getLogger("saq")
    if not any(isinstance(f, OncePerOutage) for f in saq.filters):
        saq.addFilter(OncePerOutage())
    migration = logging.getLogger("alembic.runtime.migration")
    if not any(isinstance(f, _DropAlembicPreamble) for f in migration.filters):
        migration.addFilter(_DropAlembicPreamble())
    logging.captureWarnings(True)  # `warnings.warn` from libraries becomes a JSON line too (py.warnings)
