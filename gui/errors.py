"""Unexpected errors (bugs) reach the user as a message and land in a log file.

An exception that escapes a slot or an event handler goes to
``sys.excepthook``; one raised by a job function comes back through the job
runner with its trace. Both end in :func:`report_unexpected`: the trace is
appended to :func:`log_path` and :data:`reporter` announces a one-line
summary, which the main window shows. Nothing is only printed to stderr.
"""

from __future__ import annotations

import os
import sys
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, QStandardPaths, QThread, Signal

LOG_NAME = "retriever-studio.log"


def log_path() -> Path:
    """Where unexpected errors are written (the app's data folder, else the home folder)."""
    override = os.environ.get("RETRIEVER_STUDIO_LOG")
    if override:
        return Path(override)
    folder = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppLocalDataLocation)
    return Path(folder) / LOG_NAME if folder else Path.home() / f".{LOG_NAME}"


class ErrorReporter(QObject):
    """Announces unexpected errors on the UI thread; ``reported`` keeps them for tests."""

    unexpected = Signal(str, str)  # (one-line summary, log file path)

    def __init__(self) -> None:
        super().__init__()
        self.reported: list[tuple[str, str]] = []  # (summary, trace)


reporter = ErrorReporter()


def write_log(summary: str, trace: str) -> Path | None:
    path = log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as fh:
            stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
            fh.write(f"--- {stamp} {summary}\n{trace.rstrip()}\n")
        return path
    except OSError:
        return None


def report_unexpected(summary: str, trace: str) -> None:
    """Log ``trace`` and tell the user ``summary`` (call on the UI thread)."""
    reporter.reported.append((summary, trace))
    path = write_log(summary, trace)
    reporter.unexpected.emit(summary, str(path) if path else "")


def install_excepthook() -> Callable:
    """Route exceptions that escape to the event loop to :func:`report_unexpected`.

    Returns the hook it replaced, for the caller to put back when its event
    loop ends (a test harness's own hook must survive the app).
    """
    previous = sys.excepthook

    def hook(kind, value, tb) -> None:
        trace = "".join(traceback.format_exception(kind, value, tb))
        summary = f"{kind.__name__}: {value}"
        app_thread = QThread.currentThread()
        if app_thread is reporter.thread():
            report_unexpected(summary, trace)
        else:
            write_log(summary, trace)
        previous(kind, value, tb)

    sys.excepthook = hook
    return previous
