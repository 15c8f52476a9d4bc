"""Colours, label badges and shared look of the labeling workspace.

One place for the label colours so every view (panes, document panel, map,
review) shows a label the same way. Colours are picked to stay distinct for
the common colour-vision deficiencies (blue / vermilion / amber, not red / green
alone) and every badge also carries a letter.
"""

from __future__ import annotations

from functools import lru_cache

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPixmap

LABEL_COLORS = {
    "positive": "#1b7f3b",
    "negative": "#c2410c",
    "false_negative": "#7c3aed",
}
LABEL_TINTS = {
    "positive": "#e3f4e8",
    "negative": "#fbe9e0",
    "false_negative": "#efe7fd",
}
LABEL_LETTERS = {"positive": "P", "negative": "N", "false_negative": "F"}
LABEL_TITLES = {"positive": "Positive", "negative": "Negative", "false_negative": "False negative"}
# The source shown for a label the writer has not saved yet (never stored).
UNSAVED_SOURCE = "unsaved"
SOURCE_TITLES = {"imported": "imported", "user": "you", "mined": "mined",
                 UNSAVED_SOURCE: "you, not saved yet"}

PANE_TITLES = {"bm25": "BM25", "dense": "Dense", "hybrid": "Hybrid"}
PANE_LETTERS = {"bm25": "B", "dense": "D", "hybrid": "H"}


@lru_cache(maxsize=None)
def label_pixmap(label: str, size: int = 20, dashed: bool = False) -> QPixmap:
    """A rounded badge with the label's letter; ``dashed`` = proposed by mining, unreviewed."""
    pix = QPixmap(size, size)
    pix.fill(Qt.GlobalColor.transparent)
    p = QPainter(pix)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    color = QColor(LABEL_COLORS[label])
    rect = QRectF(1, 1, size - 2, size - 2)
    if dashed:
        pen = p.pen()
        pen.setColor(color)
        pen.setWidthF(1.6)
        pen.setStyle(Qt.PenStyle.DashLine)
        p.setPen(pen)
        p.setBrush(QColor(LABEL_TINTS[label]))
    else:
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(color)
    p.drawRoundedRect(rect, 4, 4)
    font = QFont()
    font.setBold(True)
    font.setPixelSize(int(size * 0.62))
    p.setFont(font)
    p.setPen(color if dashed else QColor("white"))
    p.drawText(rect, Qt.AlignmentFlag.AlignCenter, LABEL_LETTERS[label])
    p.end()
    return pix


def label_icon(label: str, dashed: bool = False) -> QIcon:
    return QIcon(label_pixmap(label, 20, dashed))


def label_html(label: str | None) -> str:
    """A coloured inline badge for rich text (document panel, history)."""
    if not label:
        return '<span style="color:#777">no label</span>'
    return (f'<span style="background-color:{LABEL_COLORS[label]}; color:white; '
            f'font-weight:600">&nbsp;{LABEL_TITLES[label]}&nbsp;</span>')
