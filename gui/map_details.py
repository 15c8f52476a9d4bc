"""The map's side panel: the clicked document or query, in full, beside the plot.

A click on the map selects a point; this panel shows what it is (title,
id, its label for the current query, the whole text) without leaving the
map. The Labeling tab still opens the document too.
"""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QTextBrowser, QVBoxLayout, QWidget

EMPTY_TEXT = "Click a point on the map to see its document or query here."


class MapDetails(QWidget):
    """Rich text of the point the user clicked; a hint while none is."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("map-details")
        self.heading = QLabel("<b>Selected point</b>")
        self.text = QTextBrowser()
        self.text.setObjectName("map-details-text")
        self.text.setOpenLinks(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 0, 0, 0)
        layout.addWidget(self.heading)
        layout.addWidget(self.text, 1)
        self.setMinimumWidth(160)
        self.clear()

    def show_point(self, kind: str, ident: str, rich_text: str) -> None:
        if (kind, ident, rich_text) == (self.kind, self.ident, self._shown):
            return  # a redraw (e.g. each frame of the before/after slider) keeps the scroll position
        self.kind, self.ident, self._shown = kind, ident, rich_text
        self.heading.setText("<b>Query</b>" if kind == "query" else "<b>Document</b>")
        self.text.setHtml(rich_text)

    def clear(self) -> None:
        self.kind: str | None = None
        self.ident: str | None = None
        self._shown = ""
        self.heading.setText("<b>Selected point</b>")
        self.text.setHtml(f'<span style="color:#4b5563">{EMPTY_TEXT}</span>')
