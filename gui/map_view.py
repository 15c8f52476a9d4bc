"""The Map tab: documents and queries in a 2-D UMAP of one model's embeddings.

What it shows comes from :mod:`core.map` (plain arrays computed in
a background job); this module only draws and routes user actions:

* documents are one raster point cloud (:class:`PointCloudItem`, darker
  where dense) so 100,000 points pan at interactive frame rates; the few
  coloured documents (labels of the current query, mined proposals, splits,
  retriever ranks) are small pyqtgraph scatter layers on top, each with one
  brush, updated with ``setData`` (no per-point brush lists);
* queries are stars; the current query is a large star with lines to its
  judged documents and rings around its ten nearest documents in the
  *embedding* space (where those rings sit far from the star, UMAP tore
  the neighbourhood apart);
* hover names a point, a click opens a document in the labeling workspace
  (``AppContext.activate_document``) or makes a query current;
  Shift+drag selects a box, Ctrl+drag a lasso, and the selection bar labels
  the selected documents for the current query in one undoable command
  (``AppContext.apply_labels``);
* "Before/after" lays out a second model starting from the first one's map
  and aligned onto it; the slider (or Play) moves every point from its
  place under the old model to its place under the new one.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPointF, QRectF, QStringListModel, Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication, QImage, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QCompleter,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from core.map.jobs import (
    BeforeAfter,
    before_after,
    compute_layout,
    ranks_for_query,
    warm_up,
)
from core.map.layout import NEIGHBOURS_K, MapLayout
from core.project.file import Project
from core.project.queries import (
    Found,
    QueryOverlay,
    document_splits,
    find_points,
    label_summary,
    query_overlay,
)

from .context import AppContext, LabelsChanged
from .style import LABEL_COLORS, LABEL_TITLES
from .workers import Job, Latest

# -- look ---------------------------------------------------------------------------

BACKGROUND = "#ffffff"
DOC_GREY = (150, 156, 168)
QUERY_COLOR = "#475569"
CURRENT_QUERY_COLOR = "#111827"
NEIGHBOUR_COLOR = "#0ea5e9"
SELECTION_COLOR = "#111827"
FOUND_COLOR = "#e11d48"
PROPOSAL_COLOR = "#f59e0b"

# (key, legend title, brush colour or None for a ring, ring colour, size)
LABEL_LAYERS = [
    ("proposal", "Mined proposal (unreviewed)", None, PROPOSAL_COLOR, 12),
    ("negative", LABEL_TITLES["negative"], LABEL_COLORS["negative"], "#ffffff", 12),
    ("false_negative", LABEL_TITLES["false_negative"], LABEL_COLORS["false_negative"], "#ffffff", 12),
    ("positive", LABEL_TITLES["positive"], LABEL_COLORS["positive"], "#ffffff", 13),
]
SPLIT_COLORS = {"train": "#2563eb", "test": "#d97706", "dev": "#0d9488", "validation": "#0d9488",
                "mixed": "#db2777"}
SPLIT_FALLBACK = ["#0d9488", "#65a30d", "#9333ea", "#0891b2"]
RANK_LAYERS = [  # (key, title, lowest rank, highest rank, colour)
    ("rank51", "Rank 51–100", 51, 100, "#bfdbfe"),
    ("rank11", "Rank 11–50", 11, 50, "#60a5fa"),
    ("rank2", "Rank 2–10", 2, 10, "#1d4ed8"),
    ("rank1", "Rank 1", 1, 1, "#1e1b4b"),
]
MODES = [("labels", "Labels of the current query"), ("all", "Labels of all queries"),
         ("split", "Split of the judging queries"),
         ("rank", "Rank for the current query")]
RETRIEVERS = [("dense", "Dense"), ("bm25", "BM25"), ("hybrid", "Hybrid")]
HINT = ("Click: open a document or pick a query · Shift+drag: box select · "
        "Ctrl+drag: lasso · Esc: clear selection · wheel: zoom")
SCATTER_LIMIT = 20_000
INSET_SIZE = 280  # pixels
INSET_MIN_DOCS = 50  # smaller maps are readable without magnification  # above this many documents the background is a raster cloud


def _brush(color: str | None):
    return pg.mkBrush(color) if color else pg.mkBrush(0, 0, 0, 0)


# -- the document cloud -----------------------------------------------------------

class PointCloudItem(pg.GraphicsObject):
    """Many same-coloured points drawn as one raster image per frame.

    Each paint maps the points to pixels (numpy), counts points per pixel,
    grows each pixel to a small square and draws the result with one
    ``drawImage``; denser pixels get more opaque. Measured at 100,000
    points: 21 ms per frame against 64 ms for a ScatterPlotItem on the same
    (loaded) machine, and 1 ms instead of 650 ms to move all points.
    """

    def __init__(self, color: tuple[int, int, int] = DOC_GREY, radius: int = 1) -> None:
        super().__init__()
        self._x = np.zeros(0, np.float32)
        self._y = np.zeros(0, np.float32)
        self._rect = QRectF()
        self._radius = radius
        alpha = np.array([0, 120, 165, 205, 240], np.uint32)
        r, g, b = color
        self._lut = ((alpha << 24) | ((alpha * r // 255) << 16) | ((alpha * g // 255) << 8)
                     | (alpha * b // 255)).astype(np.uint32)

    def set_points(self, xy: np.ndarray) -> None:
        self.prepareGeometryChange()
        self._x = np.ascontiguousarray(xy[:, 0], np.float32)
        self._y = np.ascontiguousarray(xy[:, 1], np.float32)
        if len(xy):
            lo, hi = xy.min(axis=0), xy.max(axis=0)
            self._rect = QRectF(float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1]))
        else:
            self._rect = QRectF()
        self.update()

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(self, painter, *args) -> None:
        vb = self.getViewBox()
        if vb is None or not len(self._x):
            return
        tr = painter.worldTransform()
        visible = tr.mapRect(vb.viewRect())
        x0, y0 = int(np.floor(visible.left())), int(np.floor(visible.top()))
        w, h = int(np.ceil(visible.width())) + 1, int(np.ceil(visible.height())) + 1
        if w <= 0 or h <= 0 or w * h > 40_000_000:
            return
        r = self._radius
        big_w, big_h = w + 2 * r, h + 2 * r
        px = (tr.m11() * self._x + tr.m21() * self._y + (tr.m31() - x0 + r)).astype(np.int32)
        py = (tr.m12() * self._x + tr.m22() * self._y + (tr.m32() - y0 + r)).astype(np.int32)
        inside = (px >= r) & (py >= r) & (px < big_w - r) & (py < big_h - r)
        counts = np.bincount(py[inside] * big_w + px[inside], minlength=big_w * big_h)
        c8 = np.minimum(counts, 4).astype(np.uint8).reshape(big_h, big_w)
        grown = c8[r:r + h, r:r + w].copy()
        for dy in range(-r, r + 1):
            for dx in range(-r, r + 1):
                if dx or dy:
                    np.maximum(grown, c8[r + dy:r + dy + h, r + dx:r + dx + w], out=grown)
        argb = self._lut[grown]
        image = QImage(argb.data, w, h, 4 * w, QImage.Format.Format_ARGB32_Premultiplied)
        painter.save()
        painter.resetTransform()
        painter.drawImage(x0, y0, image)
        painter.restore()


class DocumentCloud:
    """All documents in grey: antialiased scatter up to 20,000 points, raster cloud above."""

    def __init__(self, plot: pg.PlotItem) -> None:
        self.scatter = pg.ScatterPlotItem(size=5, pen=None, brush=pg.mkBrush(*DOC_GREY, 150),
                                          pxMode=True, antialias=True)
        self.cloud = PointCloudItem()
        for item in (self.scatter, self.cloud):
            item.setZValue(0)
            plot.addItem(item)
        self.legend_proxy = pg.ScatterPlotItem(size=6, pen=None, brush=pg.mkBrush(*DOC_GREY, 200))

    def set_points(self, xy: np.ndarray) -> None:
        if len(xy) > SCATTER_LIMIT:
            self.scatter.setData(x=[], y=[])
            self.cloud.set_points(xy)
            self.cloud.show()
        else:
            self.cloud.set_points(np.zeros((0, 2), np.float32))
            self.cloud.hide()
            size = 7 if len(xy) <= 2000 else 5
            self.scatter.setData(x=xy[:, 0], y=xy[:, 1], size=size)


class QueryLayers:
    """The coloured layers and the current query's marks, on one plot.

    The main map and the neighbourhood inset each own one; ``draw`` takes
    the same groups and rows for both, the inset just sees a smaller window.
    """

    def __init__(self, plot: pg.PlotItem, scale: float = 1.0) -> None:
        def add(item, z: float):
            item.setZValue(z)
            plot.addItem(item)
            return item

        def scatter(size: float, **kw) -> pg.ScatterPlotItem:
            return pg.ScatterPlotItem(size=size * scale, pxMode=True, antialias=True, **kw)

        self.layers: dict[str, pg.ScatterPlotItem] = {}
        for key, _title, color, ring, size in LABEL_LAYERS:
            pen = pg.mkPen(ring, width=2.2 if color is None else 1.0)
            self.layers[key] = add(scatter(size, pen=pen, brush=_brush(color)), 5)
        for key, _title, _lo, _hi, color in RANK_LAYERS:
            self.layers[key] = add(scatter(8, pen=pg.mkPen("#ffffff", width=0.8),
                                           brush=_brush(color)), 5)
        for split in list(SPLIT_COLORS) + [f"other{i}" for i in range(len(SPLIT_FALLBACK))]:
            color = SPLIT_COLORS.get(split) or SPLIT_FALLBACK[int(split[5:])]
            self.layers[f"split:{split}"] = add(scatter(7, pen=pg.mkPen("#ffffff", width=0.6),
                                                        brush=_brush(color)), 4)
        self.neighbours = add(scatter(15, brush=None, pen=pg.mkPen(NEIGHBOUR_COLOR, width=1.8)), 6)
        self.lines: dict[str, pg.PlotDataItem] = {}
        for label in ("positive", "false_negative", "negative"):
            style = Qt.PenStyle.SolidLine if label != "negative" else Qt.PenStyle.DashLine
            self.lines[label] = add(pg.PlotDataItem(connect="pairs", pen=pg.mkPen(
                LABEL_COLORS[label], width=2, style=style)), 3)
        self.current = add(scatter(28, symbol="star", pen=pg.mkPen("#ffffff", width=2),
                                   brush=pg.mkBrush(CURRENT_QUERY_COLOR)), 10)

    def draw(self, doc_xy: np.ndarray, groups: dict[str, list[int]], query: np.ndarray | None,
             neighbours: np.ndarray | None, judged: dict[str, list[int]]) -> None:
        """Layers from ``groups`` (document rows per layer); the query's star, rings and lines."""
        for key, item in self.layers.items():
            rows = np.asarray(groups.get(key, ()), dtype=np.int64)
            item.setData(x=doc_xy[rows, 0], y=doc_xy[rows, 1], data=rows)
        for label, line in self.lines.items():
            rows = judged.get(label, [])
            if query is None or not rows:
                line.setData([], [])
                continue
            pts = np.empty((2 * len(rows), 2), np.float32)
            pts[0::2] = query
            pts[1::2] = doc_xy[rows]
            line.setData(pts[:, 0], pts[:, 1])
        if query is None:
            self.current.setData([], [])
            self.neighbours.setData([], [])
            return
        self.current.setData(x=[query[0]], y=[query[1]])
        if neighbours is not None:
            self.neighbours.setData(x=doc_xy[neighbours, 0], y=doc_xy[neighbours, 1])
        else:
            self.neighbours.setData([], [])


# -- selection gestures -------------------------------------------------------------

class MapViewBox(pg.ViewBox):
    """Pan/zoom as usual; Shift+drag draws a box and Ctrl+drag a lasso to select points."""

    selectionMade = Signal(object)  # np.ndarray (k, 2) polygon in view coordinates
    selectionCleared = Signal()

    def __init__(self) -> None:
        super().__init__(lockAspect=True, enableMenu=False)
        self._mode: str | None = None
        self._path: list[tuple[float, float]] = []
        self.lasso_item = pg.PlotDataItem(pen=pg.mkPen(SELECTION_COLOR, width=1.5,
                                                        style=Qt.PenStyle.DashLine))
        self.lasso_item.setZValue(100)
        self.addItem(self.lasso_item, ignoreBounds=True)

    def mouseDragEvent(self, ev, axis=None) -> None:
        mods = ev.modifiers()
        if ev.button() != Qt.MouseButton.LeftButton or (
                self._mode is None and not mods & (Qt.KeyboardModifier.ShiftModifier
                                                   | Qt.KeyboardModifier.ControlModifier)):
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        pos = self.mapSceneToView(ev.scenePos())
        if ev.isStart() or self._mode is None:
            start = self.mapSceneToView(ev.buttonDownScenePos())
            self._mode = "box" if mods & Qt.KeyboardModifier.ShiftModifier else "lasso"
            self._path = [(start.x(), start.y())]
        if self._mode == "box":
            (x0, y0), x1, y1 = self._path[0], pos.x(), pos.y()
            polygon = np.array([(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)])
        else:
            self._path.append((pos.x(), pos.y()))
            polygon = np.array(self._path + self._path[:1])
        self.lasso_item.setData(polygon[:, 0], polygon[:, 1])
        if ev.isFinish():
            self._mode = None
            self.lasso_item.setData([], [])
            self.selectionMade.emit(polygon[:-1])


# -- the view -------------------------------------------------------------------------

@dataclass
class _Shown:
    """What the plot currently shows (positions depend on the before/after slider)."""

    layout: MapLayout
    doc_xy: np.ndarray
    query_xy: np.ndarray


class MapView(QWidget):
    """UMAP of the project's documents and queries under the current model."""

    ready = Signal()  # a layout is on screen (and its overlays are loaded)
    layoutShown = Signal(object)  # the MapLayout now drawn

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.mode = "labels"
        self.retriever = "dense"
        self.layout_data: MapLayout | None = None
        self.pair: BeforeAfter | None = None
        self.compare_model: str | None = None
        self.selected = np.zeros(0, np.int64)
        self.overlay: QueryOverlay | None = None
        self.splits: dict[str, str] | None = None
        self.all_labels: dict[str, str] | None = None
        self.ranks: dict[str, int] | None = None
        self._shown: _Shown | None = None
        self._tree = None
        self._hover: tuple[str, int] | None = None
        self._found: tuple[str, int] | None = None
        self._job: Job | None = None
        self._requested = False
        self._serial = 0
        self._stale = False
        self._error: str | None = None
        self._pending_overlay = False
        self._t = 1.0
        self._rank_lookup = Latest(context.jobs, "Map ranks", self)
        self._split_lookup = Latest(context.jobs, "Map splits", self)
        self._all_lookup = Latest(context.jobs, "Map labels", self)
        self._search_lookup = Latest(context.jobs, "Map search", self)
        self._found_items: list[Found] = []
        self._build()
        context.currentQueryChanged.connect(self._query_changed)
        context.labelsChanged.connect(self._labels_changed)
        context.modelChanged.connect(self._model_changed)
        context.modelVersionsChanged.connect(self._fill_compare_models)
        context.candidatesChanged.connect(lambda _pass: self._shown and self._load_overlays())
        context.jobs.jobProgress.connect(self._job_progress)
        self._fill_compare_models()
        # Interactive sessions load UMAP's compiled kernels while the user
        # starts labeling; offscreen runs (tests, screenshots) skip it.
        if QGuiApplication.platformName() != "offscreen":
            QTimer.singleShot(3000, start_warm_up)

    # -- construction -----------------------------------------------------------------
    def _build(self) -> None:
        top = QHBoxLayout()
        top.addWidget(QLabel("Colour by:"))
        self.mode_box = QComboBox()
        for key, title in MODES:
            self.mode_box.addItem(title, key)
        self.mode_box.currentIndexChanged.connect(
            lambda _i: self.set_mode(self.mode_box.currentData()))
        top.addWidget(self.mode_box)
        self.retriever_box = QComboBox()
        for key, title in RETRIEVERS:
            self.retriever_box.addItem(title, key)
        self.retriever_box.currentIndexChanged.connect(
            lambda _i: self.set_retriever(self.retriever_box.currentData()))
        self.retriever_box.setVisible(False)
        top.addWidget(self.retriever_box)
        top.addSpacing(16)
        top.addWidget(QLabel("Before/after:"))
        self.compare_box = QComboBox()
        self.compare_box.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.compare_box.setMinimumContentsLength(18)
        self.compare_box.setToolTip("Lay out another model's map from this one and move between them")
        self.compare_box.activated.connect(
            lambda _i: self.set_compare_model(self.compare_box.currentData()))
        top.addWidget(self.compare_box)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 100)
        self.slider.setValue(100)
        self.slider.setFixedWidth(160)
        self.slider.valueChanged.connect(lambda v: self.set_blend(v / 100.0))
        self.play_button = QPushButton("Play")
        self.play_button.setToolTip("Animate from the other model's map to the current model's")
        self.play_button.clicked.connect(self.play)
        self.slider_label = QLabel()
        self.after_label = QLabel()
        top.addStretch(1)
        self.inset_box = QCheckBox("Inset")
        self.inset_box.setToolTip("Show the current query's neighbourhood magnified in a corner")
        self.inset_box.setChecked(True)
        self.inset_box.toggled.connect(lambda _on: self._draw_overlays())
        top.addWidget(self.inset_box)
        self.zoom_button = QPushButton("Zoom to query")
        self.zoom_button.setToolTip("Zoom to the current query and its documents (Z); "
                                    "Home shows the whole map")
        self.zoom_button.clicked.connect(self.zoom_to_query)
        top.addWidget(self.zoom_button)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Find a document or query (id or words)…")
        self.search.setClearButtonEnabled(True)
        self.search.setMinimumWidth(260)
        self._search_model = QStringListModel(self)
        completer = QCompleter(self._search_model, self)
        completer.setCompletionMode(QCompleter.CompletionMode.UnfilteredPopupCompletion)
        completer.activated[str].connect(self._search_chosen)
        self.search.setCompleter(completer)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(250)
        self._search_timer.timeout.connect(self._run_search)
        self.search.textEdited.connect(lambda _t: self._search_timer.start())
        self.search.returnPressed.connect(self._search_return)
        top.addWidget(self.search)

        busy = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.retry_button = QPushButton("Compute map")
        self.retry_button.clicked.connect(lambda: self.refresh(force=True))
        busy.addWidget(self.progress, 1)
        busy.addWidget(self.cancel_button)
        busy.addWidget(self.retry_button)
        self.busy_row = QWidget()
        self.busy_row.setLayout(busy)
        self.busy_row.setVisible(False)

        self.view_box = MapViewBox()
        self.plot_widget = pg.PlotWidget(viewBox=self.view_box, background=BACKGROUND)
        self.plot_widget.setAntialiasing(True)
        plot = self.plot_widget.getPlotItem()
        plot.hideAxis("left")
        plot.hideAxis("bottom")
        plot.hideButtons()
        plot.setMenuEnabled(False)
        self.plot = plot
        self.docs = DocumentCloud(plot)
        self.marks = QueryLayers(plot)
        self.layers = self.marks.layers
        self.lines = self.marks.lines
        self.current_item = self.marks.current
        self.neighbours_item = self.marks.neighbours
        self.queries_item = pg.ScatterPlotItem(symbol="star", size=11, pxMode=True,
                                               pen=pg.mkPen("#ffffff", width=0.7),
                                               brush=pg.mkBrush(QUERY_COLOR))
        self.queries_item.setZValue(8)
        plot.addItem(self.queries_item)
        self.trails = pg.PlotDataItem(connect="pairs", pen=pg.mkPen("#6b7280", width=1,
                                                                     style=Qt.PenStyle.DotLine))
        self.trails.setZValue(2)
        plot.addItem(self.trails)
        self.selection_item = pg.ScatterPlotItem(symbol="s", size=11, pxMode=True, brush=None,
                                                 pen=pg.mkPen(SELECTION_COLOR, width=1.4))
        self.selection_item.setZValue(9)
        plot.addItem(self.selection_item)
        self.hover_item = pg.ScatterPlotItem(size=16, pxMode=True, brush=None,
                                             pen=pg.mkPen("#111827", width=2))
        self.hover_item.setZValue(11)
        plot.addItem(self.hover_item)
        self.found_item = pg.ScatterPlotItem(size=26, pxMode=True, brush=None,
                                             pen=pg.mkPen(FOUND_COLOR, width=3))
        self.found_item.setZValue(11)
        plot.addItem(self.found_item)
        self.hover_text = pg.TextItem(anchor=(0, 1), fill=pg.mkBrush(255, 255, 255, 235),
                                      border=pg.mkPen("#9ca3af"))
        self.hover_text.setZValue(20)
        self.hover_text.hide()
        plot.addItem(self.hover_text, ignoreBounds=True)
        self.legend = pg.LegendItem(offset=(10, 10), labelTextColor="#111827",
                                    brush=pg.mkBrush(255, 255, 255, 220), pen=pg.mkPen("#d1d5db"))
        self.legend.setParentItem(plot.vb)
        self._legend_proxies = {
            "query": pg.ScatterPlotItem(symbol="star", size=11, pen=pg.mkPen("#ffffff", width=0.7),
                                        brush=pg.mkBrush(QUERY_COLOR)),
            "current": pg.ScatterPlotItem(symbol="star", size=16, pen=pg.mkPen("#ffffff"),
                                          brush=pg.mkBrush(CURRENT_QUERY_COLOR)),
            "neighbour": pg.ScatterPlotItem(size=12, brush=None, pen=pg.mkPen(NEIGHBOUR_COLOR, width=1.8)),
        }

        self._build_inset()
        scene = self.plot_widget.scene()
        scene.sigMouseMoved.connect(self._mouse_moved)
        scene.sigMouseClicked.connect(self._mouse_clicked)
        self.view_box.selectionMade.connect(self.select_polygon)

        bar = QHBoxLayout()
        self.selection_label = QLabel()
        bar.addWidget(self.selection_label)
        self.label_buttons: dict[str | None, QPushButton] = {}
        for label, title in (("positive", "Positive"), ("negative", "Negative"),
                             ("false_negative", "False negative"), (None, "Clear label")):
            b = QPushButton(title)
            b.clicked.connect(lambda _=False, lab=label: self.label_selection(lab))
            if label:
                b.setStyleSheet(f"QPushButton {{ color: {LABEL_COLORS[label]}; font-weight: 600; }}")
            bar.addWidget(b)
            self.label_buttons[label] = b
        clear = QPushButton("Deselect")
        clear.clicked.connect(self.clear_selection)
        bar.addWidget(clear)
        bar.addStretch(1)
        self.selection_bar = QWidget()
        self.selection_bar.setLayout(bar)
        self.selection_bar.setVisible(False)

        self.status = QLabel()
        self.status.setWordWrap(True)
        self.hint = QLabel(HINT)
        self.hint.setStyleSheet("color: #6b7280")
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        compare = QHBoxLayout()
        compare.setContentsMargins(0, 0, 0, 0)
        for w in (self.slider_label, self.slider, self.after_label, self.play_button):
            compare.addWidget(w)
        compare.addWidget(self.summary, 1)
        self.compare_row = QWidget()
        self.compare_row.setLayout(compare)
        self.compare_row.setVisible(False)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        layout.addWidget(self.busy_row)
        layout.addWidget(self.compare_row)
        layout.addWidget(self.plot_widget, 1)
        layout.addWidget(self.selection_bar)
        layout.addWidget(self.status)
        layout.addWidget(self.hint)
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, activated=self.clear_selection)
        QShortcut(QKeySequence(Qt.Key.Key_Z), self, activated=self.zoom_to_query)
        QShortcut(QKeySequence(Qt.Key.Key_Home), self, activated=self.zoom_all)

        self._play_timer = QTimer(self)
        self._play_timer.setInterval(40)
        self._play_timer.timeout.connect(self._play_step)

    def _build_inset(self) -> None:
        """A small plot in the map's lower right corner: the current query's neighbourhood."""
        inset = pg.PlotWidget(parent=self.plot_widget, background=BACKGROUND)
        inset.setFixedSize(INSET_SIZE, INSET_SIZE)
        inset.setStyleSheet("border: 1px solid #9ca3af;")
        plot = inset.getPlotItem()
        plot.hideAxis("left")
        plot.hideAxis("bottom")
        plot.hideButtons()
        plot.setMenuEnabled(False)
        plot.setMouseEnabled(False, False)
        plot.vb.setAspectLocked(True)
        self.inset_title = pg.TextItem(anchor=(0, 0), color="#111827",
                                       fill=pg.mkBrush(255, 255, 255, 200))
        self.inset_title.setParentItem(plot.vb)
        self.inset_title.setPos(4, 2)
        self.inset_docs = pg.ScatterPlotItem(size=7, pen=None, brush=pg.mkBrush(*DOC_GREY, 170),
                                             pxMode=True, antialias=True)
        self.inset_queries = pg.ScatterPlotItem(symbol="star", size=12, pxMode=True,
                                                pen=pg.mkPen("#ffffff", width=0.7),
                                                brush=pg.mkBrush(QUERY_COLOR))
        plot.addItem(self.inset_docs)
        self.inset_queries.setZValue(8)
        plot.addItem(self.inset_queries)
        self.inset_marks = QueryLayers(plot, scale=0.9)
        inset.scene().sigMouseClicked.connect(lambda _ev: self.zoom_to_query())
        inset.setToolTip("Click to zoom the map here")
        inset.hide()
        self.inset = inset
        self._inset_range: QRectF | None = None
        self.plot_widget.installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:
        if obj is self.plot_widget and event.type() == QEvent.Type.Resize:
            self._place_inset()
        return super().eventFilter(obj, event)

    def _place_inset(self) -> None:
        margin = 8
        self.inset.move(self.plot_widget.width() - INSET_SIZE - margin,
                        self.plot_widget.height() - INSET_SIZE - margin)

    def _draw_inset(self, qi: int | None, groups, neighbours, judged) -> None:
        shown = self._shown
        if (shown is None or qi is None or not self.inset_box.isChecked()
                or len(shown.doc_xy) < INSET_MIN_DOCS):
            self.inset.hide()
            return
        cx, cy, half = self._query_window(qi)
        doc_xy, query_xy = shown.doc_xy, shown.query_xy
        near = ((np.abs(doc_xy[:, 0] - cx) <= half) & (np.abs(doc_xy[:, 1] - cy) <= half))
        self.inset_docs.setData(x=doc_xy[near, 0], y=doc_xy[near, 1])
        qnear = ((np.abs(query_xy[:, 0] - cx) <= half) & (np.abs(query_xy[:, 1] - cy) <= half))
        self.inset_queries.setData(x=query_xy[qnear, 0], y=query_xy[qnear, 1])
        self.inset_marks.draw(doc_xy, groups, query_xy[qi], neighbours, judged)
        self.inset_title.setText(f"Query {shown.layout.query_ids[qi]}: neighbourhood")
        self._place_inset()
        self.inset.show()
        self.inset.raise_()
        # The view box learns its pixel size once shown; the range goes in after that.
        self._inset_range = QRectF(cx - half, cy - half, 2 * half, 2 * half)
        self._apply_inset_range()
        QTimer.singleShot(0, self._apply_inset_range)

    def _apply_inset_range(self) -> None:
        if self._inset_range is not None:
            self.inset.getPlotItem().vb.setRange(self._inset_range, padding=0)

    # -- hooks for the main window / screenshot ------------------------------------------
    def is_ready(self) -> bool:
        """True once a layout (and the before/after pair, if chosen) is drawn with its colours."""
        if self._error is not None:
            return True  # the error is what there is to show
        if self._shown is None or (self._job is not None and not self._job.done):
            return False
        if self.compare_model is not None and self.pair is None:
            return False
        return not self._pending_overlay

    def prepare_screenshot(self) -> None:
        if not self._requested:
            self.refresh()

    def shutdown(self) -> None:
        self._play_timer.stop()
        self.cancel()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._requested or self._stale:
            self.refresh()

    # -- computing layouts ----------------------------------------------------------------
    def refresh(self, force: bool = False) -> None:
        """(Re)compute the layout of the current model (and the before/after pair) in the background."""
        self._requested = True
        self._stale = False
        self._error = None
        self.cancel()
        path = self.context.project_path
        model = self.context.model_id
        if self.compare_model is not None:
            fn, args, name = before_after, (path, self.compare_model, model), "Before/after map"
        else:
            fn, args, name = compute_layout, (path, model), "Embedding map"
        kwargs = {"use_cache": False} if force else {}
        self.busy_row.setVisible(True)
        self.progress.setValue(0)
        self.progress.setFormat("Starting…")
        self.cancel_button.setVisible(True)
        self.retry_button.setVisible(False)
        # A cancelled or superseded job may still report back: only the latest counts.
        self._serial += 1
        serial = self._serial

        def latest(callback):
            return lambda *a: callback(*a) if serial == self._serial else None

        self._job = self.context.jobs.start(
            name, fn, *args, on_result=latest(self._computed), on_error=latest(self._failed),
            on_cancel=latest(self._cancelled), **kwargs)

    def cancel(self) -> None:
        if self._job is not None and not self._job.done:
            self._job.cancel()

    def _job_progress(self, job: Job) -> None:
        if job is self._job:
            self.progress.setValue(int(job.fraction * 1000))
            self.progress.setFormat(f"{job.message}  %p%")

    def _computed(self, result) -> None:
        self.busy_row.setVisible(False)
        if isinstance(result, BeforeAfter):
            self.pair = result
            self.layout_data = result.after
            self._show_summary(result)
        else:
            self.pair = None
            self.layout_data = result
            self.summary.setText("")
        self._show_layout(fit=True)

    def _failed(self, message: str) -> None:
        self._error = message
        self.progress.setFormat("The map could not be computed")
        self.cancel_button.setVisible(False)
        self.retry_button.setVisible(True)
        self.status.setText(f'<span style="color:#b91c1c">Map failed: {message}</span>')

    def _cancelled(self) -> None:
        self.progress.setFormat("Cancelled")
        self.cancel_button.setVisible(False)
        self.retry_button.setVisible(True)

    def _model_changed(self, _model_id: str) -> None:
        self._fill_compare_models()
        if self.isVisible():
            self.refresh()
        else:
            self._stale = True

    # -- drawing ----------------------------------------------------------------------------
    def _positions(self) -> tuple[np.ndarray, np.ndarray]:
        layout = self.layout_data
        assert layout is not None
        if self.pair is None or self._t >= 1.0:
            return layout.doc_xy, layout.query_xy
        a, b, t = self.pair.before, self.pair.after, self._t
        return (1 - t) * a.doc_xy + t * b.doc_xy, (1 - t) * a.query_xy + t * b.query_xy

    def _show_layout(self, fit: bool = False) -> None:
        layout = self.layout_data
        if layout is None:
            return
        doc_xy, query_xy = self._positions()
        self._shown = _Shown(layout, np.asarray(doc_xy, np.float32), np.asarray(query_xy, np.float32))
        self._tree = None
        self.docs.set_points(self._shown.doc_xy)
        self.queries_item.setData(x=self._shown.query_xy[:, 0], y=self._shown.query_xy[:, 1])
        self.selected = self.selected[self.selected < len(layout.doc_ids)]
        self._draw_overlays()
        if fit and len(doc_xy) + len(query_xy):
            self.view_box.autoRange(padding=0.04)
        self.compare_row.setVisible(self.pair is not None)
        self._update_status()
        if fit:
            self._load_overlays()
            self.layoutShown.emit(layout)
            self._maybe_ready()

    def _update_status(self) -> None:
        layout = self.layout_data
        if layout is None:
            return
        method = {"umap": "UMAP (cosine)", "umap+transform":
                  f"UMAP (cosine) fitted on {layout.fitted:,} points, the rest placed by transform",
                  "pca": "PCA (too few points for UMAP)", "empty": "nothing to show"}[layout.method]
        model = self._model_title(layout.model_id)
        text = (f"{len(layout.doc_ids):,} documents · {len(layout.query_ids):,} queries · "
                f"{method} · model {model}")
        if self.pair is not None:
            text += (f" · before: {self._model_title(self.pair.before.model_id)}, "
                     f"after: {model}")
        self.status.setText(text)

    def _model_title(self, model_id: str) -> str:
        if model_id == "bundled":
            return "bundled (all-MiniLM-L6-v2)"
        for v in self.context.project.model_versions():
            if v["id"] == model_id:
                return v["name"]
        return model_id

    def _draw_overlays(self) -> None:
        """Everything that depends on the current query, mode or selection (few points)."""
        shown = self._shown
        if shown is None:
            return
        layout, doc_xy, query_xy = shown.layout, shown.doc_xy, shown.query_xy
        index = layout.doc_index
        groups: dict[str, list[int]] = {key: [] for key in self.layers}
        if self.mode == "labels" and self.overlay is not None:
            for doc_id, label in self.overlay.labels.items():
                if doc_id in index:
                    groups[label].append(index[doc_id])
            groups["proposal"] = [index[d] for d in self.overlay.proposals if d in index]
        elif self.mode == "all" and self.all_labels is not None:
            for doc_id, label in self.all_labels.items():
                if doc_id in index:
                    groups[label].append(index[doc_id])
        elif self.mode == "split" and self.splits is not None:
            keys = self._split_keys()
            for doc_id, split in self.splits.items():
                if doc_id in index:
                    groups[keys.get(split, "split:mixed")].append(index[doc_id])
        elif self.mode == "rank" and self.ranks is not None:
            for doc_id, rank in self.ranks.items():
                if doc_id in index:
                    key = next(k for k, _t, lo, hi, _c in RANK_LAYERS if lo <= rank <= hi)
                    groups[key].append(index[doc_id])
        # The current query: star, lines to judged documents, embedding-space neighbours.
        qid = self.context.current_query_id
        qi = layout.query_index.get(qid) if qid else None
        query = query_xy[qi] if qi is not None else None
        neighbours = (layout.query_neighbors[qi]
                      if qi is not None and layout.query_neighbors is not None else None)
        judged: dict[str, list[int]] = {}
        if self.overlay is not None and qi is not None:
            for d, lab in self.overlay.labels.items():
                if d in index:
                    judged.setdefault(lab, []).append(index[d])
        self.marks.draw(doc_xy, groups, query, neighbours, judged)
        if qi is None:
            self.trails.setData([], [])
        else:
            self._draw_trails(qi)
        self._draw_inset(qi, groups, neighbours, judged)
        sel = self.selected
        self.selection_item.setData(x=doc_xy[sel, 0], y=doc_xy[sel, 1])
        self._draw_marker(self.hover_item, self._hover)
        self._draw_marker(self.found_item, self._found)
        self._update_selection_bar()
        self._update_legend(groups)

    def _draw_trails(self, qi: int) -> None:
        """Dotted lines from where the current query and its judged documents sat before."""
        if self.pair is None or self.overlay is None:
            self.trails.setData([], [])
            return
        a, b = self.pair.before, self.pair.after
        rows = [b.doc_index[d] for d in self.overlay.labels if d in b.doc_index]
        start = np.vstack([a.query_xy[[qi]], a.doc_xy[rows]]) if rows else a.query_xy[[qi]]
        end = np.vstack([b.query_xy[[qi]], b.doc_xy[rows]]) if rows else b.query_xy[[qi]]
        pts = np.empty((2 * len(start), 2), np.float32)
        pts[0::2], pts[1::2] = start, end
        self.trails.setData(pts[:, 0], pts[:, 1])

    def _draw_marker(self, item: pg.ScatterPlotItem, point: tuple[str, int] | None) -> None:
        if point is None or self._shown is None:
            item.setData([], [])
            return
        kind, i = point
        xy = self._shown.doc_xy if kind == "document" else self._shown.query_xy
        if i >= len(xy):
            item.setData([], [])
            return
        item.setData(x=[xy[i, 0]], y=[xy[i, 1]])

    def _split_keys(self) -> dict[str, str]:
        names = sorted({s for s in (self.splits or {}).values() if s not in SPLIT_COLORS})
        keys = {s: f"split:{s}" for s in SPLIT_COLORS}
        for i, name in enumerate(names[:len(SPLIT_FALLBACK)]):
            keys[name] = f"split:other{i}"
        return keys

    def _update_legend(self, groups: dict[str, list[int]]) -> None:
        self.legend.clear()
        layout = self.layout_data
        if layout is None:
            return
        self.legend.addItem(self.docs.legend_proxy, f"Documents ({len(layout.doc_ids):,})")
        self.legend.addItem(self._legend_proxies["query"], f"Queries ({len(layout.query_ids):,})")
        qid = self.context.current_query_id
        if qid and qid in layout.query_index:
            self.legend.addItem(self._legend_proxies["current"], f"Current query {qid}")
            self.legend.addItem(self._legend_proxies["neighbour"],
                                f"{NEIGHBOURS_K} nearest documents (embedding space)")
        if self.mode == "labels":
            entries = [(k, t) for k, t, *_ in reversed(LABEL_LAYERS)]
        elif self.mode == "all":
            entries = [(k, f"{t} for some query") for k, t, *_ in reversed(LABEL_LAYERS)]
        elif self.mode == "split":
            inverse = {v: k for k, v in self._split_keys().items()}
            entries = [(key, f"Judged for {inverse.get(key, key[6:])} queries")
                       for key in self.layers if key.startswith("split:") and groups[key]]
            entries = [(k, t.replace("Judged for mixed queries", "Judged for queries of several splits"))
                       for k, t in entries]
        else:
            entries = [(k, t) for k, t, *_ in reversed(RANK_LAYERS)]
        for key, title in entries:
            if groups[key]:
                self.legend.addItem(self.layers[key], f"{title} ({len(groups[key])})")
        if self.mode == "rank" and self.ranks is not None:
            self.legend.addItem(self.docs.legend_proxy, f"{self.retriever_box.currentText()}: "
                                                        "not in the top 100")

    # -- overlays (labels / splits / ranks) -------------------------------------------------
    def _load_overlays(self) -> None:
        self._refresh_overlay()
        if self.mode == "split":
            self._load_splits()
        elif self.mode == "all":
            self._load_all_labels()
        elif self.mode == "rank":
            self._load_ranks()

    def _refresh_overlay(self) -> None:
        qid = self.context.current_query_id
        self.overlay = query_overlay(self.context.project, qid) if qid else None
        self._draw_overlays()

    def _load_splits(self) -> None:
        self._pending_overlay = True
        self._split_lookup.request(_document_splits, self.context.project_path,
                                   on_result=self._splits_loaded, on_error=self._overlay_failed)

    def _splits_loaded(self, splits: dict[str, str]) -> None:
        self.splits = splits
        self._pending_overlay = False
        self._draw_overlays()
        self._maybe_ready()

    def _load_all_labels(self) -> None:
        self._pending_overlay = True
        self._all_lookup.request(_label_summary, self.context.project_path,
                                 on_result=self._all_labels_loaded, on_error=self._overlay_failed)

    def _all_labels_loaded(self, labels: dict[str, str]) -> None:
        self.all_labels = labels
        self._pending_overlay = False
        self._draw_overlays()
        self._maybe_ready()

    def _load_ranks(self) -> None:
        qid = self.context.current_query_id
        query = self.context.project.get_query(qid) if qid else None
        if query is None:
            self.ranks = None
            self._draw_overlays()
            return
        self._pending_overlay = True
        retrieval = self.context.retrieval()
        self._rank_lookup.request(_ranks, retrieval, query.text, self.retriever,
                                  on_result=self._ranks_loaded, on_error=self._overlay_failed)

    def _ranks_loaded(self, ranks: dict[str, int]) -> None:
        self.ranks = ranks
        self._pending_overlay = False
        self._draw_overlays()
        self._maybe_ready()

    def _overlay_failed(self, message: str) -> None:
        self._pending_overlay = False
        self.status.setText(f'<span style="color:#b91c1c">{message}</span>')

    def _maybe_ready(self) -> None:
        if self.is_ready():
            self.ready.emit()

    def set_mode(self, mode: str) -> None:
        if mode == self.mode:
            return
        self.mode = mode
        i = self.mode_box.findData(mode)
        if i != self.mode_box.currentIndex():
            self.mode_box.setCurrentIndex(i)
        self.retriever_box.setVisible(mode == "rank")
        if self._shown is not None:
            self._load_overlays()

    def set_retriever(self, retriever: str) -> None:
        self.retriever = retriever
        if self.mode == "rank" and self._shown is not None:
            self._load_ranks()

    def _query_changed(self, _qid: str) -> None:
        if self._shown is None:
            return
        self.ranks = None
        self._refresh_overlay()
        if self.mode == "rank":
            self._load_ranks()

    def _labels_changed(self, notice: LabelsChanged) -> None:
        if self._shown is None:
            return
        if self.context.current_query_id in notice.query_ids:
            self._refresh_overlay()
        if self.mode == "split":
            self._load_splits()
        elif self.mode == "all":
            self._load_all_labels()

    # -- before/after --------------------------------------------------------------------------
    def _fill_compare_models(self) -> None:
        current = self.context.model_id
        self.compare_box.blockSignals(True)
        self.compare_box.clear()
        self.compare_box.addItem("off", None)
        models = [("bundled", "bundled (all-MiniLM-L6-v2)")] + [
            (v["id"], v["name"]) for v in self.context.project.model_versions()]
        for model_id, title in models:
            if model_id != current:
                self.compare_box.addItem(f"{title} → current model", model_id)
        i = self.compare_box.findData(self.compare_model)
        self.compare_box.setCurrentIndex(max(i, 0))
        self.compare_box.blockSignals(False)
        if i < 0 and self.compare_model is not None:
            self.set_compare_model(None)

    def set_compare_model(self, model_id: str | None) -> None:
        """Show ``model_id`` (before) and the current model (after) on one aligned map."""
        if model_id == self.compare_model:
            return
        self.compare_model = model_id
        i = self.compare_box.findData(model_id)
        if i >= 0:
            self.compare_box.setCurrentIndex(i)
        self.pair = None
        self._t = 1.0
        self.slider.blockSignals(True)
        self.slider.setValue(100)
        self.slider.blockSignals(False)
        if model_id is not None:
            self.slider_label.setText(f"before: <b>{self._model_title(model_id)}</b>")
            self.after_label.setText(f"after: <b>{self._model_title(self.context.model_id)}</b>")
        self.refresh()

    def set_blend(self, t: float) -> None:
        """Move points between the before (0) and after (1) layouts."""
        self._t = min(max(t, 0.0), 1.0)
        if self.pair is not None:
            self._show_layout()

    def play(self) -> None:
        if self.pair is None:
            return
        self.slider.setValue(0)
        self._play_timer.start()

    def _play_step(self) -> None:
        value = self.slider.value() + 3
        self.slider.setValue(min(value, 100))
        if value >= 100:
            self._play_timer.stop()

    def _show_summary(self, pair: BeforeAfter) -> None:
        parts = []
        for label in ("positive", "false_negative", "negative"):
            if label in pair.summary:
                before, after, n = pair.summary[label]
                verb = "closer" if after < before else "farther"
                parts.append(f'<span style="color:{LABEL_COLORS[label]}">{LABEL_TITLES[label]}s</span> '
                             f"{before:.3f} → {after:.3f} ({n} pair{'s' if n != 1 else ''}, {verb})")
        self.summary.setText(("  Median query–document distance (relative to the map's spread): "
                              + " · ".join(parts)) if parts else "")

    # -- hit testing, hover, click -----------------------------------------------------------
    def _kd(self):
        if self._tree is None and self._shown is not None:
            from scipy.spatial import cKDTree

            shown = self._shown
            self._tree = (cKDTree(shown.doc_xy) if len(shown.doc_xy) else None,
                          cKDTree(shown.query_xy) if len(shown.query_xy) else None)
        return self._tree

    def point_at(self, x: float, y: float, radius_px: float = 6.0) -> tuple[str, int] | None:
        """The query or document drawn nearest to view position (x, y), within ``radius_px``.

        Queries win ties: their stars are drawn on top.
        """
        trees = self._kd()
        if trees is None:
            return None
        px = self.view_box.viewPixelSize()[0] or 1.0
        radius = radius_px * px
        best: tuple[str, int] | None = None
        for kind, tree, bonus in (("query", trees[1], 1.6), ("document", trees[0], 1.0)):
            if tree is None:
                continue
            dist, i = tree.query((x, y), distance_upper_bound=radius * bonus)
            if np.isfinite(dist):
                best = (kind, int(i))
                break
        return best

    def point_id(self, point: tuple[str, int]) -> str:
        assert self._shown is not None
        kind, i = point
        return (self._shown.layout.doc_ids if kind == "document" else self._shown.layout.query_ids)[i]

    def view_position(self, kind: str, ident: str) -> QPointF | None:
        """Where a document or query is drawn, in view coordinates."""
        if self._shown is None:
            return None
        layout = self._shown.layout
        index = layout.doc_index if kind == "document" else layout.query_index
        xy = self._shown.doc_xy if kind == "document" else self._shown.query_xy
        i = index.get(ident)
        return None if i is None else QPointF(float(xy[i, 0]), float(xy[i, 1]))

    def _mouse_moved(self, scene_pos) -> None:
        if self._shown is None or not self.view_box.sceneBoundingRect().contains(scene_pos):
            return
        p = self.view_box.mapSceneToView(scene_pos)
        hit = self.point_at(p.x(), p.y())
        if hit == self._hover:
            return
        self._hover = hit
        self._draw_marker(self.hover_item, hit)
        if hit is None:
            self.hover_text.hide()
            return
        self.hover_text.setHtml(self._describe(hit))
        xy = (self._shown.doc_xy if hit[0] == "document" else self._shown.query_xy)[hit[1]]
        self.hover_text.setPos(float(xy[0]), float(xy[1]))
        self.hover_text.show()

    def _describe(self, point: tuple[str, int]) -> str:
        import html

        kind, i = point
        ident = self.point_id(point)
        project = self.context.project
        if kind == "query":
            q = project.get_query(ident)
            text = html.escape(q.text if q else "")
            split = f" · {q.split}" if q and q.split else ""
            return (f'<div style="max-width:340px"><b>Query {html.escape(ident)}</b>{split}<br>'
                    f"{text}<br><i>click to make it the current query</i></div>")
        doc = project.get_document(ident)
        title = html.escape(doc.title) if doc and doc.title else ""
        snippet = html.escape((doc.text if doc else "")[:220])
        if doc and len(doc.text) > 220:
            snippet += "…"
        label = ""
        if self.overlay is not None:
            lab = self.overlay.labels.get(ident)
            if lab:
                label = (f' · <span style="color:{LABEL_COLORS[lab]}">'
                         f"{LABEL_TITLES[lab]} for {html.escape(self.overlay.query_id)}</span>")
            elif ident in self.overlay.proposals:
                label = f' · <span style="color:{PROPOSAL_COLOR}">mined proposal</span>'
        if self.mode == "rank" and self.ranks is not None and ident in self.ranks:
            label += f" · rank {self.ranks[ident]}"
        return (f'<div style="max-width:340px"><b>{title or html.escape(ident)}</b><br>'
                f'<span style="color:#6b7280">{html.escape(ident)}</span>{label}<br>{snippet}</div>')

    def _mouse_clicked(self, ev) -> None:
        if ev.button() != Qt.MouseButton.LeftButton or ev.double() or self._shown is None:
            return
        if not self.view_box.sceneBoundingRect().contains(ev.scenePos()):
            return
        p = self.view_box.mapSceneToView(ev.scenePos())
        self.click_at(p.x(), p.y())

    def click_at(self, x: float, y: float) -> str | None:
        """Act as a click at view position (x, y): open a document or pick a query; returns the id."""
        hit = self.point_at(x, y)
        if hit is None:
            return None
        ident = self.point_id(hit)
        if hit[0] == "document":
            self.context.activate_document(ident)
        else:
            self.context.set_current_query(ident)
        return ident

    # -- selection and labelling -------------------------------------------------------------
    def select_rect(self, rect: QRectF) -> int:
        """Select the documents inside ``rect`` (view coordinates); returns how many."""
        r = rect.normalized()
        polygon = np.array([(r.left(), r.top()), (r.right(), r.top()),
                            (r.right(), r.bottom()), (r.left(), r.bottom())])
        return self.select_polygon(polygon)

    def select_polygon(self, polygon: np.ndarray) -> int:
        """Select the documents inside a polygon (k x 2, view coordinates); returns how many."""
        if self._shown is None:
            return 0
        xy = self._shown.doc_xy
        polygon = np.asarray(polygon, dtype=np.float64)
        if len(polygon) < 3 or not len(xy):
            self.selected = np.zeros(0, np.int64)
        else:
            from matplotlib.path import Path as PolyPath

            lo, hi = polygon.min(axis=0), polygon.max(axis=0)
            box = np.flatnonzero((xy[:, 0] >= lo[0]) & (xy[:, 0] <= hi[0])
                                 & (xy[:, 1] >= lo[1]) & (xy[:, 1] <= hi[1]))
            inside = PolyPath(polygon).contains_points(xy[box]) if len(box) else np.zeros(0, bool)
            self.selected = box[inside]
        self._draw_overlays()
        return len(self.selected)

    def selected_ids(self) -> list[str]:
        if self._shown is None:
            return []
        ids = self._shown.layout.doc_ids
        return [ids[i] for i in self.selected]

    def clear_selection(self) -> None:
        self.selected = np.zeros(0, np.int64)
        self._draw_overlays()

    def label_selection(self, label: str | None) -> int:
        """Label every selected document for the current query (one undoable action)."""
        qid = self.context.current_query_id
        ids = self.selected_ids()
        if not qid or not ids:
            return 0
        self.context.apply_labels([(qid, d) for d in ids], label)
        return len(ids)

    def _update_selection_bar(self) -> None:
        n = len(self.selected)
        self.selection_bar.setVisible(n > 0)
        if not n:
            return
        qid = self.context.current_query_id
        if qid:
            self.selection_label.setText(f"{n:,} document{'s' if n != 1 else ''} selected — "
                                         f"label for query {qid} as:")
        else:
            self.selection_label.setText(f"{n:,} selected — pick a query (click a star) to label them")
        for b in self.label_buttons.values():
            b.setEnabled(bool(qid))

    # -- zoom ----------------------------------------------------------------------------------
    def zoom_all(self) -> None:
        if self._shown is not None:
            self.view_box.autoRange(padding=0.04)

    def zoom_to_query(self) -> bool:
        """Fit the view to the current query and most of its judged, proposed and nearest documents."""
        shown = self._shown
        qid = self.context.current_query_id
        if shown is None or not qid or qid not in shown.layout.query_index:
            return False
        cx, cy, half = self._query_window(shown.layout.query_index[qid])
        self.view_box.setRange(QRectF(cx - half, cy - half, 2 * half, 2 * half), padding=0)
        return True

    def _query_window(self, qi: int) -> tuple[float, float, float]:
        """Centre and half-side of a square around query ``qi`` holding most of its documents.

        The half-side is twice the median distance from the query to its
        judged, proposed and ten nearest documents, so a few documents UMAP
        placed far away do not zoom out the whole view.
        """
        shown = self._shown
        assert shown is not None
        layout = shown.layout
        q = shown.query_xy[qi]
        rows = set()
        if self.overlay is not None and self.overlay.query_id == layout.query_ids[qi]:
            rows |= {layout.doc_index[d] for d in self.overlay.labels if d in layout.doc_index}
            rows |= {layout.doc_index[d] for d in self.overlay.proposals if d in layout.doc_index}
        if layout.query_neighbors is not None:
            rows |= set(layout.query_neighbors[qi].tolist())
        all_xy = np.vstack([shown.doc_xy, shown.query_xy])
        extent = float(np.ptp(all_xy, axis=0).max()) or 1.0
        dist = np.linalg.norm(shown.doc_xy[sorted(rows)] - q, axis=1) if rows else np.zeros(0)
        half = max(2.0 * float(np.median(dist)) if len(dist) else 0.0, extent / 30)
        return float(q[0]), float(q[1]), half

    # -- search ----------------------------------------------------------------------------------
    def _run_search(self) -> None:
        text = self.search.text().strip()
        if not text:
            return
        self._search_lookup.request(_find, self.context.project_path, text,
                                    on_result=self._search_results)

    def _search_results(self, found: list[Found]) -> None:
        self._found_items = found
        self._search_model.setStringList([self._found_title(f) for f in found])
        completer = self.search.completer()
        if found and self.search.hasFocus():
            completer.complete()

    @staticmethod
    def _found_title(found: Found) -> str:
        text = found.text if len(found.text) <= 80 else found.text[:79] + "…"
        return f"{'Query' if found.kind == 'query' else 'Doc'} {found.id}: {text}"

    def _search_chosen(self, title: str) -> None:
        for f in self._found_items:
            if self._found_title(f) == title:
                self.locate(f.kind, f.id)
                return

    def _search_return(self) -> None:
        text = self.search.text().strip()
        layout = self.layout_data
        if layout is not None and text in layout.query_index:
            self.locate("query", text)
        elif layout is not None and text in layout.doc_index:
            self.locate("document", text)
        elif self._found_items:
            self.locate(self._found_items[0].kind, self._found_items[0].id)

    def locate(self, kind: str, ident: str) -> bool:
        """Centre the map on a document or query and ring it; a query also becomes current."""
        pos = self.view_position(kind, ident)
        if pos is None or self._shown is None:
            return False
        layout = self._shown.layout
        index = layout.doc_index if kind == "document" else layout.query_index
        self._found = (kind, index[ident])
        all_xy = np.vstack([self._shown.doc_xy, self._shown.query_xy])
        extent = float(np.ptp(all_xy, axis=0).max()) or 1.0
        side = min(self.view_box.viewRect().width(), extent / 4)  # zoom in, never out
        self.view_box.setRange(QRectF(pos.x() - side / 2, pos.y() - side / 2, side, side), padding=0)
        if kind == "query":
            self.context.set_current_query(ident)
        else:
            self.context.activate_document(ident)
        self._draw_overlays()
        return True


# -- worker functions (run on job threads; each opens its own project) -----------------------

def _document_splits(path, *, progress) -> dict[str, str]:
    with Project.open(path) as project:
        return document_splits(project)


def _label_summary(path, *, progress) -> dict[str, str]:
    with Project.open(path) as project:
        return label_summary(project)


def _ranks(retrieval, text: str, retriever: str, *, progress) -> dict[str, int]:
    progress.fraction(0.0, "Ranking documents for the map")
    return ranks_for_query(retrieval, text, retriever, k=100)


def _find(path, text: str, *, progress) -> list[Found]:
    with Project.open(path) as project:
        return find_points(project, text)


# -- background warm-up ----------------------------------------------------------------------

_warm_started = threading.Event()


def start_warm_up() -> None:
    """Load UMAP and its compiled kernels on a background thread, once per process.

    Called when the app starts, so the first map does not wait for numba.
    """
    if _warm_started.is_set():
        return
    _warm_started.set()

    def run() -> None:
        try:
            warm_up()
        except Exception:  # a failed warm-up only means the first map compiles
            pass

    threading.Thread(target=run, name="map-warm-up", daemon=True).start()
