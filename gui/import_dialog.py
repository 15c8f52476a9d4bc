"""Import dialog over ``core.io.importers``: pick a source, see its first rows, map columns, import.

The preview is ``core.io.importers.preview`` run on a worker (latest request
wins, debounced while typing); the import is ``core.io.importers.import_source``
as an announced job, so the status bar shows its progress and a Cancel
button. The import is all-or-nothing in core: a failure or a cancel leaves
the project as it was.

The import starts only from the Import button, and only once the preview of
the current source and options is shown: Enter in a field refreshes the
preview instead of importing unseen data. The file and folder choosers start
where the last import was chosen from (:mod:`gui.session`).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from core.io.importers import (
    FORMATS,
    ImportOptions,
    import_source,
    parse_grade_map,
    plain_binary_grades,
    preview,
)

from . import session
from .context import AppContext
from .progress_widget import JobProgress
from .workers import Job, Latest

# (ImportOptions field, form label, which preview role's columns to offer)
COLUMN_FIELDS = (
    ("id_column", "Document id", "documents"),
    ("title_column", "Document title", "documents"),
    ("text_column", "Document text", "documents"),
    ("query_id_column", "Query id", "queries"),
    ("query_column", "Query text", "queries"),
    ("qrels_query_column", "Judgement query id", "qrels"),
    ("qrels_doc_column", "Judgement document id", "qrels"),
    ("qrels_score_column", "Judgement grade", "qrels"),
)
AUTO = "(automatic)"


def _cell(value: Any) -> QTableWidgetItem:
    text = "" if value is None else str(value)
    item = QTableWidgetItem(text if len(text) <= 300 else text[:300] + "…")
    item.setToolTip(text[:2000])
    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
    return item


def _fill_table(table: QTableWidget, rows: list[dict]) -> None:
    columns: list[str] = []
    for r in rows:
        for key in r:
            if key not in columns:
                columns.append(key)
    table.clear()
    table.setColumnCount(len(columns))
    table.setRowCount(len(rows))
    table.setHorizontalHeaderLabels(columns)
    for i, r in enumerate(rows):
        for j, key in enumerate(columns):
            table.setItem(i, j, _cell(r.get(key)))
    table.resizeColumnsToContents()
    for j in range(len(columns)):
        table.setColumnWidth(j, min(table.columnWidth(j), 360))


def grade_summary_html(grades: list[dict]) -> str:
    """One line per raw grade: how many judgements carry it and the label and gain it becomes."""
    rows = []
    for g in grades:
        if g["problem"]:
            became = f"<span style='color:#b91c1c'>cannot import: {html.escape(g['problem'])}</span>"
        elif g["label"] == "positive":
            became = f"positive, gain {g['gain']}"
        else:
            became = "negative (judged non-relevant)"
        rows.append(f"<tr><td align='right'>{html.escape(g['grade'])}</td>"
                    f"<td align='right'>&nbsp;{g['count']:,}&nbsp;</td><td>→ {became}</td></tr>")
    return ("<b>Grades</b> (raw grade, judgements, imported as):"
            f"<table cellspacing='0' cellpadding='1'>{''.join(rows)}</table>")


def run_preview(source: str, fmt: str, options: ImportOptions, *, progress) -> dict:
    """Worker side: the first rows an import would read (``core.io.importers.preview``)."""
    progress.check()
    return preview(source, fmt, options, limit=20)


class ImportDialog(QDialog):
    """Import into the open project; emits ``imported(counts)`` after a successful import."""

    imported = Signal(dict)

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.setWindowTitle("Import")
        self.resize(*session.default_size(self, 980, 680))
        self._job: Job | None = None
        self._columns: dict[str, list[str]] = {}
        self._latest = Latest(context.jobs, "import preview", self)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(300)
        self._debounce.timeout.connect(self.refresh_preview)

        # -- source
        self.source = QLineEdit()
        self.source.setPlaceholderText("A BEIR / MS MARCO / TREC / SMART folder, or a CSV, TSV, "
                                       "JSONL or Parquet file")
        self.source.textChanged.connect(self._changed)
        self.source.returnPressed.connect(self.refresh_preview)
        file_button = QPushButton("File…")
        file_button.clicked.connect(self._choose_file)
        folder_button = QPushButton("Folder…")
        folder_button.clicked.connect(self._choose_folder)
        self.format = QComboBox()
        self.format.addItem("Detect automatically", "auto")
        for f in FORMATS:
            self.format.addItem(f, f)
        self.format.currentIndexChanged.connect(self._changed)
        src_row = QHBoxLayout()
        src_row.addWidget(self.source, 1)
        src_row.addWidget(file_button)
        src_row.addWidget(folder_button)

        # -- options
        self.kind = QComboBox()
        self.kind.addItem("Decide from names and columns", None)
        for k in ("documents", "queries", "qrels"):
            self.kind.addItem(k, k)
        self.kind.currentIndexChanged.connect(self._changed)
        self.queries_file = QLineEdit()
        self.queries_file.setPlaceholderText("optional extra queries file")
        self.qrels_file = QLineEdit()
        self.qrels_file.setPlaceholderText("optional extra judgements file")
        for edit in (self.queries_file, self.qrels_file):
            edit.textChanged.connect(self._changed)
        self.split = QLineEdit()
        self.split.setPlaceholderText("split for judgements that name none (default: test)")
        self.split.textChanged.connect(self._changed)
        self.grade_map = QLineEdit()
        self.grade_map.setPlaceholderText("grade:gain, gain 0 = negative; Cranfield: 1:4,2:3,3:2,4:1,-1:0")
        self.grade_map.textChanged.connect(self._changed)
        self.on_existing = QComboBox()
        for text, policy in (("Refuse the import", "error"), ("Keep the project's version", "skip"),
                             ("Replace with the imported one", "update")):
            self.on_existing.addItem(text, policy)
        self.on_existing.setToolTip("Identical records are passed over and conflicting ones listed "
                                    "either way; new records are always added.")
        self.on_existing.currentIndexChanged.connect(self._changed)

        options_box = QGroupBox("What to read")
        form = QFormLayout(options_box)
        form.addRow("Format", self.format)
        form.addRow("A single file holds", self.kind)
        form.addRow("Queries file", self._with_browse(self.queries_file))
        form.addRow("Judgements file", self._with_browse(self.qrels_file))
        form.addRow("Split", self.split)
        form.addRow("Grade map", self.grade_map)
        form.addRow("Ids already in the project", self.on_existing)

        mapping_box = QGroupBox("Column mapping")
        mapping = QFormLayout(mapping_box)
        self.column_boxes: dict[str, QComboBox] = {}
        for field_name, title, _role in COLUMN_FIELDS:
            box = QComboBox()
            box.setEditable(True)
            box.addItem(AUTO)
            box.currentTextChanged.connect(self._changed)
            box.setObjectName(f"column-{field_name}")
            self.column_boxes[field_name] = box
            mapping.addRow(title, box)

        top = QHBoxLayout()
        top.addWidget(options_box, 1)
        top.addWidget(mapping_box, 1)

        # -- preview
        self.status = QLabel("Choose a file or folder to preview.")
        self.status.setWordWrap(True)
        self.status.setObjectName("import-status")
        # The grade distribution and what each grade becomes, before anything is imported.
        self.grades = QLabel()
        self.grades.setObjectName("import-grades")
        self.grades.setTextFormat(Qt.TextFormat.RichText)
        self.grades.setVisible(False)
        self.tables: dict[str, QTableWidget] = {}
        self.preview_tabs = QTabWidget()
        for key, title in (("files", "Files"), ("documents", "Documents"), ("queries", "Queries"),
                           ("qrels", "Judgements")):
            table = QTableWidget()
            table.verticalHeader().setVisible(False)
            table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
            table.setWordWrap(False)
            self.tables[key] = table
            self.preview_tabs.addTab(table, title)

        self.progress = JobProgress(context.jobs, bar_width=260)
        self.buttons = QDialogButtonBox()
        self.import_button = self.buttons.addButton("Import", QDialogButtonBox.ButtonRole.AcceptRole)
        self.import_button.setEnabled(False)
        # Not the dialog's default button: Enter must never import what was not previewed.
        self.import_button.setAutoDefault(False)
        self.import_button.setDefault(False)
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.import_button.clicked.connect(self.start_import)
        self.cancel_button.clicked.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Into <b>{context.project_path.name}</b>. Everything is imported "
                                "in one step: on any error nothing changes."))
        layout.addLayout(src_row)
        layout.addLayout(top)
        layout.addWidget(self.status)
        layout.addWidget(self.grades)
        layout.addWidget(self.preview_tabs, 1)
        layout.addWidget(self.progress)
        layout.addWidget(self.buttons)

    def _with_browse(self, edit: QLineEdit) -> QWidget:
        holder = QWidget()
        row = QHBoxLayout(holder)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(edit, 1)
        b = QPushButton("…")
        b.setFixedWidth(28)
        b.clicked.connect(lambda: self._browse_into(edit))
        row.addWidget(b)
        return holder

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt naming)
        # QDialog turns Enter into a click on a default button; here Enter in a
        # field only refreshes the preview (the line edits do that themselves).
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and \
                not isinstance(self.focusWidget(), QPushButton):
            event.accept()
            return
        super().keyPressEvent(event)

    def _browse_into(self, edit: QLineEdit) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a file",
                                              edit.text() or str(session.folder("import")))
        if path:
            session.remember_folder("import", path)
            edit.setText(path)

    def _choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Import a file", str(session.folder("import")),
            "Data files (*.jsonl *.json *.csv *.tsv *.txt *.parquet *.gz);;All files (*)")
        if path:
            session.remember_folder("import", path)
            self.source.setText(path)

    def _choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Import a folder", str(session.folder("import")))
        if path:
            # The folder's parent: the next chooser shows this folder among its siblings.
            session.remember_folder("import", Path(path).parent)
            self.source.setText(path)

    # -- options ----------------------------------------------------------------------
    def options(self) -> ImportOptions:
        """The ImportOptions the form describes (ValueError names a bad field)."""
        kwargs: dict[str, Any] = {"kind": self.kind.currentData()}
        for field_name, box in self.column_boxes.items():
            text = box.currentText().strip()
            kwargs[field_name] = None if not text or text == AUTO else text
        if self.queries_file.text().strip():
            kwargs["queries"] = [Path(self.queries_file.text().strip())]
        if self.qrels_file.text().strip():
            kwargs["qrels"] = [Path(self.qrels_file.text().strip())]
        if self.split.text().strip():
            kwargs["split"] = self.split.text().strip()
        if self.grade_map.text().strip():
            kwargs["grade_map"] = parse_grade_map(self.grade_map.text())
        kwargs["on_existing"] = self.on_existing.currentData()
        return ImportOptions(**kwargs)

    def _changed(self, *_args) -> None:
        if self._job is None:
            # What is previewed no longer matches the form: no import until the new preview.
            self.import_button.setEnabled(False)
            self._debounce.start()

    def refresh_preview(self) -> None:
        source = self.source.text().strip()
        self.import_button.setEnabled(False)
        if not source:
            self.status.setText("Choose a file or folder to preview.")
            return
        try:
            options = self.options()
        except ValueError as exc:
            self.status.setText(f"<span style='color:#b91c1c'>{exc}</span>")
            return
        self.status.setText("Reading the first rows…")
        self._latest.request(run_preview, source, self.format.currentData(), options,
                             on_result=self._show_preview, on_error=self._preview_failed)

    def _preview_failed(self, message: str) -> None:
        self.status.setText(f"<span style='color:#b91c1c'>{message}</span>")
        self.grades.setVisible(False)
        for table in self.tables.values():
            table.clear()
            table.setRowCount(0)
            table.setColumnCount(0)
        self.import_button.setEnabled(False)

    def _show_preview(self, info: dict) -> None:
        files = info["files"]
        rows = info["rows"]
        _fill_table(self.tables["files"], [
            {"file": f["path"], "holds": f["role"], "split": f.get("split") or "",
             "size": f"{f['bytes'] / 1e6:.2f} MB" if f.get("bytes") is not None else "",
             "columns": ", ".join(f.get("columns") or [])} for f in files])
        for role in ("documents", "queries", "qrels"):
            _fill_table(self.tables[role], rows.get(role, []))
        # Offer each role's columns in its mapping boxes, keeping what the user typed.
        self._columns = {}
        for f in files:
            for c in f.get("columns") or []:
                self._columns.setdefault(f["role"], [])
                if c not in self._columns[f["role"]]:
                    self._columns[f["role"]].append(c)
        for field_name, _title, role in COLUMN_FIELDS:
            box = self.column_boxes[field_name]
            current = box.currentText()
            box.blockSignals(True)
            box.clear()
            box.addItem(AUTO)
            box.addItems(self._columns.get(role, []))
            box.setCurrentText(current or AUTO)
            box.setEnabled(role in self._columns or current != AUTO)
            box.blockSignals(False)
        counts = {role: len(rows.get(role, [])) for role in ("documents", "queries", "qrels")}
        ignored = info.get("ignored_files") or []
        assumed = info.get("split_assumed")
        self.status.setText(
            f"Format <b>{info['format']}</b>: {len(files)} file(s); first rows shown "
            f"({counts['documents']} documents, {counts['queries']} queries, "
            f"{counts['qrels']} judgements)."
            + (f" The judgements name no split: their queries go to split <b>{assumed}</b>."
               if assumed else "")
            + (f" Ignored: {', '.join(Path(p).name for p in ignored)}." if ignored else ""))
        grades = info.get("grades") or []
        unmappable = [g for g in grades if g["problem"]]
        self.grades.setText(grade_summary_html(grades))
        self.grades.setVisible(bool(grades) and not plain_binary_grades(grades))
        self.import_button.setEnabled(bool(files) and not unmappable)

    # -- import -----------------------------------------------------------------------
    def start_import(self) -> None:
        try:
            options = self.options()
        except ValueError as exc:
            self.status.setText(f"<span style='color:#b91c1c'>{exc}</span>")
            return
        self.import_button.setEnabled(False)
        self.status.setText("Importing…")
        self._job = self.context.jobs.start(
            "Importing", import_source, self.context.project_path, self.source.text().strip(),
            format=self.format.currentData(), options=options,
            on_result=self._imported, on_error=self._import_failed, on_cancel=self._import_cancelled)
        self.progress.follow(self._job, "Importing…")

    def _imported(self, counts: dict) -> None:
        self._job = None
        self.progress.clear()
        self.status.setText(f"Imported {counts.get('documents', 0):,} documents, "
                            f"{counts.get('queries', 0):,} queries and "
                            f"{counts.get('judgements', 0):,} judgements.")
        self.imported.emit(counts)
        self.accept()

    def _import_failed(self, message: str) -> None:
        self._job = None
        self.progress.clear()
        self.status.setText(f"<span style='color:#b91c1c'>Nothing was imported: {message}</span>")
        self.import_button.setEnabled(True)

    def _import_cancelled(self) -> None:
        self._job = None
        self.progress.clear()
        self.status.setText("Import cancelled; the project is unchanged.")
        self.import_button.setEnabled(True)

    def reject(self) -> None:
        """Cancel a running import first (the project stays as it was); close otherwise."""
        if self._job is not None and not self._job.done:
            self._job.cancel()
            self.status.setText("Cancelling…")
            return
        self._debounce.stop()
        self._latest.cancel()
        super().reject()

    def done(self, result: int) -> None:
        self._debounce.stop()
        super().done(result)
