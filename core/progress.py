"""One protocol for every long job (import, indexing, encoding, mining, UMAP, training).

A job is a plain function that takes a :class:`Progress`. It calls
``progress.update(done, total, message)``; every call is also a cancellation
point that raises :class:`Cancelled` once ``cancel()`` was requested. The CLI
passes a Progress that prints to stderr; the GUI passes one whose callback
emits a Qt signal and whose ``cancel()`` is wired to a button.

``progress.sub(start, end)`` hands a sub-step its own 0..1 range inside the
parent's bar (Orange3's ``wrap_callback``).
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable

ProgressCallback = Callable[[float, str], None]


class Cancelled(Exception):
    """Raised at a cancellation point after cancel() was requested."""


@dataclass
class _Shared:
    callback: ProgressCallback | None
    cancel_event: threading.Event


class Progress:
    """Progress reporter and cancellation token for one job."""

    def __init__(
        self,
        callback: ProgressCallback | None = None,
        cancel_event: threading.Event | None = None,
        *,
        _shared: _Shared | None = None,
        _start: float = 0.0,
        _end: float = 1.0,
    ) -> None:
        self._shared = _shared or _Shared(callback, cancel_event or threading.Event())
        self._start = _start
        self._end = _end

    # -- cancellation -------------------------------------------------------
    def cancel(self) -> None:
        self._shared.cancel_event.set()

    @property
    def cancelled(self) -> bool:
        return self._shared.cancel_event.is_set()

    def check(self) -> None:
        """Raise Cancelled if cancellation was requested."""
        if self._shared.cancel_event.is_set():
            raise Cancelled()

    # -- reporting ----------------------------------------------------------
    def fraction(self, value: float, message: str = "") -> None:
        """Report ``value`` in 0..1 of this (sub-)job; also a cancellation point,
        except for the report that completes the whole job.

        That last report comes after the work, often after its commit: a
        Cancel arriving then must not make a job that stored its result look
        cancelled (the job returns, and its result stands).
        """
        value = min(max(value, 0.0), 1.0)
        overall = self._start + (self._end - self._start) * value
        if overall < 1.0:
            self.check()
        if self._shared.callback is not None:
            self._shared.callback(overall, message)

    def update(self, done: float, total: float, message: str = "") -> None:
        self.fraction(done / total if total else 1.0, message)

    def sub(self, start: float, end: float) -> "Progress":
        """A Progress covering ``start..end`` of this one's range."""
        span = self._end - self._start
        return Progress(
            _shared=self._shared,
            _start=self._start + span * start,
            _end=self._start + span * end,
        )


def silent() -> Progress:
    return Progress()


class StderrPrinter:
    """Callback printing ``[ 42%] message`` lines to stderr, at most every 0.5 s."""

    def __init__(self, stream=None, interval: float = 0.5) -> None:
        self.stream = stream or sys.stderr
        self.interval = interval
        self._last = 0.0
        self._last_message = None

    def __call__(self, fraction: float, message: str) -> None:
        now = time.monotonic()
        if message != self._last_message or now - self._last >= self.interval or fraction >= 1.0:
            self._last = now
            self._last_message = message
            print(f"[{fraction * 100:5.1f}%] {message}", file=self.stream, flush=True)


def stderr_progress() -> Progress:
    return Progress(StderrPrinter())
