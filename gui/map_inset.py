"""The neighbourhood inset: the current query's surroundings magnified in the map's corner."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QRectF, QTimer, Signal
from PySide6.QtWidgets import QWidget

from .map_items import BACKGROUND, DOC_GREY, QueryLayers, query_stars

INSET_SIZE = 280  # pixels
INSET_MARGIN = 8


class NeighbourhoodInset(pg.PlotWidget):
    """A small plot in the lower right corner of ``host``, drawing the same marks in a smaller window."""

    clicked = Signal()

    def __init__(self, host: QWidget) -> None:
        super().__init__(parent=host, background=BACKGROUND)
        self.setFixedSize(INSET_SIZE, INSET_SIZE)
        self.setStyleSheet("border: 1px solid #9ca3af;")
        plot = self.getPlotItem()
        plot.hideAxis("left")
        plot.hideAxis("bottom")
        plot.hideButtons()
        plot.setMenuEnabled(False)
        plot.setMouseEnabled(False, False)
        plot.vb.setAspectLocked(True)
        self.title = pg.TextItem(anchor=(0, 0), color="#111827", fill=pg.mkBrush(255, 255, 255, 200))
        self.title.setParentItem(plot.vb)
        self.title.setPos(4, 2)
        self.docs = pg.ScatterPlotItem(size=7, pen=None, brush=pg.mkBrush(*DOC_GREY, 170),
                                       pxMode=True, antialias=True)
        self.queries = query_stars(12)
        plot.addItem(self.docs)
        self.queries.setZValue(8)
        plot.addItem(self.queries)
        self.marks = QueryLayers(plot, scale=0.9)
        self.scene().sigMouseClicked.connect(lambda _ev: self.clicked.emit())
        self.setToolTip("Click to zoom the map here")
        self.hide()
        self._range: QRectF | None = None
        self._host = host
        self._follow = _OnResize(host, self._place)

    def _place(self) -> None:
        self.move(self._host.width() - INSET_SIZE - INSET_MARGIN,
                  self._host.height() - INSET_SIZE - INSET_MARGIN)

    def show_window(self, window: tuple[float, float, float], doc_xy: np.ndarray,
                    query_xy: np.ndarray, title: str) -> None:
        """Show the points inside the square ``window`` = (centre x, centre y, half-side).

        Draw the coloured marks with ``marks.draw`` before or after; they are
        the main map's, clipped by the window.
        """
        cx, cy, half = window
        near = (np.abs(doc_xy[:, 0] - cx) <= half) & (np.abs(doc_xy[:, 1] - cy) <= half)
        self.docs.setData(x=doc_xy[near, 0], y=doc_xy[near, 1])
        qnear = (np.abs(query_xy[:, 0] - cx) <= half) & (np.abs(query_xy[:, 1] - cy) <= half)
        self.queries.setData(x=query_xy[qnear, 0], y=query_xy[qnear, 1])
        self.title.setText(title)
        self._place()
        self.show()
        self.raise_()
        # The view box learns its pixel size once shown; the range goes in after that.
        self._range = QRectF(cx - half, cy - half, 2 * half, 2 * half)
        self._apply_range()
        QTimer.singleShot(0, self._apply_range)

    def _apply_range(self) -> None:
        if self._range is not None:
            self.getPlotItem().vb.setRange(self._range, padding=0)


class _OnResize(QObject):
    """Calls ``callback`` whenever ``watched`` is resized (the inset stays in its corner)."""

    def __init__(self, watched: QWidget, callback) -> None:
        super().__init__(watched)
        self._callback = callback
        watched.installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:
        if event.type() == QEvent.Type.Resize:
            self._callback()
        return False
