"""Issue 15, items 8 and 11: keys that switch the tabs, a shortcut list built from the actions,
the in-app guide to the loop and empty states that say what to do first."""

from __future__ import annotations

import re
from pathlib import Path

from helpers_gui import isolated_settings, open_window, shared_encoder  # noqa: F401 (fixtures)
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence

from core.project.file import Project

CTRL, SHIFT, ALT = (Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier,
                    Qt.KeyboardModifier.AltModifier)


def active_window(qtbot, path):
    window = open_window(qtbot, path, wait_ready=False)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    return window


def test_keys_switch_the_five_tabs(qtbot, tiny_project):
    window = active_window(qtbot, tiny_project)
    tabs = window.tabs
    assert tabs.count() == 5
    focus = window.workspace.queries.view
    focus.setFocus()

    def press(key, modifiers):
        qtbot.keyClick(window.focusWidget() or focus, key, modifiers)
        return tabs.currentIndex()

    assert press(Qt.Key.Key_Tab, CTRL) == 1
    assert press(Qt.Key.Key_PageDown, CTRL) == 2
    assert press(Qt.Key.Key_PageUp, CTRL) == 1
    assert press(Qt.Key.Key_Backtab, CTRL | SHIFT) == 0
    assert press(Qt.Key.Key_Backtab, CTRL | SHIFT) == 4  # wraps around
    for n in range(1, 6):
        assert press(getattr(Qt.Key, f"Key_{n}"), ALT) == n - 1
    assert tabs.tabText(tabs.currentIndex()) == "Compare"


def test_shortcut_list_comes_from_the_actions(qtbot, tiny_project):
    window = open_window(qtbot, tiny_project, wait_ready=False)
    rows = dict((what, keys) for keys, what in window.shortcut_rows())
    assert rows["Mine hard negatives…"] == "Ctrl+M"
    assert rows["Close project"].startswith("Ctrl+W")
    assert rows["Next tab"] == "Ctrl+Tab or Ctrl+PgDown"
    assert rows["Compare tab"] == "Alt+5"
    assert rows["Mark positive"] == "1 or P"
    assert rows["Skip query"] == "S"
    # A new action in any menu is listed without touching the list.
    extra = QAction("Frobnicate", window)
    extra.setShortcut(QKeySequence("Ctrl+Alt+K"))
    window.tools_menu.addAction(extra)
    sections = dict(window.shortcut_sections())
    assert ("Ctrl+Alt+K", "Frobnicate") in sections["Tools"]


def test_guide_is_the_loop_of_the_readme(qtbot, tiny_project):
    from gui.dialogs import GuideDialog

    window = open_window(qtbot, tiny_project, wait_ready=False)
    window.guide_action.trigger()
    dialog = window.findChild(GuideDialog)
    assert dialog is not None and dialog.isVisible()
    text = dialog.view.toPlainText()
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    loop = readme.split("## The loop", 1)[1].split("\n## ", 1)[0]
    steps = re.findall(r"^\d+\. \*\*(\w+)\*\*", loop, flags=re.M)
    assert steps == ["Label", "Mine", "Review", "See", "Train", "Compare"]
    # Every step of the README's loop, in the same order, in the in-app guide.
    positions = [text.find(f"{s} (") for s in steps]
    assert -1 not in positions and positions == sorted(positions)


def test_empty_states_say_what_to_do_first(qtbot, tmp_path, tiny_project):
    empty = tmp_path / "empty.rsproj"
    Project.create(empty).close()
    window = open_window(qtbot, empty, wait_ready=False)
    banner = window.empty_state
    qtbot.waitUntil(banner.isVisible, timeout=10000)
    assert "no documents" in banner.text.text()
    assert banner._action is window.import_action and banner.button.text() == "Import…"

    with Project.open(tiny_project) as project:  # documents and queries, but no labels yet
        project.conn.execute("DELETE FROM labels")
        project.conn.commit()
    window.open_project(tiny_project)
    banner = window.empty_state
    qtbot.waitUntil(lambda: "Nothing is labeled yet" in banner.text.text(), timeout=10000)
    assert banner.isVisible() and banner._action is window.guide_action
    # The first label makes it go away.
    ws = window.workspace
    qtbot.waitUntil(ws.is_ready, timeout=30000)
    ws.panes["bm25"].select_row(0)
    ws.actions["positive"].trigger()
    qtbot.waitUntil(lambda: not banner.isVisible(), timeout=10000)
