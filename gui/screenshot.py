"""Render the real main window offscreen and save it as a PNG (docs, reviews, CI)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QEventLoop, QSettings, QTimer

from core.errors import StudioError

from .app import create_app, ensure_display
from .main_window import LABELING_KEY, MainWindow


def _wait(predicate, timeout: float, step_ms: int = 50) -> bool:
    """Run the event loop until ``predicate()`` is true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    loop = QEventLoop()
    timer = QTimer()
    timer.setInterval(step_ms)

    def check() -> None:
        if predicate() or time.monotonic() >= deadline:
            loop.quit()

    timer.timeout.connect(check)
    timer.start()
    if not predicate():
        loop.exec()
    timer.stop()
    return bool(predicate())


def take_screenshot(project: Path, out: Path, *, view: str = LABELING_KEY,
                    query: str | None = None, size: tuple[int, int] = (1400, 900),
                    timeout: float = 300.0, document: str | None = None,
                    hybrid: bool | None = None) -> Path:
    """Open ``project`` in a main window of ``size``, wait for ``view`` to be ready, save ``out``.

    The labeling view is ready when every visible pane shows its candidates
    (dense waits for the embeddings to exist); another view when its
    ``is_ready()`` returns True (:class:`gui.view.View`). ``query`` selects
    a query id first; ``document`` shows that document in the right panel;
    ``hybrid`` shows (True) or hides (False) the hybrid pane for this shot.
    """
    ensure_display()
    project = Path(project)
    if not project.exists():
        raise StudioError(f"{project}: no such project file")
    # A screenshot neither reads nor changes the user's session (last query, filters,
    # splitters, recent projects): the same command gives the same picture.
    settings_dir = tempfile.TemporaryDirectory(prefix="retriever-studio-screenshot-")
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, settings_dir.name)
    app = create_app()
    window = MainWindow()
    try:
        window.resize(*size)
        if not window.open_project(project):
            raise StudioError(f"{project}: could not be opened")
        window.show()
        ws = window.workspace
        assert ws is not None and window.context is not None
        if hybrid is not None:
            ws.hybrid_box.blockSignals(True)  # for this window only, not the saved setting
            ws.hybrid_box.setChecked(hybrid)
            ws.hybrid_box.blockSignals(False)
            ws.panes["hybrid"].setVisible(hybrid)
        if not _wait(lambda: ws.overview_loaded, timeout):
            raise StudioError("timed out reading the project's queries")
        if query is not None:
            if window.context.project.get_query(query) is None:
                raise StudioError(f"{project}: no query {query!r}")
            window.context.set_current_query(query)
        shown = window.show_view(view)
        shown.prepare_screenshot()
        if not _wait(shown.is_ready, timeout):
            raise StudioError(f"timed out after {timeout:.0f} s waiting for the {view} view")
        if view == LABELING_KEY:
            if document is not None:
                window.context.activate_document(document)
            elif ws.document.doc_id is None:
                pane = ws.active_pane()
                if pane.model.rowCount():
                    pane.select_row(0)
        _wait(lambda: False, 0.3)  # let the last repaint land
        app.processEvents()
        pixmap = window.grab()
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        if not pixmap.save(str(out), "PNG"):
            raise StudioError(f"{out}: could not write the PNG")
    finally:
        # Also after an error: a window left open would sit on top of the
        # next one in this process and take its mouse events.
        window.close()
        window.deleteLater()
    return out
