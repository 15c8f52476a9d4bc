"""Asking before a bulk label from the map overwrites relevant judgements."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget

from core.labeling.bulk import BulkPlan

from .commands import LABEL_NAMES

# What the dialog's buttons answer.
LEAVE, OVERWRITE, CANCEL = "leave", "overwrite", "cancel"


def describe_overwrites(plan: BulkPlan) -> str:
    """"1 positive and 2 false negatives" (the relevant judgements the action would change)."""
    parts = []
    for label, title in (("positive", "positive"), ("false_negative", "false negative")):
        n = len(plan.relevant.get(label, ()))
        if n:
            parts.append(f"{n} {title}{'s' if n != 1 else ''}")
    return " and ".join(parts)


def overwrite_box(plan: BulkPlan, query_id: str, parent: QWidget | None = None) -> QMessageBox:
    """The question (built, not shown): leave the relevant ones as they are (default), or change them."""
    what = LABEL_NAMES.get(plan.label, plan.label)
    action = f"mark them as {what}" if plan.label else "clear their labels"
    box = QMessageBox(QMessageBox.Icon.Question, "Change relevant judgements?",
                      f"The selection holds {describe_overwrites(plan)} of query {query_id}.",
                      QMessageBox.StandardButton.NoButton, parent)
    box.setObjectName("bulk-overwrite-question")
    box.setInformativeText(
        f"Labeling the selection would {action}. By default they are left as they are and "
        f"only the other {len(plan.free)} document{'s' if len(plan.free) != 1 else ''} "
        f"{'are' if len(plan.free) != 1 else 'is'} labeled.")
    leave = box.addButton("Leave them as they are", QMessageBox.ButtonRole.AcceptRole)
    box.addButton(f"Change them too ({plan.overwrites})", QMessageBox.ButtonRole.DestructiveRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(leave)
    return box


def answer_of(box: QMessageBox) -> str:
    clicked = box.clickedButton()
    if clicked is None or box.buttonRole(clicked) == QMessageBox.ButtonRole.RejectRole:
        return CANCEL
    return OVERWRITE if box.buttonRole(clicked) == QMessageBox.ButtonRole.DestructiveRole else LEAVE


def ask_overwrite(plan: BulkPlan, query_id: str, parent: QWidget | None = None) -> str:
    """Ask (modal) and return :data:`LEAVE`, :data:`OVERWRITE` or :data:`CANCEL`."""
    box = overwrite_box(plan, query_id, parent)
    box.exec()
    answer = answer_of(box)
    box.deleteLater()
    return answer
