"""Item 1 of issue 15: every view is usable at 1024×700 -- nothing cut off at the window's edge."""

from __future__ import annotations

import pytest
from helpers_gui import isolated_settings, open_window, shared_encoder  # noqa: F401 (fixtures)
from PySide6.QtCore import QRect
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractScrollArea,
    QApplication,
    QLabel,
    QWidget,
)

SMALL = (1024, 700)




def cut_off_widgets(window: QWidget) -> list[str]:
    """Visible widgets whose rectangle pokes out of their parent's (outside scroll areas)."""
    problems = []
    for w in window.findChildren(QWidget):
        if w.isWindow() or not w.isVisible() or w.width() <= 0 or w.height() <= 0:
            continue
        if _inside_scroll_content(w, window) or _collapsed(w, window):
            continue
        parent = w.parentWidget()
        if _text_clipped(w):
            problems.append(f"{type(w).__name__}({_text(w)!r}) is {w.width()} px wide, its text "
                            f"needs {w.minimumSizeHint().width()}")
        if not parent.rect().contains(w.geometry()):
            problems.append(f"{type(w).__name__}({w.objectName() or _text(w)!r})"
                            f" {_r(w.geometry())} outside {type(parent).__name__}"
                            f"({parent.objectName()!r}) {_r(parent.rect())}")
    return problems


def _collapsed(widget: QWidget, top: QWidget) -> bool:
    """Inside a panel a splitter collapsed to nothing: not on screen at all."""
    parent = widget.parentWidget()
    while parent is not None and parent is not top:
        if parent.width() <= 0 or parent.height() <= 0:
            return True
        parent = parent.parentWidget()
    return False


def _text(w: QWidget) -> str:
    return w.text() if isinstance(w, (QLabel, QAbstractButton)) else w.objectName()


def _text_clipped(w: QWidget) -> bool:
    """A one-line label or a button narrower than its text (an eliding label never is)."""
    if isinstance(w, QLabel) and not w.wordWrap() and w.text():
        return w.width() + 1 < w.minimumSizeHint().width()
    if isinstance(w, QAbstractButton) and w.text():
        return w.width() + 1 < w.minimumSizeHint().width()
    return False


def _inside_scroll_content(widget: QWidget, top: QWidget) -> bool:
    child, parent = widget, widget.parentWidget()
    while parent is not None and child is not top:
        if isinstance(parent, QAbstractScrollArea) and child is parent.viewport():
            return widget is not child  # the viewport itself must fit; what it shows scrolls
        child, parent = parent, parent.parentWidget()
    return False


def _r(rect: QRect) -> str:
    return f"[{rect.x()},{rect.y()} {rect.width()}×{rect.height()}]"


def test_every_view_fits_1024x700(qtbot, tiny_project):
    window = open_window(qtbot, tiny_project)
    window.resize(*SMALL)
    qtbot.waitUntil(lambda: (window.width(), window.height()) == SMALL, timeout=5000)
    for key in window.views:
        window.show_view(key)
        for _ in range(3):
            QApplication.processEvents()
        assert (window.width(), window.height()) == SMALL, \
            f"{key}: the window cannot shrink to 1024×700 (it is {window.width()}×{window.height()})"
        assert cut_off_widgets(window) == [], f"{key} view at 1024×700"


LONG_SUMMARIES = {
    "compare": ("state", "300 queries of split 'test' · baseline dense · bundled · hybrid fusion "
                "bundled: weighted 0.5/0.5 (chosen on train); v12: weighted 0.3/0.7 (chosen on train)"),
    "review": ("rate_label", "12,295 proposed · 1,024 accepted · 18 flipped · 3 rejected · 11,250 "
               "pending — <b>1.7%</b> of reviewed proposals were false negatives"),
}


@pytest.mark.parametrize("view", sorted(LONG_SUMMARIES))
def test_a_long_summary_line_wraps_instead_of_widening_the_window(qtbot, tiny_project, view):
    window = open_window(qtbot, tiny_project)
    window.resize(*SMALL)
    window.show_view(view)
    attribute, text = LONG_SUMMARIES[view]
    getattr(window.views[view], attribute).setText(text)
    for _ in range(3):
        QApplication.processEvents()
    assert (window.width(), window.height()) == SMALL
    assert cut_off_widgets(window) == []


def test_side_panels_collapse_to_give_the_panes_room(qtbot, tiny_project):
    window = open_window(qtbot, tiny_project)
    window.resize(*SMALL)
    qtbot.waitUntil(lambda: (window.width(), window.height()) == SMALL, timeout=5000)
    splitter = window.workspace.splitter
    before = splitter.sizes()
    toggles = {a.objectName(): a for a in window.view_menu.actions()}
    query_list, document = toggles["side-panel-0"], toggles["side-panel-2"]
    assert query_list.isChecked() and document.isChecked()
    document.setChecked(False)
    query_list.setChecked(False)
    after = splitter.sizes()
    assert after[0] == 0 and after[2] == 0 and after[1] == sum(before)
    assert cut_off_widgets(window) == []
    document.setChecked(True)
    assert splitter.sizes()[2] >= splitter.widget(2).minimumSizeHint().width()


def test_a_small_window_opens_with_narrow_side_panels(qtbot, tiny_project):
    from gui.main_window import MainWindow

    widths = {}
    for width in (1024, 1600):
        window = MainWindow()
        qtbot.addWidget(window)
        window.resize(width, 700)
        window.show()
        window.open_project(tiny_project)
        splitter = window.workspace.splitter
        qtbot.waitUntil(lambda: sum(splitter.sizes()) > 0 and splitter.width() > 0, timeout=5000)
        QApplication.processEvents()
        widths[width] = splitter.sizes()
        minimum = [splitter.widget(i).minimumSizeHint().width() for i in (0, 2)]
        if width == 1024:
            assert [widths[width][0], widths[width][2]] == minimum
        window.close()
    # The wide window keeps the roomier defaults.
    assert widths[1600][0] > widths[1024][0] and widths[1600][2] > widths[1024][2]
