"""A candidate pane: one retriever's ranked list for the current query.

The pane is a view: it shows what the workspace hands it (candidates, labels,
readiness) and reports what the user selects. It never runs retrieval.
"""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, Qt, Signal
from PySide6.QtGui import QAction, QColor, QKeyEvent, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QProgressBar,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from core.labeling.candidates import Candidates

from .delegates import HtmlDelegate
from .models import CandidateModel
from .style import PANE_TITLES

ROW_HEIGHT = 70


class CandidateView(QTableView):
    """Table of candidates: fixed-height rows, row selection, j/k to move."""

    focused = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setWordWrap(False)
        self.setShowGrid(False)
        self.setAlternatingRowColors(False)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        vh = self.verticalHeader()
        vh.setVisible(False)
        vh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vh.setDefaultSectionSize(ROW_HEIGHT)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        # A light selection keeps highlighted terms and label badges readable.
        pal = self.palette()
        for group in (QPalette.ColorGroup.Active, QPalette.ColorGroup.Inactive):
            pal.setColor(group, QPalette.ColorRole.Highlight, QColor("#c7dcff"))
            pal.setColor(group, QPalette.ColorRole.HighlightedText, QColor("#000000"))
        self.setPalette(pal)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        mods = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        if event.key() in (Qt.Key.Key_J, Qt.Key.Key_K) and mods in (
                Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.ShiftModifier):
            self.move_current(1 if event.key() == Qt.Key.Key_J else -1,
                              extend=bool(mods & Qt.KeyboardModifier.ShiftModifier))
            return
        super().keyPressEvent(event)

    def move_current(self, step: int, extend: bool = False) -> None:
        model = self.model()
        if model is None or model.rowCount() == 0:
            return
        cur = self.currentIndex()
        row = 0 if not cur.isValid() else min(max(cur.row() + step, 0), model.rowCount() - 1)
        flags = QItemSelectionModel.SelectionFlag.Rows
        if extend:
            flags |= QItemSelectionModel.SelectionFlag.Select
        else:
            flags |= QItemSelectionModel.SelectionFlag.ClearAndSelect
        self.selectionModel().setCurrentIndex(model.index(row, CandidateModel.COL_DOC), flags)
        self.scrollTo(model.index(row, 0))

    def focusInEvent(self, event) -> None:
        super().focusInEvent(event)
        self.focused.emit()


class CandidatePane(QWidget):
    """Header (retriever, state) over a stack: the candidate table or a progress/message page."""

    activated = Signal(str)  # the current row's document id changed
    focused = Signal()
    contextMenuRequested = Signal(object, object)  # (pane, global QPoint)

    def __init__(self, retriever: str, parent=None) -> None:
        super().__init__(parent)
        self.retriever = retriever
        self.model = CandidateModel(retriever, self)

        self.title = QLabel(f"<b>{PANE_TITLES[retriever]}</b>")
        self.info = QLabel()
        self.info.setStyleSheet("color:#555")
        head = QHBoxLayout()
        head.setContentsMargins(4, 2, 4, 2)
        head.addWidget(self.title)
        head.addStretch(1)
        head.addWidget(self.info)

        self.view = CandidateView(self)
        self.view.setObjectName(f"pane-{retriever}")
        self.view.setModel(self.model)
        self.view.setItemDelegateForColumn(CandidateModel.COL_DOC, HtmlDelegate(self.view))
        hh = self.view.horizontalHeader()
        hh.setStretchLastSection(False)
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        hh.setSectionResizeMode(CandidateModel.COL_DOC, QHeaderView.ResizeMode.Stretch)
        for col, width in ((CandidateModel.COL_LABEL, 26), (CandidateModel.COL_RANK, 50),
                           (CandidateModel.COL_OTHER, 44)):
            self.view.setColumnWidth(col, width)
        hh.setMinimumSectionSize(20)
        self.view.selectionModel().currentRowChanged.connect(self._current_changed)
        self.view.focused.connect(self.focused)
        self.view.customContextMenuRequested.connect(
            lambda pos: self.contextMenuRequested.emit(self, self.view.viewport().mapToGlobal(pos)))

        self.message = QLabel()
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(320)
        self.progress.setRange(0, 1000)
        msg_page = QWidget()
        msg_layout = QVBoxLayout(msg_page)
        msg_layout.addStretch(1)
        msg_layout.addWidget(self.message)
        msg_layout.addWidget(self.progress, 0, Qt.AlignmentFlag.AlignHCenter)
        msg_layout.addStretch(2)

        self.stack = QStackedWidget()
        self.stack.addWidget(self.view)
        self.stack.addWidget(msg_page)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(head)
        layout.addWidget(self.stack, 1)
        self.show_message("Select a query")

    # -- state --------------------------------------------------------------
    def show_message(self, text: str, fraction: float | None = None) -> None:
        """Replace the table by a message, with a progress bar when ``fraction`` is given."""
        self.message.setText(text)
        self.progress.setVisible(fraction is not None)
        if fraction is not None:
            self.progress.setValue(int(fraction * 1000))
        self.info.setText("")
        self.stack.setCurrentIndex(1)

    def set_candidates(self, result: Candidates) -> None:
        keep = self.selected_doc_ids() if result.query_id == self.model.query_id else []
        current = self.current_doc_id() if result.query_id == self.model.query_id else None
        self.model.set_candidates(result)
        self.stack.setCurrentIndex(0)
        n = len(result.rows)
        self.info.setText(f"top {n}" if n else "no results")
        if keep:
            self.select_docs(keep, current)

    @property
    def showing_candidates(self) -> bool:
        return self.stack.currentIndex() == 0

    # -- selection ------------------------------------------------------------
    def selected_doc_ids(self) -> list[str]:
        rows = sorted({i.row() for i in self.view.selectionModel().selectedRows()})
        return [self.model.doc_id(r) for r in rows if r < self.model.rowCount()]

    def current_doc_id(self) -> str | None:
        idx = self.view.currentIndex()
        return self.model.doc_id(idx.row()) if idx.isValid() else None

    def select_docs(self, doc_ids: list[str], current: str | None = None) -> None:
        sm = self.view.selectionModel()
        sm.clearSelection()
        flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
        for did in doc_ids:
            row = self.model.row_of(did)
            if row is not None:
                sm.select(self.model.index(row, 0), flags)
        cur_row = self.model.row_of(current) if current else None
        if cur_row is not None:
            sm.setCurrentIndex(self.model.index(cur_row, CandidateModel.COL_DOC),
                               QItemSelectionModel.SelectionFlag.NoUpdate)

    def select_row(self, row: int) -> None:
        if 0 <= row < self.model.rowCount():
            self.view.selectionModel().setCurrentIndex(
                self.model.index(row, CandidateModel.COL_DOC),
                QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
            self.view.scrollTo(self.model.index(row, 0))

    def _current_changed(self, current, _previous) -> None:
        if current.isValid():
            self.activated.emit(self.model.doc_id(current.row()))


def build_label_menu(parent: QWidget, actions: list[QAction]) -> QMenu:
    menu = QMenu(parent)
    for action in actions:
        if action is None:
            menu.addSeparator()
        else:
            menu.addAction(action)
    return menu
