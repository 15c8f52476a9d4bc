"""Shared fixtures for the GUI tests: isolated settings, a check that models are shared, windows."""

from __future__ import annotations

import contextlib

import pytest


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path, monkeypatch):
    """QSettings of the app go to tmp_path, never to the developer's real config."""
    from PySide6.QtCore import QSettings

    folder = tmp_path / "settings"
    folder.mkdir()
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(folder))
    # Exact fp32 unless a test chooses otherwise (as conftest sets up for the others).
    QSettings("Retriever Studio", "Retriever Studio").setValue("compute/encoder", "exact")
    yield folder


@pytest.fixture(autouse=True)
def shared_encoder(monkeypatch):
    """Check that the windows under test share each model (a watch; it changes no behaviour).

    The app loads models only through ``core.retrieval.encoder.shared_encoder``,
    a process-wide cache: the seconds-long model load happens once per test
    session, and the panes, map and mining dialog of one window share it.
    This fixture watches what actually constructs models,
    ``core.retrieval.encoder.Encoder`` and its int8 sibling ``FastEncoder``
    (the compute choice may pick it): no model (kind, folder, prompts, weights)
    may be loaded twice in one test, and every encoder that entered the
    cache during the test must have been built under a watch (this test's,
    or an earlier test's whose job finished late), so the watch is known to
    sit on the code path the app runs.
    """
    from core.retrieval import encoder as encoder_module
    from core.retrieval.onnx_int8 import FastEncoder

    loads: list[tuple] = []

    def watch(cls) -> None:
        original_init = cls.__init__

        def watched_init(self, model_path=None, *args, **kwargs):
            original_init(self, model_path, *args, **kwargs)
            self.built_under_watch = True
            loads.append((cls.kind,) + _model_key(self.model_path, kwargs.get("query_prompt"),
                                                  kwargs.get("document_prompt")))

        monkeypatch.setattr(cls, "__init__", watched_init)

    cached_before = set(encoder_module._shared)
    watch(encoder_module.Encoder)
    watch(FastEncoder)
    yield loads
    repeated = {key for key in loads if loads.count(key) > 1}
    assert not repeated, f"models loaded more than once in one test: {sorted(repeated)}"
    unwatched = [key for key, enc in list(encoder_module._shared.items())
                 if key not in cached_before and not getattr(enc, "built_under_watch", False)]
    assert not unwatched, f"encoders entered the shared cache without passing the watch: {unwatched}"


def _model_key(folder, query_prompt, document_prompt) -> tuple:
    """The key ``shared_encoder`` caches an Encoder under."""
    from pathlib import Path

    from core.retrieval.encoder import model_fingerprint

    folder = Path(folder)
    return (str(folder.resolve()), query_prompt, document_prompt, model_fingerprint(folder))


def open_window(qtbot, path, *, wait_ready: bool = True, timeout: int = 60000):
    """A MainWindow on ``path``, shown, with its candidates loaded (dense included)."""
    from gui.main_window import MainWindow

    window = MainWindow(path)
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    if wait_ready:
        qtbot.waitUntil(window.workspace.is_ready, timeout=timeout)
    return window


@contextlib.contextmanager
def app_context(path, query_id: str = "q1"):
    """An AppContext on the project at ``path`` with ``query_id`` current; its jobs end on exit."""
    from core.project.file import Project
    from gui.context import AppContext

    project = Project.open(path)
    ctx = AppContext(project)
    ctx.set_current_query(query_id)
    try:
        yield ctx
    finally:
        ctx.close()  # stops the label writer and the watcher of other programs' writes
        ctx.jobs.cancel_all()
        ctx.jobs.wait_all(5)
        project.close()
