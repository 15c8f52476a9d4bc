"""Session memory in QSettings: recent projects, chosen folders, window and splitter layout,
the compute choice (device and encoder), and per project the last query and the query-list filter.

Everything here is a convenience: a value that is missing, stale (a project
or folder that no longer exists, a query that was deleted) or of the wrong
type is ignored and the default is used.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMainWindow, QSplitter, QWidget

from core.retrieval.device import ComputeChoice

RECENT_KEY = "paths/recent_projects"
MAX_RECENT = 10


def settings() -> QSettings:
    return QSettings("Retriever Studio", "Retriever Studio")


def _as_list(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    return [str(v) for v in value]


# -- recent projects -------------------------------------------------------------------------
def recent_projects() -> list[str]:
    """Recently opened project files, newest first (including ones since moved or deleted)."""
    return _as_list(settings().value(RECENT_KEY))


def remember_recent(path: Path) -> None:
    store = settings()
    path = str(Path(path).resolve())
    store.setValue("paths/last_folder", str(Path(path).parent))
    recent = [p for p in recent_projects() if p != path]
    store.setValue(RECENT_KEY, [path] + recent[:MAX_RECENT - 1])


def forget_recent(path: str | None = None) -> None:
    """Drop one project from the list, or all of them."""
    store = settings()
    store.setValue(RECENT_KEY, [] if path is None else [p for p in recent_projects() if p != path])


def last_project() -> Path | None:
    """The newest recent project that still exists, or None."""
    for p in recent_projects():
        if Path(p).is_file():
            return Path(p)
    return None


# -- compute: which device and encoder the app's jobs use --------------------------------------
def compute_choice() -> ComputeChoice:
    store = settings()
    return ComputeChoice.parse(store.value("compute/device"), store.value("compute/encoder"))


def remember_compute(choice: ComputeChoice) -> None:
    store = settings()
    store.setValue("compute/device", choice.device)
    store.setValue("compute/encoder", choice.encoder)


# -- folders the file choosers start in ---------------------------------------------------------
def folder(key: str) -> Path:
    """The folder a chooser for ``key`` last picked from (home if none or gone)."""
    value = settings().value(f"folders/{key}")
    return Path(value) if value and Path(str(value)).is_dir() else Path.home()


def remember_folder(key: str, path: str | Path) -> None:
    """Remember where ``path`` (a file or a folder) was chosen, for the next chooser of ``key``."""
    path = Path(path)
    settings().setValue(f"folders/{key}", str(path if path.is_dir() else path.parent))


# -- window and splitters ----------------------------------------------------------------------
def save_window(window: QMainWindow) -> None:
    """Size, position and maximized state (plain values: restoreGeometry() would squeeze a
    window into whatever screen is present at restore time, even a virtual 800×600 one)."""
    store = settings()
    store.setValue("window/maximized", "true" if window.isMaximized() else "false")
    normal = window.normalGeometry() if window.isMaximized() else window.geometry()
    store.setValue("window/size", [normal.width(), normal.height()])
    store.setValue("window/position", [normal.x(), normal.y()])


def default_size(window: QWidget, width: int = 1400, height: int = 900) -> tuple[int, int]:
    """The first-run window size: ``width`` × ``height``, shrunk to fit the screen it opens on."""
    screen = window.screen() or QGuiApplication.primaryScreen()
    if screen is None:
        return width, height
    room = screen.availableGeometry()
    return min(width, room.width()), min(height, room.height())


def restore_window(window: QMainWindow) -> bool:
    """Put the window back as it was; False when nothing usable was saved."""
    store = settings()
    try:
        width, height = (int(v) for v in _as_list(store.value("window/size")))
    except ValueError:
        return False
    window.resize(max(width, 400), max(height, 300))
    try:
        x, y = (int(v) for v in _as_list(store.value("window/position")))
    except ValueError:
        x = y = None
    # Only onto a screen that is there now (a monitor may have been unplugged).
    if x is not None and any(screen.availableGeometry().contains(QPoint(x + 40, y + 20))
                             for screen in QGuiApplication.screens()):
        window.move(x, y)
    if str(store.value("window/maximized", "false")) == "true":
        window.setWindowState(window.windowState() | Qt.WindowState.WindowMaximized)
    return True


def _splitters(view: QWidget) -> list[QSplitter]:
    # Creation order is the same every run of the same code, so the index names a splitter.
    return view.findChildren(QSplitter)


def splitter_index(view: QWidget, splitter: QSplitter) -> int:
    return _splitters(view).index(splitter)


def save_splitter(key: str, index: int, splitter: QSplitter) -> None:
    sizes = splitter.sizes()
    if sum(sizes) > 0:
        settings().setValue(f"splitters/{key}/{index}", [int(s) for s in sizes])


def has_splitter(key: str, index: int) -> bool:
    return settings().contains(f"splitters/{key}/{index}")


def remember_splitters(key: str, view: QWidget) -> None:
    """Put back the sizes the user gave ``view``'s splitters, and remember each new one.

    Only a drag by the user (``splitterMoved``) or :func:`save_splitter` stores
    sizes: a tab that was never shown has placeholder sizes that must not be kept.
    """
    store = settings()
    for i, splitter in enumerate(_splitters(view)):
        try:
            sizes = [int(s) for s in _as_list(store.value(f"splitters/{key}/{i}"))]
        except ValueError:
            sizes = []
        if len(sizes) == splitter.count() and sum(sizes) > 0:
            splitter.setSizes(sizes)
        splitter.splitterMoved.connect(lambda _pos, _handle, i=i, sp=splitter: save_splitter(key, i, sp))


# -- per project: query and filter -------------------------------------------------------------
def project_key(project_path: Path, name: str) -> str:
    digest = hashlib.sha1(str(Path(project_path).resolve()).encode()).hexdigest()[:16]
    return f"project-{digest}/{name}"


def project_value(project_path: Path, name: str, default: str = "") -> str:
    value = settings().value(project_key(project_path, name))
    return default if value is None else str(value)


def set_project_value(project_path: Path, name: str, value: str) -> None:
    settings().setValue(project_key(project_path, name), value)
