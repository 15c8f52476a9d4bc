"""The compare view: runs in the background, fills table and scatter, click opens both rankings."""

from __future__ import annotations

import pytest
from helpers_training import add_training_queries, make_tiny_model
from PySide6.QtCore import Qt

from core.project.file import Project
from core.training.trainer import TrainingConfig, train
from gui.compare_view import CompareView
from gui.context import AppContext


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    return make_tiny_model(tmp_path_factory.mktemp("model") / "tiny-st")


@pytest.fixture
def view(qtbot, tiny_project, tiny_model):
    add_training_queries(tiny_project)
    project = Project.open(tiny_project)
    train(project, TrainingConfig(base=str(tiny_model), batch_size=4, max_seq_length=32))
    context = AppContext(project)
    widget = CompareView(context)
    qtbot.addWidget(widget)
    widget.resize(1100, 800)
    # The tiny base model is offered like any local folder.
    widget.model_a.addItem("tiny", str(tiny_model))
    widget.set_models(str(tiny_model), "v1")
    yield widget
    context.jobs.cancel_all()
    context.jobs.wait_all(20)
    project.close()


def test_compare_button_fills_table_scatter_and_queries(qtbot, view, tiny_model):
    assert view.model_b.currentData() == "v1"
    with qtbot.waitSignal(view.comparisonReady, timeout=240000):
        qtbot.mouseClick(view.run_button, Qt.MouseButton.LeftButton)
    result = view.result
    assert view.table.rowCount() == 5
    assert view.table.item(0, 0).text() == "BM25"
    assert "(baseline)" in view.table.item(1, 0).text()
    # The delta column of BM25 is BM25's mean minus the baseline's (nDCG@10).
    delta_col = 1 + len(result["metrics"])
    c = next(c for c in result["comparisons"] if c["b"] == "bm25" and c["metric"] == "ndcg@10")
    assert view.table.item(0, delta_col).text() == f"{c['delta']:+.4f}"
    # Scatter: one point per evaluated query, x = A, y = B, data = query id.
    xs, ys = view.scatter.getData()
    assert len(xs) == result["queries"] == 2
    ids = [p.data() for p in view.scatter.points()]
    assert sorted(ids) == ["q3", "q4"]
    # Worse queries first.
    deltas = [float(view.queries.item(r, 0).text()) for r in range(view.queries.rowCount())]
    assert deltas == sorted(deltas)
    # Each model's hybrid fusion, chosen on the train queries, is shown by the view.
    v1_fusion = result["fusion"]["v1"]
    assert v1_fusion["tuned_on"] == "train"
    assert f"v1: {v1_fusion['label']}" in view.state.text()
    assert v1_fusion["short"] in view.table.item(4, 0).text()


def test_clicking_a_point_opens_both_rankings_with_labels(qtbot, view):
    with qtbot.waitSignal(view.comparisonReady, timeout=240000):
        view.run_comparison()
    view.axis_a.setCurrentIndex(view.axis_a.findData("bm25"))
    point = next(p for p in view.scatter.points() if p.data() == "q3")
    view.scatter.sigClicked.emit(view.scatter, [point], None)
    qtbot.waitUntil(lambda: view.rank_b.count() > 0 and "relevant" in view.rank_title.text(), timeout=30000)
    assert view.rank_a.count() >= 2  # BM25 finds d7, d8, d9
    titles = [view.rank_a.item(i).text() for i in range(view.rank_a.count())]
    assert any("[d7]" in t for t in titles) and any("[d9]" in t for t in titles)
    labeled = [view.rank_a.item(i).toolTip() for i in range(view.rank_a.count())]
    assert sum(t.startswith("Positive") for t in labeled) == 2
    assert view.context.current_query_id == "q3"
    hx, hy = view.highlight.getData()
    assert len(hx) == 1
