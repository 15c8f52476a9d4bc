"""Mining dialog: the settings of a pass, a live preview on one query, and "Mine all".

The preview is two background requests, each "latest wins"
(:class:`gui.workers.Latest`) behind a short debounce:

* *prepare* scores the preview query over the whole corpus
  (:func:`core.mining.preview.prepare_preview`) when the query, source, model or
  split changes;
* *decide* re-runs the rules (:meth:`core.mining.preview.PreviewData.decide`, pure
  and fast) on that row whenever a margin, score bound, window or sampling
  setting moves, so sliders update the table and the histogram as they move.

"Mine all" runs :func:`core.mining.miner.mine` as a job of ``context.jobs`` with
its own progress bar and Cancel; a stored pass is announced with
``context.candidatesChanged(pass)``. No scoring, rules or SQL live here.
"""

from __future__ import annotations

import html
import math
from typing import Sequence

import shiboken6
from PySide6.QtCore import QModelIndex, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from core.errors import StudioError
from core.mining.config import MiningConfig
from core.mining.miner import MiningResult, run_mining
from core.mining.preview import PreviewBundle, decide_preview, load_preview
from core.mining.rules import (
    REASON_TEXT,
    CandidateDecision,
    explanations,
    thresholds_for,
)
from core.mining.store import read_current_config

from . import session
from .context import AppContext
from .mining_histogram import ScoreHistogram
from .mining_outcome import MiningOutcome
from .mining_slider import OptionalNumber
from .mining_table import DecisionModel
from .progress_widget import JobProgress
from .table_model import show_rows
from .workers import Job, Latest

DEBOUNCE_MS = 120
MAX_RANGE = 1000
SOURCE_TITLES = {"dense": "Dense (model cosine)", "bm25": "BM25", "hybrid": "Hybrid (RRF of both)"}
# Score scale per source, for the sliders: (low, high, decimals).
SCORE_SCALES = {"dense": (-1.0, 1.0, 3), "bm25": (0.0, 40.0, 2), "hybrid": (0.0, 2 / 61, 5)}


def summary_text(decisions: Sequence[CandidateDecision]) -> str:
    """The preview's one-line count of decisions by reason, proposals first."""
    counts: dict[str, int] = {}
    for d in decisions:
        counts[d.reason] = counts.get(d.reason, 0) + 1
    kept = counts.pop("kept", 0)
    parts = [f"<b>{kept} proposed</b>"]
    if counts.get("confirmed"):
        parts.append(f"{counts.pop('confirmed')} confirmed")
    parts += [f"{n} {REASON_TEXT[r].split(': ', 1)[-1]}" for r, n in
              sorted(counts.items(), key=lambda kv: -kv[1])]
    return " · ".join(parts)


class MiningDialog(QDialog):
    """Settings, live preview and "Mine all" for one project (modeless tool window)."""

    passMined = Signal(object)  # MiningResult
    reviewRequested = Signal(int)  # "Review now" after a pass: its number

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.setWindowTitle("Mine hard negatives")
        self.setObjectName("mining-dialog")
        self.resize(*session.default_size(self, 1180, 760))  # fits a 1024×700 screen
        self._prepare = Latest(context.jobs, "Mining preview", self)
        self._decide = Latest(context.jobs, "Mining preview rules", self)
        self._bundle: PreviewBundle | None = None
        self._bundle_key: tuple | None = None
        self._loading_key: tuple | None = None
        self._decisions: list[CandidateDecision] | None = None
        self._preview_query: str | None = context.current_query_id
        self._job: Job | None = None
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self._refresh)

        self._build_settings()
        self._build_preview()
        self._build_footer()

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.settings_box)
        split.addWidget(self.preview_box)
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 1)
        split.setSizes([400, 780])
        layout = QVBoxLayout(self)
        layout.addWidget(split, 1)
        layout.addWidget(self.outcome)
        layout.addLayout(self.footer)

        context.currentQueryChanged.connect(self._current_query_changed)
        context.modelChanged.connect(lambda _m: self._update_model_label())
        context.labelsChanged.connect(self._labels_changed)
        self._update_model_label()
        self._source_changed()
        context.jobs.start("Mining settings", read_current_config, context.project_path,
                           on_result=self._restore_config, announce=False)

    # -- construction -------------------------------------------------------------------
    def _spin(self, low: int, high: int, value: int, tip: str) -> QSpinBox:
        box = QSpinBox()
        box.setRange(low, high)
        box.setValue(value)
        box.setToolTip(tip)
        box.setKeyboardTracking(False)
        box.valueChanged.connect(self._schedule)
        return box

    def _build_settings(self) -> None:
        d = MiningConfig()
        self.source = QComboBox()
        self.source.setObjectName("mining-source")
        for key, title in SOURCE_TITLES.items():
            self.source.addItem(title, key)
        self.source.currentIndexChanged.connect(self._source_changed)
        self.model_label = QLabel()
        self.model_label.setWordWrap(True)
        self.split = QComboBox()
        self.split.setObjectName("mining-split")
        splits = [s for s in self.context.project.splits() if s]
        for s in splits:
            self.split.addItem(s, s)
        self.split.addItem("all queries", None)
        if "train" in splits:
            self.split.setCurrentIndex(splits.index("train"))
        self.split.currentIndexChanged.connect(self._schedule)
        self.teacher = QLineEdit()
        self.teacher.setObjectName("mining-teacher")
        self.teacher.setPlaceholderText("none: the rules judge the retriever's scores")
        self.teacher.setToolTip(
            "A teacher rescores each query's candidates before the rules judge them: a local "
            "cross-encoder folder (sentence-transformers CrossEncoder), a larger bi-encoder folder "
            "or a model version id. Margins, max / min score, the window and sampling then use the "
            "teacher's scores; both scores are stored.")
        self.teacher.editingFinished.connect(self._schedule)
        self.teacher_browse = QPushButton("Folder…")
        self.teacher_browse.setToolTip("Choose a teacher model folder")
        self.teacher_browse.clicked.connect(self._browse_teacher)
        self.only_unlabeled = QCheckBox("Only queries without negative labels yet")
        self.only_changed = QCheckBox("Only queries changed since the last pass")
        for box in (self.only_unlabeled, self.only_changed):
            box.toggled.connect(self._schedule)

        self.num_negatives = self._spin(1, 100, d.num_negatives, "Negatives proposed per query")
        self.num_negatives.setObjectName("mining-num-negatives")
        self.range_min = self._spin(0, MAX_RANGE - 1, d.range_min,
                                    "Skip this many of the best surviving candidates")
        self.range_max = self._spin(1, MAX_RANGE, d.range_max,
                                    "Consider at most this many surviving candidates (candidate depth)")

        self.relative_margin = OptionalNumber(
            0.0, 1.0, 3, 0.05,
            "Drop candidates scoring above pos − |pos|·m, pos = the query's lowest positive score. "
            "0.05 is NV-Retriever's TopK-PercPos (95 % of the positive).")
        self.relative_margin.setObjectName("mining-relative-margin")
        self.relative_margin.set_value(d.relative_margin)  # on by default, as in the CLI
        self.absolute_margin = OptionalNumber(0.0, 1.0, 3, 0.05, "Drop candidates scoring above pos − m")
        self.max_score = OptionalNumber(-1.0, 1.0, 3, 0.9, "Drop candidates scoring above this")
        self.min_score = OptionalNumber(-1.0, 1.0, 3, 0.2, "Drop candidates scoring below this")
        for w in (self.relative_margin, self.absolute_margin, self.max_score, self.min_score):
            w.changed.connect(self._schedule)

        self.sampling = QComboBox()
        self.sampling.setObjectName("mining-sampling")
        for key, title in (("top", "Top (hardest first)"), ("random", "Random (seeded)"),
                           ("simans", "SimANS (near the positive)")):
            self.sampling.addItem(title, key)
        self.sampling.currentIndexChanged.connect(self._sampling_changed)
        self.simans_a = QDoubleSpinBox()
        self.simans_a.setRange(0.0, 1e6)
        self.simans_a.setDecimals(3)
        self.simans_a.setValue(d.simans_a)
        self.simans_a.setToolTip("SimANS a in p ∝ exp(−a·(s − pos − b)²): larger = sharper")
        self.simans_b = QDoubleSpinBox()
        self.simans_b.setRange(-1e3, 1e3)
        self.simans_b.setDecimals(3)
        self.simans_b.setValue(d.simans_b)
        self.simans_b.setToolTip("SimANS b: the preferred gap s − pos")
        self.seed = self._spin(0, 2**31 - 1, d.seed, "Seed of random and SimANS sampling")
        for w in (self.simans_a, self.simans_b):
            w.setKeyboardTracking(False)
            w.valueChanged.connect(self._schedule)

        self.settings_box = QWidget()
        outer = QVBoxLayout(self.settings_box)
        outer.setContentsMargins(0, 0, 0, 0)
        g1 = QGroupBox("Candidates")
        f1 = QFormLayout(g1)
        f1.addRow("Scores", self.source)
        f1.addRow("Model", self.model_label)
        teacher_row = QHBoxLayout()
        teacher_row.addWidget(self.teacher, 1)
        teacher_row.addWidget(self.teacher_browse)
        f1.addRow("Teacher", teacher_row)
        f1.addRow("Queries", self.split)
        f1.addRow("", self.only_unlabeled)
        f1.addRow("", self.only_changed)
        g2 = QGroupBox("Rules (applied in this order)")
        f2 = QFormLayout(g2)
        f2.addRow("Absolute margin", self.absolute_margin)
        f2.addRow("Relative margin", self.relative_margin)
        f2.addRow("Max score", self.max_score)
        f2.addRow("Min score", self.min_score)
        window = QHBoxLayout()
        window.addWidget(QLabel("skip"))
        window.addWidget(self.range_min)
        window.addWidget(QLabel("keep up to"))
        window.addWidget(self.range_max)
        f2.addRow("Rank window", window)
        g3 = QGroupBox("Sampling")
        f3 = QFormLayout(g3)
        f3.addRow("Negatives per query", self.num_negatives)
        f3.addRow("Strategy", self.sampling)
        f3.addRow("SimANS a", self.simans_a)
        f3.addRow("SimANS b", self.simans_b)
        f3.addRow("Seed", self.seed)
        for g in (g1, g2, g3):
            outer.addWidget(g)
        outer.addStretch(1)
        self._sampling_changed()

    def _build_preview(self) -> None:
        self.query_label = QLabel("<i>Preview: no query yet</i>")
        self.query_label.setObjectName("mining-preview-query")
        self.query_label.setWordWrap(True)
        self.query_label.setTextFormat(Qt.TextFormat.RichText)
        self.prev_button = QPushButton("◀")
        self.next_button = QPushButton("▶")
        for b, step, tip in ((self.prev_button, -1, "Preview the previous query"),
                             (self.next_button, 1, "Preview the next query")):
            b.setFixedWidth(34)
            b.setToolTip(tip)
            b.clicked.connect(lambda _=False, s=step: self._step_query(s))
        self.summary = QLabel()
        self.summary.setObjectName("mining-preview-summary")
        self.summary.setWordWrap(True)
        self.model = DecisionModel(self)
        self.table = QTableView()
        self.table.setObjectName("mining-preview-table")
        show_rows(self.table, self.model, row_height=22)
        self.table.doubleClicked.connect(self._activate)
        self.histogram = ScoreHistogram()
        self.histogram.setObjectName("mining-histogram")

        self.preview_box = QWidget()
        lay = QVBoxLayout(self.preview_box)
        lay.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        top.addWidget(self.prev_button)
        top.addWidget(self.query_label, 1)
        top.addWidget(self.next_button)
        lay.addLayout(top)
        lay.addWidget(self.summary)
        vsplit = QSplitter(Qt.Orientation.Vertical)
        vsplit.addWidget(self.table)
        vsplit.addWidget(self.histogram)
        vsplit.setSizes([440, 220])
        lay.addWidget(vsplit, 1)

    def _build_footer(self) -> None:
        self.status = QLabel()
        self.status.setObjectName("mining-status")
        self.status.setWordWrap(True)
        self.progress = JobProgress(self.context.jobs, bar_width=220)  # stage, count and bar agree
        self.mine_button = QPushButton("Mine all")
        self.mine_button.setObjectName("mining-run")
        self.mine_button.setDefault(True)
        self.mine_button.setToolTip("Run these settings over every selected query as a new pass")
        self.mine_button.clicked.connect(self.mine_all)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("mining-cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        # The last run's result and next step: it stays while the preview changes below.
        self.outcome = MiningOutcome()
        self.outcome.reviewRequested.connect(self.reviewRequested)
        self.footer = QHBoxLayout()
        self.footer.addWidget(self.status, 1)
        self.footer.addWidget(self.progress)
        self.footer.addWidget(self.cancel_button)
        self.footer.addWidget(self.mine_button)
        self.footer.addWidget(close)

    # -- settings <-> config --------------------------------------------------------------
    def config(self) -> MiningConfig:
        """The settings as a :class:`MiningConfig` (raises StudioError when they conflict)."""
        return MiningConfig(
            source=self.source.currentData(), model_id=self.context.model_id,
            num_negatives=self.num_negatives.value(), range_min=self.range_min.value(),
            range_max=self.range_max.value(), absolute_margin=self.absolute_margin.value(),
            relative_margin=self.relative_margin.value(), max_score=self.max_score.value(),
            min_score=self.min_score.value(), sampling=self.sampling.currentData(),
            simans_a=self.simans_a.value(), simans_b=self.simans_b.value(), seed=self.seed.value(),
            split=self.split.currentData(), only_unlabeled=self.only_unlabeled.isChecked(),
            only_changed=self.only_changed.isChecked(), teacher=self.teacher.text().strip() or None,
        )

    def set_config(self, config: MiningConfig) -> None:
        """Show ``config``'s settings (the model stays the workspace's)."""
        widgets = (self.source, self.split, self.num_negatives, self.range_min, self.range_max,
                   self.sampling, self.simans_a, self.simans_b, self.seed,
                   self.only_unlabeled, self.only_changed, self.teacher)
        for w in widgets:
            w.blockSignals(True)
        try:
            self.source.setCurrentIndex(max(0, self.source.findData(config.source)))
            i = self.split.findData(config.split)
            if i >= 0:
                self.split.setCurrentIndex(i)
            self.range_max.setValue(min(config.range_max, MAX_RANGE))
            self.range_min.setValue(config.range_min)
            self.num_negatives.setValue(config.num_negatives)
            self.sampling.setCurrentIndex(max(0, self.sampling.findData(config.sampling)))
            self.simans_a.setValue(config.simans_a)
            self.simans_b.setValue(config.simans_b)
            self.seed.setValue(config.seed)
            self.only_unlabeled.setChecked(config.only_unlabeled)
            self.only_changed.setChecked(config.only_changed)
            self.teacher.setText(config.teacher or "")
        finally:
            for w in widgets:
                w.blockSignals(False)
        self._apply_scale()
        for w, v in ((self.absolute_margin, config.absolute_margin),
                     (self.relative_margin, config.relative_margin),
                     (self.max_score, config.max_score), (self.min_score, config.min_score)):
            w.set_value(v)
        self._sampling_changed()
        self._schedule()

    def _restore_config(self, config: MiningConfig | None) -> None:
        if not shiboken6.isValid(self):
            return  # a late answer for a closed dialog
        if config is not None:
            self.set_config(config)

    # -- reactions ------------------------------------------------------------------------
    def _update_model_label(self) -> None:
        self.model_label.setText(f"{self.context.model_id}  <span style='color:#6b7280'>"
                                 "(the toolbar's model; BM25 ignores it)</span>")
        self._schedule()

    def _browse_teacher(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Teacher model folder", self.teacher.text())
        if folder:
            self.teacher.setText(folder)
            self._schedule()

    def _apply_scale(self, observed_max: float | None = None,
                     teacher_range: tuple[float, float] | None = None) -> None:
        low, high, decimals = SCORE_SCALES[self.source.currentData()]
        if observed_max is not None and self.source.currentData() == "bm25":
            high = max(high, math.ceil(observed_max * 1.1))
        if teacher_range is not None:  # the rules judge the teacher's scores: its scale
            low = min(0.0, math.floor(teacher_range[0]))
            high = max(1.0, math.ceil(teacher_range[1]))
            decimals = 3
        span = high - low
        self.absolute_margin.set_range(0.0, span, decimals)
        self.max_score.set_range(low, high, decimals)
        self.min_score.set_range(low, high, decimals)
        # Rules not in use start from harmless values on the new scale, so
        # ticking one does not drop everything at once.
        for widget, value in ((self.absolute_margin, span * 0.025), (self.max_score, high),
                              (self.min_score, low)):
            if widget.value() is None:
                widget.set_value(value)
                widget.check.setChecked(False)

    def _source_changed(self, *_args) -> None:
        self._apply_scale()
        self._schedule()

    def _sampling_changed(self, *_args) -> None:
        simans = self.sampling.currentData() == "simans"
        self.simans_a.setEnabled(simans)
        self.simans_b.setEnabled(simans)
        self.seed.setEnabled(self.sampling.currentData() != "top")
        self._schedule()

    def _current_query_changed(self, query_id: str) -> None:
        self._preview_query = query_id
        self._schedule()

    def _labels_changed(self, notice) -> None:
        if self._bundle is not None and self._bundle.data.query_id in notice.query_ids:
            self._bundle_key = None  # labels are part of the preview: score again
            self._schedule()

    def _step_query(self, step: int) -> None:
        if self._bundle is None or not self._bundle.minable:
            return
        ids = list(self._bundle.minable)
        cur = self._bundle.data.query_id
        i = ids.index(cur) if cur in ids else -1
        self.context.set_current_query(ids[(i + step) % len(ids)])

    def _activate(self, index: QModelIndex) -> None:
        if index.isValid():
            self.context.activate_document(self.model.rows[index.row()].doc_id)

    def _schedule(self, *_args) -> None:
        self._debounce.start()

    # -- preview ----------------------------------------------------------------------------
    def _refresh(self) -> None:
        if self.context.project.closed:
            return  # a debounced refresh that fired after the project was closed
        try:
            config = self.config()
        except StudioError as exc:
            self.status.setText(f"<span style='color:#b91c1c'>{exc}</span>")
            self.mine_button.setEnabled(False)
            return
        if self._job is None:
            self.mine_button.setEnabled(True)
            self.status.setText("")
        # With a teacher the preview holds teacher scores for the pool of range_max only.
        key = (self._preview_query, config.source, config.model_id, config.split, config.teacher,
               config.range_max if config.teacher else None)
        if key != self._bundle_key:
            if key == self._loading_key:
                return  # that scoring is under way; its result runs the rules
            self._loading_key = key
            self.summary.setText("<i>Scoring the preview query…</i>")
            retrieval = self.context.retrieval(config.model_id)
            self._prepare.request(load_preview, self.context.project_path, self._preview_query,
                                  config, retrieval,
                                  on_result=lambda b, k=key: self._bundle_ready(k, b),
                                  on_error=self._preview_failed)
            return
        self._decide.request(decide_preview, self._bundle.data, config,
                             on_result=lambda rows, c=config: self._show(rows, c),
                             on_error=self._preview_failed)

    def _bundle_ready(self, key: tuple, bundle: PreviewBundle) -> None:
        if not shiboken6.isValid(self):
            return  # a late answer for a closed dialog
        self._loading_key = None
        self._bundle = bundle
        # The worker may have picked the first minable query for us.
        self._bundle_key = (bundle.data.query_id,) + key[1:]
        if self._preview_query is None:
            self._preview_query = bundle.data.query_id
        teacher = bundle.data.teacher_scores
        self._apply_scale(float(bundle.data.row.max()) if len(bundle.data.row) else None,
                          (min(teacher.values()), max(teacher.values())) if teacher else None)
        self.query_label.setText(
            f"<b>Preview</b> · query <code>{bundle.data.query_id}</code>: {html.escape(bundle.query_text)}")
        self._refresh()

    def _preview_failed(self, message: str) -> None:
        if not shiboken6.isValid(self):
            return  # a late answer for a closed dialog
        self._loading_key = None
        self.summary.setText(f"<span style='color:#b91c1c'>{html.escape(message)}</span>")

    def _show(self, decisions: list[CandidateDecision], config: MiningConfig) -> None:
        if not shiboken6.isValid(self):
            return  # a late answer for a closed dialog
        self._decisions = decisions
        titles = self._bundle.titles if self._bundle else {}
        self.model.set_decisions(decisions, titles, explanations(decisions, config))
        self.histogram.set_data(decisions, thresholds_for(decisions, config))
        if not decisions:
            self.summary.setText("<i>This query has no positive label: mining skips it.</i>")
        else:
            self.summary.setText(summary_text(decisions))

    def is_ready(self) -> bool:
        """True once a preview is shown (the screenshot command waits for it)."""
        return self._decisions is not None and self._debounce.isActive() is False

    # -- mining -------------------------------------------------------------------------------
    def mine_all(self) -> None:
        if self._job is not None:
            return
        try:
            config = self.config()
        except StudioError as exc:
            self.status.setText(f"<span style='color:#b91c1c'>{exc}</span>")
            return
        retrieval = self.context.retrieval(config.model_id)
        self.mine_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.status.setText("Mining…")
        self.outcome.clear()
        self._job = self.context.jobs.start(
            "Mining", run_mining, self.context.project_path, config, retrieval,
            on_result=lambda result, ctx=self.context: self._mined(result, ctx),
            on_error=self._mine_failed, on_cancel=self._mine_cancelled)
        self.progress.follow(self._job, "Mining…")

    def cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self.status.setText("Cancelling…")

    def _finish_job(self) -> None:
        self._job = None
        self.progress.clear()
        self.cancel_button.setEnabled(False)
        self.mine_button.setEnabled(True)

    def _mined(self, result: MiningResult, context: AppContext) -> None:
        if not shiboken6.isValid(self):
            # The dialog is gone, the pass is stored: the other views still hear of it.
            if shiboken6.isValid(context):
                context.candidatesChanged.emit(result.pass_number)
            return
        self._finish_job()
        self.status.setText("")
        self.outcome.show_result(result)
        self.passMined.emit(result)
        self.context.candidatesChanged.emit(result.pass_number)

    def _mine_failed(self, message: str) -> None:
        if not shiboken6.isValid(self):
            return  # a late answer for a closed dialog
        self._finish_job()
        self.status.setText("")
        self.outcome.show_failure(f"Mining failed: {message}")

    def _mine_cancelled(self) -> None:
        if not shiboken6.isValid(self):
            return  # a late answer for a closed dialog
        self._finish_job()
        self.status.setText("")
        self.outcome.show_failure("Mining cancelled: nothing was stored; the labels are as before.")

    def shutdown(self) -> None:
        self.cancel()

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        # A running pass keeps going (its progress stays in the status bar).
        super().closeEvent(event)
