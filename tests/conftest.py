"""Shared test setup: offline model loading, offscreen Qt, slow-test switch, tiny project."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Per-user caches (the bundled model's int8 copy) go to a folder of this run,
# not the home of whoever runs the suite; set it to reuse one between runs.
os.environ.setdefault("RETRIEVER_STUDIO_CACHE", tempfile.mkdtemp(prefix="rs-test-cache-"))
# QSettings (recent projects, window geometry) of every test and of the processes
# it starts go to a folder of this run: a test that forgets helpers_gui's
# isolated_settings fixture must not fill the developer's real config.
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="rs-test-config-")
# There, the app's jobs encode with the exact fp32 encoder unless a test chooses
# otherwise: the app's default (Automatic) builds and gates an int8 copy of each
# model on the CPU first, seconds per model. QSettings' native format on Linux.
_settings = Path(os.environ["XDG_CONFIG_HOME"]) / "Retriever Studio" / "Retriever Studio.conf"
_settings.parent.mkdir()
_settings.write_text("[compute]\nencoder=exact\n", encoding="utf-8")

import pytest

# Any exception that reaches Qt's event loop (or a job's unexpected error)
# fails the test that caused it.
pytest_plugins = ("helpers_excepthook",)

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False,
                     help="also run @pytest.mark.slow real-data tests")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow real-data test: pass --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


TINY_DOCS = [
    ("d1", "Vitamin D and bone density", "Vitamin D supplementation increases bone mineral density in elderly women."),
    ("d2", "Calcium intake", "High calcium intake is associated with fewer hip fractures in older adults."),
    ("d3", "Exercise and bones", "Weight-bearing exercise improves bone strength and reduces fracture risk."),
    ("d4", "Aspirin and heart attacks", "Daily low-dose aspirin lowers the risk of a first heart attack in men."),
    ("d5", "Statins", "Statins reduce LDL cholesterol and cardiovascular events."),
    ("d6", "Blood pressure", "Lowering blood pressure reduces stroke and heart attack incidence."),
    ("d7", "Smoking and lung cancer", "Cigarette smoking is the leading cause of lung cancer."),
    ("d8", "Air pollution", "Fine particulate air pollution raises lung cancer mortality."),
    ("d9", "Radon exposure", "Residential radon exposure is a cause of lung cancer among non-smokers."),
    ("d10", "Sleep and memory", "Sleep consolidates declarative memory in young adults."),
    ("d11", "Caffeine", "Caffeine improves alertness but may disturb sleep quality."),
    ("d12", "Gut microbiome", "The gut microbiome influences immune responses and metabolism."),
]
TINY_QUERIES = [
    ("q1", "vitamin D improves bone density", "train"),
    ("q2", "aspirin prevents heart attacks", "train"),
    ("q3", "what causes lung cancer", "test"),
    ("q4", "does sleep help memory", "test"),
]
TINY_QRELS = [("q1", "d1", 1), ("q2", "d4", 1), ("q3", "d7", 1), ("q3", "d9", 2), ("q4", "d10", 1)]


def make_tiny_project(path: Path) -> Path:
    """A 12-document, 4-query project with imported qrels (q3 has graded gains)."""
    from core.project.file import Project

    with Project.create(path) as project:
        with project.transaction():
            project.db["documents"].insert_all(
                [{"id": i, "title": t, "text": x} for i, t, x in TINY_DOCS])
            project.db["queries"].insert_all(
                [{"id": i, "text": t, "split": s} for i, t, s in TINY_QUERIES])
            project.touch_corpus()
        project.set_labels([(q, d, "positive", g) for q, d, g in TINY_QRELS],
                           source="imported", pass_number=0)
    return path


def cache_missed(name: str, calls: list[str]):
    """A stand-in for a model's ``name`` method where only cached vectors may be used.

    The mining parity tests hand ``mine_hard_negatives`` our vectors through
    its cache folder; should it encode anyway, the call is recorded and the
    test stops here with a clear message.
    """

    def encode(*args, **kwargs):
        calls.append(name)
        raise AssertionError(f"the reference called {name}(): it missed the embedding cache")

    return encode


@pytest.fixture
def tiny_project(tmp_path) -> Path:
    return make_tiny_project(tmp_path / "tiny.rsproj")


@pytest.fixture(autouse=True)
def _collect_qt_garbage_on_the_test_thread(request):
    """For Qt tests, run the cycle collector only on the main thread.

    Automatic collection triggered inside a worker thread can destroy an
    earlier test's widgets there and deadlock against the UI thread (the
    app does the same through gui.app.collect_garbage_on_ui_thread).
    """
    if "qtbot" not in request.fixturenames and "qapp" not in request.fixturenames:
        yield
        return
    import gc

    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.collect()
        gc.enable()
