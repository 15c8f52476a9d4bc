"""Undoable label commands (glue's command pattern on a QUndoStack)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from PySide6.QtGui import QUndoCommand

from core.project.file import LabelChange

if TYPE_CHECKING:
    from .context import AppContext

LABEL_NAMES = {
    "positive": "positive",
    "negative": "hard negative",
    "false_negative": "false negative",
    None: "no label",
}


class SetLabelsCommand(QUndoCommand):
    """Set one label on several (query, document) pairs; undo restores each old label.

    Each redo/undo is one committed transaction in the project file.
    """

    def __init__(self, context: "AppContext", pairs: Sequence[tuple[str, str]],
                 label: str | None, source: str = "user") -> None:
        n = len(pairs)
        what = LABEL_NAMES.get(label, label)
        super().__init__(f"Mark {n} document{'s' if n != 1 else ''} as {what}"
                         if label else f"Clear {n} label{'s' if n != 1 else ''}")
        self._context = context
        self._pairs = list(pairs)
        self._label = label
        self._source = source
        self._before: list[LabelChange] | None = None

    def redo(self) -> None:
        changes = self._context.project.set_labels(
            [(q, d, self._label, None) for q, d in self._pairs], source=self._source)
        if self._before is None:
            self._before = changes
        self._context.notify_labels(changes)

    def undo(self) -> None:
        assert self._before is not None
        restore = [(c.query_id, c.doc_id, c.old, c.old_gain, c.old_source) for c in self._before]
        changes = self._context.project.set_labels(restore, source=self._source)
        self._context.notify_labels(changes)
