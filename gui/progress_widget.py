"""The one progress display every job uses: stage and count, a bar, percent and time left.

It follows one :class:`gui.workers.Job` of a :class:`gui.workers.JobRunner`
and shows the newest :class:`core.progress.Step` the job reported: the
stage's message with its count, a bar at the *stage's* fraction (the one the
count gives, so "0/60" never sits beside a bar at 25 %), the same percent in
words and, once the stage has moved, the time it has left. A stage of
unknown length ("Loading model") shows a busy bar instead of a 0 % that
never moves. When the job ends, fails or is cancelled the display clears:
no stale "about 0:14 left" stays behind.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QSizePolicy, QWidget

from core.progress import Step, TimeLeft, describe_step, percent_text

from .workers import Job, JobRunner

BAR_STEPS = 1000


def follow_runner(old: JobRunner | None, new: JobRunner | None, connections) -> JobRunner | None:
    """Move a widget's slots from ``old`` runner's signals to ``new``'s; returns ``new``.

    ``connections(runner)`` lists the (signal, slot) pairs for one runner.
    """
    if old is not None:
        for signal, slot in connections(old):
            try:
                signal.disconnect(slot)
            except (RuntimeError, TypeError):  # already gone with its runner
                pass
    if new is not None:
        for signal, slot in connections(new):
            signal.connect(slot)
    return new


class ElidedLabel(QLabel):
    """A one-line label that shortens its text with "…" to fit and keeps it whole in the tooltip."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setMinimumWidth(40)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt naming)
        self._full = text
        self.setToolTip(text)
        self._elide()

    def text(self) -> str:  # the whole text, not the shortened one on screen
        return self._full

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        width = max(self.width() - 4, 10)
        shown = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, width)
        super().setText(shown)


class JobProgress(QWidget):
    """Stage, count, bar, percent and time left of one job; hidden while it follows none."""

    def __init__(self, runner: JobRunner | None = None, parent: QWidget | None = None, *,
                 bar_width: int = 180) -> None:
        super().__init__(parent)
        self._runner: JobRunner | None = None
        self._job: Job | None = None
        self._time_left = TimeLeft()
        self.stage = ElidedLabel()
        self.stage.setObjectName("job-stage")
        self.bar = QProgressBar()
        self.bar.setObjectName("job-bar")
        self.bar.setRange(0, BAR_STEPS)
        self.bar.setTextVisible(True)
        self.bar.setMinimumWidth(min(bar_width, 120))
        self.bar.setMaximumWidth(bar_width)
        self.bar.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stage, 1)
        layout.addWidget(self.bar)
        self.setVisible(False)
        if runner is not None:
            self.set_runner(runner)

    # -- wiring -----------------------------------------------------------------------
    def set_runner(self, runner: JobRunner | None) -> None:
        self._runner = follow_runner(self._runner, runner, lambda r: (
            (r.jobProgress, self._progressed), (r.jobFinished, self._finished)))
        self.clear()

    @property
    def job(self) -> Job | None:
        return self._job

    def follow(self, job: Job | None, starting: str = "") -> None:
        """Show ``job``'s progress from now on (None: clear); ``starting`` until its first report."""
        self._job = job
        self._time_left.reset()
        if job is None or job.done:
            self.clear()
            return
        self.setVisible(True)
        if job.progress.step is None:
            self._show_step(Step(starting or job.message or job.name, 0.0, None))
        else:
            self.refresh()

    def clear(self) -> None:
        """Forget the job: no text, no bar, no time left (after a finish, failure or cancel)."""
        self._job = None
        self._time_left.reset()
        self.stage.setText("")
        self.bar.setRange(0, BAR_STEPS)
        self.bar.setValue(0)
        self.bar.setFormat("")
        self.bar.setToolTip("")
        self.setVisible(False)

    # -- showing ------------------------------------------------------------------------
    def refresh(self) -> None:
        job = self._job
        if job is None:
            return
        step = job.progress.step
        if step is None:  # a job reporting only through a bare callback
            step = Step(job.message or job.name, job.fraction, job.fraction)
        self._show_step(step)

    def _show_step(self, step: Step) -> None:
        remaining = self._time_left.seconds(step, time.monotonic())
        self.stage.setText(describe_step(step) or (self._job.name if self._job else ""))
        if step.local is None:
            self.bar.setRange(0, 0)  # Qt's busy indicator
        else:
            self.bar.setRange(0, BAR_STEPS)
            self.bar.setValue(round(step.local * BAR_STEPS))
        text = percent_text(step, remaining)
        if self.bar.fontMetrics().horizontalAdvance(text) > self.bar.width() - 12:
            text = percent_text(step, None)  # a narrow bar (status bar, 1024 px): the percent; time left in the tooltip
        self.bar.setFormat(text)
        self.bar.setToolTip(f"{percent_text(step, remaining)} of this step · "
                            f"{step.overall * 100:.0f} % of the whole job")

    def _progressed(self, job: Job) -> None:
        if job is self._job:
            self.refresh()

    def _finished(self, job: Job) -> None:
        if job is self._job:
            self.clear()
