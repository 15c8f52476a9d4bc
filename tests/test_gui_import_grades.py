"""The import dialog shows the grade distribution and the gain each grade becomes before importing."""

from __future__ import annotations

import html
import os
import re

from helpers_gui import isolated_settings, open_window, shared_encoder  # noqa: F401 (fixtures)
from helpers_import import write_text
from PySide6.QtCore import Qt

from core.project.file import Project


def _cranfield_like(folder):
    write_text(folder / "c.all", ".I 1\n.W\none\n.I 2\n.W\ntwo\n.I 3\n.W\nthree\n")
    write_text(folder / "c.qry", ".I 001\n.W\nfirst\n.I 004\n.W\nsecond\n")
    write_text(folder / "cranqrel", "1 1 1\n1 2 -1\n2 2 2\n2 3 2\n2 1 -1\n")
    return folder


def _grade_rows(dialog) -> list[str]:
    """The label's table rows as plain text ("grade count → what it becomes")."""
    rows = re.findall(r"<tr>(.*?)</tr>", dialog.grades.text())
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", r)).split()) for r in rows]


def test_grades_and_gains_are_previewed_before_import(qtbot, tiny_project, tmp_path):
    from gui.import_dialog import ImportDialog

    source = _cranfield_like(tmp_path / "cran")
    window = open_window(qtbot, tiny_project, wait_ready=False)
    dialog = ImportDialog(window.context, window)
    qtbot.addWidget(dialog)
    dialog.resize(900, 640)
    dialog.show()
    dialog.source.setText(str(source))
    qtbot.waitUntil(lambda: "Format" in dialog.status.text(), timeout=10000)
    # Without a map the codes are taken as gains: -1 negative, 1 and 2 gains 1 and 2.
    assert dialog.grades.isVisible()
    assert _grade_rows(dialog) == ["-1 2 → negative (judged non-relevant)", "1 1 → positive, gain 1",
                                   "2 2 → positive, gain 2"]
    assert "split <b>test</b>" in dialog.status.text()
    # A map that forgets -1: the grade is flagged and the import cannot start.
    dialog.grade_map.setText("1:4,2:3")
    qtbot.waitUntil(lambda: "cannot import" in dialog.grades.text(), timeout=10000)
    assert not dialog.import_button.isEnabled()
    dialog.grade_map.setText("1:4,2:3,-1:0")
    qtbot.waitUntil(lambda: dialog.import_button.isEnabled(), timeout=10000)
    assert _grade_rows(dialog) == ["-1 2 → negative (judged non-relevant)", "1 1 → positive, gain 4",
                                   "2 2 → positive, gain 3"]
    if os.environ.get("IMPORT_DIALOG_SCREENSHOT"):
        dialog.grab().save(os.environ["IMPORT_DIALOG_SCREENSHOT"])
    # Nothing was written by the preview.
    with Project.open(tiny_project) as p:
        assert p.document_count() == 12
    with qtbot.waitSignal(dialog.imported, timeout=30000):
        qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    with Project.open(tiny_project) as p:
        assert p.get_label("4", "2").gain == 3 and p.get_label("1", "2").label == "negative"


def test_plain_binary_grades_show_no_table(qtbot, tiny_project, tmp_path):
    from gui.import_dialog import ImportDialog

    source = _cranfield_like(tmp_path / "cran")
    write_text(source / "cranqrel", "1 1 1\n2 2 0\n")
    window = open_window(qtbot, tiny_project, wait_ready=False)
    dialog = ImportDialog(window.context, window)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.source.setText(str(source))
    qtbot.waitUntil(lambda: "Format" in dialog.status.text(), timeout=10000)
    assert not dialog.grades.isVisible()
