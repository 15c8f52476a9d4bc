"""The training panel without training: step axis, the curve after a cancel, stored test scores, progress."""

from __future__ import annotations

import json
import time

import pytest
from PySide6.QtCore import Qt

import gui.training_panel as training_panel
from core.progress import Progress
from core.project.file import Project
from gui.context import AppContext
from gui.training_panel import TrainingPanel

V1_HISTORY = [[1, 0.9], [2, 0.7], [3, 0.5]]


def _add_version(project: Project, vid: str, history) -> None:
    with project.transaction():
        project.conn.execute(
            "INSERT INTO model_versions(id, name, path, base, created_at, metrics) VALUES(?,?,?,?,?,?)",
            (vid, vid, f"/models/{vid}", "bundled", "2026-01-01T00:00:00",
             json.dumps({"training": {"steps": len(history), "loss_history": history}})))


def _store_run(project: Project, model: str, split: str, ndcg: float) -> None:
    with project.transaction():
        run_id = project.conn.execute(
            "INSERT INTO runs(retriever, model_version, split, created_at) VALUES('dense',?,?,?)",
            (model, split, "2026-01-02T00:00:00")).lastrowid
        project.conn.execute("INSERT INTO metrics(run_id, query_id, metric, value) VALUES(?,'','ndcg@10',?)",
                             (run_id, ndcg))


@pytest.fixture
def panel(qtbot, tiny_project):
    project = Project.open(tiny_project)
    _add_version(project, "v1", V1_HISTORY)
    context = AppContext(project)
    widget = TrainingPanel(context)
    qtbot.addWidget(widget)
    yield widget
    context.jobs.cancel_all()
    context.jobs.wait_all(10)
    project.close()


def test_step_axis_of_a_short_run_has_whole_steps_and_the_curve_is_a_line_with_points(panel):
    xs, ys = panel.curve.getData()
    assert list(xs) == [1, 2, 3] and list(ys) == pytest.approx([0.9, 0.7, 0.5])
    axis = panel.plot.getAxis("bottom")
    for lo, hi, pixels in ((0.9, 3.1, 400), (1.0, 2.0, 900), (0.0, 40.0, 300)):
        ticks = [v for _spacing, values in axis.tickValues(lo, hi, pixels) for v in values]
        assert ticks and all(float(v).is_integer() for v in ticks), (lo, hi, ticks)
    assert panel.curve.opts["pen"] is not None and panel.curve.opts["symbol"] == "o"


def _wait_for_cancel(project_path, config, *, remine, device, encoder, on_step, progress: Progress):
    on_step({"step": 1, "total_steps": 50, "epoch": 0.02, "loss": 2.0, "remaining_s": 10.0})
    progress.update(1, 50, "Training step 1/50")
    while True:  # a run that only stops when cancelled
        progress.check()
        time.sleep(0.01)


def test_a_cancelled_run_puts_back_the_previous_versions_curve(qtbot, panel, monkeypatch):
    monkeypatch.setattr(training_panel, "run_training_subprocess", _wait_for_cancel)
    with qtbot.waitSignal(panel.stepShown, timeout=10000):
        qtbot.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)
    assert list(panel.curve.getData()[0]) == [1]  # the new run's curve while it runs
    # The shared progress widget shows the stage's count and the same fraction.
    qtbot.waitUntil(lambda: "1/50" in panel.progress.stage.text(), timeout=5000)
    assert panel.progress.bar.value() == round(1 / 50 * panel.progress.bar.maximum())
    with qtbot.waitSignal(panel.context.jobs.jobFinished, timeout=10000):
        qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    assert "Cancelled" in panel.status.text()
    xs, ys = panel.curve.getData()
    assert list(xs) == [1, 2, 3] and list(ys) == pytest.approx([0.9, 0.7, 0.5])
    assert panel.progress.isHidden() and panel.progress.stage.text() == ""


def _cell(panel, vid: str, column: int) -> str:
    for row in range(panel.versions.rowCount()):
        if panel.versions.item(row, 0).data(Qt.ItemDataRole.UserRole) == vid:
            return panel.versions.item(row, column).text()
    raise AssertionError(f"{vid} not listed")


def test_test_ndcg_column_shows_the_newest_stored_run_once_a_job_finishes(qtbot, panel):
    project = panel.context.project
    assert _cell(panel, "v1", 4) == "–"
    _store_run(project, "v1", "test", 0.4321)
    _store_run(project, "v1", "train", 0.9999)  # another split: not the test score
    with qtbot.waitSignal(panel.context.jobs.jobFinished, timeout=10000):  # e.g. a Compare
        panel.context.jobs.start("Comparing retrievers", lambda progress: None)
    assert _cell(panel, "v1", 4) == "0.4321"
    _store_run(project, "v1", "test", 0.5)
    with qtbot.waitSignal(panel.context.jobs.jobFinished, timeout=10000):
        panel.context.jobs.start("Comparing retrievers", lambda progress: None)
    assert _cell(panel, "v1", 4) == "0.5000"


def _train_then_encode_until_cancelled(project_path, config, *, remine, device, encoder, on_step,
                                       progress: Progress):
    """The job's contract after a fine-tune (core.training.loop.retrain_and_remine): the
    version is noted once registered, the encode step notes its encoder, and a cancel
    there returns the version with ``embeddings["ready"]`` False."""
    from core.progress import Cancelled
    from core.retrieval.encoder_choice import ENCODER_NOTE
    from core.training.loop import VERSION_NOTE, LoopOutcome
    from core.training.trainer import get_model_version

    with Project.open(project_path) as project:
        _add_version(project, "v2", [[1, 0.8], [2, 0.6]])
        version = get_model_version(project, "v2")
    progress.note(VERSION_NOTE, "v2")
    encode = progress.sub(0.8, 1.0)
    encode.note(ENCODER_NOTE, {"kind": "exact", "device": "cpu", "requested": "auto", "gate": None,
                               "reason": "fast encoder refused, using fp32: quality gate failed"})
    try:
        while True:
            encode.update(3, 12, "Encoding documents: 3/12")
            time.sleep(0.01)
    except Cancelled:
        return LoopOutcome(version, embeddings={"model": "v2", "ready": False, "cancelled": True})


def test_cancel_while_the_new_version_encodes_keeps_the_version(qtbot, panel, monkeypatch):
    monkeypatch.setattr(training_panel, "run_training_subprocess", _train_then_encode_until_cancelled)
    qtbot.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "3/12" in panel.encode_progress.stage.text(), timeout=10000)
    assert not panel.encode_row.isHidden() and panel.progress.isHidden()
    label = panel.encode_label.text()
    assert "Encoding the corpus with v2" in label and "CPU · exact fp32" in label
    assert "quality gate failed" in label  # why fp32 runs although Automatic allowed int8
    assert panel.encode_progress.bar.value() == round(3 / 12 * panel.encode_progress.bar.maximum())
    assert panel.versions.rowCount() == 2  # v2 is listed while its corpus encodes
    assert "v2 is kept" in panel.cancel_button.toolTip()
    assert panel.times.text().startswith("Elapsed") and "remaining" not in panel.times.text()
    with qtbot.waitSignal(panel.trainingFinished, timeout=10000):
        qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    assert "Model version v2" in panel.result.text()
    assert "Encoding v2's corpus was cancelled: v2 is kept" in panel.result.text()
    assert panel.times.text().startswith("Elapsed") and "remaining" not in panel.times.text()  # job over
    assert panel.encode_row.isHidden() and panel.train_button.isEnabled()


def _train_then_fail_to_encode(project_path, config, *, remine, device, encoder, on_step,
                               progress: Progress):
    from core.errors import StudioError
    from core.training.loop import VERSION_NOTE

    with Project.open(project_path) as project:
        _add_version(project, "v2", [[1, 0.8]])
    progress.note(VERSION_NOTE, "v2")
    raise StudioError("disk full while writing embeddings")


def test_a_failure_after_the_fine_tune_says_the_version_is_kept(qtbot, panel, monkeypatch):
    monkeypatch.setattr(training_panel, "run_training_subprocess", _train_then_fail_to_encode)
    with qtbot.waitSignal(panel.context.jobs.jobFinished, timeout=10000):
        qtbot.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)
    text = panel.status.text()
    assert "Encoding the corpus with v2 failed: disk full" in text and "v2 is kept" in text
    assert panel.versions.rowCount() == 2 and panel.encode_row.isHidden()


def test_the_embeddings_line_names_the_fusion_the_new_version_got():
    from gui.training_panel import embeddings_text

    text = embeddings_text({"model": "v1", "ready": True, "documents": 4, "queries": 2, "seconds": 3,
                            "encoder": {"kind": "fast", "device": "cpu", "reason": ""},
                            "fusion": "weighted 0.3/0.7 (chosen on train)"})
    assert text.startswith("Embeddings of v1 ready: 4 documents and 2 queries")
    assert text.endswith("Hybrid fusion: weighted 0.3/0.7 (chosen on train).")


def test_faster_arithmetic_asks_for_bf16_where_the_hardware_has_it(panel):
    assert panel.config().precision == "fp32"  # exact by default: bf16 cost 0.0036 nDCG on SciFact
    panel.fast_arithmetic.setChecked(True)
    assert panel.config().precision == "auto"
