"""The Review tab's proposals table: one row per proposal of a query, j/k to walk it."""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, Qt, Signal
from PySide6.QtGui import QIcon, QKeyEvent
from PySide6.QtWidgets import QTableView

from core.mining.store import Proposal

from .style import LABEL_COLORS, LABEL_TINTS, LABEL_TITLES, label_icon
from .table_model import RIGHT, Column, RowTableModel, format_score

STATE_TEXT = {"pending": "proposed", "accepted": "accepted", "rejected": "rejected"}
REJECTED_COLOR = "#9ca3af"


def status_text(p: Proposal) -> str:
    """What the user made of a proposal, in words (a flipped one says its label)."""
    if p.state == "flipped":
        return LABEL_TITLES.get(p.label or "", "flipped").lower()
    return STATE_TEXT[p.state]


def _badge(p: Proposal) -> QIcon | None:
    if p.state == "pending":
        return label_icon("negative", dashed=True)
    return label_icon(p.label) if p.label else None


def _document(p: Proposal, model: "ProposalModel") -> str:
    title, text = model.docs.get(p.doc_id, ("", ""))
    return title or text[:120] or p.doc_id


class ProposalModel(RowTableModel[Proposal]):
    """A query's proposals; the documents' titles and texts arrive after the rows (``set_docs``)."""

    COLUMNS = (
        Column("", lambda _p, _m: None, icon=lambda p, _m: _badge(p)),
        Column("Rank", lambda p, _m: str(p.rank), align=RIGHT),
        Column("Score", lambda p, _m: format_score(p.score), align=RIGHT),
        Column("Status", lambda p, _m: status_text(p),
               color=lambda p, _m: LABEL_COLORS[p.label] if p.label else None,
               bold=lambda p, _m: p.state != "pending"),
        Column("Document", _document, stretch=True),
    )
    DOCUMENT_COLUMN = 4

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.docs: dict[str, tuple[str, str]] = {}

    def set_docs(self, docs: dict[str, tuple[str, str]]) -> None:
        """``{doc_id: (title, text)}`` of the rows' documents."""
        self.docs = docs
        self.column_changed(self.DOCUMENT_COLUMN)

    def row_tooltip(self, p: Proposal) -> str:
        return f"{p.doc_id} · {status_text(p)}"

    def row_background(self, p: Proposal) -> str | None:
        return LABEL_TINTS[p.label] if p.label else None

    def row_color(self, p: Proposal) -> str | None:
        # A labeled row keeps the default text colour; only its Status cell takes the label's.
        return REJECTED_COLOR if not p.label and p.state == "rejected" else None


class ProposalTable(QTableView):
    """The proposals of one query; j/k move the current row."""

    stepPastEnd = Signal(int)  # +1 / -1: moved past the last / first row

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt name)
        if event.key() in (Qt.Key.Key_J, Qt.Key.Key_K) and not (
                event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier):
            self.move(1 if event.key() == Qt.Key.Key_J else -1)
            return
        super().keyPressEvent(event)

    def move(self, step: int) -> None:
        model = self.model()
        if model is None or model.rowCount() == 0:
            self.stepPastEnd.emit(step)
            return
        cur = self.currentIndex()
        row = (0 if step > 0 else model.rowCount() - 1) if not cur.isValid() else cur.row() + step
        if row < 0 or row >= model.rowCount():
            self.stepPastEnd.emit(step)
            return
        self.select_row(row)

    def select_row(self, row: int) -> None:
        index = self.model().index(row, 0)
        self.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
        self.scrollTo(index)
