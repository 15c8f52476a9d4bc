"""Issue 15, item 7: the import starts only from its button after a preview; choosers remember."""

from __future__ import annotations

from helpers_gui import isolated_settings, open_window, shared_encoder  # noqa: F401 (fixtures)
from PySide6.QtCore import Qt

from core.project.file import Project


def beir_folder(folder):
    folder.mkdir()
    (folder / "corpus.jsonl").write_text('{"_id": "n1", "title": "New", "text": "a new document"}\n')
    (folder / "queries.jsonl").write_text('{"_id": "nq1", "text": "a new query"}\n')
    return folder


def previewed_dialog(qtbot, window, source):
    from gui.import_dialog import ImportDialog

    dialog = ImportDialog(window.context, window)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.source.setText(str(source))
    qtbot.waitUntil(dialog.import_button.isEnabled, timeout=10000)
    return dialog


def test_enter_in_the_path_field_does_not_import(qtbot, tiny_project, tmp_path):
    source = beir_folder(tmp_path / "beir")
    window = open_window(qtbot, tiny_project, wait_ready=False)
    dialog = previewed_dialog(qtbot, window, source)
    imported = []
    dialog.imported.connect(imported.append)
    dialog.source.setFocus()
    qtbot.keyClick(dialog.source, Qt.Key.Key_Return)
    qtbot.keyClick(dialog.source, Qt.Key.Key_Enter)
    qtbot.wait(200)  # an import would have started at once; give it no chance to be missed
    assert imported == [] and dialog._job is None and dialog.isVisible()
    with Project.open(tiny_project) as project:
        assert "n1" not in project.document_ids()


def test_a_changed_source_needs_a_new_preview_before_import(qtbot, tiny_project, tmp_path):
    source = beir_folder(tmp_path / "beir")
    window = open_window(qtbot, tiny_project, wait_ready=False)
    dialog = previewed_dialog(qtbot, window, source)
    dialog.source.setText(str(tmp_path / "missing"))
    assert not dialog.import_button.isEnabled()  # at once, not only after the debounce
    dialog.source.setText(str(source))
    qtbot.waitUntil(dialog.import_button.isEnabled, timeout=10000)


def test_folder_chooser_starts_where_the_last_one_was_chosen(qtbot, tiny_project, tmp_path,
                                                          monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    from gui.import_dialog import ImportDialog

    data = tmp_path / "data"
    chosen = beir_folder(data.mkdir() or data / "beir")
    started_at = []

    def choose(_parent, _title, start):
        started_at.append(start)
        return str(chosen)

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(choose))
    window = open_window(qtbot, tiny_project, wait_ready=False)
    for _ in range(2):  # a new dialog each time: the folder is remembered in QSettings
        dialog = ImportDialog(window.context, window)
        qtbot.addWidget(dialog)
        dialog._choose_folder()
        assert dialog.source.text() == str(chosen)
        dialog.reject()
    from pathlib import Path

    assert started_at[0] == str(Path.home())
    assert started_at[1] == str(data)
