"""Shared fixtures for the GUI tests: isolated settings, one model load per session, windows."""

from __future__ import annotations

import contextlib
import threading

import pytest

_ENCODERS: dict = {}
_ENCODERS_LOCK = threading.Lock()


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path, monkeypatch):
    """QSettings of the app go to tmp_path, never to the developer's real config."""
    from PySide6.QtCore import QSettings

    folder = tmp_path / "settings"
    folder.mkdir()
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(folder))
    yield folder


@pytest.fixture(autouse=True)
def shared_encoder(monkeypatch):
    """Load each model once per test session: the windows under test share it.

    Embeddings are still computed (and cached) per project; only the
    seconds-long model load is shared, to keep the suite small on 2 cores.
    """
    import core.retrieval.service
    from core.retrieval.encoder import Encoder

    def cached(model_path=None, **kwargs):
        key = (str(model_path), tuple(sorted(kwargs.items())))
        with _ENCODERS_LOCK:
            if key not in _ENCODERS:
                _ENCODERS[key] = Encoder(model_path, **kwargs)
            return _ENCODERS[key]

    monkeypatch.setattr(core.retrieval.service, "Encoder", cached)
    yield


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
        ctx.jobs.cancel_all()
        ctx.jobs.wait_all(5)
        project.close()
