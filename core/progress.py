"""One protocol for every long job (import, indexing, encoding, mining, UMAP, training).

A job is a plain function that takes a :class:`Progress`. It calls
``progress.update(done, total, message)``; every call is also a cancellation
point that raises :class:`Cancelled` once ``cancel()`` was requested. The CLI
passes a Progress that prints to stderr; the GUI passes one whose callback
emits a Qt signal and whose ``cancel()`` is wired to a button.

``progress.sub(start, end)`` hands a sub-step its own 0..1 range inside the
parent's bar (Orange3's ``wrap_callback``).

Besides the ``(fraction, message)`` callback, every report leaves a
:class:`Step` in ``progress.step``: the current stage's message, its own
``done`` of ``total`` (when counted) and whether its length is known at all
(``progress.busy(message)`` starts a stage of unknown length, e.g. loading a
model). A display that shows a count shows the stage's fraction with it, so
"0/60" never sits beside a bar at 25 % (that is the whole job's fraction,
``step.overall``).

A job can also tell whoever follows it a fact it learned on the way, with
``progress.note(name, value)`` (e.g. which encoder and device run it, known
only once the job resolved them): ``progress.notes`` holds the newest value
of each name, and an ``on_note`` callback hears each one as it comes.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Mapping

ProgressCallback = Callable[[float, str], None]
NoteCallback = Callable[[str, Any], None]


class Cancelled(Exception):
    """Raised at a cancellation point after cancel() was requested."""


@dataclass(frozen=True)
class Step:
    """The latest report of a job: what it is doing and how far that stage is.

    ``local`` is the stage's own fraction (``done / total`` when counted),
    ``None`` while its length is unknown; ``overall`` is the whole job's
    fraction. ``done`` and ``total`` are None for a stage reported without a count.
    """

    message: str
    overall: float
    local: float | None
    done: float | None = None
    total: float | None = None

    @property
    def counted(self) -> bool:
        return self.done is not None and self.total is not None


@dataclass
class _Shared:
    callback: ProgressCallback | None
    cancel_event: threading.Event
    # Written by the job's thread, read by a display on another one: a single
    # reference swap of an immutable Step, so a reader sees one whole report.
    step: Step | None = None
    on_note: NoteCallback | None = None
    # Replaced whole on each note (never changed in place), for the same reason as ``step``.
    notes: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


class Progress:
    """Progress reporter and cancellation token for one job."""

    def __init__(
        self,
        callback: ProgressCallback | None = None,
        cancel_event: threading.Event | None = None,
        *,
        on_note: NoteCallback | None = None,
        _shared: _Shared | None = None,
        _start: float = 0.0,
        _end: float = 1.0,
    ) -> None:
        self._shared = _shared or _Shared(callback, cancel_event or threading.Event(), on_note=on_note)
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
    @property
    def step(self) -> Step | None:
        """The newest report of this job (any sub-progress), or None before the first."""
        return self._shared.step

    def fraction(self, value: float, message: str = "") -> None:
        """Report ``value`` in 0..1 of this (sub-)job; also a cancellation point,
        except for the report that completes the whole job.

        That last report comes after the work, often after its commit: a
        Cancel arriving then must not make a job that stored its result look
        cancelled (the job returns, and its result stands).
        """
        self._report(value, message, None, None)

    def update(self, done: float, total: float, message: str = "") -> None:
        """Report ``done`` of ``total`` items of this (sub-)job; also a cancellation point."""
        self._report(done / total if total else 1.0, message, done, total)

    def busy(self, message: str) -> None:
        """Start a stage whose length is unknown (a display shows it as busy, not as 0 %)."""
        self.check()
        overall = self._start
        self._shared.step = Step(message, overall, None)
        if self._shared.callback is not None:
            self._shared.callback(overall, message)

    def relay(self, step: Step) -> None:
        """Report a step another process reported (its stage's own fraction and count kept).

        ``step.overall`` is placed in this (sub-)progress' range like a
        :meth:`fraction`; a cancellation point like the others.
        """
        overall = self._start + (self._end - self._start) * min(max(step.overall, 0.0), 1.0)
        if overall < 1.0:
            self.check()
        self._shared.step = Step(step.message, overall, step.local, step.done, step.total)
        if self._shared.callback is not None:
            self._shared.callback(overall, step.message)

    def _report(self, value: float, message: str, done, total) -> None:
        value = min(max(value, 0.0), 1.0)
        overall = self._start + (self._end - self._start) * value
        if overall < 1.0:  # see fraction(): completing the whole job is no cancellation point
            self.check()
        self._shared.step = Step(message, overall, value, done, total)
        if self._shared.callback is not None:
            self._shared.callback(overall, message)

    # -- notes ----------------------------------------------------------------
    @property
    def notes(self) -> Mapping[str, Any]:
        """The newest value of each note this job (any sub-progress) made."""
        return self._shared.notes

    def note(self, name: str, value: Any) -> None:
        """Tell whoever follows the job a fact it learned, e.g. ``("encoder", selection dict)``.

        Not a cancellation point. ``value`` should be plain data (a child
        process sends it on as JSON).
        """
        self._shared.notes = MappingProxyType({**self._shared.notes, name: value})
        if self._shared.on_note is not None:
            self._shared.on_note(name, value)

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


# -- describing a step (shared by the GUI's progress widget and any text display) ------------
_NUMBER = re.compile(r"\d[\d,.]*")


def stage_key(step: Step) -> str:
    """What identifies a stage across its reports: the message without its numbers."""
    return _NUMBER.sub("#", step.message)


class TimeLeft:
    """Estimates a stage's remaining seconds from its own progress rate.

    A new stage (another :func:`stage_key`) restarts the estimate, so the
    fast first stage of a job never predicts its slow second one. No estimate
    is given for a busy stage, in the first ``warmup`` seconds of a stage or
    before it moved ``min_move`` of its length: a guess from one data point
    would jump about.
    """

    def __init__(self, warmup: float = 2.0, min_move: float = 0.02) -> None:
        self.warmup = warmup
        self.min_move = min_move
        self._key: str | None = None
        self._t0 = 0.0
        self._f0 = 0.0

    def reset(self) -> None:
        self._key = None

    def seconds(self, step: Step, now: float) -> float | None:
        key = stage_key(step)
        if step.local is None:
            self._key = None
            return None
        if key != self._key or step.local < self._f0:
            self._key, self._t0, self._f0 = key, now, step.local
            return None
        elapsed, moved = now - self._t0, step.local - self._f0
        if elapsed < self.warmup or moved < self.min_move:
            return None
        return max(elapsed / moved * (1.0 - step.local), 0.0)


def _count(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def describe_step(step: Step) -> str:
    """The stage's message with its count once: ``"Scoring queries: 12/60"``.

    Many jobs already write the count into the message; it is added only
    where the message does not hold it.
    """
    text = step.message
    if step.counted:
        done, total = _count(step.done), _count(step.total)
        plain = (f"{step.done:g}", f"{step.total:g}")
        if not any(f"{d}/{t}" in text.replace(" ", "") for d, t in ((done, total), plain)):
            text = f"{text} {done}/{total}".strip()
    return text


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def percent_text(step: Step, remaining: float | None) -> str:
    """The bar's text: the stage's percent (the one the count gives) and the time left."""
    if step.local is None:
        return "working…"
    text = f"{step.local * 100:.0f} %"
    if remaining is not None:
        text += f" · about {format_duration(remaining)} left"
    return text
