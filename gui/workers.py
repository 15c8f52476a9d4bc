"""Run core jobs off the UI thread.

A job is any core function that takes ``progress: Progress`` as a keyword
argument. :class:`JobRunner` runs it on a Python thread (torch, numpy, hnswlib
and SQLite release the GIL while they work). Job threads never call Qt: they
append their events (progress, notes, result, failure, cancel) to a thread-safe
inbox, and a timer on the UI thread, running only while jobs are active,
drains it every few milliseconds and emits the runner's signals there.
Keeping Qt out of worker threads avoids the GIL/Qt lock-order deadlocks that
PySide can hit when foreign threads emit signals (seen here as a rare hang
while a pyqtgraph widget was being built). Widgets never touch a job's data
while it runs; they get the result in ``on_result`` on the UI thread.

``Latest`` implements "the latest request wins" for interactive lookups: a new
request cancels the previous one, and a stale result is dropped.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

import shiboken6
from PySide6.QtCore import QObject, QTimer, Signal

from core.errors import StudioError
from core.progress import Cancelled, Progress

from .errors import report_unexpected

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
    # The job's notes (core.progress.Progress.note) delivered so far, e.g. its encoder selection.
    notes: dict = field(default_factory=dict)
    thread: threading.Thread | None = field(default=None, repr=False)

    def cancel(self) -> None:
        self.progress.cancel()


# How often the UI thread collects job events while jobs run (ms): well under
# a frame, so results and progress look immediate.
POLL_MS = 8


class JobRunner(QObject):
    """Starts jobs and announces them, so a status bar can show progress and cancel."""

    jobStarted = Signal(object)  # Job
    jobProgress = Signal(object)  # Job
    jobFinished = Signal(object)  # Job (succeeded, failed or cancelled)
    jobFailed = Signal(object, str)  # Job, user-facing message
    jobNoted = Signal(object, str)  # Job, note name (its value is in job.notes)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        # Worker threads only ever append to this deque (atomic in CPython).
        self._inbox: deque[tuple[str, Job, tuple]] = deque()
        self._pump = QTimer(self)
        self._pump.setInterval(POLL_MS)
        self._pump.timeout.connect(self._drain)
        self._running = 0
        self._callbacks: dict[Job, tuple] = {}
        self._keep: dict[Job, tuple] = {}
        self._owners: dict[Job, QObject] = {}
        self._held = 0
        self.jobs: list[Job] = []
        self._closed = False

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
        owner: QObject | None = None,
        **kwargs: Any,
    ) -> Job:
        """Run ``fn(*args, progress=..., **kwargs)`` on a worker thread.

        With an ``owner`` widget, the callbacks are dropped (and the job
        cancelled) once the owner is deleted, so no callback ever runs against
        a destroyed widget.
        """
        inbox = self._inbox
        job_ref: list[Job] = []

        def report(fraction: float, message: str) -> None:
            inbox.append(("progress", job_ref[0], (fraction, message)))

        def noted(note: str, value: Any) -> None:
            inbox.append(("note", job_ref[0], (note, value)))

        job = Job(name, Progress(report, on_note=noted), cancellable=cancellable)
        job_ref.append(job)
        if self._closed:  # a late request (e.g. a debounce timer) after the project closed
            job.progress.cancel()
            job.done = True
            return job
        self._callbacks[job] = (on_result, on_error, on_cancel, announce)
        if owner is not None:
            self._owners[job] = owner
            owner.destroyed.connect(job.cancel)
        # The function and its arguments stay referenced from the UI thread until
        # the job is finished there, so the job thread never drops the last
        # reference to them (if they hold Qt objects, ~QObject must not run in it).
        self._keep[job] = (fn, args, kwargs)

        def body() -> None:
            lower_thread_priority()
            try:
                result = fn(*args, progress=job.progress, **kwargs)
            except Cancelled:
                inbox.append(("cancelled", job, ()))
            except StudioError as exc:
                inbox.append(("failed", job, (str(exc), "")))
            except Exception as exc:  # a bug: keep the trace for the log
                inbox.append(("failed", job, (f"{type(exc).__name__}: {exc}",
                                              traceback.format_exc())))
            else:
                inbox.append(("succeeded", job, (result,)))

        job.thread = threading.Thread(target=body, name=f"job:{name}", daemon=True)
        if announce:
            self.jobs.append(job)
            self.jobStarted.emit(job)
        self._running += 1
        if not self._pump.isActive():
            self._pump.start()
        job.thread.start()
        return job

    # -- other threads' messages to the UI thread ------------------------------------
    def post(self, callback: Callable[..., None], *args: Any) -> None:
        """From any thread: call ``callback(*args)`` on the UI thread at the next drain.

        The UI thread must :meth:`hold` the runner while such messages may come.
        """
        self._inbox.append(("call", None, (callback, args)))

    def relay(self, callback: Callable[..., None], *,
              owner: QObject | None = None) -> Callable[..., None]:
        """A function job threads may call: each call runs ``callback(*args)`` on the UI thread.

        For a job's intermediate results (a training step). Calls arrive in
        order, before the job's result; they are dropped once ``owner`` is
        deleted. Only delivered while a job of this runner runs (or it is held).
        """
        inbox = self._inbox

        def send(*args: Any) -> None:
            inbox.append(("call", None, (_call_unless_gone, (owner, callback, args))))

        return send

    def hold(self) -> None:
        """(UI thread) Keep draining the inbox until the matching :meth:`release`."""
        self._held += 1
        if not self._pump.isActive():
            self._pump.start()

    def release(self) -> None:
        self._held = max(0, self._held - 1)

    def close(self) -> None:
        """Cancel every job and ignore whatever they still report (the project is closing).

        Results already queued for the UI thread are dropped too, so no
        callback runs against a closed project.
        """
        self._closed = True
        for job in list(self._callbacks):
            job.cancel()

    def cancel_all(self) -> None:
        for job in list(self.jobs):
            job.cancel()

    def wait_all(self, timeout: float = 10.0) -> None:
        """Block until all job threads end or ``timeout`` seconds in all have passed (close, tests).

        One deadline for all of them, so closing with several slow jobs
        does not wait ``timeout`` for each in turn.
        """
        deadline = time.monotonic() + timeout
        for job in list(self._callbacks):
            if job.thread is not None:
                job.thread.join(max(deadline - time.monotonic(), 0.0))

    # -- UI-thread side -------------------------------------------------------
    def _drain(self) -> None:
        """Deliver what the job threads reported since the last tick, in order.

        Only the newest progress of each job in a batch is delivered: a bar
        needs the latest value, not every intermediate one.
        """
        batch = []
        while self._inbox:
            batch.append(self._inbox.popleft())
        last_progress = {id(job): i for i, (kind, job, _) in enumerate(batch) if kind == "progress"}
        for i, (kind, job, payload) in enumerate(batch):
            try:
                if kind == "call":
                    callback, args = payload
                    callback(*args)
                    continue
                if kind == "progress":
                    if last_progress[id(job)] == i:
                        self._on_progress(job, *payload)
                    continue
                if kind == "note":
                    self._on_note(job, *payload)
                    continue
                self._running -= 1
                if kind == "succeeded":
                    self._on_success(job, *payload)
                elif kind == "failed":
                    self._on_failure(job, *payload)
                else:
                    self._on_cancel(job)
            except BaseException:
                # A callback raised (a bug, reported by Qt/pytest-qt): keep the rest for the next tick.
                self._inbox.extendleft(reversed(batch[i + 1:]))
                raise
        if self._running <= 0 and not self._inbox and not self._held:
            self._running = 0
            self._pump.stop()

    def _finish(self, job: Job) -> tuple:
        job.done = True
        self._keep.pop(job, None)
        owner = self._owners.pop(job, None)
        if owner is not None:
            if not shiboken6.isValid(owner):  # the widget that asked is gone
                self._callbacks.pop(job, None)
                if job in self.jobs:
                    self.jobs.remove(job)
                    self.jobFinished.emit(job)
                return (None, None, None, False)
            try:
                owner.destroyed.disconnect(job.cancel)
            except (RuntimeError, TypeError):
                pass
        if self._closed:
            self._callbacks.pop(job, None)
            if job in self.jobs:
                self.jobs.remove(job)
            return (None, None, None, False)
        callbacks = self._callbacks.pop(job, (None, None, None, False))
        if job in self.jobs:
            self.jobs.remove(job)
            self.jobFinished.emit(job)
        return callbacks

    def _on_progress(self, job: Job, fraction: float, message: str) -> None:
        if job.done or self._closed:
            return
        job.fraction, job.message = fraction, message
        if job in self.jobs:
            self.jobProgress.emit(job)

    def _on_note(self, job: Job, name: str, value: Any) -> None:
        if job.done or self._closed:
            return
        job.notes[name] = value
        self.jobNoted.emit(job, name)

    def _on_success(self, job: Job, result: Any) -> None:
        on_result, _, _, _ = self._finish(job)
        if on_result is not None:
            on_result(result)

    def _on_failure(self, job: Job, message: str, trace: str) -> None:
        announced = job in self.jobs and not self._closed
        _, on_error, _, _ = self._finish(job)
        if trace:  # a bug in the job: logged, and the user is told
            report_unexpected(f"{job.name}: {message}", trace)
        if announced:
            self.jobFailed.emit(job, message)
        if on_error is not None:
            on_error(message)

    def _on_cancel(self, job: Job) -> None:
        _, _, on_cancel, _ = self._finish(job)
        if on_cancel is not None:
            on_cancel()


def _call_unless_gone(owner: QObject | None, callback: Callable[..., None], args: tuple) -> None:
    if owner is None or shiboken6.isValid(owner):
        callback(*args)


class Latest(QObject):
    """Interactive requests where only the newest answer matters.

    ``request(fn, *args, on_result=...)`` cancels the previous request of this
    channel; a result that arrives after a newer request started is dropped,
    and so is every answer once the channel's parent is deleted.
    """

    def __init__(self, runner: JobRunner, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._runner = runner
        self._name = name
        self._owner = parent  # its answers are dropped once the owner is deleted
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
                                       on_error=fail, announce=False, owner=self._owner, **kwargs)
