"""Status-bar widget: the running job's name, a progress bar and a cancel button."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from .workers import Job, JobRunner


class JobStatus(QWidget):
    """Follows a :class:`JobRunner`'s announced jobs; shows the oldest one still running.

    Cancel stops that job at its next progress report; "+N" counts the others.
    """

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._runner: JobRunner | None = None
        self._shown: Job | None = None
        self.label = QLabel()
        self.label.setMinimumWidth(100)
        self.label.setMaximumWidth(300)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setFixedWidth(130)
        self.bar.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancel-job")
        self.cancel_button.setToolTip("Stop this job at its next progress report")
        self.cancel_button.clicked.connect(self._cancel)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel_button)
        self.setVisible(False)

    def set_runner(self, runner: JobRunner | None) -> None:
        if self._runner is not None:
            for sig, slot in self._connections():
                try:
                    sig.disconnect(slot)
                except (RuntimeError, TypeError):
                    pass
        self._runner = runner
        if runner is not None:
            for sig, slot in self._connections():
                sig.connect(slot)
        self._update()

    def _connections(self):
        r = self._runner
        return ((r.jobStarted, self._changed), (r.jobProgress, self._progress),
                (r.jobFinished, self._changed))

    def _changed(self, _job: Job) -> None:
        self._update()

    def _progress(self, job: Job) -> None:
        if job is self._shown:
            self._show(job)

    def _update(self) -> None:
        jobs = [j for j in (self._runner.jobs if self._runner else []) if not j.done]
        self._shown = jobs[0] if jobs else None
        self.setVisible(self._shown is not None)
        if self._shown is not None:
            self._show(self._shown)

    def _show(self, job: Job) -> None:
        jobs = self._runner.jobs if self._runner else []
        more = len([j for j in jobs if not j.done]) - 1
        text = job.message or job.name
        self.label.setText(text + (f"  (+{more} more)" if more > 0 else ""))
        self.label.setToolTip(job.name + (f": {job.message}" if job.message else ""))
        self.bar.setValue(int(job.fraction * 1000))
        self.cancel_button.setEnabled(job.cancellable)

    def _cancel(self) -> None:
        if self._shown is not None:
            self._shown.cancel()
            self.label.setText(f"Cancelling {self._shown.name}…")
            self.cancel_button.setEnabled(False)
