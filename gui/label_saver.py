"""The UI side of the label writer: what is being saved, and telling the views and the user.

Every label write of an open project goes to one :class:`core.project.writer.LabelWriter`
(its own thread and connection). The UI thread only submits and, for a few
milliseconds, waits: on a free database the write has committed by then and
the change shows at once; otherwise the pairs show as *pending* until the
writer reports back through the job runner's UI-thread inbox. A write that
waits long for a lock held by another program is announced (``stateChanged``,
:meth:`LabelSaver.status`); a write that fails is announced with
``saveFailed`` and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal

from core.project.writer import LabelWriter, WriteRequest

from .workers import JobRunner

# How long the UI thread waits for a write it just submitted before showing it
# as pending: a write to a free database commits well within it.
INLINE_WAIT_S = 0.005

# The target label of a pending pair when it is not known yet (an undo queued
# behind a write that has not committed).
UNKNOWN = object()


@dataclass(eq=False)
class PendingWrite:
    description: str
    targets: dict[tuple[str, str], Any]  # (query, doc) -> label it will have, None, or UNKNOWN
    on_saved: Callable[[Any], None]
    on_failed: Callable[[WriteRequest], None]
    request: WriteRequest | None = field(default=None)


class LabelSaver(QObject):
    """Queues label writes on the writer thread and reports their outcome on the UI thread."""

    stateChanged = Signal()  # the pending set, or its "waiting for the lock" state, changed
    saveFailed = Signal(str, str)  # (what was being saved, why it failed)

    def __init__(self, path: Path, jobs: JobRunner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._jobs = jobs
        self._pending: dict[WriteRequest, PendingWrite] = {}
        self._writer = LabelWriter(path, self._from_writer_thread)
        self._closed = False

    def start(self) -> None:
        """Open the writer's connection now, so the first label does not wait for it."""
        self._writer.start()

    # -- submitting ----------------------------------------------------------------
    def submit(self, description: str, targets: dict[tuple[str, str], Any], op: Callable,
               on_saved: Callable[[Any], None],
               on_failed: Callable[[WriteRequest], None]) -> None:
        """Run ``op(project)`` on the writer; ``on_saved(result)`` or ``on_failed(request)`` follows.

        When nothing is queued ahead and the write commits within
        :data:`INLINE_WAIT_S`, the callback runs before this returns.
        """
        if self._closed:
            return
        first = not self._pending
        pending = PendingWrite(description, dict(targets), on_saved, on_failed)
        pending.request = request = self._writer.submit(op)
        self._pending[request] = pending
        self._jobs.hold()
        if first and request.done.wait(INLINE_WAIT_S):
            self._finish(request)
            return
        self.stateChanged.emit()

    # -- state -------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """Writes are queued or running."""
        return bool(self._pending)

    @property
    def waiting_for_lock(self) -> bool:
        return any(p.request is not None and p.request.stalled for p in self._pending.values())

    def pending_targets(self, query_id: str) -> dict[str, Any]:
        """``{doc_id: label the pair will have}`` of ``query_id``'s unsaved pairs (latest wins)."""
        out: dict[str, Any] = {}
        for p in self._pending.values():
            for (q, d), label in p.targets.items():
                if q == query_id:
                    out[d] = label
        return out

    def status(self) -> str:
        """One line for the status bar ("" when everything is saved)."""
        n = sum(len(p.targets) for p in self._pending.values())
        if not n:
            return ""
        what = f"{n} label{'s' if n != 1 else ''}"
        if self.waiting_for_lock:
            return f"{what} not saved yet: project locked by another program"
        return f"Saving {what}…"

    # -- outcomes ----------------------------------------------------------------------
    def _from_writer_thread(self, kind: str, request: WriteRequest) -> None:
        self._jobs.post(self._delivered, kind, request)  # never touch Qt from here

    def _delivered(self, kind: str, request: WriteRequest) -> None:
        if request not in self._pending:
            return  # finished inline already, or the saver closed
        if kind == "stalled":
            self.stateChanged.emit()
            return
        self._finish(request)

    def _finish(self, request: WriteRequest) -> None:
        pending = self._pending.pop(request)
        self._jobs.release()
        try:
            if request.error is None:
                pending.on_saved(request.result)
            else:
                pending.on_failed(request)
                self.saveFailed.emit(pending.description, request.error)
        finally:
            self.stateChanged.emit()

    def close(self, timeout: float = 5.0) -> list[str]:
        """Finish queued writes (waiting up to ``timeout`` for a lock); returns what was not saved."""
        self._closed = True
        self._writer.close(timeout)
        lost = [p.description for r, p in self._pending.items()
                if r.error is not None or not r.done.is_set()]
        for _request in self._pending:
            self._jobs.release()
        self._pending.clear()
        return lost
