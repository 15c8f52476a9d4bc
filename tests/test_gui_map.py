"""Map tab: layout in the background, click-through to the workspace, box/lasso labelling + undo."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest
from helpers_gui import isolated_settings, open_window, shared_encoder  # noqa: F401 (fixtures)
from helpers_labels import saved_at_once
from PySide6.QtCore import QPointF, Qt

from core.project.file import Project
from core.retrieval.encoder import bundled_model_path
from gui.map_bulk import LEAVE

READY_MS = 120_000


@pytest.fixture
def map_view(qtbot, tiny_project):
    from gui.context import AppContext
    from gui.map_view import MapView

    context = AppContext(Project.open(tiny_project))
    view = MapView(context)
    qtbot.addWidget(view)
    view.resize(900, 650)
    view.show()  # showing the tab starts the layout job
    qtbot.waitUntil(view.is_ready, timeout=READY_MS)
    yield view
    view.shutdown()
    context.close()
    context.jobs.wait_all(10)
    context.project.close()


def widget_pos(view, xy: QPointF):
    scene = view.view_box.mapViewToScene(xy)
    return view.plot_widget.mapFromScene(scene)


def isolated_document(view) -> str:
    """The document farthest (on screen) from every other point, so a click is unambiguous."""
    shown = view._shown
    pts = np.vstack([shown.doc_xy, shown.query_xy])
    d = np.linalg.norm(pts[:, None] - pts[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    i = int(np.argmax(d.min(axis=1)[: len(shown.doc_xy)]))
    return shown.layout.doc_ids[i]


class FakeDrag:
    """The parts of pyqtgraph's MouseDragEvent that MapViewBox reads."""

    def __init__(self, vb, start: QPointF, pos: QPointF, modifiers, *, first=False, last=False):
        self._start, self._pos = vb.mapViewToScene(start), vb.mapViewToScene(pos)
        self._mods, self._first, self._last = modifiers, first, last

    def button(self):
        return Qt.MouseButton.LeftButton

    def modifiers(self):
        return self._mods

    def isStart(self):
        return self._first

    def isFinish(self):
        return self._last

    def scenePos(self):
        return self._pos

    def buttonDownScenePos(self, *_):
        return self._start

    def accept(self):
        pass



@pytest.fixture(autouse=True)
def _labels_saved_at_once(monkeypatch):
    saved_at_once(monkeypatch)


def test_layout_is_drawn_with_every_document_and_query(map_view):
    shown = map_view._shown
    assert shown.doc_xy.shape == (12, 2) and shown.query_xy.shape == (4, 2)
    assert len(map_view.queries_item.data) == 4
    assert "12 documents" in map_view.status.text() and "UMAP" in map_view.status.text()
    legend = [label.text for _sample, label in map_view.legend.items]
    assert any("Documents (12)" in t for t in legend)


def test_clicking_a_document_activates_it_and_a_query_makes_it_current(qtbot, map_view):
    context = map_view.context
    doc_id = isolated_document(map_view)
    pos = widget_pos(map_view, map_view.view_position("document", doc_id))
    with qtbot.waitSignal(context.documentActivated, timeout=5000) as blocker:
        qtbot.mouseClick(map_view.plot_widget.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    assert blocker.args == [doc_id]

    pos = widget_pos(map_view, map_view.view_position("query", "q2"))
    with qtbot.waitSignal(context.currentQueryChanged, timeout=5000) as blocker:
        qtbot.mouseClick(map_view.plot_widget.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    assert blocker.args == ["q2"]
    # The current query is drawn large, with a line to its positive (d4).
    assert len(map_view.current_item.data) == 1
    xs, _ys = map_view.lines["positive"].getData()
    assert xs is not None and len(xs) == 2


def test_hover_names_the_document(map_view):
    doc_id = isolated_document(map_view)
    scene = map_view.view_box.mapViewToScene(map_view.view_position("document", doc_id))
    map_view.pointer.hover(scene)
    assert map_view.hover_text.isVisible()
    title = map_view.context.project.get_document(doc_id).title
    assert title in map_view.hover_text.textItem.toPlainText()


def test_box_selection_labels_the_documents_and_undo_reverts(qtbot, map_view):
    context = map_view.context
    project = context.project
    context.set_current_query("q1")
    before = {d: lab.label for d, lab in project.labels_for_query("q1").items()}
    shown = map_view._shown
    # A box around the middle of the map, drawn with Shift+drag.
    lo, hi = shown.doc_xy.min(axis=0), shown.doc_xy.max(axis=0)
    a = QPointF(*(lo + 0.2 * (hi - lo)))
    b = QPointF(*(lo + 0.8 * (hi - lo)))
    vb, shift = map_view.view_box, Qt.KeyboardModifier.ShiftModifier
    with qtbot.waitSignal(vb.selectionMade, timeout=2000):
        vb.mouseDragEvent(FakeDrag(vb, a, a, shift, first=True))
        vb.mouseDragEvent(FakeDrag(vb, a, QPointF((a.x() + b.x()) / 2, b.y()), shift))
        vb.mouseDragEvent(FakeDrag(vb, a, b, shift, last=True))
    inside = [shown.layout.doc_ids[i] for i, (x, y) in enumerate(shown.doc_xy)
              if a.x() <= x <= b.x() and a.y() <= y <= b.y()]
    assert inside and sorted(map_view.selected_ids()) == sorted(inside)
    assert map_view.selection_bar.isVisibleTo(map_view)

    asked = []
    map_view.ask_overwrite = lambda plan, _qid, _parent: asked.append(plan) or LEAVE
    with qtbot.waitSignal(context.labelsChanged, timeout=2000):
        map_view.label_buttons["negative"].click()
    labels = {d: lab.label for d, lab in project.labels_for_query("q1").items()}
    kept = [d for d in inside if before.get(d) == "positive"]  # asked about, left as they are
    assert [plan.relevant.get("positive", ()) for plan in asked] == ([tuple(kept)] if kept else [])
    assert all(labels[d] == ("positive" if d in kept else "negative") for d in inside)
    assert context.undo_stack.count() == 1  # one action for the whole selection
    rows = map_view.layers["negative"].data["data"]
    assert sorted(shown.layout.doc_ids[i] for i in rows) == sorted(set(inside) - set(kept))

    context.undo_stack.undo()
    assert {d: lab.label for d, lab in project.labels_for_query("q1").items()} == before
    assert len(map_view.layers["negative"].data) == 0


def test_lasso_selects_the_points_inside_the_drawn_path(qtbot, map_view):
    shown = map_view._shown
    centre = shown.doc_xy.mean(axis=0)
    radius = 0.45 * np.ptp(shown.doc_xy, axis=0).min()
    angles = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    path = [QPointF(centre[0] + radius * np.cos(t), centre[1] + radius * np.sin(t)) for t in angles]
    vb, ctrl = map_view.view_box, Qt.KeyboardModifier.ControlModifier
    vb.mouseDragEvent(FakeDrag(vb, path[0], path[0], ctrl, first=True))
    for p in path[1:-1]:
        vb.mouseDragEvent(FakeDrag(vb, path[0], p, ctrl))
    vb.mouseDragEvent(FakeDrag(vb, path[0], path[-1], ctrl, last=True))
    polygon = np.array([(p.x(), p.y()) for p in path])
    from matplotlib.path import Path as PolyPath

    expected = np.flatnonzero(PolyPath(polygon).contains_points(shown.doc_xy))
    assert sorted(map_view.selected.tolist()) == expected.tolist()
    map_view.clear_selection()
    assert len(map_view.selected) == 0 and not map_view.selection_bar.isVisibleTo(map_view)


def test_colour_by_split_all_labels_and_rank(qtbot, map_view, monkeypatch):
    view = map_view
    view.set_mode("split")
    qtbot.waitUntil(view.is_ready, timeout=10_000)
    ids = view._shown.layout.doc_ids

    def layer_ids(key):
        return sorted(ids[i] for i in view.layers[key].data["data"]) if len(view.layers[key].data) else []

    assert layer_ids("split:train") == ["d1", "d4"]
    assert layer_ids("split:test") == ["d10", "d7", "d9"]

    view.context.project.set_label("q2", "d5", "negative")
    view.set_mode("all")
    qtbot.waitUntil(view.is_ready, timeout=10_000)
    assert layer_ids("positive") == ["d1", "d10", "d4", "d7", "d9"]
    assert layer_ids("negative") == ["d5"]

    assert not view.inset.isVisibleTo(view)  # 12 documents: no magnifier needed
    import gui.map_view

    monkeypatch.setattr(gui.map_view, "INSET_MIN_DOCS", 0)
    view.context.set_current_query("q3")
    assert view.inset.isVisibleTo(view)
    assert view.inset_marks.current.data["x"][0] == pytest.approx(view.view_position("query", "q3").x())
    assert view.zoom_to_query()
    visible = view.view_box.viewRect()
    for d in ("d7", "d9"):
        assert visible.contains(view.view_position("document", d))
    view.set_mode("rank")
    view.retriever_box.setCurrentIndex(view.retriever_box.findData("bm25"))
    qtbot.waitUntil(lambda: view.ranks is not None and view.is_ready(), timeout=60_000)
    assert layer_ids("rank1") in (["d7"], ["d8"], ["d9"])
    assert sum(len(view.layers[k].data) for k in ("rank1", "rank2", "rank11", "rank51")) == len(view.ranks)


def test_search_locates_a_query_and_makes_it_current(qtbot, map_view):
    view = map_view
    assert view.locate("query", "q4")
    assert view.context.current_query_id == "q4"
    assert len(view.found_item.data) == 1
    view.search.setText("Radon")
    view.search.run_search()
    qtbot.waitUntil(lambda: bool(view.search.found), timeout=5000)
    assert view.search.found[0].id == "d9"


def test_before_after_aligns_two_models_and_the_slider_moves_points(qtbot, map_view):
    view, context = map_view, map_view.context
    with context.project.transaction():  # a second "model version": the same files
        context.project.db["model_versions"].insert({
            "id": "v1", "name": "copy of bundled", "path": str(bundled_model_path()),
            "created_at": datetime.now(timezone.utc).isoformat()})
    context.modelVersionsChanged.emit()
    assert view.compare_box.findData("v1") >= 0
    context.set_current_query("q3")
    view.set_compare_model("v1")
    qtbot.waitUntil(lambda: view.pair is not None and view.is_ready(), timeout=READY_MS)
    pair = view.pair
    assert pair.after.aligned_to == pair.before.key
    assert view.compare_row.isVisibleTo(view) and "Positives" in view.summary.text()
    view.slider.setValue(0)
    np.testing.assert_allclose(view._shown.doc_xy, pair.before.doc_xy, atol=1e-5)
    view.slider.setValue(100)
    np.testing.assert_allclose(view._shown.doc_xy, pair.after.doc_xy, atol=1e-5)
    xs, _ = view.trails.getData()
    assert xs is not None and len(xs) == 2 * (1 + 2)  # q3 and its two positives


def test_map_tab_in_the_main_window_opens_clicked_documents_in_the_workspace(qtbot, tiny_project):
    window = open_window(qtbot, tiny_project)
    view = window.show_view("map")
    qtbot.waitUntil(view.is_ready, timeout=READY_MS)
    doc_id = isolated_document(view)
    pos = widget_pos(view, view.view_position("document", doc_id))
    qtbot.mouseClick(view.plot_widget.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    qtbot.waitUntil(lambda: window.workspace.document.doc_id == doc_id, timeout=5000)


def test_box_labeling_asks_before_changing_relevant_labels_and_leaves_them_by_default(
        qtbot, map_view):
    from helpers_labels import label_state, round_trip, wait_saved

    from gui.map_bulk import CANCEL, OVERWRITE, describe_overwrites

    context = map_view.context
    path = context.project.path
    context.project.set_label("q3", "d8", "false_negative")  # q3: positives d7, d9 (imported)
    context.set_current_query("q3")
    map_view.selected = np.arange(len(map_view._shown.layout.doc_ids))  # the whole map
    asked = []
    answers = iter([CANCEL, LEAVE, OVERWRITE])
    map_view.ask_overwrite = lambda plan, qid, _parent: (
        asked.append((qid, describe_overwrites(plan), len(plan.free))) or next(answers))

    before = label_state(path)
    assert map_view.label_selection("negative") == 0  # cancelled: nothing written
    assert label_state(path) == before and context.undo_stack.count() == 0

    labeled = []
    round_trip(qtbot, context, path, lambda: labeled.append(map_view.label_selection("negative")))
    assert labeled == [9]  # the relevant ones were left as they are (the default)
    labels = {d: lab.label for d, lab in context.project.labels_for_query("q3").items()}
    assert labels == {**{f"d{i}": "negative" for i in range(1, 13)},
                      "d7": "positive", "d9": "positive", "d8": "false_negative"}

    assert map_view.label_selection("negative") == 12  # the user agreed to change them too
    wait_saved(qtbot, context)
    assert {lab.label for lab in context.project.labels_for_query("q3").values()} == {"negative"}
    assert asked == [("q3", "2 positives and 1 false negative", 9)] * 3


def test_clicking_a_point_selects_it_and_shows_it_in_the_maps_side_panel(qtbot, map_view):
    project = map_view.context.project
    doc_id = isolated_document(map_view)
    where = map_view.view_position("document", doc_id)
    assert map_view.details.ident is None and "Click a point" in map_view.details.text.toPlainText()
    pos = widget_pos(map_view, where)
    with qtbot.waitSignal(map_view.context.documentActivated, timeout=5000):
        qtbot.mouseClick(map_view.plot_widget.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    # Highlighted on the map: the pick ring sits on the clicked document.
    xs, ys = map_view.picked_item.getData()
    assert (list(xs), list(ys)) == ([pytest.approx(where.x())], [pytest.approx(where.y())])
    # And shown in full beside the plot, not only in the Labeling tab.
    doc = project.get_document(doc_id)
    shown = map_view.details.text.toPlainText()
    assert (map_view.details.kind, map_view.details.ident) == ("document", doc_id)
    assert doc.title in shown and doc.text in shown and map_view.details.isVisibleTo(map_view)

    pos = widget_pos(map_view, map_view.view_position("query", "q2"))
    with qtbot.waitSignal(map_view.context.currentQueryChanged, timeout=5000):
        qtbot.mouseClick(map_view.plot_widget.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    assert map_view.details.ident == "q2"
    assert project.get_query("q2").text in map_view.details.text.toPlainText()
    map_view.clear_selection()  # Esc
    assert map_view.details.ident is None and len(map_view.picked_item.getData()[0]) == 0


def test_hover_card_is_dark_on_opaque_light_and_stays_inside_the_plot(qtbot, map_view):
    from PySide6.QtCore import QRectF
    from PySide6.QtWidgets import QApplication

    card = map_view.hover_text
    doc_id = isolated_document(map_view)
    where = map_view.view_position("document", doc_id)
    for fx, fy in ((0.97, 0.97), (0.03, 0.03), (0.97, 0.03), (0.03, 0.97)):
        # Put the document near a corner of the view (fx, fy of the width and height from the left/bottom).
        w, h = map_view.view_box.viewRect().width(), map_view.view_box.viewRect().height()
        map_view.view_box.setRange(QRectF(where.x() - fx * w, where.y() - fy * h, w, h), padding=0)
        QApplication.processEvents()
        map_view.pointer.hovered = None
        map_view.pointer.hover(map_view.view_box.mapViewToScene(where))
        assert card.isVisible()
        plot_rect = map_view.view_box.sceneBoundingRect()
        card_rect = card.textItem.sceneBoundingRect()
        assert plot_rect.contains(card_rect), (fx, fy, plot_rect, card_rect)
    text = card.textItem.defaultTextColor()
    fill = card.fill.color()
    assert text.lightnessF() < 0.3 and fill.lightnessF() > 0.9 and fill.alpha() == 255
