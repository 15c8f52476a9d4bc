"""QApplication setup and the interactive entry point."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QApplication

from .main_window import MainWindow, app_icon


def ensure_display() -> None:
    """Render offscreen when there is no display (CI, ssh, screenshots)."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
            or sys.platform in ("win32", "darwin")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


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
    app.setWindowIcon(app_icon())
    return app  # type: ignore[return-value]


def run(project: Path | None = None, *, demo: bool = False) -> int:
    """Show the main window (on ``project``, or the demo project) and run the event loop."""
    app = create_app()
    window = MainWindow(project)
    window.show()
    if project is None and demo and window.demo_action.isEnabled():
        window.open_demo()
    return app.exec()
