"""Qt item models of the labeling workspace.

They only *translate* plain data (``core.labeling`` dataclasses and
``core.project.file.Label``) into rows; they never query the project themselves
(napari / Anki: models hold ids and plain rows, views decide when to refresh).
"""

from __future__ import annotations

from typing import Mapping, Sequence

from PySide6.QtCore import (
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QBrush, QColor, QStandardItem, QStandardItemModel

from core.labeling.candidates import CandidateRow, Candidates
from core.labeling.overview import QuerySummary
from core.mining.store import Proposal
from core.project.file import Label

from .style import (
    LABEL_COLORS,
    LABEL_LETTERS,
    LABEL_TINTS,
    LABEL_TITLES,
    PANE_LETTERS,
    PANE_TITLES,
    SOURCE_TITLES,
    label_icon,
)
from .table_model import CENTER, Column, HtmlRole, IdRole, RowTableModel, SortRole

_Index = QModelIndex | QPersistentModelIndex


def _count(i: int, key: str) -> Column[QuerySummary]:
    """A label-count column (P, N, F): the count in the label's colour, blank for zero."""
    def count(q: QuerySummary) -> int:
        return (q.positives, q.negatives, q.false_negatives)[i]

    return Column(LABEL_LETTERS[key], lambda q, _m: str(count(q)) if count(q) else "", align=CENTER,
                  header_tip=LABEL_TITLES[key] + "s", header_color=LABEL_COLORS[key],
                  color=lambda _q, _m: LABEL_COLORS[key], bold=lambda _q, _m: True,
                  sort=lambda q, _m: count(q))


def is_reviewed(q: QuerySummary) -> bool:
    """Done: someone labeled the query and no mined proposal of it waits for review."""
    return q.labeled and not q.mined


def _review_state(q: QuerySummary, model: "QueryListModel") -> str:
    if is_reviewed(q):
        return "✓"
    return "skip" if q.id in model.skipped else ""


class QueryListModel(RowTableModel[QuerySummary]):
    """Queries with their label counts: columns Query, Split, P, N, F and the review state."""

    STATE_COLUMN = 5
    COLUMNS = (
        Column("Query", lambda q, _m: q.text, sort=lambda q, _m: q.text.lower()),
        Column("Split", lambda q, _m: q.split, align=CENTER, header_tip="Split",
               sort=lambda q, _m: q.split),
        _count(0, "positive"),
        _count(1, "negative"),
        _count(2, "false_negative"),
        Column("✓", _review_state, align=CENTER,
               header_tip="✓ reviewed: labeled, with no mined proposal left to review; "
                          "skip: skipped in this session (S)",
               color=lambda q, _m: "#15803d" if is_reviewed(q) else "#6b7280",
               sort=lambda q, m: (is_reviewed(q), q.id in m.skipped)),
    )

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._row_of: dict[str, int] = {}
        self.skipped: set[str] = set()  # queries skipped in this session (not stored)

    def skip(self, query_id: str) -> None:
        """Mark a query skipped for this session."""
        row = self._row_of.get(query_id)
        if row is None:
            return
        self.skipped.add(query_id)
        self.replace(row, self.rows[row])

    def reviewed_count(self) -> int:
        return sum(1 for q in self.rows if is_reviewed(q))

    # -- data in --------------------------------------------------------------
    def set_queries(self, queries: Sequence[QuerySummary]) -> None:
        self._row_of = {q.id: i for i, q in enumerate(queries)}
        self.set_rows(queries)

    def update_query(self, summary: QuerySummary) -> None:
        row = self._row_of.get(summary.id)
        if row is not None:
            self.replace(row, summary)

    def set_overlaps(self, overlaps: Mapping[str, float]) -> None:
        for q in self.rows:
            if q.id in overlaps:
                q.overlap = overlaps[q.id]
        self.column_changed(0)

    # -- data out -------------------------------------------------------------
    def summary(self, query_id: str) -> QuerySummary | None:
        row = self._row_of.get(query_id)
        return self.rows[row] if row is not None else None

    def summaries(self) -> list[QuerySummary]:
        return list(self.rows)

    def row_of(self, query_id: str) -> int | None:
        return self._row_of.get(query_id)

    def row_id(self, q: QuerySummary) -> str:
        return q.id

    def row_tooltip(self, q: QuerySummary) -> str:
        parts = [f"<b>{q.id}</b> ({q.split or 'no split'})<br>{q.text}",
                 f"{q.positives} positive, {q.negatives} negative, "
                 f"{q.false_negatives} false negative"]
        if q.mined:
            parts.append(f"{q.mined} mined proposals to review")
        if is_reviewed(q):
            parts.append("reviewed")
        elif q.id in self.skipped:
            parts.append("skipped in this session")
        if q.overlap is not None:
            parts.append(f"BM25/dense top-10 overlap: {q.overlap:.0%}")
        return "<br>".join(parts)


class QueryFilterProxy(QSortFilterProxyModel):
    """Filters the query list by text (id or query), split and label status."""

    STATUSES = {
        "all": "All queries",
        "unlabeled": "Unlabeled",
        "not_reviewed": "Not yet reviewed",
        "positive": "Has a positive",
        "mined": "Mined negatives to review",
        "disagree": "BM25 and dense disagree",
    }
    DISAGREE_BELOW = 0.5  # top-10 overlap under this counts as disagreement

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._text = ""
        self._split = ""
        self._status = "all"
        self.setSortRole(SortRole)

    def set_text(self, text: str) -> None:
        self.beginFilterChange()
        self._text = text.strip().lower()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_split(self, split: str) -> None:
        self.beginFilterChange()
        self._split = split
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_status(self, status: str) -> None:
        self.beginFilterChange()
        self._status = status
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def refilter(self) -> None:
        """Re-apply the filters after the underlying counts changed."""
        self.beginFilterChange()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    @property
    def status(self) -> str:
        return self._status

    def filterAcceptsRow(self, source_row: int, source_parent: _Index) -> bool:
        model: QueryListModel = self.sourceModel()  # type: ignore[assignment]
        q = model.rows[source_row]
        if self._split and q.split != self._split:
            return False
        if self._text and self._text not in q.text.lower() and self._text not in q.id.lower():
            return False
        s = self._status
        if s == "unlabeled":
            return not q.labeled
        if s == "not_reviewed":
            return not is_reviewed(q)
        if s == "positive":
            return q.positives + q.false_negatives > 0
        if s == "mined":
            return q.mined > 0
        if s == "disagree":
            return q.overlap is not None and q.overlap < self.DISAGREE_BELOW
        return True


class CandidateModel(QStandardItemModel):
    """One retriever's ranked candidates for the current query.

    Columns: label badge, rank, score, document (title + highlighted
    snippet, painted by :class:`gui.delegates.HtmlDelegate`), and where the
    other panes rank the same document.

    Unlike the query list, this model stores its cells as C++ items, filled
    once per result and touched only where a label or a marker changes. The
    reason is the GIL: a Python ``data()`` is called for every role of every
    visible cell on each repaint (about a thousand calls for two panes), and
    each call must win the GIL from workers that are encoding at that moment.
    Items keep painting free of Python except the snippet delegate.
    """

    COL_LABEL, COL_RANK, COL_DOC, COL_OTHER = range(4)
    COLUMNS = ("", "#", "Document", "Also")
    TIPS = ("Label for this query", "Rank, and the retrieval score below it",
            "Title and best-matching passage (query terms highlighted)",
            "Rank of this document in the other panes (B = BM25, D = dense, H = hybrid)")

    def __init__(self, retriever: str, parent=None) -> None:
        super().__init__(0, len(self.COLUMNS), parent)
        self.retriever = retriever
        self.query_id: str | None = None
        self._rows: list[CandidateRow] = []
        self._row_of: dict[str, int] = {}
        self._labels: dict[str, Label] = {}
        self._proposed: dict[str, Proposal] = {}
        self._others: dict[str, dict[str, int]] = {}
        self.setHorizontalHeaderLabels(list(self.COLUMNS))
        for col, tip in enumerate(self.TIPS):
            self.horizontalHeaderItem(col).setToolTip(tip)

    # -- data in --------------------------------------------------------------
    def set_candidates(self, result: Candidates | None) -> None:
        self.beginResetModel()
        self.blockSignals(True)  # one reset instead of a signal per cell
        try:
            self.query_id = result.query_id if result else None
            self._rows = list(result.rows) if result else []
            self._row_of = {r.doc_id: i for i, r in enumerate(self._rows)}
            self.setRowCount(0)
            self.setRowCount(len(self._rows))
            center = Qt.AlignmentFlag.AlignCenter
            grey = QBrush(QColor("#333"))
            for i, r in enumerate(self._rows):
                score = f"{r.score:.3f}" if abs(r.score) < 100 else f"{r.score:.1f}"
                rank = QStandardItem(f"{r.rank}\n{score}")
                rank.setTextAlignment(center)
                rank.setForeground(grey)
                rank.setToolTip(f"Rank {r.rank}, score {r.score:.4f}")
                doc = QStandardItem(r.doc_id)
                doc.setData(f'<b>{r.title_html or "(untitled)"}</b> '
                            f'<span style="color:#888">{r.doc_id}</span><br>{r.snippet_html}',
                            HtmlRole)
                other = QStandardItem()
                other.setTextAlignment(center)
                other.setForeground(QBrush(QColor("#1d4ed8")))
                cells = (QStandardItem(), rank, doc, other)
                for col, item in enumerate(cells):
                    item.setEditable(False)
                    item.setData(r.doc_id, IdRole)
                    self.setItem(i, col, item)
                self._paint_label(i)
                self._paint_other(i)
        finally:
            self.blockSignals(False)
            self.endResetModel()

    def set_labels(self, labels: Mapping[str, Label],
                   proposed: Mapping[str, Proposal] | None = None) -> None:
        """Labels (and unreviewed mined proposals) of the current query by document id.

        Repaints only the rows whose label or proposal changed.
        """
        old, old_proposed = self._labels, self._proposed
        self._labels = dict(labels)
        self._proposed = dict(proposed or {})
        for doc_id in set(old) | set(self._labels) | set(old_proposed) | set(self._proposed):
            if (old.get(doc_id) != self._labels.get(doc_id)
                    or old_proposed.get(doc_id) != self._proposed.get(doc_id)):
                row = self._row_of.get(doc_id)
                if row is not None:
                    self._paint_label(row)

    def set_other_ranks(self, ranks: Mapping[str, Mapping[str, int]]) -> None:
        """``{retriever: {doc_id: rank}}`` of the *other* panes."""
        others = {k: dict(v) for k, v in ranks.items() if k != self.retriever}
        if others == self._others:
            return
        self._others = others
        for row in range(len(self._rows)):
            self._paint_other(row)

    def _paint_label(self, row: int) -> None:
        doc_id = self._rows[row].doc_id
        lab = self._labels.get(doc_id)
        badge = self.item(row, self.COL_LABEL)
        proposal = self._proposed.get(doc_id)
        if lab is None and proposal is not None:
            badge.setIcon(label_icon("negative", dashed=True))
            badge.setToolTip(f"Proposed negative (mining pass {proposal.pass_number}, rank "
                             f"{proposal.rank}, score {proposal.score:.3f}), not reviewed yet")
        elif lab is None:
            badge.setData(None, Qt.ItemDataRole.DecorationRole)
            badge.setToolTip("Not judged for this query")
        else:
            badge.setIcon(label_icon(lab.label, dashed=lab.source == "mined"))
            badge.setToolTip(f"{LABEL_TITLES[lab.label]} (set by "
                             f"{SOURCE_TITLES.get(lab.source, lab.source)}, pass {lab.pass_number})")
        brush = QBrush(QColor(LABEL_TINTS[lab.label])) if lab else None
        for col in range(len(self.COLUMNS)):
            self.item(row, col).setData(brush, Qt.ItemDataRole.BackgroundRole)

    def _paint_other(self, row: int) -> None:
        doc_id = self._rows[row].doc_id
        found = [(name, ranks[doc_id]) for name, ranks in self._others.items() if doc_id in ranks]
        item = self.item(row, self.COL_OTHER)
        item.setText(" ".join(f"{PANE_LETTERS[n]}{rank}" for n, rank in found))
        item.setToolTip("; ".join(f"{PANE_TITLES[n]} rank {rank}" for n, rank in found)
                        or "Not in the other panes' lists")

    # -- data out -------------------------------------------------------------
    def doc_id(self, row: int) -> str:
        return self._rows[row].doc_id

    def doc_ids(self) -> list[str]:
        return [r.doc_id for r in self._rows]

    def row_of(self, doc_id: str) -> int | None:
        return self._row_of.get(doc_id)

    def label_of(self, doc_id: str) -> Label | None:
        return self._labels.get(doc_id)

    def proposal_of(self, doc_id: str) -> Proposal | None:
        return self._proposed.get(doc_id)

    def rows(self) -> list[CandidateRow]:
        return list(self._rows)
