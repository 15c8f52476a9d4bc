"""The training panel: start from the button, live progress and loss curve, cancel, UI stays responsive."""

from __future__ import annotations

import re

import pytest
from helpers_training import StallMeter, add_training_queries, make_tiny_model
from PySide6.QtCore import Qt

from core.project.file import Project
from gui.context import AppContext
from gui.training_panel import TrainingPanel


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("model") / "tiny-st")


@pytest.fixture
def panel(qtbot, tiny_project, tiny_model):
    add_training_queries(tiny_project)
    project = Project.open(tiny_project)
    context = AppContext(project)
    widget = TrainingPanel(context)
    qtbot.addWidget(widget)
    # The tiny model is offered like any local folder: put it in the base combo.
    widget.base_combo.addItem("tiny", str(tiny_model))
    widget.base_combo.setCurrentIndex(widget.base_combo.count() - 1)
    widget.batch_size.setValue(2)
    widget.max_seq_length.setValue(32)
    widget.epochs.setValue(1)
    yield widget
    context.jobs.cancel_all()
    context.jobs.wait_all(20)
    project.close()


def test_fine_tune_button_trains_with_live_curve_and_responsive_ui(qtbot, panel):
    context = panel.context
    qtbot.waitUntil(lambda: "</b> training examples" in panel.data_label.text(), timeout=10000)
    assert "12</b> training examples" in panel.data_label.text()
    curve_sizes, fractions = [], []
    panel.stepShown.connect(lambda _e: curve_sizes.append(len(panel.curve.getData()[0])))
    context.jobs.jobProgress.connect(lambda job: fractions.append(job.fraction))
    # After the fine-tune the same job encodes the new version's corpus: its own row, the
    # version already listed while it runs.
    encode_rows, listed_before_end = [], []
    context.jobs.jobProgress.connect(lambda job: not panel.encode_row.isHidden() and encode_rows.append(
        (panel.encode_label.text(), panel.encode_progress.stage.text(), not panel.progress.isHidden(),
         panel.encode_progress.bar.value())))
    context.modelVersionsChanged.connect(
        lambda: listed_before_end.append((panel.running, panel.versions.rowCount())))
    meter = StallMeter()
    meter.start()
    with qtbot.waitSignal(panel.trainingFinished, timeout=240000):
        qtbot.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)
        assert panel.running and not panel.train_button.isEnabled()
    meter.stop()
    assert listed_before_end[0] == (True, 1)
    assert encode_rows and all("Encoding the corpus with v1" in label and "CPU · exact fp32" in label
                               and not training_bar for label, _, training_bar, _ in encode_rows[-1:])
    # The row's bar is the encoding's own fraction (relayed from the child), not the job's.
    # Any counted stage of the step (encoding documents or queries, the fusion choice's dense
    # search): with 12 documents a stage can last less than one of the UI's progress ticks,
    # and the runner delivers only the newest step of a tick.
    counted = [(stage, bar) for _, stage, _, bar in encode_rows if re.search(r": \d+/\d+", stage)]
    assert counted, encode_rows
    for stage, bar in counted:
        done, total = (int(n) for n in re.search(r": (\d+)/(\d+)", stage).groups())
        assert bar == round(done / total * panel.encode_progress.bar.maximum()), (stage, bar)
    assert panel.encode_row.isHidden()
    assert "Embeddings of v1 ready: 12 documents and" in panel.result.text()
    assert "CPU · exact fp32" in panel.result.text()
    # 12 rows at batch 2 for 1 epoch = 6 steps, each one point on the curve.
    assert curve_sizes == list(range(1, 7))
    xs, ys = panel.curve.getData()
    assert list(xs) == list(range(1, 7)) and all(y > 0 for y in ys)
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert "Model version v1" in panel.result.text()
    assert "Elapsed" in panel.times.text()
    assert [v["id"] for v in context.project.model_versions()] == ["v1"]
    assert panel.base_combo.findData("v1") >= 0  # offered as the next base
    print(f"longest UI stall during training: {meter.longest_stall_ms:.1f} ms "
          f"over {len(meter.gaps)} ticks")
    assert meter.longest_stall_ms < 100


def test_cancel_button_stops_and_saves_nothing(qtbot, panel):
    context = panel.context
    panel.epochs.setValue(50)  # 300 steps: long enough to cancel midway
    steps = []
    panel.stepShown.connect(lambda e: (steps.append(e["step"]),
                                               panel.cancel() if e["step"] == 3 else None))
    with qtbot.waitSignal(context.jobs.jobFinished, timeout=240000):
        qtbot.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)
    assert 3 <= max(steps) < 300
    assert "Cancelled" in panel.status.text()
    assert context.project.model_versions() == []
    models = context.project.data_dir / "models"
    assert not models.exists() or list(models.iterdir()) == []
    assert panel.train_button.isEnabled() and not panel.running


def test_heldout_split_refused_in_panel(qtbot, panel):
    panel.split.setText("test")
    panel.split.editingFinished.emit()
    qtbot.waitUntil(lambda: "held-out" in panel.data_label.text(), timeout=10000)
    assert not panel.train_button.isEnabled()


def test_remine_button_mines_a_pass_with_the_selected_version(qtbot, panel, tiny_model):
    from core.mining.store import mining_passes
    from core.training.trainer import TrainingConfig, train

    context = panel.context
    train(context.project, TrainingConfig(base=str(tiny_model), batch_size=4, max_seq_length=32))
    context.modelVersionsChanged.emit()
    assert not panel.remine_button.isEnabled()  # nothing selected yet
    panel.versions.selectRow(0)
    assert panel.selected_version() == "v1" and panel.remine_button.isEnabled()
    with qtbot.waitSignal(context.candidatesChanged, timeout=240000) as blocker:
        qtbot.mouseClick(panel.remine_button, Qt.MouseButton.LeftButton)
    passes = mining_passes(context.project)
    assert [p.pass_number for p in passes] == [blocker.args[0]] and passes[0].model_version == "v1"
    assert "Pass 1" in panel.result.text()
    qtbot.mouseClick(panel.use_button, Qt.MouseButton.LeftButton)
    assert context.model_id == "v1"
