"""The Review tab's tables: a query's proposals (:class:`ProposalModel`) and the queue across
queries, most suspicious first (:class:`QueueModel`); j/k walk either."""

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
    if p.kind == "possible_positive" and p.state == "pending":
        return "possible positive"
    return STATE_TEXT[p.state]


def _suspicion(p: Proposal) -> str:
    return "–" if p.suspicion is None else f"{p.suspicion:.2f}"


def _teacher(p: Proposal) -> str:
    return "–" if p.teacher_score is None else format_score(p.teacher_score)


def reasons_text(p: Proposal) -> str:
    """Why the proposal is suspicious, one reason a line (strongest first)."""
    return "\n".join(p.reasons)


def _badge(p: Proposal) -> QIcon | None:
    if p.state == "pending":
        return label_icon("false_negative" if p.kind == "possible_positive" else "negative", dashed=True)
    return label_icon(p.label) if p.label else None


def _document(p: Proposal, model: "ProposalModel") -> str:
    title, text = model.docs.get(p.doc_id, ("", ""))
    return title or text[:120] or p.doc_id


class ProposalModel(RowTableModel[Proposal]):
    """A query's proposals; the documents' titles and texts arrive after the rows (``set_docs``)."""

    COLUMNS = (
        Column("", lambda _p, _m: None, icon=lambda p, _m: _badge(p)),
        Column("Rank", lambda p, _m: str(p.rank), align=RIGHT),
        Column("Score", lambda p, _m: format_score(p.score), align=RIGHT,
               header_tip="The retriever's score"),
        Column("Teacher", lambda p, _m: _teacher(p), align=RIGHT,
               header_tip="The teacher's score, which the rules judged (– : the pass had no teacher)"),
        Column("Suspicion", lambda p, _m: _suspicion(p), align=RIGHT,
               header_tip="How likely this is a false negative (the queue's order; hover a row)",
               tooltip=lambda p, _m: reasons_text(p) or None),
        Column("Status", lambda p, _m: status_text(p),
               color=lambda p, _m: LABEL_COLORS[p.label] if p.label else None,
               bold=lambda p, _m: p.state != "pending"),
        Column("Document", _document, stretch=True),
    )
    DOCUMENT_COLUMN = 6
    TEACHER_COLUMN = 3

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.docs: dict[str, tuple[str, str]] = {}

    def set_docs(self, docs: dict[str, tuple[str, str]]) -> None:
        """``{doc_id: (title, text)}`` of the rows' documents."""
        self.docs = docs
        self.column_changed(self.DOCUMENT_COLUMN)

    def row_tooltip(self, p: Proposal) -> str:
        return f"{p.doc_id} · {status_text(p)}" + (f"\n{reasons_text(p)}" if p.reasons else "")

    def row_background(self, p: Proposal) -> str | None:
        return LABEL_TINTS[p.label] if p.label else None

    def row_color(self, p: Proposal) -> str | None:
        # A labeled row keeps the default text colour; only its Status cell takes the label's.
        return REJECTED_COLOR if not p.label and p.state == "rejected" else None


class QueueModel(ProposalModel):
    """The review queue: proposals and possible positives of every query, most suspicious first."""

    COLUMNS = (
        ProposalModel.COLUMNS[0],
        ProposalModel.COLUMNS[4],
        Column("Query", lambda p, _m: p.query_id),
        Column("Document", _document, stretch=True),
        ProposalModel.COLUMNS[5],
    )
    DOCUMENT_COLUMN = 3


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
