"""JSON logs, one line per decision.

A decision line reads well in a terminal (``workflow submitted: stage=PLANNING name=…``) and
carries the same fields as JSON keys for log search. Secrets never go through here.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_configured = False


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, separators=(",", ":"))


def configure(level: str = "INFO") -> None:
    """Install the JSON handler on the root logger once per process."""
    global _configured
    if _configured:
        return
    # What the JSON lines never show, the logging HOWTO's "Optimization" section says how to stop
    # computing: the caller's frame, thread, process and multiprocessing names (a third of a
    # decision line's cost, paid on every delivery).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    _configured = True


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name)


def decision(logger: logging.Logger, what: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one decision as ``what: k=v …`` with the fields also as JSON keys."""
    if not logger.isEnabledFor(level):  # nothing to build at a level that drops it (every delivery)
        return
    shown = " ".join(f"{key}={value}" for key, value in fields.items() if value is not None)
    # A field named like a LogRecord attribute ("name", "module", ...) would make logging raise
    # KeyError and turn a handled event into a 500: such keys get a trailing underscore.
    extra = {(f"{key}_" if key in _RESERVED else key): value for key, value in fields.items()}
    logger.log(level, f"{what}: {shown}" if shown else what, extra=extra)
