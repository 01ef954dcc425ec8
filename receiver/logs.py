"""Logging for the long-running commands: text, or one JSON object per line."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from datetime import UTC, datetime
from types import TracebackType
from typing import TextIO


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message (and the exception, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:  # given with extra= (the access log; lines about one task)
            if name in record.__dict__:
                entry[name] = record.__dict__[name]
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


FIELDS = ("task_id", "route", "method", "status", "duration_ms")


class TextFormatter(logging.Formatter):
    """`time level logger message`; the time's text up to the second is made once a second
    (the access log writes a line per request, and strftime was a tenth of each)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")
        self._second = -1
        self._second_text = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        second = int(record.created)
        if second != self._second:
            self._second_text = time.strftime(self.default_time_format, self.converter(second))
            self._second = second
        return f"{self._second_text},{int(record.msecs):03d}"


def configure_logging(
    fmt: str = "text", level: str = "info", stream: TextIO | None = None
) -> None:
    """Logs on stderr from `level` up (REELHOOK_LOG_LEVEL; REELHOOK_LOG_FORMAT: text or json).
    httpx's own request lines are left out where its clients are made
    (dispatcher/guarded_transport.py)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    _skip_unused_record_fields()
    # Warnings and uncaught exceptions (main thread or another, such as the writer) would
    # otherwise be printed raw on stderr, several lines each, past the formatter.
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread


def _skip_unused_record_fields() -> None:
    """Leave out of every record what neither format prints: the caller's file and line, the
    thread, the process (the Logging HOWTO's "Optimization"). The access log writes a record per
    request, and these lookups were a quarter of each one."""
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def _log_uncaught(
    kind: type[BaseException], error: BaseException, trace: TracebackType | None
) -> None:
    logging.getLogger("reelhook").critical("uncaught exception", exc_info=(kind, error, trace))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit or args.exc_value is None:
        return
    name = args.thread.name if args.thread is not None else "?"
    logging.getLogger("reelhook").critical(
        "uncaught exception in thread %s", name,
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
    )
