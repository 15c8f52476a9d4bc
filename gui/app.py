"""QApplication setup and the interactive entry point."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QApplication

from .errors import install_excepthook
from .main_window import MainWindow, app_icon
from .session import last_project


def ensure_display() -> None:
    """Render offscreen when there is no display (CI, ssh, screenshots)."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
            or sys.platform in ("win32", "darwin")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def collect_garbage_on_ui_thread(app: QApplication) -> None:
    """Run Python's cycle collector only on the UI thread, on a timer.

    Left automatic, the collector runs in whichever thread happens to
    allocate: a worker thread can then destroy a Qt object from the UI's
    reference cycles, whose destructor takes Qt's connection lock while the
    UI thread holds the GIL and waits for that lock -- a deadlock seen here in
    the test suite. pyqtgraph's GarbageCollector disables automatic
    collection and collects on a UI-thread timer instead.
    """
    from pyqtgraph.util.garbage_collector import GarbageCollector

    if getattr(app, "_ui_thread_gc", None) is None:
        app._ui_thread_gc = GarbageCollector(interval=1.0)


def create_app(argv: list[str] | None = None) -> QApplication:
    """The process's QApplication (created once), named and styled for the app."""
    app = QApplication.instance()
    if app is None:
        QCoreApplication.setOrganizationName("Retriever Studio")
        QCoreApplication.setApplicationName("Retriever Studio")
        app = QApplication(list(argv) if argv is not None else sys.argv[:1])
        # Fusion looks the same on every platform and offscreen, so screenshots
        # show what users see.
        app.setStyle("Fusion")
        collect_garbage_on_ui_thread(app)
    app.setWindowIcon(app_icon())
    return app  # type: ignore[return-value]


def run(project: Path | None = None, *, demo: bool = False) -> int:
    """Show the main window and run the event loop.

    On ``project``; without one (and ``demo``), on the most recently opened
    project that still exists, else the demo project.
    """
    app = create_app()
    if project is None and demo:
        project = last_project()
    previous_hook = install_excepthook()
    try:
        window = MainWindow(project)
        window.show()
        if project is None and demo and window.demo_action.isEnabled():
            window.open_demo()
        return app.exec()
    finally:
        sys.excepthook = previous_hook
