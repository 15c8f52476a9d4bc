"""Fine-tune panel: settings, one "Fine-tune" button, a live loss curve, progress and cancel.

Training runs as a background job (``context.jobs``) whose thread only
waits on a child process (:func:`core.training.worker.run_training_subprocess`):
loading torch and building the trainer in a thread of this process held the
GIL long enough to freeze the window for up to a second (measured).
Each logged step comes back through the job runner's UI-thread inbox
(:meth:`gui.workers.JobRunner.relay`; the job thread never calls Qt) and
updates the loss curve (one PlotDataItem, ``setData``), the step/epoch
counters and the remaining-time estimate; a one-second timer keeps the elapsed
time moving between steps. Cancel stops training at the next step; the
project is left as it was. On success the panel emits
``context.modelVersionsChanged`` and, after a re-mine, ``candidatesChanged``.

Once the fine-tune registered its version (the job's ``version`` note), the
version is listed at once and the job's next step (encoding the new
version's corpus and queries with the Model → Compute choice, so Compare
and Re-mine find them ready; or the re-mine) shows its own progress row
with the encoder that runs it (the ``encoder`` note). Cancel then stops only
that step: the version is kept.
"""

from __future__ import annotations

import html
import time

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QDoubleValidator
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.evaluation.stored_runs import latest_means
from core.retrieval.encoder_choice import ENCODER_NOTE, compute_label, refused_fast
from core.training.loop import VERSION_NOTE, training_preview
from core.training.trainer import TrainingConfig
from core.training.worker import run_remine_subprocess, run_training_subprocess

from .context import AppContext
from .progress_widget import JobProgress
from .view import View
from .workers import Job, Latest

_DEFAULTS = TrainingConfig()


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class StepAxis(pg.AxisItem):
    """A training-step axis: ticks only at whole steps (no "0.5" with a run of three steps)."""

    def tickSpacing(self, minVal, maxVal, size):  # noqa: N802,N803 (pyqtgraph names)
        levels = [(spacing, offset) for spacing, offset in super().tickSpacing(minVal, maxVal, size)
                  if spacing >= 1]
        # pyqtgraph's levels are 1, 2 or 5 times a power of ten: at or above 1 they are whole
        # numbers, and a whole offset keeps every tick on a step.
        return [(spacing, float(round(offset))) for spacing, offset in levels] or [(1.0, 0.0)]


def _short(model: str | None) -> str:
    """A model reference as a person reads it: folders by their last part."""
    if not model:
        return "–"
    return model.rstrip("/").rsplit("/", 1)[-1] if "/" in model else model


def embeddings_text(embeddings: dict) -> str:
    """The result line for the new version's embeddings (:func:`core.training.loop.prepare_embeddings`)."""
    model = embeddings.get("model", "the new version")
    if not embeddings.get("ready"):
        return (f"Encoding {model}'s corpus was cancelled: {model} is kept; Compare and Re-mine "
                "encode what is missing (finished chunks are kept).")
    info = embeddings.get("encoder") or {}
    text = (f"Embeddings of {model} ready: {embeddings.get('documents', 0)} documents and "
            f"{embeddings.get('queries', 0)} queries, {compute_label(info)}, "
            f"{float(embeddings.get('seconds') or 0):.0f} s; Compare and Re-mine use them.")
    if refused_fast(info):
        text += f" ({info['reason']})"
    if embeddings.get("fusion"):
        text += f" Hybrid fusion: {embeddings['fusion']}."
    return text


class TrainingPanel(QWidget, View):
    """Settings and live view of one fine-tuning run at a time."""

    trainingFinished = Signal(object)  # LoopOutcome
    stepShown = Signal(object)  # a logged training step (dict), after the curve showed it

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self._job: Job | None = None
        self._saved_version: str | None = None  # registered by the running job (its next step runs)
        self._remining = False  # the running fine-tune re-mines after training
        self._started_at: float | None = None
        self._last_entry: dict | None = None
        self._last_step_at = 0.0
        self._steps: list[int] = []
        self._losses: list[float] = []
        self._preview = Latest(context.jobs, "Training data", self)

        # -- settings -----------------------------------------------------------
        self.base_combo = QComboBox()
        self.base_combo.setObjectName("training-base")
        self.base_combo.setToolTip("Model to start from: the bundled model or an earlier fine-tune")
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 100)
        self.epochs.setValue(_DEFAULTS.epochs)
        self.batch_size = QSpinBox()
        self.batch_size.setRange(2, 4096)
        self.batch_size.setValue(_DEFAULTS.batch_size)
        self.batch_size.setToolTip("Examples per step; every other example in the batch is an extra negative")
        self.lr = QLineEdit(f"{_DEFAULTS.lr:g}")
        self.lr.setValidator(QDoubleValidator(1e-8, 1e-1, 10, self.lr))
        self.lr.setMaximumWidth(100)
        self.max_seq_length = QSpinBox()
        self.max_seq_length.setRange(16, 8192)
        self.max_seq_length.setSingleStep(32)
        self.max_seq_length.setValue(_DEFAULTS.max_seq_length)
        self.max_seq_length.setToolTip("Training texts are cut to this many tokens (shorter = faster)")
        self.negatives = QSpinBox()
        self.negatives.setRange(0, 16)
        self.negatives.setValue(_DEFAULTS.num_negatives)
        self.negatives.setToolTip("Hard negatives per training example")
        self.loss = QComboBox()
        self.loss.setObjectName("training-loss")
        for key, text in (("mnrl", "MNRL (in-batch + hard negatives)"),
                          ("cached_mnrl", "Cached MNRL (large batches, little memory)"),
                          ("gist", "GIST (base model masks likely false negatives)")):
            self.loss.addItem(text, key)
        self.loss.setToolTip("MNRL: every other document in the batch is a negative. Cached MNRL: the same "
                             "loss in chunks, so large batches fit in memory. GIST: a frozen copy of the base "
                             "model skips negatives it scores above the positive (likely false negatives); "
                             "at most 1 hard negative per example")
        self.use_proposed = QCheckBox("Use unreviewed mined negatives")
        self.use_proposed.setToolTip("Also train on the negatives the latest mining pass proposed "
                                     "that nobody has reviewed yet")
        self.fast_arithmetic = QCheckBox("Faster arithmetic (bf16 where the CPU/GPU has it)")
        self.fast_arithmetic.setObjectName("training-bf16")
        self.fast_arithmetic.setToolTip(
            "bf16 mixed precision where the hardware computes bf16 natively (recent CPUs with "
            "AVX-512 BF16 or AMX, GPUs with bf16), else fp32. On SciFact it trained 2.2× faster "
            "and reached nDCG@10 0.715 instead of 0.718 (benchmarks/README.md).")
        self.remine = QCheckBox("Re-mine after training")
        self.remine.setToolTip("Re-encode the corpus with the new model and run a new mining pass "
                               "with the current mining settings")
        self.split = QLineEdit(_DEFAULTS.split or "")
        self.split.setMaximumWidth(100)
        self.heldout = QLineEdit(_DEFAULTS.heldout_split)
        self.heldout.setMaximumWidth(100)
        self.heldout.setToolTip("Queries of this split are never used for training")

        form = QFormLayout()
        form.addRow("Base model", self.base_combo)
        form.addRow("Epochs", self.epochs)
        form.addRow("Batch size", self.batch_size)
        form.addRow("Learning rate", self.lr)
        form.addRow("Max sequence length", self.max_seq_length)
        form.addRow("Hard negatives per example", self.negatives)
        form.addRow("Loss", self.loss)
        splits = QHBoxLayout()
        splits.addWidget(self.split)
        splits.addWidget(QLabel("held out:"))
        splits.addWidget(self.heldout)
        splits.addStretch(1)
        form.addRow("Training split", splits)
        form.addRow("", self.use_proposed)
        form.addRow("", self.fast_arithmetic)
        form.addRow("", self.remine)
        settings = QGroupBox("Settings")
        settings.setLayout(form)

        self.data_label = QLabel("Counting training examples…")
        self.data_label.setObjectName("training-data")
        self.data_label.setWordWrap(True)

        self.train_button = QPushButton("Fine-tune")
        self.train_button.setObjectName("fine-tune")
        self.train_button.setDefault(True)
        self.train_button.clicked.connect(self.start_training)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancel-training")
        self.cancel_button.setEnabled(False)
        self.cancel_button.setToolTip("Stop at the next step; nothing is saved")
        self.cancel_button.clicked.connect(self.cancel)
        buttons = QHBoxLayout()
        buttons.addWidget(self.train_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)

        self.versions = QTableWidget(0, 5)
        self.versions.setObjectName("model-versions")
        self.versions.setHorizontalHeaderLabels(["version", "base", "created", "steps", "test nDCG@10"])
        self.versions.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.versions.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.versions.verticalHeader().setVisible(False)
        self.versions.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.versions.horizontalHeader().setStretchLastSection(True)

        left = QVBoxLayout()
        left.addWidget(settings)
        left.addWidget(self.data_label)
        left.addLayout(buttons)
        left.addWidget(QLabel("<b>Model versions</b>"))
        left.addWidget(self.versions, 1)
        self.remine_button = QPushButton("Re-mine with selected")
        self.remine_button.setObjectName("remine")
        self.remine_button.setToolTip("Encode the corpus with the selected version and mine a new pass "
                                      "with the current mining settings")
        self.remine_button.clicked.connect(self.remine_selected)
        self.use_button = QPushButton("Use in dense pane")
        self.use_button.setObjectName("use-version")
        self.use_button.clicked.connect(
            lambda: self.selected_version() and self.context.set_model(self.selected_version()))
        version_buttons = QHBoxLayout()
        version_buttons.addWidget(self.remine_button)
        version_buttons.addWidget(self.use_button)
        version_buttons.addStretch(1)
        left.addLayout(version_buttons)
        self.versions.itemSelectionChanged.connect(self._update_version_buttons)

        # -- live view ------------------------------------------------------------
        self.progress = JobProgress(context.jobs, bar_width=400)  # stage, count and bar agree
        self.status = QLabel("Ready")
        self.status.setObjectName("training-status")
        self.status.setWordWrap(True)
        self.times = QLabel("")
        self.times.setObjectName("training-times")
        self.plot = pg.PlotWidget(background="w", axisItems={"bottom": StepAxis("bottom")})
        self.plot.setObjectName("loss-plot")
        self.plot.setLabel("bottom", "step")
        self.plot.setLabel("left", "training loss")
        for axis in ("left", "bottom"):
            self.plot.getAxis(axis).enableAutoSIPrefix(False)  # "loss (x0.001)" reads badly
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.setMinimumHeight(220)
        self.curve = self.plot.plot([], [], pen=pg.mkPen("#1f5fa8", width=2),
                                    symbol="o", symbolSize=7, symbolBrush="#1f5fa8",
                                    symbolPen=None)
        # The step after the fine-tune: the new version's embeddings (or the re-mine).
        self.encode_label = QLabel("")
        self.encode_label.setObjectName("encode-status")
        self.encode_label.setWordWrap(True)
        self.encode_progress = JobProgress(context.jobs, bar_width=400)
        self.encode_progress.setObjectName("encode-progress")
        encode_layout = QVBoxLayout()
        encode_layout.setContentsMargins(0, 0, 0, 0)
        encode_layout.addWidget(self.encode_label)
        encode_layout.addWidget(self.encode_progress)
        self.encode_row = QWidget()
        self.encode_row.setObjectName("encode-row")
        self.encode_row.setLayout(encode_layout)
        self.encode_row.setVisible(False)
        self.result = QLabel("")
        self.result.setObjectName("training-result")
        self.result.setWordWrap(True)
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        right = QVBoxLayout()
        right.addWidget(self.plot, 1)
        right.addWidget(self.progress)
        right.addWidget(self.status)
        right.addWidget(self.times)
        right.addWidget(self.encode_row)
        right.addWidget(self.result)

        layout = QHBoxLayout(self)
        left_box = QWidget()
        left_box.setLayout(left)
        right_box = QWidget()  # a splitter, so small windows can give the chart more room
        right_box.setLayout(right)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left_box)
        split.addWidget(right_box)
        split.setStretchFactor(1, 1)
        layout.addWidget(split)

        self._clock = QTimer(self)
        self._clock.setInterval(1000)
        self._clock.timeout.connect(self._tick)

        for w in (self.epochs, self.batch_size, self.negatives, self.max_seq_length):
            w.valueChanged.connect(self._refresh_preview)
        self.loss.currentIndexChanged.connect(self._refresh_preview)
        self.use_proposed.toggled.connect(self._refresh_preview)
        self.split.editingFinished.connect(self._refresh_preview)
        self.heldout.editingFinished.connect(self._refresh_preview)
        context.modelVersionsChanged.connect(self.reload_models)
        # A finished Compare (or any evaluation) may have stored a new test score.
        context.jobs.jobFinished.connect(self._job_finished)
        context.jobs.jobNoted.connect(self._job_noted)
        context.labelsChanged.connect(lambda _notice: self._refresh_preview())
        context.candidatesChanged.connect(lambda _pass: self._refresh_preview())
        self.reload_models()
        self._refresh_preview()

    # -- settings ---------------------------------------------------------------
    def reload_models(self) -> None:
        current = self.base_combo.currentData()
        versions = self.context.project.model_versions()  # a few rows: cheap on the UI thread
        self.base_combo.clear()
        self.base_combo.addItem("bundled (all-MiniLM-L6-v2)", "bundled")
        for v in versions:
            label = v["id"] if v["name"] == v["id"] else f"{v['name']} ({v['id']})"
            self.base_combo.addItem(f"{label} · from {_short(v['base'])}", v["id"])
        index = self.base_combo.findData(current) if current else 0
        self.base_combo.setCurrentIndex(max(index, 0))
        if versions and self._job is None:
            self._show_history(versions[-1])
        self._fill_versions(versions)

    def _job_finished(self, job: Job) -> None:
        if job is not self._job:  # our own run refreshes through modelVersionsChanged
            self._fill_versions()

    def _fill_versions(self, versions: list[dict] | None = None) -> None:
        """The model list, with each version's newest stored dense nDCG@10 on the test split."""
        versions = self.context.project.model_versions() if versions is None else versions
        selected = self.selected_version()
        stored = latest_means(self.context.project, retriever="dense", split="test", metric="ndcg@10")
        self.versions.setRowCount(len(versions))
        for row, v in enumerate(reversed(versions)):
            training = v["metrics"].get("training", {})
            ndcg = stored.get(v["id"],
                              v["metrics"].get("eval", {}).get("test", {}).get("dense", {}).get("ndcg@10"))
            cells = [v["name"], _short(v["base"]), v["created_at"][:16].replace("T", " "),
                     str(training.get("steps", "")), "–" if ndcg is None else f"{ndcg:.4f}"]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(f"{v['id']}: {v['path']}")
                item.setData(Qt.ItemDataRole.UserRole, v["id"])
                self.versions.setItem(row, col, item)
            if v["id"] == selected:
                self.versions.selectRow(row)
        self._update_version_buttons()

    def selected_version(self) -> str | None:
        rows = self.versions.selectionModel().selectedRows(0)
        return rows[0].data(Qt.ItemDataRole.UserRole) if rows else None

    def _update_version_buttons(self) -> None:
        chosen = self.selected_version() is not None
        if chosen and self._job is None:
            rows = {v["id"]: v for v in self.context.project.model_versions()}
            if self.selected_version() in rows:
                self._show_history(rows[self.selected_version()])
        self.remine_button.setEnabled(chosen and self._job is None)
        self.use_button.setEnabled(chosen)

    def remine_selected(self) -> None:
        """Encode the corpus with the selected version and mine a new pass, in the background."""
        model_id = self.selected_version()
        if model_id is None or self._job is not None:
            return
        self._begin(f"Re-mining with {model_id}…")
        self._job = self.context.jobs.start(
            f"Re-mining with {model_id}", run_remine_subprocess, self.context.project_path, model_id,
            **self.context.compute_kwargs(), on_result=self._on_remined, on_error=self._on_error, on_cancel=self._on_cancel,
            owner=self)
        self.progress.follow(self._job, f"Re-mining with {model_id}…")

    def _on_remined(self, summary: dict) -> None:
        self._finish()
        counts = summary.get("counts") or {}
        self.result.setText(
            f"<b>Pass {summary['pass']}</b> mined with {summary['model']}: "
            f"{counts.get('proposed', 0)} negatives proposed for {counts.get('queries_mined', 0)} queries "
            f"(encoding {summary['encode_seconds']:.0f} s, mining {summary['mine_seconds']:.0f} s).")
        self.status.setText("Done")
        self.context.candidatesChanged.emit(int(summary["pass"]))

    def _show_history(self, version: dict) -> None:
        """When idle, the curve shows the newest version's recorded loss."""
        history = version["metrics"].get("training", {}).get("loss_history", [])
        self._steps = [int(step) for step, _ in history]
        self._losses = [float(loss) for _, loss in history]
        self.curve.setData(self._steps, self._losses)
        self.plot.setTitle(f"Training loss of {version['name']}", size="10pt")

    def config(self) -> TrainingConfig:
        try:
            lr = float(self.lr.text().replace(",", "."))
        except ValueError:
            lr = _DEFAULTS.lr
        return TrainingConfig(
            base=self.base_combo.currentData() or "bundled",
            epochs=self.epochs.value(), batch_size=self.batch_size.value(), lr=lr,
            max_seq_length=self.max_seq_length.value(),
            split=self.split.text().strip() or None,
            heldout_split=self.heldout.text().strip() or _DEFAULTS.heldout_split,
            use_proposed=self.use_proposed.isChecked(), num_negatives=self.negatives.value(),
            loss=self.loss.currentData() or _DEFAULTS.loss,
            precision="auto" if self.fast_arithmetic.isChecked() else "fp32",
        )

    def _refresh_preview(self, *_args) -> None:
        self._preview.request(training_preview, self.context.project_path, self.config(),
                              on_result=self._show_preview, on_error=self._show_preview_error)

    def _show_preview(self, counts: dict) -> None:
        c = counts
        steps = c.get("steps_per_epoch")
        self.data_label.setText(
            f"<b>{c['rows']}</b> training examples from <b>{c['queries']}</b> queries · "
            f"{c['confirmed_negatives']} confirmed and {c['proposed_negatives']} proposed hard negatives"
            + (f" · {c['queries_without_negatives']} queries train on in-batch negatives only"
               if c["queries_without_negatives"] else "")
            + (f" · {c['excluded_heldout_duplicates']} left out (same text as a held-out query)"
               if c["excluded_heldout_duplicates"] else "")
            + (f"<br>{c['proposals_available']} unreviewed mined negatives are not used "
               "(tick “Use unreviewed mined negatives”)" if c.get("proposals_available") else "")
            + (f"<br>≈ {steps} steps per epoch" if steps else ""))
        self.train_button.setEnabled(self._job is None)

    def _show_preview_error(self, message: str) -> None:
        self.data_label.setText(f"<span style='color:#b42318'>{message}</span>")
        self.train_button.setEnabled(False)

    # -- running ------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._job is not None

    def start_training(self) -> None:
        if self._job is not None:
            return
        config = self.config()
        self._steps = []
        self._losses = []
        self.curve.setData([], [])
        self.plot.setTitle("Training loss", size="10pt")
        self._begin("Starting…")
        self._remining = self.remine.isChecked()
        self._job = self.context.jobs.start(
            "Fine-tuning", run_training_subprocess, self.context.project_path, config,
            remine=self.remine.isChecked(), **self.context.compute_kwargs(), on_step=self.context.jobs.relay(self._on_step, owner=self),
            on_result=self._on_result, on_error=self._on_error, on_cancel=self._on_cancel,
            owner=self)
        self.progress.follow(self._job, "Starting…")

    def _begin(self, status: str) -> None:
        self._last_entry = None
        self._saved_version = None
        self._started_at = time.monotonic()
        self.result.setText("")
        self.status.setText(status)
        self.train_button.setEnabled(False)
        self.remine_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self._clock.start()

    def cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self.cancel_button.setEnabled(False)
            if self._saved_version is not None:
                self.encode_label.setText(f"Stopping; {self._saved_version} is kept…")
            else:
                self.status.setText("Cancelling at the next step…")

    # -- the step after the fine-tune -------------------------------------------------
    def _job_noted(self, job: Job, name: str) -> None:
        if job is not self._job:
            return
        if name == VERSION_NOTE:
            self._version_saved(str(job.notes[VERSION_NOTE]))
        elif name == ENCODER_NOTE and self._saved_version is not None:
            self._show_encode_label()

    def _version_saved(self, version_id: str) -> None:
        """The fine-tune registered ``version_id``; the same job now encodes (or re-mines) with it."""
        self._saved_version = version_id
        self.progress.clear()  # the training's bar is done; the next step has its own row
        self.status.setText(f"Model version {version_id} saved")
        self.cancel_button.setToolTip(f"Stop {self._next_step().lower()}; {version_id} is kept")
        self._show_encode_label()
        self.encode_row.setVisible(True)
        self.encode_progress.follow(self._job, "Loading the model…")
        self._tick()
        self.context.modelVersionsChanged.emit()  # listed (and usable) now, not after the encode

    def _next_step(self) -> str:
        return "Re-mining" if self._remining else "Encoding the corpus"

    def _show_encode_label(self) -> None:
        text = f"<b>{self._next_step()} with {self._saved_version}</b>"
        if not self._remining:
            text += " so that Compare and Re-mine find its embeddings ready"
        info = self._job.notes.get(ENCODER_NOTE) if self._job is not None else None
        if info:
            text += f" · {compute_label(info)}"
            if refused_fast(info):
                text += f"<br><small>{info['reason']}</small>"
        self.encode_label.setText(text)

    def _on_step(self, entry: dict) -> None:
        self._last_entry = entry
        self._last_step_at = time.monotonic() - (self._started_at or time.monotonic())
        self._steps.append(entry["step"])
        self._losses.append(entry["loss"])
        self.curve.setData(self._steps, self._losses)
        self.status.setText(
            f"Step {entry['step']}/{entry['total_steps']} · epoch {entry['epoch']:.2f} · "
            f"loss {entry['loss']:.4f}")
        self._tick()
        self.stepShown.emit(entry)

    def _tick(self) -> None:
        if self._started_at is None:
            return
        elapsed = time.monotonic() - self._started_at
        remaining = None
        if self._last_entry is not None and self._last_entry.get("remaining_s") is not None:
            # The estimate was made at the last step; time since then counts against it.
            remaining = max(self._last_entry["remaining_s"] - (elapsed - self._last_step_at), 0.0)
        if self._job is None or self._saved_version is not None:
            # The job ended, or training is over and the step after it has its own bar
            # (and time left) in its row: no "remaining" for the training.
            self.times.setText(f"Elapsed {_duration(elapsed)}")
            return
        self.times.setText(f"Elapsed {_duration(elapsed)} · remaining {_duration(remaining)}")

    def _finish(self) -> None:
        self.progress.clear()
        self.encode_progress.clear()
        self.encode_row.setVisible(False)
        self.cancel_button.setToolTip("Stop at the next step; nothing is saved")
        self._job = None
        self._clock.stop()
        self._tick()
        self._started_at = None
        self.cancel_button.setEnabled(False)
        self.train_button.setEnabled(True)
        self._update_version_buttons()

    def _on_result(self, outcome) -> None:
        self._finish()
        v = outcome.version
        loss = v.metrics.get("training", {})
        text = (f"<b>Model version {v.id}</b> saved in {_duration(v.train_seconds)} "
                f"({loss.get('steps', 0)} steps, loss {loss.get('loss_first', 0):.4f} → "
                f"{loss.get('loss_last', 0):.4f}).")
        if outcome.remined:
            text += f"<br>Re-mined as pass {outcome.mining_pass}: {outcome.remine_text()}."
        if outcome.embeddings:
            text += "<br>" + embeddings_text(outcome.embeddings)
        self.result.setText(text)
        self.status.setText("Done")
        self.context.modelVersionsChanged.emit()
        if outcome.mining_pass is not None:
            self.context.candidatesChanged.emit(outcome.mining_pass)
        self.trainingFinished.emit(outcome)

    def _on_error(self, message: str) -> None:
        saved, step = self._saved_version, self._next_step()
        self._finish()
        self._show_newest_history()
        if saved is not None:  # the fine-tune itself succeeded; the step after it failed
            self.status.setText(f"<span style='color:#b42318'>{step} with {saved} failed: "
                                f"{html.escape(message)}</span> ({saved} is kept)")
            self.context.modelVersionsChanged.emit()
            return
        self.status.setText(f"<span style='color:#b42318'>Training failed: {message}</span>")

    def _on_cancel(self) -> None:
        saved = self._saved_version
        self._finish()
        self._show_newest_history()
        if saved is not None:  # cancelled after the version was registered (during the re-mine)
            self.status.setText(f"Cancelled after training: {saved} is kept; no new mining pass")
            self.context.modelVersionsChanged.emit()
        else:
            self.status.setText("Cancelled; nothing was saved")

    def _show_newest_history(self) -> None:
        """After a run that saved nothing, the chart goes back to the newest saved version's curve."""
        versions = self.context.project.model_versions()
        if versions:
            self._show_history(versions[-1])
