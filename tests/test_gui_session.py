"""Issue 15, item 9: the app remembers the last project, query, filter, window geometry and
splitter sizes (QSettings, isolated per test by helpers_gui), and lists recent projects."""

from __future__ import annotations

import shutil

from helpers_gui import isolated_settings, open_window, shared_encoder  # noqa: F401 (fixtures)

from gui import session


def recent_titles(window) -> list[tuple[str, bool]]:
    window._fill_recent_menu()
    return [(a.text(), a.isEnabled()) for a in window.recent_menu.actions() if not a.isSeparator()]


def test_open_recent_lists_projects_newest_first_and_opens_them(qtbot, tiny_project, tmp_path):
    other = tmp_path / "other.rsproj"
    shutil.copy(tiny_project, other)
    gone = tmp_path / "gone.rsproj"
    shutil.copy(tiny_project, gone)
    window = open_window(qtbot, gone, wait_ready=False)
    gone.unlink()
    window.open_project(tiny_project)
    window.open_project(other)
    assert recent_titles(window) == [("other.rsproj", True), ("tiny.rsproj", True),
                                     ("gone.rsproj (moved or deleted)", False),
                                     ("Clear the list", True)]
    window.recent_menu.actions()[1].trigger()
    assert window.context.project_path.resolve() == tiny_project.resolve()
    assert session.last_project() == tiny_project.resolve()
    window.recent_menu.actions()[-1].trigger()  # Clear the list
    assert recent_titles(window) == [("No recent projects", False)]


def test_query_and_filter_come_back_with_the_project(qtbot, tiny_project):
    window = open_window(qtbot, tiny_project)
    panel = window.workspace.queries
    window.context.set_current_query("q3")
    panel.status.setCurrentIndex(panel.status.findData("positive"))
    panel.search.setText("cancer")
    window.close_project()
    window.open_project(tiny_project)
    panel = window.workspace.queries
    qtbot.waitUntil(lambda: window.workspace.overview_loaded, timeout=10000)
    assert window.context.current_query_id == "q3"
    assert panel.current_query_id() == "q3"
    # ... and shown: its text above the panes, and its candidates in them.
    assert "q3" in window.workspace.query_header.text()
    qtbot.waitUntil(lambda: window.workspace.panes["bm25"].model.rowCount() > 0, timeout=20000)
    assert panel.search.text() == "cancer"
    assert panel.status.currentData() == "positive"


def test_window_geometry_and_splitters_come_back(qtbot, tiny_project):
    from gui.main_window import MainWindow

    window = open_window(qtbot, tiny_project, wait_ready=False)
    window.resize(1200, 760)
    splitter = window.workspace.splitter
    total = sum(splitter.sizes())
    sizes = [300, total - 300 - 340, 340]  # wider side panels than the defaults (250, 300)
    splitter.setSizes(sizes)
    assert splitter.sizes() == sizes
    splitter.splitterMoved.emit(300, 1)  # what a drag of the handle sends after moving it
    window.close()  # saves the geometry
    # Tabs never shown have placeholder splitter sizes: those are not remembered.
    assert [k for k in session.settings().allKeys() if k.startswith("splitters/")] == \
        ["splitters/labeling/0"]

    again = MainWindow()
    qtbot.addWidget(again)
    assert (again.width(), again.height()) == (1200, 760)
    again.show()
    again.open_project(tiny_project)
    qtbot.waitUntil(lambda: sum(again.workspace.splitter.sizes()) == total, timeout=5000)
    assert again.workspace.splitter.sizes() == sizes


def test_welcome_page_offers_the_recent_projects(qtbot, tiny_project, tmp_path):
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QPushButton

    from gui.main_window import MainWindow

    session.remember_recent(tmp_path / "deleted.rsproj")  # no longer there: not offered
    session.remember_recent(tiny_project)
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    buttons = [b for b in window.findChildren(QPushButton) if b.objectName() == "welcome-recent"]
    assert [b.toolTip() for b in buttons] == [str(tiny_project.resolve())]
    qtbot.mouseClick(buttons[0], Qt.MouseButton.LeftButton)
    assert window.context is not None
    assert window.context.project_path.resolve() == tiny_project.resolve()


def test_a_first_window_fits_the_screen_it_opens_on(qtbot):
    # Nothing saved yet: the 1400×900 default shrinks to the screen (a 1024×700
    # laptop, or the offscreen platform's 800×600), down to what the layout needs.
    from gui.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    room = window.screen().availableGeometry()
    need = window.minimumSizeHint()
    assert room.width() < 1400 and room.height() < 900  # the case under test
    assert window.width() <= max(room.width(), need.width())
    assert window.height() <= max(room.height(), need.height())


def test_the_demo_opens_without_a_stale_preparing_message(qtbot, tiny_project, monkeypatch):
    import core.io.demo
    from gui.main_window import MainWindow

    monkeypatch.setattr(core.io.demo, "ensure_demo_project", lambda progress=None: tiny_project)
    window = MainWindow()
    qtbot.addWidget(window)
    window.open_demo()
    assert window.statusBar().currentMessage() == "Preparing the demo project…"
    qtbot.waitUntil(lambda: window.context is not None, timeout=10000)
    assert window.statusBar().currentMessage() == ""
