"""One Qt table model for rows of plain data, its columns declared once.

A view's model used to be a hand-written ``data()``: one ``if role == ...``
ladder per model, copied with small changes. Here a model lists its
:class:`Column` s (header, cell text, alignment, colour, icon, sort key,
tooltip) and :class:`RowTableModel` answers every role from them
(napari's ``_base_item_model``: Qt models only *translate* plain rows).

Every column callable takes ``(row, model)``: the row, and the model for
what it holds besides its rows (titles, documents, explanations). Colours
are names (``"#6b7280"``); a cell's own colour wins over its row's.
:func:`show_rows` sets a table view up for such a model (column widths from
the declarations).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Generic, Sequence, TypeVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QIcon
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView

HtmlRole = Qt.ItemDataRole.UserRole + 1  # rich text for the highlight delegate
IdRole = Qt.ItemDataRole.UserRole + 2  # query or document id
SortRole = Qt.ItemDataRole.UserRole + 3

RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
CENTER = Qt.AlignmentFlag.AlignCenter

Row = TypeVar("Row")
_Index = QModelIndex | QPersistentModelIndex
_Role = Qt.ItemDataRole


def format_score(score: float) -> str:
    """Scores with a fixed number of decimals so a column lines up (cosine, BM25 and RRF alike)."""
    return f"{score:.4f}" if abs(score) < 1 else f"{score:.3f}"


@dataclass(frozen=True)
class Column(Generic[Row]):
    """One column: its header and, per row, what each role shows (None: nothing)."""

    header: str
    text: Callable[[Row, Any], str | None]
    align: Qt.AlignmentFlag | None = None
    header_tip: str | None = None
    header_color: str | None = None
    tooltip: Callable[[Row, Any], str | None] | None = None  # None: the row's tooltip
    color: Callable[[Row, Any], str | None] | None = None  # None or no colour: the row's
    bold: Callable[[Row, Any], bool] | None = None
    icon: Callable[[Row, Any], QIcon | None] | None = None
    sort: Callable[[Row, Any], Any] | None = None
    stretch: bool = False  # takes the width left (in show_rows); other columns fit their contents


class RowTableModel(QAbstractTableModel, Generic[Row]):
    """A table of ``rows`` whose cells come from the subclass's ``COLUMNS``.

    Subclasses declare ``COLUMNS`` and may override the row-wide
    :meth:`row_tooltip`, :meth:`row_background`, :meth:`row_color` and
    :meth:`row_id`.
    """

    COLUMNS: ClassVar[Sequence[Column]] = ()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.rows: list[Row] = []
        self._brushes: dict[str, QBrush] = {}
        self._bold = QFont()
        self._bold.setBold(True)

    # -- data in ----------------------------------------------------------------
    def set_rows(self, rows: Sequence[Row]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def replace(self, row: int, value: Row) -> None:
        """Put ``value`` in place of row ``row`` and repaint that row."""
        self.rows[row] = value
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(self.COLUMNS) - 1))

    def column_changed(self, column: int) -> None:
        """Repaint one column of every row (what it shows came in after the rows)."""
        if self.rows:
            self.dataChanged.emit(self.index(0, column), self.index(len(self.rows) - 1, column))

    # -- row-wide roles (override) ----------------------------------------------------
    def row_tooltip(self, row: Row) -> str | None:
        return None

    def row_background(self, row: Row) -> str | None:
        return None

    def row_color(self, row: Row) -> str | None:
        return None

    def row_id(self, row: Row) -> str | None:
        return None

    # -- Qt -------------------------------------------------------------------------
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: N802 (Qt name)
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: N802 (Qt name)
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section, orientation, role=_Role.DisplayRole):  # noqa: N802 (Qt name)
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self.COLUMNS):
            return None
        column = self.COLUMNS[section]
        if role == _Role.DisplayRole:
            return column.header
        if role == _Role.ToolTipRole:
            return column.header_tip
        if role == _Role.ForegroundRole and column.header_color:
            return self._brush(column.header_color)
        return None

    def multiData(self, index, span) -> None:  # noqa: N802 (Qt name)
        """All roles of a cell in one Python call.

        Qt 6 views ask for a cell's ~8 roles through ``multiData``; the
        default calls ``data()`` once per role, i.e. eight trips into Python
        (eight GIL acquisitions while a worker may hold it) per painted cell.
        """
        if not index.isValid():
            for rd in span:
                rd.clearData()
            return
        for rd in span:
            value = self.data(index, rd.role())
            if value is None:
                rd.clearData()
            else:
                rd.setData(value)

    def data(self, index: _Index, role: int = _Role.DisplayRole):
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        column = self.COLUMNS[index.column()]
        if role == _Role.DisplayRole:
            return column.text(row, self)
        if role == _Role.ToolTipRole:
            return column.tooltip(row, self) if column.tooltip else self.row_tooltip(row)
        if role == _Role.TextAlignmentRole:
            return column.align
        if role == _Role.ForegroundRole:
            color = column.color(row, self) if column.color else None
            color = color or self.row_color(row)
            return self._brush(color) if color else None
        if role == _Role.BackgroundRole:
            color = self.row_background(row)
            return self._brush(color) if color else None
        if role == _Role.FontRole:
            return self._bold if column.bold and column.bold(row, self) else None
        if role == _Role.DecorationRole:
            return column.icon(row, self) if column.icon else None
        if role == SortRole:
            return column.sort(row, self) if column.sort else None
        if role == IdRole:
            return self.row_id(row)
        return None

    def _brush(self, color: str) -> QBrush:
        brush = self._brushes.get(color)
        if brush is None:
            brush = self._brushes[color] = QBrush(QColor(color))
        return brush


def show_rows(view: QTableView, model: RowTableModel, row_height: int) -> None:
    """Show ``model`` in ``view`` as a read-only list of whole rows, one line each.

    No grid and no row numbers; each column fits its contents except those
    declared ``stretch``, which share the width left.
    """
    view.setModel(model)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.verticalHeader().setVisible(False)
    view.verticalHeader().setDefaultSectionSize(row_height)
    view.setShowGrid(False)
    view.setWordWrap(False)
    head = view.horizontalHeader()
    for i, column in enumerate(model.COLUMNS):
        head.setSectionResizeMode(i, QHeaderView.ResizeMode.Stretch if column.stretch
                                  else QHeaderView.ResizeMode.ResizeToContents)
