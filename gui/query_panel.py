"""The query list: search, split and label-status filters, counts, keyboard navigation."""

from __future__ import annotations

from typing import Sequence

from PySide6.QtCore import QItemSelectionModel, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from core.labeling.overview import QuerySummary

from .models import IdRole, QueryFilterProxy, QueryListModel


class QueryView(QTableView):
    """Query table; j/k move like the arrows."""

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_J, Qt.Key.Key_K) and not event.modifiers():
            step = 1 if event.key() == Qt.Key.Key_J else -1
            model = self.model()
            if model.rowCount():
                cur = self.currentIndex()
                row = 0 if not cur.isValid() else min(max(cur.row() + step, 0), model.rowCount() - 1)
                self.setCurrentIndex(model.index(row, 0))
            return
        super().keyPressEvent(event)


class QueryPanel(QWidget):
    """Filterable list of queries; emits ``querySelected`` when the current query changes."""

    querySelected = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.model = QueryListModel(self)
        self.proxy = QueryFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self._current_id: str | None = None

        self.search = QLineEdit()
        self.search.setPlaceholderText("Search queries…  Ctrl+F")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(lambda text: self._filtered(self.proxy.set_text, text))

        self.split = QComboBox()
        self.split.setToolTip("Only queries of this split")
        self.split.addItem("All splits", "")
        self.split.currentIndexChanged.connect(
            lambda _i: self._filtered(self.proxy.set_split, self.split.currentData()))

        self.status = QComboBox()
        self.status.setToolTip("Only queries with this label status")
        for key, title in QueryFilterProxy.STATUSES.items():
            self.status.addItem(title, key)
        self.status.currentIndexChanged.connect(
            lambda _i: self._filtered(self.proxy.set_status, self.status.currentData()))

        for box in (self.split, self.status):
            box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            box.setMinimumContentsLength(6)
        filters = QHBoxLayout()
        filters.setContentsMargins(0, 0, 0, 0)
        filters.addWidget(self.split, 1)
        filters.addWidget(self.status, 2)

        self.view = QueryView(self)
        self.view.setObjectName("query-list")
        self.view.setModel(self.proxy)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setShowGrid(False)
        self.view.setWordWrap(True)
        self.view.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # storage order until asked
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.view.verticalHeader().setDefaultSectionSize(36)  # two lines of query text
        hh = self.view.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        hh.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        hh.setMinimumSectionSize(20)
        self.view.setColumnWidth(1, 40)
        for col in (2, 3, 4):
            self.view.setColumnWidth(col, 24)
        self.view.setColumnWidth(QueryListModel.STATE_COLUMN, 22)
        self.view.selectionModel().currentRowChanged.connect(self._current_changed)

        self.count = QLabel()
        self.count.setObjectName("query-count")
        self.count.setStyleSheet("color:#555")
        self.count.setWordWrap(True)
        # Progress across the query set: reviewed = labeled with no mined proposal waiting.
        self.progress = QProgressBar()
        self.progress.setObjectName("query-progress")
        self.progress.setTextVisible(True)
        self.progress.setFormat("%v of %m reviewed")
        self.progress.setMaximumHeight(16)
        self.progress.setToolTip("Queries labeled with no mined proposal left to review")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.search)
        layout.addLayout(filters)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.progress)
        layout.addWidget(self.count)
        self._update_count()

    # -- data -------------------------------------------------------------------
    def set_queries(self, queries: Sequence[QuerySummary], splits: Sequence[str]) -> None:
        current = self.current_query_id()
        self.model.set_queries(queries)
        self.split.blockSignals(True)
        chosen = self.split.currentData()
        self.split.clear()
        self.split.addItem("All splits", "")
        for s in splits:
            self.split.addItem(s or "(no split)", s)
        i = self.split.findData(chosen)
        self.split.setCurrentIndex(max(i, 0))
        self.split.blockSignals(False)
        self._update_count()
        if current:
            self.select_query(current)

    def _filtered(self, setter, value) -> None:
        setter(value)
        self._update_count()
        # Filtering drops the view's current index when the current query is
        # hidden; put it back when it is visible again, so next/previous
        # still start from the query being labeled.
        if self._current_id is not None:
            self.select_query(self._current_id)

    def _update_count(self) -> None:
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        labeled = sum(1 for q in self.model.summaries() if q.labeled)
        reviewed = self.model.reviewed_count()
        skipped = len(self.model.skipped)
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(reviewed)
        self.count.setText(f"{shown} of {total} shown · {labeled} labeled"
                           + (f" · {skipped} skipped" if skipped else ""))

    def refresh_counts(self) -> None:
        self._update_count()
        # A status filter may now include or exclude a changed query.
        if self.proxy.status != "all":
            self.proxy.refilter()
            if self._current_id is not None:
                self.select_query(self._current_id)

    # -- selection --------------------------------------------------------------
    def current_query_id(self) -> str | None:
        """The query being labeled (kept while a filter hides it)."""
        return self._current_id

    def select_query(self, query_id: str) -> bool:
        row = self.model.row_of(query_id)
        if row is None:
            return False
        self._current_id = query_id
        idx = self.proxy.mapFromSource(self.model.index(row, 0))
        if not idx.isValid():
            return False
        if self.view.currentIndex().data(IdRole) != query_id:
            self.view.selectionModel().setCurrentIndex(
                idx, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
        self.view.scrollTo(idx, QAbstractItemView.ScrollHint.PositionAtCenter)
        return True

    def skip_current(self) -> None:
        """Mark the current query skipped (this session only) and move to the next one."""
        if self._current_id is None:
            return
        self.model.skip(self._current_id)
        self._update_count()
        self.step(1)

    def select_first(self) -> None:
        if self.proxy.rowCount():
            self.view.setCurrentIndex(self.proxy.index(0, 0))

    def neighbour(self, delta: int) -> str | None:
        """Id of the visible query ``delta`` rows from the current one (None at the ends)."""
        cur = self.view.currentIndex()
        if not cur.isValid():
            return None
        row = cur.row() + delta
        if not 0 <= row < self.proxy.rowCount():
            return None
        return self.proxy.index(row, 0).data(IdRole)

    def step(self, delta: int) -> None:
        """Move to the next (``delta=1``) or previous visible query."""
        n = self.proxy.rowCount()
        if not n:
            return
        cur = self.view.currentIndex()
        if not cur.isValid() and self._current_id is not None:
            # The current query is filtered out: continue from where it would sit.
            source_row = self.model.row_of(self._current_id) or 0
            after = [r for r in range(n)
                     if self.proxy.mapToSource(self.proxy.index(r, 0)).row() > source_row]
            row = (after[0] if after else n) - (1 if delta < 0 else 0)
            row = min(max(row, 0), n - 1)
        elif not cur.isValid():
            row = 0
        else:
            row = min(max(cur.row() + delta, 0), n - 1)
        self.view.selectionModel().setCurrentIndex(
            self.proxy.index(row, 0),
            QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
        self.view.scrollTo(self.proxy.index(row, 0))

    def _current_changed(self, current, _previous) -> None:
        if current.isValid():
            self._current_id = current.data(IdRole)
            self.querySelected.emit(self._current_id)
