"""Undoable label commands (glue's command pattern on a QUndoStack).

A command's writes run on the project's label writer (:mod:`gui.label_saver`),
in the order they were pushed, undone and redone; the UI thread never waits
on the database. Undo and redo are exact: the first write records every
``labels`` row it replaced and every ``label_history`` row it wrote
(:class:`core.project.file.LabelEdit`); undo puts the old rows back and removes
those history rows, redo puts them back with their ids. So undoing an
acceptance in the Review tab leaves the proposal pending, not "rejected".
Undo and redo apply only while the labels are still what the command left;
otherwise (another program changed them) the user is told and they stay.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from PySide6.QtGui import QUndoCommand

from core.project.file import LabelChange, LabelEdit, Project

from .label_saver import UNKNOWN

if TYPE_CHECKING:
    from core.project.writer import WriteRequest

    from .context import AppContext

LABEL_NAMES = {
    "positive": "positive",
    "negative": "hard negative",
    "false_negative": "false negative",
    None: "no label",
}


class SetLabelsCommand(QUndoCommand):
    """Set one label on several (query, document) pairs; undo restores exactly what was there."""

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
        # Read and written on the writer thread only, in the order of the writes.
        self._edit: LabelEdit | None = None
        self._applied = False
        # The UI thread's copy, for showing pending targets of an undo.
        self._before: dict[tuple[str, str], str | None] | None = None

    # -- UI thread -------------------------------------------------------------
    def redo(self) -> None:
        targets = {pair: self._label for pair in self._pairs}
        description = self.text() if self._before is None else f"Redo “{self.text()}”"
        self._context.write_labels(description, targets, self._write_redo,
                                   restores=self._before is not None, on_saved=self._remember)

    def undo(self) -> None:
        before = self._before
        targets = {pair: (before.get(pair) if before is not None else UNKNOWN)
                   for pair in self._pairs}
        self._context.write_labels(f"Undo “{self.text()}”", targets, self._write_undo,
                                   restores=True)

    def _remember(self, changes: Sequence[LabelChange]) -> None:
        """(UI thread) The first write committed: keep the labels it replaced (to show undo pending)."""
        if self._before is None and changes:
            before: dict[tuple[str, str], str | None] = {}
            for c in changes:
                before.setdefault((c.query_id, c.doc_id), c.old)
            self._before = before

    # -- writer thread -----------------------------------------------------------
    def _write_redo(self, project: Project) -> tuple[list[LabelChange], frozenset[int]]:
        if self._applied:
            return [], frozenset()  # an undo before this failed: the labels were left as they are
        if self._edit is None:
            self._edit = project.edit_labels(
                [(q, d, self._label, None) for q, d in self._pairs], source=self._source)
            changes = list(self._edit.changes)
        else:
            changes = project.reapply_label_edit(self._edit)
        self._applied = True
        return changes, self._edit.history_ids

    def _write_undo(self, project: Project) -> tuple[list[LabelChange], frozenset[int]]:
        if not self._applied or self._edit is None:
            return [], frozenset()  # the write never committed: nothing to take back
        changes = project.revert_label_edit(self._edit)
        self._applied = False
        return changes, frozenset()


def failed_write_message(description: str, request: "WriteRequest") -> str:
    if request.conflict:
        return f"{request.error}\n({description})"
    return f"“{description}” could not be saved: {request.error}"
