"""Pointing at the map: hover and click, box and lasso gestures, the selection bar.

Which points a gesture or a click covers is plain geometry in
:mod:`core.map.picking`; this module turns mouse moves and clicks into
picks (:class:`MapPointer`), drags into polygons (:class:`MapViewBox`),
shows what is selected with buttons to label it (:class:`SelectionBar`) and
writes what hover says about a point (:func:`point_card`).
"""

from __future__ import annotations

import html
from typing import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from core.map.framing import card_corner
from core.map.picking import DrawnMap
from core.project.file import Project
from core.project.queries import QueryOverlay

from .context import AppContext
from .map_items import PROPOSAL_COLOR, SELECTION_COLOR, rings
from .style import LABEL_COLORS, LABEL_TITLES

PICK_RADIUS_PX = 6.0
CARD_TEXT = "#111827"
CARD_FILL = "#ffffff"
CARD_GAP_PX = 8.0
SNIPPET_CHARS = 220


class MapPointer(QObject):
    """Hover rings a point and shows its card; a click opens a document or makes a query current.

    The card is dark text on an opaque white box, placed beside its point
    and flipped or pushed so it stays inside the plot
    (:func:`core.map.framing.card_corner`). A click also announces the point
    (``pointClicked``) so the map can select it and show it in its side panel.

    ``drawn()`` is what the map shows now (None before a layout);
    ``describe(kind, id)`` is the card's rich text.
    """

    pointClicked = Signal(str, str)  # (kind: "document" or "query", id)

    def __init__(self, plot: pg.PlotItem, context: AppContext, drawn: Callable[[], DrawnMap | None],
                 describe: Callable[[str, str], str], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self._view_box = plot.vb
        self._drawn = drawn
        self._describe = describe
        self.hovered: tuple[str, int] | None = None
        self.ring = rings(16, "#111827", 2)
        self.ring.setZValue(11)
        plot.addItem(self.ring)
        # pyqtgraph's default text colour is light grey: unreadable on a white card.
        self.card = pg.TextItem(anchor=(0, 0), color=CARD_TEXT, fill=pg.mkBrush(CARD_FILL),
                                border=pg.mkPen("#6b7280"))
        self.card.setZValue(20)
        self.card.hide()
        plot.addItem(self.card, ignoreBounds=True)
        scene = plot.scene()
        scene.sigMouseMoved.connect(self.hover)
        scene.sigMouseClicked.connect(self._clicked)

    def point_at(self, x: float, y: float, radius_px: float = PICK_RADIUS_PX) -> tuple[str, int] | None:
        """The query or document drawn nearest to view position (x, y), within ``radius_px``.

        Queries win ties: their stars are drawn on top.
        """
        drawn = self._drawn()
        if drawn is None:
            return None
        px = self._view_box.viewPixelSize()[0] or 1.0
        return drawn.picker.nearest(x, y, radius_px * px)

    def hover(self, scene_pos) -> None:
        """Ring the point under ``scene_pos`` (scene coordinates) and show its card."""
        drawn = self._drawn()
        if drawn is None or not self._view_box.sceneBoundingRect().contains(scene_pos):
            return
        p = self._view_box.mapSceneToView(scene_pos)
        hit = self.point_at(p.x(), p.y())
        if hit == self.hovered:
            return
        self.hovered = hit
        mark_point(self.ring, drawn, hit)
        if hit is None:
            self.card.hide()
            return
        self.card.setHtml(self._describe(hit[0], drawn.point_id(hit)))
        xy = drawn.xy(hit[0])[hit[1]]
        self._place_card(float(xy[0]), float(xy[1]))
        self.card.show()
        self.card.updateTransform(force=True)  # its pixel scale now, not at the next paint

    def _place_card(self, x: float, y: float) -> None:
        """Put the card beside (x, y), inside the visible part of the plot."""
        size = self.card.textItem.boundingRect()
        px, py = self._view_box.viewPixelSize()
        gap_x, gap_y = CARD_GAP_PX * px, CARD_GAP_PX * py  # clear of the hover ring
        view = self._view_box.viewRect()  # y up: top() is the lowest y
        corner = card_corner(x, y, size.width() * px, size.height() * py,
                             (view.left(), view.top(), view.right(), view.bottom()), (gap_x, gap_y))
        self.card.setPos(*corner)

    def redraw(self) -> None:
        """Ring the hovered point where it is drawn now."""
        mark_point(self.ring, self._drawn(), self.hovered)

    def _clicked(self, ev) -> None:
        if ev.button() != Qt.MouseButton.LeftButton or ev.double() or self._drawn() is None:
            return
        if not self._view_box.sceneBoundingRect().contains(ev.scenePos()):
            return
        p = self._view_box.mapSceneToView(ev.scenePos())
        self.click_at(p.x(), p.y())

    def click_at(self, x: float, y: float) -> str | None:
        """Act as a click at view position (x, y): open a document or pick a query; returns the id."""
        hit = self.point_at(x, y)
        drawn = self._drawn()
        if hit is None or drawn is None:
            return None
        ident = drawn.point_id(hit)
        self.pointClicked.emit(hit[0], ident)
        if hit[0] == "document":
            self.context.activate_document(ident)
        else:
            self.context.set_current_query(ident)
        return ident


def mark_point(item: pg.ScatterPlotItem, drawn: DrawnMap | None, point: tuple[str, int] | None) -> None:
    """Put the one-point ``item`` on ``point`` (nothing for None or a row the map no longer has)."""
    if point is None or drawn is None:
        item.setData([], [])
        return
    kind, i = point
    xy = drawn.xy(kind)
    if i >= len(xy):
        item.setData([], [])
        return
    item.setData(x=[xy[i, 0]], y=[xy[i, 1]])


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


class SelectionBar(QWidget):
    """How many documents are selected, with one button per label (and to deselect)."""

    labelChosen = Signal(object)  # a label, or None to clear the label
    deselect = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        bar = QHBoxLayout()
        self.text = QLabel()
        bar.addWidget(self.text)
        self.buttons: dict[str | None, QPushButton] = {}
        for label, title in (("positive", "Positive"), ("negative", "Negative"),
                             ("false_negative", "False negative"), (None, "Clear label")):
            b = QPushButton(title)
            b.clicked.connect(lambda _=False, lab=label: self.labelChosen.emit(lab))
            if label:
                b.setStyleSheet(f"QPushButton {{ color: {LABEL_COLORS[label]}; font-weight: 600; }}")
            bar.addWidget(b)
            self.buttons[label] = b
        clear = QPushButton("Deselect")
        clear.clicked.connect(self.deselect.emit)
        bar.addWidget(clear)
        bar.addStretch(1)
        self.setLayout(bar)
        self.setVisible(False)

    def show_selection(self, count: int, query_id: str | None) -> None:
        """Say how many are selected and for which query the buttons label them (hidden at 0)."""
        self.setVisible(count > 0)
        if not count:
            return
        if query_id:
            self.text.setText(f"{count:,} document{'s' if count != 1 else ''} selected — "
                              f"label for query {query_id} as:")
        else:
            self.text.setText(f"{count:,} selected — pick a query (click a star) to label them")
        for b in self.buttons.values():
            b.setEnabled(bool(query_id))


def point_card(project: Project, kind: str, ident: str, overlay: QueryOverlay | None,
               ranks: dict[str, int] | None, *, full: bool = False) -> str:
    """Rich text naming a hovered query or document, with its label for the current query.

    ``ranks`` (the current query's, when the map is coloured by rank) adds
    the document's rank. ``full`` gives the whole text at any width (the
    map's side panel) instead of a hover card's short, narrow one.
    """
    width = "" if full else ' style="max-width:340px"'
    if kind == "query":
        q = project.get_query(ident)
        text = html.escape(q.text if q else "")
        split = f" · {q.split}" if q and q.split else ""
        hint = "the current query" if full else "click to make it the current query"
        return (f'<div{width}><b>Query {html.escape(ident)}</b>{split}<br>'
                f"{text}<br><i>{hint}</i></div>")
    doc = project.get_document(ident)
    title = html.escape(doc.title) if doc and doc.title else ""
    body = doc.text if doc else ""
    snippet = html.escape(body if full else body[:SNIPPET_CHARS])
    if not full and len(body) > SNIPPET_CHARS:
        snippet += "…"
    label = ""
    if overlay is not None:
        lab = overlay.labels.get(ident)
        if lab:
            label = (f' · <span style="color:{LABEL_COLORS[lab]}">'
                     f"{LABEL_TITLES[lab]} for {html.escape(overlay.query_id)}</span>")
        elif ident in overlay.proposals:
            label = f' · <span style="color:{PROPOSAL_COLOR}">mined proposal</span>'
    if ranks is not None and ident in ranks:
        label += f" · rank {ranks[ident]}"
    return (f'<div{width}><b>{title or html.escape(ident)}</b><br>'
            f'<span style="color:#4b5563">{html.escape(ident)}</span>{label}<br>{snippet}</div>')
