"""`retriever-studio screenshot` / `open` and the registration point for other views."""

from __future__ import annotations

import sys

from helpers_gui import isolated_settings, open_window, shared_encoder  # noqa: F401 (fixtures)
from PySide6.QtGui import QImage


def test_screenshot_command_renders_the_labeling_view(qtbot, tiny_project, tmp_path, capsys):
    from gui.cli import main

    out = tmp_path / "shots" / "labeling.png"
    code = main(["screenshot", str(tiny_project), str(out), "--query", "q3", "--size", "1200x800"])
    assert code == 0
    assert out.stat().st_size > 30_000  # a real window, not a blank image
    image = QImage(str(out))
    assert (image.width(), image.height()) == (1200, 800)
    assert str(out) in capsys.readouterr().out


def test_screenshot_errors_are_one_clear_line(qtbot, tiny_project, tmp_path, capsys):
    from gui.cli import main

    code = main(["screenshot", str(tiny_project), str(tmp_path / "x.png"), "--query", "nope"])
    assert code == 2
    assert "no query 'nope'" in capsys.readouterr().err
    assert main(["screenshot", str(tmp_path / "missing.rsproj"), str(tmp_path / "x.png")]) == 2


def test_gui_commands_join_the_core_commands():
    from core.cli.main import build_parser
    from gui.cli import register

    parser = build_parser(extra=[register])
    choices = parser._subparsers._group_actions[0].choices
    assert {"open", "screenshot", "import", "info"} <= set(choices)
    args = parser.parse_args(["screenshot", "p.rsproj", "o.png", "--view", "map", "--size", "800x600"])
    assert (args.view, args.size) == ("map", (800, 600))
    assert "PySide6.QtWidgets" in sys.modules  # (this test process has Qt; the CLI imports it lazily)


FAKE_VIEW = '''
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

class FakeView(QWidget):
    def __init__(self, context, parent=None):
        super().__init__(parent)
        self.context = context
        self.seen = []
        context.currentQueryChanged.connect(self.seen.append)
        QVBoxLayout(self).addWidget(QLabel("fake view"))

    def is_ready(self):
        return bool(self.seen)


from gui.view import View

closed = []


class DeclaredView(QWidget, View):
    def __init__(self, context, parent=None):
        super().__init__(parent)

    def shutdown(self):
        closed.append(self)
'''


def test_registered_views_become_tabs_and_missing_ones_are_skipped(qtbot, tiny_project, tmp_path,
                                                                   monkeypatch):
    import gui.main_window as mw

    (tmp_path / "fake_view_mod.py").write_text(FAKE_VIEW)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(mw, "VIEWS", [mw.ViewSpec("fake", "Fake", "fake_view_mod:FakeView"),
                                      mw.ViewSpec("later", "Later", "gui.not_written_yet:Later"),
                                      mw.ViewSpec("declared", "Declared",
                                                  "fake_view_mod:DeclaredView")])
    window = open_window(qtbot, tiny_project)
    titles = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert titles == ["Labeling", "Fake", "Declared"]
    view = window.show_view("fake")
    assert window.tabs.currentWidget() is view
    assert view.is_ready()  # it saw the workspace pick the first query through the context
    try:
        window.show_view("later")
    except KeyError as exc:
        assert "available: labeling, fake, declared" in str(exc)
    else:
        raise AssertionError("a view that is not built must not exist")


def test_views_get_the_view_hooks_and_are_shut_down_with_the_project(qtbot, tiny_project,
                                                                     tmp_path, monkeypatch):
    import gui.main_window as mw
    from gui.view import View

    (tmp_path / "hooked_view_mod.py").write_text(FAKE_VIEW)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(mw, "VIEWS", [mw.ViewSpec("fake", "Fake", "hooked_view_mod:FakeView"),
                                      mw.ViewSpec("declared", "Declared",
                                                  "hooked_view_mod:DeclaredView")])
    import hooked_view_mod

    window = open_window(qtbot, tiny_project)
    undeclared, declared = window.views["fake"], window.views["declared"]
    # A view that does not inherit View gets it at registration: its own hooks win ...
    assert isinstance(undeclared, View) and isinstance(undeclared, hooked_view_mod.FakeView)
    assert undeclared.is_ready() and undeclared.seen
    undeclared.prepare_screenshot()  # ... and the ones it lacks do nothing.
    assert isinstance(window.views["labeling"], View)
    assert declared.is_ready()  # the default
    assert hooked_view_mod.closed == []
    window.close_project()
    assert hooked_view_mod.closed == [declared]


def _run_open(monkeypatch, argv):
    """`retriever-studio open ...` up to the event loop; returns the window it showed."""
    from PySide6.QtWidgets import QApplication

    import gui.app
    from gui.cli import main
    from gui.main_window import MainWindow

    shown = []
    monkeypatch.setattr(gui.app, "MainWindow",
                        lambda project: shown.append(MainWindow(project)) or shown[-1])
    monkeypatch.setattr(QApplication, "exec", lambda self: 0)
    assert main(argv) == 0
    return shown[0]


def test_open_command_opens_the_project(qtbot, tiny_project, monkeypatch):
    window = _run_open(monkeypatch, [str(tiny_project)])  # `open` is the default command
    qtbot.addWidget(window)
    assert window.isVisible()
    assert window.context.project_path == tiny_project
    assert window.windowTitle().startswith("tiny")


def test_open_without_a_project_builds_and_opens_the_demo(qtbot, tmp_path, monkeypatch):
    demo = tmp_path / "demo.rsproj"
    monkeypatch.setenv("RS_DEMO_PROJECT", str(demo))
    window = _run_open(monkeypatch, [])
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.context is not None, timeout=60000)
    assert window.context.project_path == demo
    qtbot.waitUntil(lambda: window.workspace.queries.model.rowCount() == 100, timeout=30000)


def test_about_names_versions_and_settings_change_depth(qtbot, tiny_project):
    from gui.dialogs import about_html

    text = about_html()
    for name in ("Retriever Studio", "PySide6", "torch", "sentence-transformers", "project schema"):
        assert name in text
    window = open_window(qtbot, tiny_project, wait_ready=False)
    window.workspace.set_depth(7)
    assert window.workspace.depth_box.value() == 7
    from gui.workspace import settings

    assert int(settings().value("labeling/depth")) == 7


def test_headless_commands_do_not_import_qt(tiny_project):
    import subprocess

    code = ("import sys; from gui.cli import main; rc = main(['info', sys.argv[1], '--json']); "
            "sys.exit(rc or (3 if any(m.startswith('PySide6') for m in sys.modules) else 0))")
    done = subprocess.run([sys.executable, "-c", code, str(tiny_project)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert '"documents": 12' in done.stdout
