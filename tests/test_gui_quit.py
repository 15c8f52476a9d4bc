"""Quitting is immediate: running jobs are cancelled, not waited for; training children are terminated."""

from __future__ import annotations

import stat
import threading
import time

import pytest
from helpers_gui import isolated_settings, open_window  # noqa: F401 (fixtures)

from core.progress import Progress
from core.training import worker


@pytest.fixture
def sleeping_child(tmp_path):
    """An executable standing in for the worker's Python: a child that runs until it is stopped."""
    script = tmp_path / "python"
    script.write_text("#!/bin/sh\nexec sleep 600\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def _run_child(python: str):
    return lambda progress: worker._run_child({}, progress, None, python, 0.05)


def _registered_child(qtbot):
    qtbot.waitUntil(lambda: bool(worker._children), timeout=20000)
    (child,) = worker._children
    return child


def test_stop_children_terminates_a_running_worker_child(qtbot, sleeping_child):
    errors: list[BaseException] = []

    def run() -> None:
        try:
            _run_child(sleeping_child)(Progress())
        except BaseException as exc:  # the child died under it
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    child = _registered_child(qtbot)
    assert worker.stop_children() == 1
    assert child.wait(timeout=20) != 0  # terminated, not left running
    thread.join(20)
    # The run fails (the child "ended unexpectedly", or died before it read its request).
    assert not thread.is_alive() and len(errors) == 1
    assert not worker._children


def test_closing_the_window_hides_it_at_once_cancels_jobs_and_stops_training(
        qtbot, tiny_project, isolated_settings, sleeping_child, monkeypatch):  # noqa: F811
    import gui.main_window as main_window

    monkeypatch.setattr(main_window, "QUIT_JOB_WAIT_S", 0.2)
    window = open_window(qtbot, tiny_project, wait_ready=False)
    jobs = window.context.jobs
    release, finished = threading.Event(), threading.Event()

    def slow_to_stop(progress: Progress) -> None:
        while not progress.cancelled:
            time.sleep(0.01)
        release.wait(4.0)  # winds down for seconds after Cancel (a quit must not sit on this)
        finished.set()

    slow = jobs.start("Slow to stop", slow_to_stop)
    training = jobs.start("Fine-tuning", _run_child(sleeping_child))
    child = _registered_child(qtbot)
    seen_when_waiting = []
    real_wait = jobs.wait_all
    monkeypatch.setattr(jobs, "wait_all", lambda timeout=10.0: (
        seen_when_waiting.append((window.isVisible(), slow.progress.cancelled,
                                  training.progress.cancelled)),
        real_wait(timeout)))
    try:
        window.close()
        # Before anything waited, the window was gone and every job told to stop ...
        assert seen_when_waiting == [(False, True, True)]
        # ... and the wait was bounded: the slow job is still winding down.
        assert not finished.is_set()
        assert child.wait(timeout=20) != 0  # the training child was terminated, not orphaned
    finally:
        release.set()
        child.kill() if child.poll() is None else None
        # Every job thread (the workspace's index jobs too) ends before the test does: one still
        # in native code when the interpreter shuts down would abort the test run.
        real_wait(60)
