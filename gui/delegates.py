"""Painting highlighted rich text inside item views."""

from __future__ import annotations

from collections import OrderedDict

from PySide6.QtCore import QRectF, QSize
from PySide6.QtGui import (
    QAbstractTextDocumentLayout,
    QPalette,
    QTextDocument,
    QTextOption,
)
from PySide6.QtWidgets import (
    QApplication,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
)

from .models import HtmlRole


class HtmlDelegate(QStyledItemDelegate):
    """Paints an index's ``HtmlRole`` text (title + highlighted snippet), clipped to the cell.

    Laid-out documents are cached by (html, width): scrolling and repaints
    after a label change reuse them instead of re-parsing rich text.
    """

    CACHE_SIZE = 600

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._cache: OrderedDict[tuple[str, int], QTextDocument] = OrderedDict()

    def _document(self, html: str, width: int, font) -> QTextDocument:
        key = (html, width)
        doc = self._cache.get(key)
        if doc is not None:
            self._cache.move_to_end(key)
            return doc
        doc = QTextDocument()
        doc.setDocumentMargin(2)
        doc.setDefaultFont(font)
        opt = QTextOption()
        opt.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        doc.setDefaultTextOption(opt)
        doc.setHtml(html)
        doc.setTextWidth(width)
        self._cache[key] = doc
        if len(self._cache) > self.CACHE_SIZE:
            self._cache.popitem(last=False)
        return doc

    def paint(self, painter, option: QStyleOptionViewItem, index) -> None:
        html = index.data(HtmlRole)
        if html is None:
            super().paint(painter, option, index)
            return
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""
        style = opt.widget.style() if opt.widget else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)
        rect = opt.rect.adjusted(3, 2, -3, -2)
        doc = self._document(html, rect.width(), opt.font)
        painter.save()
        painter.translate(rect.topLeft())
        painter.setClipRect(QRectF(0, 0, rect.width(), self._whole_lines(doc, rect.height())))
        ctx = QAbstractTextDocumentLayout.PaintContext()
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        color_role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        ctx.palette.setColor(QPalette.ColorRole.Text, opt.palette.color(color_role))
        doc.documentLayout().draw(painter, ctx)
        painter.restore()

    @staticmethod
    def _whole_lines(doc: QTextDocument, height: int) -> float:
        """The height of the lines that fit completely (no line is cut in half)."""
        layout = doc.documentLayout()
        block = doc.begin()
        bottom = 0.0
        while block.isValid():
            top = layout.blockBoundingRect(block).top()
            text_layout = block.layout()
            for i in range(text_layout.lineCount()):
                line = text_layout.lineAt(i)
                end = top + line.y() + line.height()
                if end > height:
                    return bottom if bottom else height
                bottom = end
            block = block.next()
        return max(bottom, float(height))

    def sizeHint(self, option: QStyleOptionViewItem, index) -> QSize:
        # Rows have a fixed height (set on the view); width follows the column.
        return QSize(200, 60)
