"""Import (preview, column mapping, all-or-nothing) and export dialogs on a real window."""

from __future__ import annotations

import json

from helpers_gui import isolated_settings, open_window, shared_encoder  # noqa: F401 (fixtures)
from PySide6.QtCore import Qt

from core.project.file import Project


def write_csv_corpus(folder):
    folder.mkdir()
    (folder / "docs.csv").write_text(
        "doc_key,heading,body\n"
        "a1,Aspirin,Aspirin lowers the risk of heart attacks.\n"
        "a2,Statins,Statins lower cholesterol.\n"
        "a3,Sleep,Sleep consolidates memory.\n")
    return folder / "docs.csv"


def test_import_dialog_previews_maps_columns_and_imports(qtbot, tmp_path):
    from gui.import_dialog import ImportDialog

    path = tmp_path / "empty.rsproj"
    Project.create(path).close()
    source = write_csv_corpus(tmp_path / "src")
    window = open_window(qtbot, path, wait_ready=False)
    window.import_data()
    dialog = window.findChild(ImportDialog)
    assert dialog is not None and dialog.isVisible()

    dialog.source.setText(str(source))
    qtbot.waitUntil(lambda: "Format" in dialog.status.text() or "color" in dialog.status.text(),
                    timeout=10000)
    # The generic reader cannot guess "doc_key"/"body": the preview names the problem.
    assert not dialog.import_button.isEnabled() or dialog.tables["documents"].rowCount() == 3
    dialog.kind.setCurrentIndex(dialog.kind.findData("documents"))
    dialog.column_boxes["id_column"].setCurrentText("doc_key")
    dialog.column_boxes["title_column"].setCurrentText("heading")
    dialog.column_boxes["text_column"].setCurrentText("body")
    qtbot.waitUntil(lambda: dialog.import_button.isEnabled(), timeout=10000)
    table = dialog.tables["documents"]
    assert table.rowCount() == 3
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    values = {headers[c]: table.item(0, c).text() for c in range(table.columnCount())}
    assert values["id"] == "a1" and values["title"] == "Aspirin"
    assert "doc_key" in [dialog.column_boxes["id_column"].itemText(i)
                         for i in range(dialog.column_boxes["id_column"].count())]

    with qtbot.waitSignal(dialog.imported, timeout=30000):
        qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    with Project.open(path) as project:
        assert project.document_ids() == ["a1", "a2", "a3"]
    # The window reopened the project with the new corpus.
    qtbot.waitUntil(lambda: window.workspace is not None and window.workspace._overview_loaded,
                    timeout=10000)
    assert "3 docs" in window.counts_label.text()


def test_import_error_changes_nothing(qtbot, tiny_project, tmp_path):
    from gui.import_dialog import ImportDialog

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "corpus.jsonl").write_text('{"_id": "n1", "text": "fine"}\n{"_id": "n2"}\n')
    (bad / "queries.jsonl").write_text('{"_id": "nq", "text": "a query"}\n')
    window = open_window(qtbot, tiny_project, wait_ready=False)
    dialog = ImportDialog(window.context, window)
    qtbot.addWidget(dialog)
    dialog.source.setText(str(bad))
    dialog.refresh_preview()
    qtbot.waitUntil(lambda: "color:#b91c1c" in dialog.status.text() or dialog.import_button.isEnabled(),
                    timeout=10000)
    if dialog.import_button.isEnabled():  # the first rows may look fine; the import must still fail
        qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: "Nothing was imported" in dialog.status.text(), timeout=10000)
    assert "line 2" in dialog.status.text()
    with Project.open(tiny_project) as project:
        assert project.document_count() == 12


def test_export_dialog_writes_training_triplets(qtbot, tiny_project, tmp_path):
    from gui.export_dialog import ExportDialog

    with Project.open(tiny_project) as project:
        project.set_label("q1", "d2", "negative")
    window = open_window(qtbot, tiny_project, wait_ready=False)
    dialog = ExportDialog(window.context, window)
    qtbot.addWidget(dialog)
    dialog.format.setCurrentIndex(dialog.format.findData("triplets"))
    assert dialog.split.currentData() == "train"
    out = tmp_path / "triplets.jsonl"
    dialog.out.setText(str(out))
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Written to" in dialog.status.text() or "failed" in dialog.status.text(),
                    timeout=20000)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows == [{"anchor": "vitamin D improves bone density",
                     "positive": "Vitamin D and bone density Vitamin D supplementation increases "
                                 "bone mineral density in elderly women.",
                     "negative": "Calcium intake High calcium intake is associated with fewer "
                                 "hip fractures in older adults."}]
