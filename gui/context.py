"""What every view of an open project shares: the project, undo stack, jobs, signals.

Views talk to each other only through these typed notices, never by reaching
into one another (STYLE.md, pattern 6): a view that changes labels goes
through :meth:`AppContext.apply_labels`; every view that shows labels listens
to ``labelsChanged`` and refreshes what the notice names.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack

from core.project.file import LabelChange, Project

from .commands import SetLabelsCommand
from .workers import JobRunner


@dataclass(frozen=True)
class LabelsChanged:
    """Labels changed for these queries (and these exact pairs)."""

    query_ids: frozenset[str]
    changes: tuple[LabelChange, ...]


class AppContext(QObject):
    labelsChanged = Signal(object)  # LabelsChanged
    currentQueryChanged = Signal(str)  # query id
    documentActivated = Signal(str)  # document id chosen anywhere (list, map, compare)
    modelChanged = Signal(str)  # model id used by the dense pane ("bundled" or a version id)
    modelVersionsChanged = Signal()  # a model version was added
    candidatesChanged = Signal(int)  # a mining pass was stored (its number)

    def __init__(self, project: Project, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.project = project  # owned by the UI thread; workers open their own
        self.undo_stack = QUndoStack(self)
        self.jobs = JobRunner(self)
        self.current_query_id: str | None = None
        self.model_id: str = "bundled"
        self._retrievals: dict[str, object] = {}
        self._retrieval_lock = threading.Lock()

    @property
    def project_path(self) -> Path:
        return self.project.path

    # -- labels -----------------------------------------------------------------
    def apply_labels(self, pairs: Sequence[tuple[str, str]], label: str | None) -> None:
        """Label (query, document) pairs as one undoable, immediately saved action."""
        if pairs:
            self.undo_stack.push(SetLabelsCommand(self, pairs, label))

    def notify_labels(self, changes: Sequence[LabelChange]) -> None:
        self.labelsChanged.emit(
            LabelsChanged(frozenset(c.query_id for c in changes), tuple(changes)))

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

    # -- retrieval ------------------------------------------------------------------
    def retrieval(self, model_id: str | None = None):
        """The shared :class:`core.retrieval.service.Retrieval` for a model (thread-safe, cached)."""
        from core.retrieval.service import Retrieval

        key = model_id or self.model_id
        with self._retrieval_lock:
            if key not in self._retrievals:
                self._retrievals[key] = Retrieval(self.project, key)
            return self._retrievals[key]
