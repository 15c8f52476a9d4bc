"""Qt item models of the labeling workspace.

They only *translate* plain data (``gui.lookups`` dataclasses and
``core.project.Label``) into rows; they never query the project themselves
(napari / Anki: models hold ids and plain rows, views decide when to refresh).
"""

from __future__ import annotations

from typing import Mapping, Sequence

from PySide6.QtCore import (QAbstractTableModel, QModelIndex, QPersistentModelIndex,
                            QSortFilterProxyModel, Qt)
from PySide6.QtGui import QBrush, QColor, QFont

from core.project import Label

from .lookups import CandidateRow, Candidates, QuerySummary
from .style import (LABEL_COLORS, LABEL_TINTS, LABEL_TITLES, PANE_LETTERS, PANE_TITLES,
                    SOURCE_TITLES, label_icon)

HtmlRole = Qt.ItemDataRole.UserRole + 1  # rich text for the highlight delegate
IdRole = Qt.ItemDataRole.UserRole + 2  # query or document id
SortRole = Qt.ItemDataRole.UserRole + 3

_Index = QModelIndex | QPersistentModelIndex


class QueryListModel(QAbstractTableModel):
    """Queries with their label counts: columns Query, Split, P, N, F."""

    COLUMNS = ("Query", "Split", "P", "N", "F")
    TIPS = (None, "Split", "Positives", "Negatives", "False negatives")

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._rows: list[QuerySummary] = []
        self._row_of: dict[str, int] = {}

    # -- data in --------------------------------------------------------------
    def set_queries(self, queries: Sequence[QuerySummary]) -> None:
        self.beginResetModel()
        self._rows = list(queries)
        self._row_of = {q.id: i for i, q in enumerate(self._rows)}
        self.endResetModel()

    def update_query(self, summary: QuerySummary) -> None:
        row = self._row_of.get(summary.id)
        if row is None:
            return
        self._rows[row] = summary
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(self.COLUMNS) - 1))

    def set_overlaps(self, overlaps: Mapping[str, float]) -> None:
        for q in self._rows:
            if q.id in overlaps:
                q.overlap = overlaps[q.id]
        if self._rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._rows) - 1, 0))

    # -- data out -------------------------------------------------------------
    def summary(self, query_id: str) -> QuerySummary | None:
        row = self._row_of.get(query_id)
        return self._rows[row] if row is not None else None

    def summaries(self) -> list[QuerySummary]:
        return list(self._rows)

    def row_of(self, query_id: str) -> int | None:
        return self._row_of.get(query_id)

    def rowCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal:
            if role == Qt.ItemDataRole.DisplayRole:
                return self.COLUMNS[section]
            if role == Qt.ItemDataRole.ToolTipRole:
                return self.TIPS[section]
            if role == Qt.ItemDataRole.ForegroundRole and section >= 2:
                key = ("positive", "negative", "false_negative")[section - 2]
                return QBrush(QColor(LABEL_COLORS[key]))
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        q = self._rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return q.text
            if col == 1:
                return q.split
            n = (q.positives, q.negatives, q.false_negatives)[col - 2]
            return str(n) if n else ""
        if role == SortRole:
            return (q.text.lower(), q.split, q.positives, q.negatives, q.false_negatives)[col]
        if role == IdRole:
            return q.id
        if role == Qt.ItemDataRole.ToolTipRole:
            parts = [f"<b>{q.id}</b> ({q.split or 'no split'})<br>{q.text}",
                     f"{q.positives} positive, {q.negatives} negative, "
                     f"{q.false_negatives} false negative"]
            if q.mined:
                parts.append(f"{q.mined} mined proposals to review")
            if q.overlap is not None:
                parts.append(f"BM25/dense top-10 overlap: {q.overlap:.0%}")
            return "<br>".join(parts)
        if role == Qt.ItemDataRole.ForegroundRole and col >= 2:
            key = ("positive", "negative", "false_negative")[col - 2]
            return QBrush(QColor(LABEL_COLORS[key]))
        if role == Qt.ItemDataRole.FontRole and col >= 2:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.TextAlignmentRole and col >= 1:
            return Qt.AlignmentFlag.AlignCenter
        return None


class QueryFilterProxy(QSortFilterProxyModel):
    """Filters the query list by text (id or query), split and label status."""

    STATUSES = {
        "all": "All queries",
        "unlabeled": "Unlabeled",
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
        self._text = text.strip().lower()
        self.invalidateRowsFilter()

    def set_split(self, split: str) -> None:
        self._split = split
        self.invalidateRowsFilter()

    def set_status(self, status: str) -> None:
        self._status = status
        self.invalidateRowsFilter()

    @property
    def status(self) -> str:
        return self._status

    def filterAcceptsRow(self, source_row: int, source_parent: _Index) -> bool:
        model: QueryListModel = self.sourceModel()  # type: ignore[assignment]
        q = model._rows[source_row]
        if self._split and q.split != self._split:
            return False
        if self._text and self._text not in q.text.lower() and self._text not in q.id.lower():
            return False
        s = self._status
        if s == "unlabeled":
            return not q.labeled
        if s == "positive":
            return q.positives + q.false_negatives > 0
        if s == "mined":
            return q.mined > 0
        if s == "disagree":
            return q.overlap is not None and q.overlap < self.DISAGREE_BELOW
        return True


class CandidateModel(QAbstractTableModel):
    """One retriever's ranked candidates for the current query.

    Columns: label badge, rank, score, document (title + highlighted
    snippet, painted by :class:`gui.delegates.HtmlDelegate`), and where the
    other panes rank the same document.
    """

    COL_LABEL, COL_RANK, COL_SCORE, COL_DOC, COL_OTHER = range(5)
    COLUMNS = ("", "#", "Score", "Document", "Also")

    def __init__(self, retriever: str, parent=None) -> None:
        super().__init__(parent)
        self.retriever = retriever
        self.query_id: str | None = None
        self._rows: list[CandidateRow] = []
        self._row_of: dict[str, int] = {}
        self._labels: dict[str, Label] = {}
        self._others: dict[str, dict[str, int]] = {}

    # -- data in --------------------------------------------------------------
    def set_candidates(self, result: Candidates | None) -> None:
        self.beginResetModel()
        self.query_id = result.query_id if result else None
        self._rows = list(result.rows) if result else []
        self._row_of = {r.doc_id: i for i, r in enumerate(self._rows)}
        self.endResetModel()

    def set_labels(self, labels: Mapping[str, Label]) -> None:
        """Labels of the current query by document id; repaints only rows whose label changed."""
        old = self._labels
        self._labels = dict(labels)
        for doc_id in set(old) | set(self._labels):
            if old.get(doc_id) != self._labels.get(doc_id):
                self._row_changed(doc_id)

    def set_other_ranks(self, ranks: Mapping[str, Mapping[str, int]]) -> None:
        """``{retriever: {doc_id: rank}}`` of the *other* panes."""
        self._others = {k: dict(v) for k, v in ranks.items() if k != self.retriever}
        if self._rows:
            self.dataChanged.emit(self.index(0, self.COL_OTHER),
                                  self.index(len(self._rows) - 1, self.COL_OTHER))

    def _row_changed(self, doc_id: str) -> None:
        row = self._row_of.get(doc_id)
        if row is not None:
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(self.COLUMNS) - 1))

    # -- data out -------------------------------------------------------------
    def doc_id(self, row: int) -> str:
        return self._rows[row].doc_id

    def doc_ids(self) -> list[str]:
        return [r.doc_id for r in self._rows]

    def row_of(self, doc_id: str) -> int | None:
        return self._row_of.get(doc_id)

    def label_of(self, doc_id: str) -> Label | None:
        return self._labels.get(doc_id)

    def rows(self) -> list[CandidateRow]:
        return list(self._rows)

    def rowCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal:
            if role == Qt.ItemDataRole.DisplayRole:
                return self.COLUMNS[section]
            if role == Qt.ItemDataRole.ToolTipRole:
                return ("Label for this query", "Rank", "Retrieval score",
                        "Title and best-matching passage (query terms highlighted)",
                        "Rank of this document in the other panes")[section]
        return None

    def _others_text(self, doc_id: str) -> str:
        parts = [f"{PANE_LETTERS[name]}{ranks[doc_id]}"
                 for name, ranks in self._others.items() if doc_id in ranks]
        return " ".join(parts)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        r = self._rows[index.row()]
        col = index.column()
        lab = self._labels.get(r.doc_id)
        if role == Qt.ItemDataRole.DisplayRole:
            if col == self.COL_RANK:
                return str(r.rank)
            if col == self.COL_SCORE:
                return f"{r.score:.3f}" if abs(r.score) < 100 else f"{r.score:.1f}"
            if col == self.COL_DOC:
                return r.doc_id
            if col == self.COL_OTHER:
                return self._others_text(r.doc_id)
            return None
        if role == HtmlRole and col == self.COL_DOC:
            return (f'<b>{r.title_html or "(untitled)"}</b> '
                    f'<span style="color:#888">{r.doc_id}</span><br>{r.snippet_html}')
        if role == IdRole:
            return r.doc_id
        if role == Qt.ItemDataRole.DecorationRole and col == self.COL_LABEL and lab:
            return label_icon(lab.label, dashed=lab.source == "mined")
        if role == Qt.ItemDataRole.BackgroundRole and lab:
            return QBrush(QColor(LABEL_TINTS[lab.label]))
        if role == Qt.ItemDataRole.TextAlignmentRole and col != self.COL_DOC:
            return Qt.AlignmentFlag.AlignCenter
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == self.COL_LABEL:
                if not lab:
                    return "Not judged for this query"
                return (f"{LABEL_TITLES[lab.label]} (set by {SOURCE_TITLES.get(lab.source, lab.source)}, "
                        f"pass {lab.pass_number})")
            if col == self.COL_OTHER:
                parts = [f"{PANE_TITLES[n]} rank {ranks[r.doc_id]}"
                         for n, ranks in self._others.items() if r.doc_id in ranks]
                return "; ".join(parts) or "Not in the other panes' lists"
        if role == Qt.ItemDataRole.ForegroundRole and col == self.COL_OTHER:
            return QBrush(QColor("#1d4ed8"))
        return None
