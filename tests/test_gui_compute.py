"""Model → Compute (issue 13, parts 1 and 4 in the app): the device and encoder choice is
remembered, reaches every job the app starts, and the status bar says what runs a job."""

from __future__ import annotations

import pytest
from helpers_gui import app_context, isolated_settings, shared_encoder  # noqa: F401 (fixtures)
from helpers_training import make_tiny_model

from core.errors import StudioError
from core.project.file import Project
from core.retrieval.device import ComputeChoice, DeviceProbe
from core.retrieval.encoder_choice import ENCODER_NOTE, select_encoder

CPU_FAST = ComputeChoice("cpu", "fast")  # not the tests' default (auto, exact): it must be passed on


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("compute") / "tiny-st")


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(DeviceProbe, "from_torch", classmethod(lambda cls: DeviceProbe(0, False)))


def probed_menu(qtbot, choice=ComputeChoice()):
    from gui.compute_menu import ComputeMenu

    menu = ComputeMenu(choice)
    qtbot.addWidget(menu)
    menu.aboutToShow.emit()  # the first opening checks the machine's devices, on a job thread
    qtbot.waitUntil(lambda: menu.probe is not None, timeout=30000)
    return menu


def test_absent_gpus_are_disabled_with_the_reason(qtbot, no_gpu):
    menu = probed_menu(qtbot)
    cuda, mps = menu.device_actions["cuda"], menu.device_actions["mps"]
    assert not cuda.isEnabled() and "No CUDA device" in cuda.toolTip()
    assert not mps.isEnabled() and "No Apple MPS" in mps.toolTip()
    assert menu.device_actions["cpu"].isEnabled() and menu.device_actions["auto"].isChecked()
    assert menu.machine_action.text() == "This machine: CPU only"


def test_a_present_gpu_can_be_chosen_but_not_with_the_cpu_only_fast_encoder(qtbot, monkeypatch):
    monkeypatch.setattr(DeviceProbe, "from_torch", classmethod(lambda cls: DeviceProbe(1, False)))
    menu = probed_menu(qtbot)
    chosen = []
    menu.choiceChanged.connect(chosen.append)
    assert menu.device_actions["cuda"].isEnabled() and not menu.device_actions["mps"].isEnabled()
    menu.device_actions["cuda"].trigger()
    assert chosen == [ComputeChoice("cuda", "auto")]
    fast = menu.encoder_actions["fast"]
    assert not fast.isEnabled() and "int8 CPU engine" in fast.toolTip()
    menu.device_actions["cpu"].trigger()
    fast.trigger()
    assert chosen[-1] == CPU_FAST and not menu.device_actions["cuda"].isEnabled()


def test_the_choice_is_remembered_across_a_restart_of_the_window(qtbot, tiny_project, no_gpu):
    from gui.main_window import MainWindow

    first = MainWindow()
    qtbot.addWidget(first)
    assert first.compute_menu in [a.menu() for a in first.model_menu.actions()]
    first.compute_menu.device_actions["cpu"].trigger()
    first.compute_menu.encoder_actions["fast"].trigger()
    assert "applies to jobs started from now on" in first.statusBar().currentMessage().lower()
    first.close()

    second = MainWindow(tiny_project)
    qtbot.addWidget(second)
    try:
        assert second.compute_menu.choice == CPU_FAST
        assert second.compute_menu.device_actions["cpu"].isChecked()
        assert second.compute_menu.encoder_actions["fast"].isChecked()
        assert second.context.compute == CPU_FAST
        assert second.context.retrieval().encoder_preference == "fast"
    finally:
        second.close()


def test_a_remembered_gpu_that_is_absent_falls_back_to_automatic_and_says_so(qtbot, tiny_project,
                                                                              no_gpu):
    from gui import session
    from gui.main_window import MainWindow

    session.remember_compute(ComputeChoice("cuda", "exact"))
    window = MainWindow(tiny_project)
    qtbot.addWidget(window)
    try:
        assert window.context.compute == ComputeChoice()
        title, message = window.last_warning
        assert "Compute" in title and "no CUDA device" in message
        assert window.compute_menu.device_actions["auto"].isChecked()
    finally:
        window.close()


def refuse(*args, **kwargs):
    raise StudioError("recorded")


def test_every_kind_of_job_gets_the_choice(qtbot, tiny_project, monkeypatch):
    """What reaches core: each job function records the device and encoder it was given."""
    import gui.compare_view as compare_view
    import gui.map_view as map_view
    import gui.mining_dialog as mining_dialog
    import gui.training_panel as training_panel

    seen: dict[str, tuple] = {}

    def recorder(kind, *, retrieval_at=None):
        def record(*args, device=None, encoder=None, progress=None, **kwargs):
            if retrieval_at is not None:  # the job gets a Retrieval the context made
                device, encoder = args[retrieval_at].device_preference, args[retrieval_at].encoder_preference
            seen[kind] = (device, encoder)
            raise StudioError("recorded")  # ends the job through its error path
        return record

    monkeypatch.setattr(compare_view, "compare_project_file", recorder("compare"))
    monkeypatch.setattr(compare_view, "rankings_for_file", recorder("rankings"))
    monkeypatch.setattr(map_view, "compute_layout", recorder("map"))
    monkeypatch.setattr(training_panel, "run_training_subprocess", recorder("training"))
    monkeypatch.setattr(training_panel, "run_remine_subprocess", recorder("remine"))
    monkeypatch.setattr(mining_dialog, "load_preview", recorder("mining preview", retrieval_at=3))
    monkeypatch.setattr(mining_dialog, "run_mining", recorder("mining", retrieval_at=2))

    with app_context(tiny_project) as context:
        context.set_compute(CPU_FAST)
        views = [compare_view.CompareView(context), map_view.MapView(context),
                 training_panel.TrainingPanel(context), mining_dialog.MiningDialog(context)]
        for view in views:
            qtbot.addWidget(view)
        compare, mapping, training, mining = views
        compare.run_comparison()
        compare.result = {"query_texts": {}, "systems": []}
        monkeypatch.setattr(compare, "_pair", lambda: ("dense:bundled", "bm25", "ndcg@10"))
        compare.show_query("q1")
        mapping.refresh()
        training.start_training()
        qtbot.waitUntil(lambda: not training.running, timeout=10000)
        context.project.db["model_versions"].insert(
            {"id": "v1", "name": "v1", "path": "models/v1", "base": "bundled",
             "created_at": "2026-01-01T00:00:00", "config": "{}", "train_counts": "{}", "metrics": "{}"})
        context.modelVersionsChanged.emit()
        training.versions.selectRow(0)
        training.remine_selected()
        mining.mine_all()
        qtbot.waitUntil(lambda: len(seen) == 7, timeout=20000)
        for view in views:
            view.close()
        context.jobs.cancel_all()
    assert seen == dict.fromkeys(["compare", "rankings", "map", "training", "remine",
                                  "mining preview", "mining"], ("cpu", "fast"))


def test_the_dense_pane_prepares_again_with_a_new_choice(qtbot, tiny_project, monkeypatch):
    from core.retrieval.service import Retrieval
    from gui.workspace_controller import WorkspaceController

    built = []
    monkeypatch.setattr(Retrieval, "ensure_bm25", lambda self, progress=None: None)
    monkeypatch.setattr(Retrieval, "ensure_dense", lambda self, progress=None: built.append(
        (self.device_preference, self.encoder_preference)))
    with app_context(tiny_project) as context:
        controller = WorkspaceController(context)
        controller.start()
        qtbot.waitUntil(lambda: controller.is_ready("dense"), timeout=10000)
        context.set_compute(CPU_FAST)
        assert not controller.is_ready("dense")  # the old vectors were another encoder's
        qtbot.waitUntil(lambda: controller.is_ready("dense"), timeout=10000)
        controller.shutdown()
    assert built == [("auto", "exact"), ("cpu", "fast")]


def test_status_bar_names_the_device_and_encoder_of_the_running_job(qtbot, tiny_project, tiny_model):
    from core.retrieval.service import Retrieval
    from gui.job_status import JobStatus
    from gui.workers import JobRunner

    runner = JobRunner()
    status = JobStatus()
    qtbot.addWidget(status)
    status.set_runner(runner)
    shown = []
    runner.jobNoted.connect(lambda job, name: name == ENCODER_NOTE and shown.append(
        (status.compute.text(), status.compute.toolTip(), not status.compute.isHidden())))

    with Project.open(tiny_project) as project:
        retrieval = Retrieval(project, str(tiny_model), device="cpu", encoder="exact")
    with qtbot.waitSignal(runner.jobFinished, timeout=60000):
        runner.start("Embedding documents", retrieval.ensure_dense)
    assert shown == [("CPU · exact fp32", "Embedding documents runs on CPU · exact fp32", True)]
    assert status.compute.isHidden()  # no job, no device

    # The fast encoder asked for but refused by its quality gate (no int8 model reaches
    # cosine 1.01): fp32 runs, and the status bar says why in one line, whole in the tooltip.
    shown.clear()
    sample = ["Vitamin D and bone density", "Statins lower cholesterol", "Sleep and memory"]
    with qtbot.waitSignal(runner.jobFinished, timeout=120000):
        runner.start("Checking the fast encoder", select_encoder, None, str(tiny_model), tiny_model,
                     encoder="fast", device="cpu", sample=sample, threshold=1.01)
    (text, tip, visible), = shown
    assert visible and text.startswith("CPU · exact fp32 · fast encoder refused, using fp32: quality gate failed")
    assert "threshold 1.01" in tip and tip.startswith("Checking the fast encoder runs on CPU · exact fp32\n")


def test_status_bar_names_the_device_and_precision_of_a_fine_tune_then_its_encoder(qtbot, tiny_project,
                                                                                  tiny_model):
    """A training job says what trains (device, precision), then what encodes the new version."""
    from helpers_training import add_training_queries

    from core.training.loop import run_training_job
    from core.training.trainer import TrainingConfig, resolve_precision
    from gui.job_status import JobStatus
    from gui.workers import JobRunner

    add_training_queries(tiny_project)
    runner = JobRunner()
    status = JobStatus()
    qtbot.addWidget(status)
    status.set_runner(runner)
    shown = []
    runner.jobNoted.connect(lambda job, name: shown.append((name, status.compute.text())))
    config = TrainingConfig(base=str(tiny_model), batch_size=4, max_seq_length=32, epochs=1,
                            precision="auto")
    with qtbot.waitSignal(runner.jobFinished, timeout=120000):
        runner.start("Fine-tuning", lambda progress: run_training_job(
            tiny_project, config, device="cpu", encoder="exact", progress=progress))
    precision = resolve_precision("auto", "cpu")
    labels = [text for name, text in shown if name in ("training", ENCODER_NOTE)]
    assert labels[0] == f"CPU · {precision} training"
    assert labels[-1] == "CPU · exact fp32"  # the pipelined encode of the new version
