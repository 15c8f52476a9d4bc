"""What a "Mine all" run ended with, shown in the mining dialog: the pass's proposals, what
each rule dropped, the candidates a rule found too close to the positive (suspected false
negatives, the review queue's possible positives) and a "Review now" button; or why the run
failed or was cancelled.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from core.mining.miner import MiningResult
from core.mining.rules import REASON_TEXT
from core.mining.store import TOO_CLOSE_REASONS

# Drop reasons that are labels, not rules: a positive or false negative is never a negative.
_LABEL_REASONS = ("positive", "false_negative")


def _queries(n: int) -> str:
    return f"{n:,} query" if n == 1 else f"{n:,} queries"


def outcome_text(result: MiningResult) -> str:
    """The pass's counts in words (rich text), from ``result.counts``."""
    c = result.counts
    dropped = {r: n for r, n in c["dropped"].items() if n and r not in _LABEL_REASONS}
    suspected = sum(c["dropped"].get(r, 0) for r in TOO_CLOSE_REASONS)
    took = f"{result.seconds:.1f} s" if result.seconds >= 0.1 else f"{result.seconds * 1000:.0f} ms"
    lines = [f"<b>Pass {result.pass_number}</b>: {c['proposed']:,} negatives proposed for "
             f"{_queries(c['queries_mined'])} ({took})."]
    if c["queries_short"]:
        lines.append(f"{_queries(c['queries_short'])} got fewer than {result.config.num_negatives}.")
    if c["queries_without_positives"]:
        lines.append(f"{_queries(c['queries_without_positives'])} skipped: no positive label.")
    if dropped:
        rules = ", ".join(f"{REASON_TEXT[r].removeprefix('dropped: ')} {n:,}" for r, n in dropped.items())
        lines.append(f"Dropped by the rules: {html.escape(rules)}.")
    else:
        lines.append("No rule dropped a candidate.")
    if suspected:
        lines.append(f"<b>{suspected:,} suspected false negatives</b> (scored too close to the "
                     "positive): check them first in the review queue.")
    return "<br>".join(lines)


class MiningOutcome(QWidget):
    """The result of the last run and the next step; hidden until a run ends."""

    reviewRequested = Signal(int)  # pass number

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("mining-outcome")
        self.message = QLabel()
        self.message.setObjectName("mining-outcome-message")
        self.message.setWordWrap(True)
        self.review_button = QPushButton("Review now")
        self.review_button.setObjectName("mining-review-now")
        self.review_button.setToolTip("Open the Review tab on this pass")
        self.review_button.clicked.connect(self._review)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 4)
        layout.addWidget(self.message, 1)
        layout.addWidget(self.review_button)
        self._pass_number: int | None = None
        self.setVisible(False)

    def show_result(self, result: MiningResult) -> None:
        self._pass_number = result.pass_number
        self.message.setText(outcome_text(result))
        self.review_button.setVisible(True)
        self.setVisible(True)

    def show_failure(self, reason: str) -> None:
        self._pass_number = None
        self.message.setText(f"<span style='color:#b91c1c'>{html.escape(reason)}</span>")
        self.review_button.setVisible(False)
        self.setVisible(True)

    def clear(self) -> None:
        self._pass_number = None
        self.setVisible(False)

    def _review(self) -> None:
        if self._pass_number is not None:
            self.reviewRequested.emit(self._pass_number)
