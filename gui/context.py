"""What every view of an open project shares: the project, undo stack, jobs, signals.

Views talk to each other only through these typed notices, never by reaching
into one another (STYLE.md, pattern 6): a view that changes labels goes
through :meth:`AppContext.apply_labels`; every view that shows labels listens
to ``labelsChanged`` and refreshes what the notice names.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoStack

from core.project.file import LabelChange, Project
from core.retrieval.device import ComputeChoice

from . import session
from .commands import SetLabelsCommand, failed_write_message
from .label_saver import LabelSaver
from .workers import JobRunner


@dataclass(frozen=True)
class LabelsChanged:
    """Labels changed for these queries (and these exact pairs).

    ``restored``: an undo or redo put earlier rows back, so review states
    (pending proposals) may have come back too and counts derived from them
    must be read again. ``external``: another program wrote these labels.
    """

    query_ids: frozenset[str]
    changes: tuple[LabelChange, ...]
    restored: bool = False
    external: bool = False


# How often the window looks for writes by other programs (ms).
WATCH_MS = 500


class AppContext(QObject):
    labelsChanged = Signal(object)  # LabelsChanged
    labelsPending = Signal()  # the set of labels being saved (or waiting for a lock) changed
    problem = Signal(str, str)  # (title, message) the user must be told
    currentQueryChanged = Signal(str)  # query id
    documentActivated = Signal(str)  # document id chosen anywhere (list, map, compare)
    modelChanged = Signal(str)  # model id used by the dense pane ("bundled" or a version id)
    modelVersionsChanged = Signal()  # a model version was added
    candidatesChanged = Signal(int)  # a mining pass was stored (its number)
    computeChanged = Signal(object)  # ComputeChoice: the device and encoder jobs started from now on use

    def __init__(self, project: Project, parent: QObject | None = None, *,
                 compute: ComputeChoice | None = None) -> None:
        super().__init__(parent)
        self.project = project  # owned by the UI thread; workers open their own
        self.undo_stack = QUndoStack(self)
        self.jobs = JobRunner(self)
        self.current_query_id: str | None = None
        self.model_id: str = "bundled"
        # The remembered device/encoder choice (Model → Compute); a GPU this machine lacks
        # falls back to Automatic, and ``compute_problem`` says why (the window tells the user).
        self.compute, self.compute_problem = (compute or session.compute_choice()).checked()
        self._retrievals: dict[tuple[str, ComputeChoice], object] = {}
        self._retrieval_lock = threading.Lock()
        self.saver = LabelSaver(project.path, self.jobs, self)
        self.saver.stateChanged.connect(self.labelsPending)
        # History rows this window's writer wrote: the watcher does not announce them
        # again. Added to on the writer thread, read on the UI thread (set ops are atomic).
        self._own_history: set[int] = set()
        self._data_version, self._history_seen, self._latest_pass = self._file_marks()
        self._passes_unchecked = False
        self.candidatesChanged.connect(self._pass_announced)
        self._watch = QTimer(self)
        self._watch.setInterval(WATCH_MS)
        self._watch.timeout.connect(self.check_external_changes)
        if not project.read_only:
            self._watch.start()
            self.saver.start()

    @property
    def project_path(self) -> Path:
        return self.project.path

    # -- labels -----------------------------------------------------------------
    def apply_labels(self, pairs: Sequence[tuple[str, str]], label: str | None) -> None:
        """Label (query, document) pairs as one undoable action, saved by the label writer."""
        if not pairs:
            return
        if self.project.read_only:
            self.problem.emit("Labels not saved", f"{self.project.path}: the project is read-only "
                              f"({self.project.read_only_reason}); work on a copy to label")
            return
        self.undo_stack.push(SetLabelsCommand(self, pairs, label))

    def write_labels(self, description: str, targets: dict, op: Callable, *, restores: bool,
                     on_saved: Callable[[list[LabelChange]], None] | None = None) -> None:
        """Run a label command's ``op(project)`` on the writer; announce what it changed.

        ``op`` returns ``(changes, history ids it wrote)``.
        """
        own = self._own_history

        def write(project: Project):
            changes, written = op(project)
            own.update(written)  # before the commit is seen by the watcher's next look
            return changes

        def saved(changes: list[LabelChange]) -> None:
            if on_saved is not None:
                on_saved(changes)
            self.notify_labels(changes, restored=restores)

        def failed(request) -> None:
            title = "Labels changed elsewhere" if request.conflict else "Labels not saved"
            self.problem.emit(title, failed_write_message(description, request))

        self.saver.submit(description, targets, write, saved, failed)

    def notify_labels(self, changes: Sequence[LabelChange], *, restored: bool = False,
                      external: bool = False) -> None:
        if changes:
            self.labelsChanged.emit(LabelsChanged(frozenset(c.query_id for c in changes),
                                                  tuple(changes), restored, external))

    # -- other programs' writes -------------------------------------------------------
    def _file_marks(self) -> tuple[int, int, int]:
        conn = self.project.conn
        return (conn.execute("PRAGMA data_version").fetchone()[0],
                conn.execute("SELECT coalesce(max(id), 0) FROM label_history").fetchone()[0],
                conn.execute("SELECT coalesce(max(pass), 0) FROM mining_passes").fetchone()[0])

    def check_external_changes(self) -> None:
        """Announce labels and mining passes other programs committed since the last look.

        ``PRAGMA data_version`` on this (UI-owned) connection changes when any
        other connection commits, the writer's included; it is one cheap read
        that never waits for a lock. New ``label_history`` rows name every
        label change; those this window wrote were announced already. A new
        mining pass is looked for once no job runs: passes our own jobs
        store (mining, re-mining after training) are announced by them.
        """
        if self.project.closed:
            self._watch.stop()
            return
        if self.saver.busy:
            return  # our own writes are in flight: look again once they are announced
        conn = self.project.conn
        try:
            version = conn.execute("PRAGMA data_version").fetchone()[0]
            rows = []
            if version != self._data_version:
                self._data_version = version
                self._passes_unchecked = True
                rows = conn.execute(
                    "SELECT id, query_id, doc_id, old_label, label, gain FROM label_history "
                    "WHERE id > ? ORDER BY id", (self._history_seen,)).fetchall()
            latest_pass = None
            if self._passes_unchecked and not self.jobs.jobs:
                self._passes_unchecked = False
                latest_pass = conn.execute(
                    "SELECT coalesce(max(pass), 0) FROM mining_passes").fetchone()[0]
        except sqlite3.Error as exc:
            self._watch.stop()
            self.problem.emit("Project file unreadable",
                              f"{self.project.path}: cannot read the project any more ({exc}); "
                              f"changes by other programs are no longer shown")
            return
        changes = []
        for hid, query_id, doc_id, old, new, gain in rows:
            self._history_seen = max(self._history_seen, hid)
            if hid in self._own_history:
                self._own_history.discard(hid)
                continue
            changes.append(LabelChange(query_id, doc_id, old, new, None, gain))
        self.notify_labels(changes, external=True)
        if latest_pass is not None and latest_pass > self._latest_pass:
            self.candidatesChanged.emit(latest_pass)

    def _pass_announced(self, pass_number: int) -> None:
        self._latest_pass = max(self._latest_pass, pass_number)

    def close(self) -> list[str]:
        """Stop watching and finish the queued label writes; returns what could not be saved."""
        self._watch.stop()
        return self.saver.close()

    # -- selection ----------------------------------------------------------------
    def set_current_query(self, query_id: str) -> None:
        if query_id != self.current_query_id:
            self.current_query_id = query_id
            self.currentQueryChanged.emit(query_id)

    def activate_document(self, doc_id: str) -> None:
        self.documentActivated.emit(doc_id)

    def set_model(self, model_id: str) -> None:
        if model_id != self.model_id:
            self.model_id = model_id
            self.modelChanged.emit(model_id)

    # -- compute -------------------------------------------------------------------
    def set_compute(self, choice: ComputeChoice) -> None:
        """Jobs started from now on encode with ``choice``; running ones keep theirs."""
        if choice == self.compute:
            return
        self.compute = choice
        with self._retrieval_lock:  # running jobs hold their own references
            self._retrievals = {k: r for k, r in self._retrievals.items() if k[1] == choice}
        self.computeChanged.emit(choice)

    def compute_kwargs(self) -> dict[str, str]:
        """``device=`` and ``encoder=`` for a core job that encodes."""
        return self.compute.kwargs()

    # -- retrieval ------------------------------------------------------------------
    def retrieval(self, model_id: str | None = None):
        """The shared :class:`core.retrieval.service.Retrieval` for a model under the current
        compute choice (thread-safe, cached)."""
        from core.retrieval.service import Retrieval

        key = (model_id or self.model_id, self.compute)
        with self._retrieval_lock:
            if key not in self._retrievals:
                self._retrievals[key] = Retrieval(self.project, key[0], **self.compute.kwargs())
            return self._retrievals[key]
