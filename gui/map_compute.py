"""The map's layout job: runs it in the background and shows its progress row.

The job itself (:func:`core.map.jobs.compute_layout` or
:func:`~core.map.jobs.before_after`) is plain core code; this row starts it,
turns its progress into a bar with Cancel, and offers "Compute map" again
after a failure or a cancel. Only the newest job's answer is passed on.
"""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from .progress_widget import JobProgress
from .workers import Job, JobRunner


class LayoutJobRow(QWidget):
    """Progress bar, Cancel and "Compute map" for the one layout job the map runs at a time."""

    computed = Signal(object)  # the job's result
    failed = Signal(str)  # a user-facing message
    retryRequested = Signal()  # "Compute map": recompute, bypassing the cache

    def __init__(self, jobs: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._jobs = jobs
        self._job: Job | None = None
        self._serial = 0
        self.progress = JobProgress(jobs, bar_width=260)  # the shared one: count and percent agree
        self.outcome = QLabel()  # why there is no map: failed or cancelled
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.retry_button = QPushButton("Compute map")
        self.retry_button.clicked.connect(self.retryRequested.emit)
        row = QHBoxLayout()
        row.addWidget(self.progress, 1)
        row.addWidget(self.outcome, 1)
        row.addWidget(self.cancel_button)
        row.addWidget(self.retry_button)
        self.setLayout(row)
        self.setVisible(False)

    @property
    def running(self) -> bool:
        return self._job is not None and not self._job.done

    def start(self, name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Cancel the running job (if any) and run ``fn(*args, **kwargs)`` in the background."""
        self.cancel()
        self.setVisible(True)
        self.outcome.setVisible(False)
        self.cancel_button.setVisible(True)
        self.retry_button.setVisible(False)
        # A cancelled or superseded job may still report back: only the latest counts.
        self._serial += 1
        serial = self._serial

        def latest(callback):
            return lambda *a: callback(*a) if serial == self._serial else None

        self._job = self._jobs.start(
            name, fn, *args, on_result=latest(self._computed), on_error=latest(self._failed),
            on_cancel=latest(self._cancelled), **kwargs)
        self.progress.follow(self._job, "Starting…")

    def cancel(self) -> None:
        if self.running:
            self._job.cancel()

    def _computed(self, result: Any) -> None:
        self.setVisible(False)
        self.computed.emit(result)

    def _failed(self, message: str) -> None:
        self._ended("The map could not be computed")
        self.cancel_button.setVisible(False)
        self.retry_button.setVisible(True)
        self.failed.emit(message)

    def _cancelled(self) -> None:
        self._ended("Cancelled")
        self.cancel_button.setVisible(False)
        self.retry_button.setVisible(True)

    def _ended(self, why: str) -> None:
        self.progress.clear()
        self.outcome.setText(why)
        self.outcome.setVisible(True)
