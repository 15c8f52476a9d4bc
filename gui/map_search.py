"""The map's find box: ids and words to a list of matching documents and queries.

Typing waits a moment, then :func:`core.project.queries.find_points` runs on
a job thread (the latest request wins) and fills the completer; picking a
result, or Return, asks the map to locate it.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QStringListModel, QTimer
from PySide6.QtWidgets import QCompleter, QLineEdit, QWidget

from core.map.jobs import ask_project
from core.project.queries import Found, find_points

from .context import AppContext
from .workers import Latest

DEBOUNCE_MS = 250


class MapSearch(QLineEdit):
    """Find a document or query; ``locate(kind, id)`` centres the map on it and returns whether it could."""

    def __init__(self, context: AppContext, locate: Callable[[str, str], bool],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self._locate = locate
        self.found: list[Found] = []
        self._lookup = Latest(context.jobs, "Map search", self)
        self.setPlaceholderText("Find a document or query (id or words)…")
        self.setClearButtonEnabled(True)
        self.setMinimumWidth(260)
        self._model = QStringListModel(self)
        completer = QCompleter(self._model, self)
        completer.setCompletionMode(QCompleter.CompletionMode.UnfilteredPopupCompletion)
        completer.activated[str].connect(self._chosen)
        self.setCompleter(completer)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self.run_search)
        self.textEdited.connect(lambda _t: self._timer.start())
        self.returnPressed.connect(self._return_pressed)

    def run_search(self) -> None:
        """Look up the current text now (in the background)."""
        text = self.text().strip()
        if not text:
            return
        self._lookup.request(ask_project, self.context.project_path, find_points, text,
                             on_result=self._results)

    def _results(self, found: list[Found]) -> None:
        self.found = found
        self._model.setStringList([self._title(f) for f in found])
        if found and self.hasFocus():
            self.completer().complete()

    @staticmethod
    def _title(found: Found) -> str:
        text = found.text if len(found.text) <= 80 else found.text[:79] + "…"
        return f"{'Query' if found.kind == 'query' else 'Doc'} {found.id}: {text}"

    def _chosen(self, title: str) -> None:
        for f in self.found:
            if self._title(f) == title:
                self._locate(f.kind, f.id)
                return

    def _return_pressed(self) -> None:
        """An exact query or document id first, else the first result."""
        text = self.text().strip()
        if self._locate("query", text) or self._locate("document", text):
            return
        if self.found:
            self._locate(self.found[0].kind, self.found[0].id)
