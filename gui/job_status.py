"""Status-bar widget: the running job's progress (:class:`JobProgress`), what encodes it, and a cancel button."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSizePolicy, QWidget

from core.retrieval.encoder_choice import ENCODER_NOTE, compute_label, refused_fast
from core.training.trainer import TRAINING_NOTE, training_label

from .progress_widget import ElidedLabel, JobProgress, follow_runner
from .workers import Job, JobRunner


class JobStatus(QWidget):
    """Follows a :class:`JobRunner`'s announced jobs; shows the oldest one still running.

    Cancel stops that job at its next progress report; "+N" counts the others.
    Once the job says which encoder runs it (its ``encoder`` note, an
    :meth:`core.retrieval.encoder_choice.EncoderSelection.to_dict`), the device
    and encoder show beside it ("CPU · fast int8"), with the reason when the
    fast encoder was refused (one line; the whole text in the tooltip).
    """

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._runner: JobRunner | None = None
        self._shown: Job | None = None
        self._compute_note: str | None = None
        # While a job runs its stage matters more than the project and model names,
        # which elide first in the status bar.
        # A 100 px bar and tight spacing leave a 1024 px window room for the stage with its
        # count ("Encoding documents: 0/400") beside the device and encoder.
        self.progress = JobProgress(bar_width=100)
        self.progress.stage.setMinimumWidth(175)
        self.progress.stage.setMaximumWidth(280)
        self.compute = ElidedLabel()
        self.compute.setObjectName("job-compute")
        # Room for the device and encoder in a 1024 px window ("CPU · fast int8"); more when the
        # window has it. A refusal's reason is what gives way ("…", whole in the tooltip).
        self.compute.setMinimumWidth(max(self.compute.fontMetrics().horizontalAdvance(t)
                                         for t in ("CPU · fast int8", "CPU · bf16 training")) + 8)
        self.compute.setMaximumWidth(260)
        # Not Ignored like other elided labels: a box layout would give it its (zero) size hint.
        self.compute.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.more = QLabel()
        self.more.setObjectName("more-jobs")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancel-job")
        self.cancel_button.setToolTip("Stop this job at its next progress report")
        self.cancel_button.clicked.connect(self._cancel)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.progress, 1)
        layout.addWidget(self.compute)
        layout.addWidget(self.more)
        layout.addWidget(self.cancel_button)
        self.setVisible(False)

    @property
    def label(self):
        """The stage text shown (tests and screen readers read it here)."""
        return self.progress.stage

    @property
    def bar(self):
        return self.progress.bar

    def set_runner(self, runner: JobRunner | None) -> None:
        self.progress.set_runner(runner)
        self._runner = follow_runner(self._runner, runner, lambda r: (
            (r.jobStarted, self._changed), (r.jobFinished, self._changed), (r.jobNoted, self._noted)))
        self._update()

    def _changed(self, _job: Job) -> None:
        self._update()

    def _noted(self, job: Job, name: str) -> None:
        if job is self._shown and name in (ENCODER_NOTE, TRAINING_NOTE):
            self._compute_note = name  # the newest says what runs now (a fine-tune, then its encode)
            self._show_compute()

    def _show_compute(self) -> None:
        notes = self._shown.notes if self._shown is not None else {}
        name = self._compute_note if self._compute_note in notes else next(
            (n for n in (ENCODER_NOTE, TRAINING_NOTE) if n in notes), None)
        info = notes.get(name) if name else None
        if not info:
            self.compute.setText("")
            self.compute.setVisible(False)
            return
        if name == TRAINING_NOTE:
            label = text = training_label(info)
            why = ""
        else:
            label = text = compute_label(info)
            why = str(info.get("reason") or "")
            if refused_fast(info):
                text += f" · {why}"
        self.compute.setText(text)
        self.compute.setToolTip(f"{self._shown.name} runs on {label}" + (f"\n{why}" if why else ""))
        self.compute.setVisible(True)

    def _update(self) -> None:
        jobs = [j for j in (self._runner.jobs if self._runner else []) if not j.done]
        shown = jobs[0] if jobs else None
        if shown is not self._shown or shown is None:
            self._shown = shown
            self._compute_note = None
            self.progress.follow(shown)
            self._show_compute()
        self.setVisible(shown is not None)
        self.more.setText(f"+{len(jobs) - 1} more" if len(jobs) > 1 else "")
        self.more.setVisible(len(jobs) > 1)  # no empty slot taking room from the stage
        self.more.setToolTip("\n".join(j.name for j in jobs[1:]))
        if shown is not None:
            self.cancel_button.setEnabled(shown.cancellable)

    def _cancel(self) -> None:
        if self._shown is not None:
            self._shown.cancel()
            self.progress.stage.setText(f"Cancelling {self._shown.name}…")
            self.progress.bar.setRange(0, 0)
            self.progress.bar.setFormat("")
            self.cancel_button.setEnabled(False)
