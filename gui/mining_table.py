"""The mining preview's table: one row per candidate decision, coloured by its outcome."""

from __future__ import annotations

from typing import Sequence

from core.mining.rules import REASON_TEXT, CandidateDecision
from core.project.schema import RELEVANT_LABELS

from .style import LABEL_COLORS, LABEL_TINTS
from .table_model import RIGHT, Column, RowTableModel, format_score

DROPPED_COLOR = "#6b7280"


def _reason_text(reason: str) -> str:
    return REASON_TEXT.get(reason, reason)


class DecisionModel(RowTableModel[CandidateDecision]):
    """Rows of :class:`CandidateDecision` with the document title."""

    COLUMNS = (
        Column("Rank", lambda d, _m: str(d.rank), align=RIGHT),
        Column("Score", lambda d, _m: format_score(d.score), align=RIGHT,
               header_tip="The retriever's score"),
        Column("Teacher", lambda d, _m: "–" if d.teacher_score is None else format_score(d.teacher_score),
               align=RIGHT, header_tip="The teacher's score (the one the rules judge when there is a "
                                       "teacher; – without one)"),
        Column("Decision", lambda d, _m: _reason_text(d.reason)),
        Column("Document", lambda d, m: m.titles.get(d.doc_id, d.doc_id), stretch=True),
    )

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.titles: dict[str, str] = {}
        self.explain: dict[str, str] = {}

    def set_decisions(self, rows: Sequence[CandidateDecision], titles: dict[str, str],
                      explain: dict[str, str]) -> None:
        """Show ``rows``; ``explain`` (:func:`core.mining.rules.explanations`) gives the tooltips."""
        self.titles = titles
        self.explain = explain
        self.set_rows(rows)

    def row_tooltip(self, d: CandidateDecision) -> str:
        return f"{d.doc_id}: {self.explain.get(d.reason, _reason_text(d.reason))}"

    def row_background(self, d: CandidateDecision) -> str | None:
        if d.reason in ("kept", "confirmed"):
            return LABEL_TINTS["negative"]
        return LABEL_TINTS[d.reason] if d.reason in RELEVANT_LABELS else None

    def row_color(self, d: CandidateDecision) -> str | None:
        if d.reason in RELEVANT_LABELS:
            return LABEL_COLORS[d.reason]
        return DROPPED_COLOR if d.status == "dropped" else None
