"""Run core jobs off the UI thread.

A job is any core function that takes ``progress: Progress`` as a keyword
argument. :class:`JobRunner` runs it on a Python thread (torch, numpy, hnswlib
and SQLite release the GIL while they work) and reports back through Qt
signals, which Qt queues onto the UI thread because the emitting thread is not
the receiver's. Widgets never touch a job's data while it runs; they get the
result in ``on_result`` on the UI thread.

``Latest`` implements "the latest request wins" for interactive lookups: a new
request cancels the previous one, and a stale result is dropped.
"""

from __future__ import annotations

import os
import sys
import threading
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal

from core.errors import StudioError
from core.progress import Cancelled, Progress


# Job threads run at this nice value (Linux), so that on a busy machine the
# scheduler prefers the UI thread: a job that takes every core (encoding,
# training, UMAP) then slows down a little instead of the window stalling.
BACKGROUND_NICE = 10


def lower_thread_priority(nice: int | None = None) -> None:
    """Lower the calling thread's CPU priority (Linux only; a no-op elsewhere).

    On Linux every thread is a task with its own nice value, so this touches
    only the worker; threads it starts later (torch's and BLAS pools created
    from it) inherit it. Other systems would renice the whole process, so
    they are left alone.
    """
    nice = BACKGROUND_NICE if nice is None else nice
    if not sys.platform.startswith("linux") or nice <= 0:
        return
    try:
        tid = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, tid)
        if current < nice:
            os.setpriority(os.PRIO_PROCESS, tid, nice)
    except (AttributeError, OSError):
        pass


# The UI thread re-enters Python for every delegate paint and model call; each
# time a busy worker holds the GIL it waits up to the switch interval
# (CPython's default is 5 ms). A shorter interval bounds those waits.
UI_SWITCH_INTERVAL = 0.002


def tune_interpreter_for_ui() -> None:
    """Shorten the GIL switch interval for a process with a UI thread (idempotent)."""
    if sys.getswitchinterval() > UI_SWITCH_INTERVAL:
        sys.setswitchinterval(UI_SWITCH_INTERVAL)


@dataclass(eq=False)
class Job:
    """One running (or finished) background job."""

    name: str
    progress: Progress
    cancellable: bool = True
    fraction: float = 0.0
    message: str = ""
    done: bool = False
    thread: threading.Thread | None = field(default=None, repr=False)

    def cancel(self) -> None:
        self.progress.cancel()


def _emit(signal, *args) -> bool:
    """Emit from a job thread; False when the runner was deleted meanwhile (window closed)."""
    try:
        signal.emit(*args)
    except RuntimeError:  # "Signal source has been deleted": nobody is left to tell
        return False
    return True


class _Relay(QObject):
    """Carries a job's events from its thread to the UI thread."""

    progressed = Signal(object, float, str)
    succeeded = Signal(object, object)
    failed = Signal(object, str, str)
    cancelled = Signal(object)


class JobRunner(QObject):
    """Starts jobs and announces them, so a status bar can show progress and cancel."""

    jobStarted = Signal(object)  # Job
    jobProgress = Signal(object)  # Job
    jobFinished = Signal(object)  # Job (succeeded, failed or cancelled)
    jobFailed = Signal(object, str)  # Job, user-facing message

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._relay = _Relay(self)
        self._relay.progressed.connect(self._on_progress)
        self._relay.succeeded.connect(self._on_success)
        self._relay.failed.connect(self._on_failure)
        self._relay.cancelled.connect(self._on_cancel)
        self._callbacks: dict[Job, tuple] = {}
        self.jobs: list[Job] = []

    def start(
        self,
        name: str,
        fn: Callable[..., Any],
        *args: Any,
        on_result: Callable[[Any], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        on_cancel: Callable[[], None] | None = None,
        cancellable: bool = True,
        announce: bool = True,
        **kwargs: Any,
    ) -> Job:
        """Run ``fn(*args, progress=..., **kwargs)`` on a worker thread."""
        relay = self._relay
        job_ref: list[Job] = []

        def report(fraction: float, message: str) -> None:
            if not _emit(relay.progressed, job_ref[0], fraction, message):
                job_ref[0].progress.cancel()  # the runner is gone: stop at the next check

        job = Job(name, Progress(report), cancellable=cancellable)
        job_ref.append(job)
        self._callbacks[job] = (on_result, on_error, on_cancel, announce)

        def body() -> None:
            lower_thread_priority()
            try:
                result = fn(*args, progress=job.progress, **kwargs)
            except Cancelled:
                _emit(relay.cancelled, job)
            except StudioError as exc:
                _emit(relay.failed, job, str(exc), "")
            except Exception as exc:  # a bug: keep the trace for the log
                _emit(relay.failed, job, f"{type(exc).__name__}: {exc}", traceback.format_exc())
            else:
                _emit(relay.succeeded, job, result)

        job.thread = threading.Thread(target=body, name=f"job:{name}", daemon=True)
        if announce:
            self.jobs.append(job)
            self.jobStarted.emit(job)
        job.thread.start()
        return job

    def cancel_all(self) -> None:
        for job in list(self.jobs):
            job.cancel()

    def wait_all(self, timeout: float = 10.0) -> None:
        """Block until all job threads end (used on close and in tests)."""
        for job in list(self._callbacks):
            if job.thread is not None:
                job.thread.join(timeout)

    # -- UI-thread side -------------------------------------------------------
    def _finish(self, job: Job) -> tuple:
        job.done = True
        callbacks = self._callbacks.pop(job, (None, None, None, False))
        if job in self.jobs:
            self.jobs.remove(job)
            self.jobFinished.emit(job)
        return callbacks

    def _on_progress(self, job: Job, fraction: float, message: str) -> None:
        if job.done:
            return
        job.fraction, job.message = fraction, message
        if job in self.jobs:
            self.jobProgress.emit(job)

    def _on_success(self, job: Job, result: Any) -> None:
        on_result, _, _, _ = self._finish(job)
        if on_result is not None:
            on_result(result)

    def _on_failure(self, job: Job, message: str, trace: str) -> None:
        announced = job in self.jobs
        _, on_error, _, _ = self._finish(job)
        if trace:
            print(trace, flush=True)
        if announced:
            self.jobFailed.emit(job, message)
        if on_error is not None:
            on_error(message)

    def _on_cancel(self, job: Job) -> None:
        _, _, on_cancel, _ = self._finish(job)
        if on_cancel is not None:
            on_cancel()


class Latest(QObject):
    """Interactive requests where only the newest answer matters.

    ``request(fn, *args, on_result=...)`` cancels the previous request of this
    channel; a result that arrives after a newer request started is dropped.
    """

    def __init__(self, runner: JobRunner, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._runner = runner
        self._name = name
        self._serial = 0
        self._job: Job | None = None

    def cancel(self) -> None:
        """Drop the pending request (its result, if it still arrives, is ignored)."""
        if self._job is not None and not self._job.done:
            self._job.cancel()
        self._serial += 1

    def request(self, fn: Callable[..., Any], *args: Any,
                on_result: Callable[[Any], None], on_error: Callable[[str], None] | None = None,
                **kwargs: Any) -> None:
        if self._job is not None and not self._job.done:
            self._job.cancel()
        self._serial += 1
        serial = self._serial

        def deliver(result: Any) -> None:
            if serial == self._serial:
                on_result(result)

        def fail(message: str) -> None:
            if serial == self._serial and on_error is not None:
                on_error(message)

        self._job = self._runner.start(self._name, fn, *args, on_result=deliver,
                                       on_error=fail, announce=False, **kwargs)
