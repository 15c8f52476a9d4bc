"""The selected document in full, its label for the current query and the label's history."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from core.project.file import HistoryEntry, Label
from core.retrieval.highlight import highlight_html

from .style import LABEL_TITLES, SOURCE_TITLES, label_html, label_icon


def _when(iso: str) -> str:
    # "2024-05-01T10:22:33.123+00:00" -> "2024-05-01 10:22:33" (UTC, as stored)
    return iso.replace("T", " ")[:19] if iso else ""


class DocumentPanel(QWidget):
    """Shows one document; its buttons label it for the current query."""

    labelRequested = Signal(str, object)  # (doc_id, label or None)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.doc_id: str | None = None
        self.heading = QLabel("<i>No document selected</i>")
        self.heading.setWordWrap(True)
        self.heading.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.body = QTextBrowser()
        self.body.setObjectName("document-body")
        self.body.setOpenLinks(False)

        buttons = QGridLayout()
        buttons.setSpacing(4)
        self.buttons: dict[str | None, QPushButton] = {}
        for i, (label, text) in enumerate((("positive", "Positive"), ("negative", "Negative"),
                                          ("false_negative", "False negative"), (None, "Clear"))):
            b = QPushButton(text)
            if label:
                b.setIcon(label_icon(label))
            b.setToolTip(f"Mark this document {LABEL_TITLES[label].lower()} for the current query"
                         if label else "Remove this document's label for the current query")
            b.clicked.connect(lambda _=False, lab=label: self._request(lab))
            b.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            buttons.addWidget(b, i // 2, i % 2)
            self.buttons[label] = b

        self.label_info = QLabel()
        self.label_info.setWordWrap(True)
        self.history = QTextBrowser()
        self.history.setObjectName("document-history")

        lower = QWidget()
        lower_layout = QVBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        lower_layout.addLayout(buttons)
        lower_layout.addWidget(self.label_info)
        lower_layout.addWidget(self.history, 1)

        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.body)
        split.addWidget(lower)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setChildrenCollapsible(False)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.heading)
        layout.addWidget(split, 1)
        self._set_enabled(False)

    def _set_enabled(self, on: bool) -> None:
        for b in self.buttons.values():
            b.setEnabled(on)

    def _request(self, label: str | None) -> None:
        if self.doc_id is not None:
            self.labelRequested.emit(self.doc_id, label)

    def clear(self) -> None:
        self.doc_id = None
        self.heading.setText("<i>No document selected</i>")
        self.body.clear()
        self.label_info.clear()
        self.history.clear()
        self._set_enabled(False)

    def show_document(self, doc_id: str, title: str, text: str, terms: frozenset[str],
                      label: Label | None, history: list[HistoryEntry],
                      can_label: bool = True) -> None:
        """Display a document (already read by the caller) with ``terms`` highlighted."""
        same = doc_id == self.doc_id
        self.doc_id = doc_id
        self.heading.setText(f"<b style='font-size:115%'>{highlight_html(title, terms) or '(untitled)'}"
                             f"</b><br><span style='color:#777'>{html.escape(doc_id)}</span>")
        scroll = self.body.verticalScrollBar().value() if same else 0
        self.body.setHtml(f"<div style='line-height:135%'>{highlight_html(text, terms)}</div>")
        self.body.verticalScrollBar().setValue(scroll)
        self.show_label(label, history)
        self._set_enabled(can_label)

    def show_label(self, label: Label | None, history: list[HistoryEntry]) -> None:
        if label is None:
            self.label_info.setText("For this query: " + label_html(None))
        else:
            who = SOURCE_TITLES.get(label.source, label.source)
            self.label_info.setText(
                f"For this query: {label_html(label.label)} gain {label.gain} · set by {who}, "
                f"pass {label.pass_number}, {_when(label.updated_at)}")
        if not history:
            self.history.setHtml("<span style='color:#777'>No label history for this query.</span>")
            return
        rows = []
        for h in reversed(history):
            rows.append(
                f"<tr><td style='color:#555'>{_when(h.at)}</td>"
                f"<td>{label_html(h.old_label) if h.old_label else '—'} → {label_html(h.label)}</td>"
                f"<td>{SOURCE_TITLES.get(h.source, h.source)}</td><td>pass {h.pass_number}</td></tr>")
        self.history.setHtml(
            "<b>History</b> (newest first)<table cellspacing='2' cellpadding='2'>"
            "<tr><th align='left'>When (UTC)</th><th align='left'>Change</th>"
            "<th align='left'>By</th><th align='left'>Pass</th></tr>" + "".join(rows) + "</table>")
