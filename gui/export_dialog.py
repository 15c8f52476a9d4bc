"""Export dialog over ``core.io.export``: a BEIR folder or sentence-transformers training data."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core.io.export import EXPORT_FORMATS, export
from core.progress import Progress
from core.project.file import Project

from .context import AppContext
from .progress_widget import JobProgress
from .workers import Job

FORMAT_TITLES = {
    "beir": "BEIR folder (corpus, queries, qrels)",
    "triplets": "Triplets: anchor, positive, negative",
    "ntuple": "N-tuples: anchor, positive, negative_1..n",
    "ntuple-scores": "N-tuples with mining scores",
    "labeled-pairs": "Labeled pairs: anchor, document, 0/1",
}


def run_export(project_path: Path, out: Path, *, progress: Progress, **options) -> dict:
    """Worker side: ``core.io.export.export`` with the worker's own project connection."""
    with Project.open(project_path) as project:
        return export(project, out, progress=progress, **options)


class ExportDialog(QDialog):
    """Choose a format, split and destination; the export runs as a background job."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.setWindowTitle("Export")
        self.resize(620, 320)
        self._job: Job | None = None

        self.format = QComboBox()
        for f in EXPORT_FORMATS:
            self.format.addItem(FORMAT_TITLES.get(f, f), f)
        self.format.currentIndexChanged.connect(self._format_changed)
        self.split = QComboBox()
        self.split.addItem("every split", "*")
        for s in context.project.splits():
            if s:
                self.split.addItem(s, s)
        self.out = QLineEdit()
        browse = QPushButton("…")
        browse.setFixedWidth(28)
        browse.clicked.connect(self._browse)
        out_row = QHBoxLayout()
        out_row.addWidget(self.out, 1)
        out_row.addWidget(browse)
        self.use_proposed = QCheckBox("Also use pending mined proposals as negatives")
        self.include_negatives = QCheckBox("Write judged negatives (score 0)")
        self.include_negatives.setChecked(True)
        self.num_negatives = QSpinBox()
        self.num_negatives.setRange(1, 64)
        self.num_negatives.setValue(3)
        self.overwrite = QCheckBox("Replace an existing file")

        form = QFormLayout()
        form.addRow("Format", self.format)
        form.addRow("Queries", self.split)
        form.addRow("Save to", out_row)
        form.addRow("Negatives per row", self.num_negatives)
        form.addRow("", self.use_proposed)
        form.addRow("", self.include_negatives)
        form.addRow("", self.overwrite)

        self.status = QLabel()
        self.status.setWordWrap(True)
        self.progress = JobProgress(context.jobs, bar_width=260)  # stage, count and bar that agree
        self.buttons = QDialogButtonBox()
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.export_button.clicked.connect(self.start_export)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.status)
        layout.addWidget(self.progress)
        layout.addWidget(self.buttons)
        self._format_changed()

    def _format_changed(self, *_args) -> None:
        fmt = self.format.currentData()
        beir = fmt == "beir"
        self.num_negatives.setEnabled(fmt in ("ntuple", "ntuple-scores"))
        self.use_proposed.setEnabled(not beir)
        self.include_negatives.setEnabled(beir)
        if not beir and self.split.currentData() == "*" and self.split.findData("train") >= 0:
            self.split.setCurrentIndex(self.split.findData("train"))
        stem = self.context.project_path.stem
        folder = self.context.project_path.parent
        current = self.out.text().strip()
        if not current or Path(current).parent == folder:
            name = f"{stem}-beir" if beir else f"{stem}-{fmt}.jsonl"
            self.out.setText(str(folder / name))

    def _browse(self) -> None:
        if self.format.currentData() == "beir":
            path = QFileDialog.getExistingDirectory(self, "Export folder", self.out.text())
        else:
            path, _ = QFileDialog.getSaveFileName(self, "Export file", self.out.text(),
                                                  "JSONL (*.jsonl);;Parquet (*.parquet)")
        if path:
            self.out.setText(path)

    def options(self) -> dict:
        fmt = self.format.currentData()
        opts: dict = {"format": fmt, "split": self.split.currentData()}
        if fmt == "beir":
            opts["include_negatives"] = self.include_negatives.isChecked()
        else:
            opts.update(use_proposed=self.use_proposed.isChecked(),
                        num_negatives=self.num_negatives.value(),
                        overwrite=self.overwrite.isChecked())
        return opts

    def start_export(self) -> None:
        out = self.out.text().strip()
        if not out:
            self.status.setText("Choose where to save the export.")
            return
        self.export_button.setEnabled(False)
        self.status.setText("Exporting…")
        self._job = self.context.jobs.start(
            "Exporting", run_export, self.context.project_path, Path(out), **self.options(),
            on_result=self._done, on_error=self._failed, on_cancel=self._cancelled)
        self.progress.follow(self._job, "Exporting…")

    def _done(self, counts: dict) -> None:
        self._job = None
        self.progress.clear()
        self.export_button.setEnabled(True)
        shown = ", ".join(f"{k}: {v}" for k, v in counts.items()
                          if isinstance(v, (int, float)) and not isinstance(v, bool))
        self.status.setText(f"Written to <b>{self.out.text()}</b><br>{shown}")
        self.last_counts = counts

    def _failed(self, message: str) -> None:
        self._job = None
        self.progress.clear()
        self.export_button.setEnabled(True)
        self.status.setText(f"<span style='color:#b91c1c'>Export failed: {message}</span>")

    def _cancelled(self) -> None:
        self._job = None
        self.progress.clear()
        self.export_button.setEnabled(True)
        self.status.setText("Export cancelled.")

    def reject(self) -> None:
        if self._job is not None and not self._job.done:
            self._job.cancel()
            return
        super().reject()
