"""The Map tab: documents and queries in a 2-D UMAP of one model's embeddings.

What it shows comes from :mod:`core.map` (plain arrays computed in
a background job); this module only draws and routes user actions:

* documents are one raster point cloud (:mod:`gui.map_items`) so 100,000
  points pan at interactive frame rates; the few coloured documents (labels
  of the current query, mined proposals, splits, retriever ranks) are small
  scatter layers on top, filled from :func:`core.map.overlays.map_overlays`;
* queries are stars; the current query is a large star with lines to its
  judged documents and rings around its ten nearest documents in the
  *embedding* space (where those rings sit far from the star, UMAP tore
  the neighbourhood apart); an inset magnifies its neighbourhood
  (:mod:`gui.map_inset`);
* hover names a point (a readable card kept inside the plot); a click
  selects the point (a ring), shows it in full in the map's side panel
  (:mod:`gui.map_details`) and opens a document in the labeling workspace
  (``AppContext.activate_document``) or makes a query current;
  Shift+drag selects a box, Ctrl+drag a lasso (:mod:`gui.map_pointing`,
  geometry in :mod:`core.map.picking`), and the selection bar labels the
  selected documents for the current query in one undoable command
  (``AppContext.apply_labels``); the find box is :mod:`gui.map_search`;
* "Before/after" lays out a second model starting from the first one's map
  and aligned onto it; the slider (or Play, :mod:`gui.map_compare`) moves
  every point from its place under the old model to its place under the new one.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from core.labeling.bulk import plan_bulk_label
from core.map.framing import locate_side, query_window
from core.map.jobs import BeforeAfter, before_after, compute_layout, start_warm_up
from core.map.layout import MapLayout
from core.map.overlays import MODES, RETRIEVERS, MapOverlays, map_overlays
from core.map.picking import DrawnMap, points_in_polygon, rectangle
from core.project.queries import QueryOverlay

from .context import AppContext, LabelsChanged
from .map_bulk import CANCEL, OVERWRITE, ask_overwrite
from .map_compare import BeforeAfterBar, CompareModelBox, model_title
from .map_compute import LayoutJobRow
from .map_details import MapDetails
from .map_inset import NeighbourhoodInset
from .map_items import (
    BACKGROUND,
    FOUND_COLOR,
    PICKED_COLOR,
    SELECTION_COLOR,
    DocumentCloud,
    MapLegend,
    QueryLayers,
    query_stars,
    rings,
)
from .map_overlay_loader import OverlayLoader
from .map_pointing import MapPointer, MapViewBox, SelectionBar, mark_point, point_card
from .map_search import MapSearch
from .view import View

HINT = ("Click: open a document or pick a query · Shift+drag: box select · "
        "Ctrl+drag: lasso · Esc: clear selection · wheel: zoom")
INSET_MIN_DOCS = 50  # smaller maps are readable without magnification


class MapView(QWidget, View):
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
        self.overlays = OverlayLoader(context, self)
        self.overlays.changed.connect(self._draw_overlays)
        self.overlays.loaded.connect(self._maybe_ready)
        self.overlays.failed.connect(
            lambda message: self.status.setText(f'<span style="color:#b91c1c">{message}</span>'))
        self._shown: DrawnMap | None = None  # what the plot shows now
        self._found: tuple[str, int] | None = None
        self.picked: tuple[str, str] | None = None  # the clicked (kind, id), shown in the side panel
        self._requested = False
        self._stale = False
        self._error: str | None = None
        self._t = 1.0
        self._build()
        context.currentQueryChanged.connect(self._query_changed)
        # Asks before a bulk label overwrites relevant judgements (tests answer instead).
        self.ask_overwrite = ask_overwrite
        context.labelsChanged.connect(self._labels_changed)
        context.modelChanged.connect(self._model_changed)
        context.modelVersionsChanged.connect(self._fill_compare_models)
        context.candidatesChanged.connect(lambda _pass: self._shown and self._load_overlays())
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
        self.compare_box = CompareModelBox()
        self.compare_box.activated.connect(
            lambda _i: self.set_compare_model(self.compare_box.currentData()))
        top.addWidget(self.compare_box)
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
        self.search = MapSearch(self.context, self.locate)
        top.addWidget(self.search)

        self.busy_row = LayoutJobRow(self.context.jobs)
        self.busy_row.computed.connect(self._computed)
        self.busy_row.failed.connect(self._failed)
        self.busy_row.retryRequested.connect(lambda: self.refresh(force=True))

        self._build_plot()
        self.selection_bar = SelectionBar()
        self.selection_bar.labelChosen.connect(self.label_selection)
        self.selection_bar.deselect.connect(self.clear_selection)
        self.label_buttons = self.selection_bar.buttons
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.hint = QLabel(HINT)
        self.hint.setStyleSheet("color: #6b7280")
        self.compare_row = BeforeAfterBar()
        self.compare_row.blendChanged.connect(self.set_blend)
        self.compare_row.play_button.clicked.connect(self.play)
        self.slider, self.summary = self.compare_row.slider, self.compare_row.summary

        self.details = MapDetails()
        # A splitter, so a small window can narrow or collapse the side panel.
        self.split = QSplitter(Qt.Orientation.Horizontal)
        self.split.addWidget(self.plot_widget)
        self.split.addWidget(self.details)
        self.split.setStretchFactor(0, 1)
        self.split.setCollapsible(0, False)
        self.split.setSizes([700, 260])

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        for w, stretch in ((self.busy_row, 0), (self.compare_row, 0), (self.split, 1),
                           (self.selection_bar, 0), (self.status, 0), (self.hint, 0)):
            layout.addWidget(w, stretch)
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, activated=self.clear_selection)
        QShortcut(QKeySequence(Qt.Key.Key_Z), self, activated=self.zoom_to_query)
        QShortcut(QKeySequence(Qt.Key.Key_Home), self, activated=self.zoom_all)

    def _build_plot(self) -> None:
        self.view_box = MapViewBox()
        self.plot_widget = pg.PlotWidget(viewBox=self.view_box, background=BACKGROUND)
        self.plot_widget.setAntialiasing(True)
        plot = self.plot_widget.getPlotItem()
        plot.hideAxis("left")
        plot.hideAxis("bottom")
        plot.hideButtons()
        plot.setMenuEnabled(False)
        self.plot = plot

        def add(item, z: float):
            item.setZValue(z)
            plot.addItem(item)
            return item

        self.docs = DocumentCloud(plot)
        self.marks = QueryLayers(plot)
        self.layers, self.lines = self.marks.layers, self.marks.lines
        self.current_item, self.neighbours_item = self.marks.current, self.marks.neighbours
        self.queries_item = add(query_stars(11), 8)
        self.trails = add(pg.PlotDataItem(connect="pairs", pen=pg.mkPen(
            "#6b7280", width=1, style=Qt.PenStyle.DotLine)), 2)
        self.selection_item = add(rings(11, SELECTION_COLOR, 1.4, symbol="s"), 9)
        self.pointer = MapPointer(plot, self.context, lambda: self._shown, self._point_card, self)
        self.hover_text = self.pointer.card
        self.pointer.pointClicked.connect(self.pick)
        self.picked_item = add(rings(22, PICKED_COLOR, 3), 12)
        self.found_item = add(rings(26, FOUND_COLOR, 3), 11)
        self.legend = MapLegend(plot.vb, self.docs, self.layers)

        self.inset = NeighbourhoodInset(self.plot_widget)
        self.inset.clicked.connect(self.zoom_to_query)
        self.inset_marks = self.inset.marks
        self.view_box.selectionMade.connect(self.select_polygon)

    # -- hooks for the main window / screenshot ------------------------------------------
    def is_ready(self) -> bool:
        """True once a layout (and the before/after pair, if chosen) is drawn with its colours."""
        if self._error is not None:
            return True  # the error is what there is to show
        if self._shown is None or self.busy_row.running:
            return False
        if self.compare_model is not None and self.pair is None:
            return False
        return not self.overlays.pending

    def prepare_screenshot(self) -> None:
        if not self._requested:
            self.refresh()

    def shutdown(self) -> None:
        self.compare_row.stop()
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
        path = self.context.project_path
        model = self.context.model_id
        kwargs = {"use_cache": False} if force else {}
        kwargs.update(self.context.compute_kwargs())
        if self.compare_model is not None:
            self.busy_row.start("Before/after map", before_after, path, self.compare_model, model,
                                **kwargs)
        else:
            self.busy_row.start("Embedding map", compute_layout, path, model, **kwargs)

    def cancel(self) -> None:
        self.busy_row.cancel()

    def _computed(self, result) -> None:
        if isinstance(result, BeforeAfter):
            self.pair = result
            self.layout_data = result.after
        else:
            self.pair = None
            self.layout_data = result
        self.compare_row.show_summary(self.pair)
        self._show_layout(fit=True)

    def _failed(self, message: str) -> None:
        self._error = message
        self.status.setText(f'<span style="color:#b91c1c">Map failed: {message}</span>')

    def _model_changed(self, _model_id: str) -> None:
        self._fill_compare_models()
        if self.isVisible():
            self.refresh()
        else:
            self._stale = True

    # -- drawing ----------------------------------------------------------------------------
    def _show_layout(self, fit: bool = False) -> None:
        layout = self.layout_data
        if layout is None:
            return
        doc_xy, query_xy = ((layout.doc_xy, layout.query_xy) if self.pair is None
                            else self.pair.blend(self._t))
        self._shown = DrawnMap(layout, np.asarray(doc_xy, np.float32),
                               np.asarray(query_xy, np.float32))
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
                  f"UMAP (cosine) fitted on {layout.fitted:,} points, the rest placed beside "
                  f"their nearest fitted neighbours",
                  "pca": "PCA (too few points for UMAP)",
                  "empty": "nothing to show"}.get(layout.method, layout.method)
        model = model_title(self.context.project, layout.model_id)
        text = (f"{len(layout.doc_ids):,} documents · {len(layout.query_ids):,} queries · "
                f"{method} · model {model}")
        if self.pair is not None:
            text += (f" · before: {model_title(self.context.project, self.pair.before.model_id)}, "
                     f"after: {model}")
        self.status.setText(text)

    def _draw_overlays(self) -> None:
        """Everything that depends on the current query, mode or selection (few points)."""
        shown = self._shown
        if shown is None:
            return
        drawn = map_overlays(self.mode, shown.layout, self.overlays.data,
                             self.context.current_query_id, self.retriever)
        qi = drawn.query_row
        query = shown.query_xy[qi] if qi is not None else None
        self.marks.draw(shown.doc_xy, drawn.groups, query, drawn.neighbours, drawn.judged)
        self._draw_trails(qi)
        self._draw_inset(drawn)
        sel = self.selected
        self.selection_item.setData(x=shown.doc_xy[sel, 0], y=shown.doc_xy[sel, 1])
        self.pointer.redraw()
        mark_point(self.found_item, shown, self._found)
        self._draw_picked()
        self.selection_bar.show_selection(len(self.selected), self.context.current_query_id)
        self.legend.show_entries(drawn.legend)

    def _draw_inset(self, drawn: MapOverlays) -> None:
        shown, qi = self._shown, drawn.query_row
        if (shown is None or qi is None or not self.inset_box.isChecked()
                or len(shown.doc_xy) < INSET_MIN_DOCS):
            self.inset.hide()
            return
        window = query_window(shown.layout, shown.doc_xy, shown.query_xy, qi, self.overlay)
        self.inset.marks.draw(shown.doc_xy, drawn.groups, shown.query_xy[qi], drawn.neighbours,
                              drawn.judged)
        self.inset.show_window(window, shown.doc_xy, shown.query_xy,
                               f"Query {shown.layout.query_ids[qi]}: neighbourhood")

    def _draw_trails(self, qi: int | None) -> None:
        """Dotted lines from where the current query and its judged documents sat before."""
        if qi is None or self.pair is None or self.overlay is None:
            self.trails.setData([], [])
            return
        pts = self.pair.trails(qi, self.overlay.labels)
        self.trails.setData(pts[:, 0], pts[:, 1])

    # -- overlays (labels / splits / ranks) -------------------------------------------------
    def _load_overlays(self) -> None:
        self.overlays.load(self.mode, self.retriever)

    @property
    def overlay(self) -> QueryOverlay | None:
        """The current query's labels and proposals."""
        return self.overlays.data.query

    @property
    def ranks(self) -> dict[str, int] | None:
        """The current query's ranks under the chosen retriever (loaded in "rank" mode)."""
        return self.overlays.data.ranks

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
            self.overlays.load_ranks(retriever)

    def _query_changed(self, _qid: str) -> None:
        if self._shown is None:
            return
        self.overlays.forget_ranks()
        self.overlays.refresh_query()
        if self.mode == "rank":
            self.overlays.load_ranks(self.retriever)

    def _labels_changed(self, notice: LabelsChanged) -> None:
        if self._shown is None:
            return
        if self.context.current_query_id in notice.query_ids:
            self.overlays.refresh_query()
        if self.mode == "split":
            self.overlays.load_splits()
        elif self.mode == "all":
            self.overlays.load_all_labels()

    # -- before/after --------------------------------------------------------------------------
    def _fill_compare_models(self) -> None:
        listed = self.compare_box.fill(self.context.project, self.context.model_id,
                                       self.compare_model)
        if not listed and self.compare_model is not None:
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
        project = self.context.project
        self.compare_row.reset(None if model_id is None else model_title(project, model_id),
                               model_title(project, self.context.model_id))
        self.refresh()

    def set_blend(self, t: float) -> None:
        """Move points between the before (0) and after (1) layouts."""
        self._t = min(max(t, 0.0), 1.0)
        if self.pair is not None:
            self._show_layout()

    def play(self) -> None:
        if self.pair is not None:
            self.compare_row.play()

    # -- pointing -------------------------------------------------------------------------------
    def view_position(self, kind: str, ident: str) -> QPointF | None:
        """Where a document or query is drawn, in view coordinates."""
        i = self._shown.row(kind, ident) if self._shown is not None else None
        if i is None:
            return None
        x, y = self._shown.xy(kind)[i]
        return QPointF(float(x), float(y))

    def _point_card(self, kind: str, ident: str) -> str:
        return point_card(self.context.project, kind, ident, self.overlay,
                          self.ranks if self.mode == "rank" else None)

    # -- the clicked point -----------------------------------------------------------------------
    def pick(self, kind: str, ident: str) -> None:
        """Select the clicked point: ring it and show it in full in the side panel."""
        self.picked = (kind, ident)
        self._draw_picked()

    def _draw_picked(self) -> None:
        shown, picked = self._shown, self.picked
        row = shown.row(*picked) if shown is not None and picked is not None else None
        if row is None:  # nothing clicked, or a point the map no longer has
            mark_point(self.picked_item, None, None)
            if picked is not None and shown is not None:
                self.picked = None
                self.details.clear()
            return
        mark_point(self.picked_item, shown, (picked[0], row))
        self.details.show_point(*picked, point_card(
            self.context.project, *picked, self.overlay,
            self.ranks if self.mode == "rank" else None, full=True))

    # -- selection and labelling -------------------------------------------------------------
    def select_rect(self, rect: QRectF) -> int:
        """Select the documents inside ``rect`` (view coordinates); returns how many."""
        r = rect.normalized()
        return self.select_polygon(rectangle(r.left(), r.top(), r.right(), r.bottom()))

    def select_polygon(self, polygon: np.ndarray) -> int:
        """Select the documents inside a polygon (k x 2, view coordinates); returns how many."""
        if self._shown is None:
            return 0
        self.selected = points_in_polygon(self._shown.doc_xy, polygon)
        self._draw_overlays()
        return len(self.selected)

    def selected_ids(self) -> list[str]:
        if self._shown is None:
            return []
        ids = self._shown.layout.doc_ids
        return [ids[i] for i in self.selected]

    def clear_selection(self) -> None:
        self.selected = np.zeros(0, np.int64)
        if self.picked is not None:
            self.picked = None
            self.details.clear()
        self._draw_overlays()

    def label_selection(self, label: str | None) -> int:
        """Label the selected documents for the current query (one undoable action).

        Selected positives and false negatives that the label would change are
        left as they are unless the user agrees (:attr:`ask_overwrite`).
        Returns how many documents were labeled.
        """
        qid = self.context.current_query_id
        ids = self.selected_ids()
        if not qid or not ids:
            return 0
        current = {d: lab.label for d, lab in self.context.project.labels_for_query(qid).items()}
        plan = plan_bulk_label(current, ids, label)
        overwrite = False
        if plan.overwrites:
            answer = self.ask_overwrite(plan, qid, self)
            if answer == CANCEL:
                return 0
            overwrite = answer == OVERWRITE
        chosen = plan.doc_ids(overwrite=overwrite)
        self.context.apply_labels([(qid, d) for d in chosen], label)
        return len(chosen)

    # -- zoom and locate -------------------------------------------------------------------------
    def zoom_all(self) -> None:
        if self._shown is not None:
            self.view_box.autoRange(padding=0.04)

    def zoom_to_query(self) -> bool:
        """Fit the view to the current query and most of its judged, proposed and nearest documents."""
        shown = self._shown
        qid = self.context.current_query_id
        if shown is None or not qid or qid not in shown.layout.query_index:
            return False
        cx, cy, half = query_window(shown.layout, shown.doc_xy, shown.query_xy,
                                    shown.layout.query_index[qid], self.overlay)
        self.view_box.setRange(QRectF(cx - half, cy - half, 2 * half, 2 * half), padding=0)
        return True

    def locate(self, kind: str, ident: str) -> bool:
        """Centre the map on a document or query and ring it; a query also becomes current."""
        pos = self.view_position(kind, ident)
        if pos is None or self._shown is None:
            return False
        self._found = (kind, self._shown.row(kind, ident))
        side = locate_side(self._shown.doc_xy, self._shown.query_xy,
                           self.view_box.viewRect().width())
        self.view_box.setRange(QRectF(pos.x() - side / 2, pos.y() - side / 2, side, side), padding=0)
        if kind == "query":
            self.context.set_current_query(ident)
        else:
            self.context.activate_document(ident)
        self._draw_overlays()
        return True
