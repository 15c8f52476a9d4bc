"""One writer for a window's label changes: its own thread and connection, retried while locked.

Another program may hold the project's write lock for a long time (an import
of millions of documents is one transaction). A writer on the UI thread would
freeze the window for SQLite's whole busy timeout and then lose the change.
:class:`LabelWriter` runs every write, in the order it was submitted, on one
thread that owns its own connection: each attempt waits at most
``busy_timeout_ms`` for the lock, and a locked attempt is retried until it
commits. After ``patience_s`` of waiting the request is reported as
``stalled`` once (so the user can be told), and it keeps being retried.
A request fails only for a reason that waiting cannot fix (read-only file,
a label conflict, a bug) or when the writer is closed before it committed;
the caller decides what to tell the user.

``report(kind, request)`` is called on the writer thread with ``kind`` one
of ``"done"``, ``"failed"`` or ``"stalled"``; it must only hand the request
over (e.g. to a UI thread's inbox), never do the work itself.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from core.errors import ProjectError, StudioError
from core.project.file import LabelConflict, Project

# Each attempt waits this long for the write lock; short, so a close or a
# failure is noticed quickly, while retries continue behind it.
BUSY_TIMEOUT_MS = 100
RETRY_PAUSE_S = 0.05
# Waiting longer than this for the lock is reported (once per request).
PATIENCE_S = 3.0


def is_locked_error(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite saying another connection holds the lock (worth retrying)."""
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


@dataclass(eq=False)
class WriteRequest:
    """One write: ``op(project)`` runs on the writer thread; the outcome lands here."""

    op: Callable[[Project], Any]
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: str | None = None
    conflict: bool = False  # the error is a LabelConflict: the labels changed elsewhere
    trace: str = ""
    stalled: bool = False  # waited longer than the patience for the lock


_STOP = object()


class LabelWriter:
    """Runs submitted writes one at a time, in order, on its own thread and connection."""

    def __init__(self, path: str | Path, report: Callable[[str, WriteRequest], None], *,
                 busy_timeout_ms: int | None = None, patience_s: float | None = None) -> None:
        self.path = Path(path)
        self._report = report
        self._busy_timeout_ms = BUSY_TIMEOUT_MS if busy_timeout_ms is None else busy_timeout_ms
        self._patience_s = PATIENCE_S if patience_s is None else patience_s
        self._queue: queue.Queue = queue.Queue()
        self._abandon = threading.Event()
        self._thread = threading.Thread(target=self._run, name="label-writer", daemon=True)
        self._started = False

    def start(self) -> None:
        """Start the thread and open its connection now (else on the first write)."""
        if not self._started:
            self._started = True
            self._thread.start()
            self._queue.put(WriteRequest(lambda _project: None))  # opens the connection

    def submit(self, op: Callable[[Project], Any]) -> WriteRequest:
        request = WriteRequest(op)
        self._queue.put(request)
        if not self._started:
            self._started = True
            self._thread.start()
        return request

    def close(self, timeout: float | None = None) -> bool:
        """Finish the queued writes and stop; True when all of them ended within ``timeout``.

        Writes still waiting for the lock after ``timeout`` fail ("not
        saved") and are reported, so the caller can say which.
        """
        if not self._started:
            return True
        self._queue.put(_STOP)
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._abandon.set()
            self._thread.join()
            return False
        return True

    # -- writer thread ------------------------------------------------------------
    def _open(self) -> Project:
        project = Project.open(self.path, read_only=None)
        project.conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_ms)}")
        return project

    def _run(self) -> None:
        project: Project | None = None
        try:
            while True:
                request = self._queue.get()
                if request is _STOP:
                    return
                if project is None:
                    try:
                        project = self._open()
                    except StudioError as exc:
                        self._fail(request, str(exc))
                        continue
                self._attempt(project, request)
        finally:
            if project is not None:
                project.close()

    def _attempt(self, project: Project, request: WriteRequest) -> None:
        started = time.monotonic()
        while True:
            try:
                request.result = request.op(project)
            except sqlite3.OperationalError as exc:
                if project.conn.in_transaction:
                    project.conn.execute("ROLLBACK")
                project._depth = 0
                if not is_locked_error(exc):
                    self._fail(request, f"the project file could not be written ({exc})")
                    return
                if self._abandon.is_set():
                    self._fail(request, "not saved: another program kept the project locked")
                    return
                if not request.stalled and time.monotonic() - started >= self._patience_s:
                    request.stalled = True
                    self._report("stalled", request)
                time.sleep(RETRY_PAUSE_S)
                continue
            except LabelConflict as exc:
                request.conflict = True
                self._fail(request, str(exc))
            except StudioError as exc:
                self._fail(request, str(exc))
            except Exception as exc:  # a bug: the caller logs the trace and tells the user
                self._fail(request, f"{type(exc).__name__}: {exc}", traceback.format_exc())
            else:
                request.done.set()
                self._report("done", request)
            return

    def _fail(self, request: WriteRequest, message: str, trace: str = "") -> None:
        request.error = message
        request.trace = trace
        request.done.set()
        self._report("failed", request)


def write_when_free(project: Project, op: Callable[[Project], Any], *, wait_s: float,
                    on_wait: Callable[[], None] | None = None) -> Any:
    """``op(project)``, retried while another program holds the lock, for up to ``wait_s`` seconds.

    For one-shot writers (the CLI): ``on_wait`` is called once, when the
    first attempt finds the project locked. Raises :class:`ProjectError`
    when the lock outlasts ``wait_s``; nothing was written then.
    """
    project.conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    deadline = time.monotonic() + max(0.0, wait_s)
    told = False
    while True:
        try:
            return op(project)
        except sqlite3.OperationalError as exc:
            if project.conn.in_transaction:
                project.conn.execute("ROLLBACK")
            project._depth = 0
            if not is_locked_error(exc):
                raise
            if time.monotonic() >= deadline:
                raise ProjectError(
                    f"{project.path}: another program kept the project locked for {wait_s:g} s; "
                    f"nothing was changed; try again when it has finished (or raise --wait)"
                ) from None
            if not told and on_wait is not None:
                told = True
                on_wait()
            time.sleep(RETRY_PAUSE_S)
