"""The mining preview's histogram: one query's candidate scores, kept and dropped stacked,
with its positives and each active rule's threshold (:func:`core.mining.rules.thresholds_for`)
drawn as lines.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

from core.mining.rules import CandidateDecision
from core.project.schema import RELEVANT_LABELS

from .style import LABEL_COLORS


class ScoreHistogram(pg.PlotWidget):
    """Candidate scores (kept vs dropped, stacked) with the positives and thresholds as lines."""

    KEPT = "#c2410c"
    DROPPED = "#9ca3af"

    def __init__(self, parent=None) -> None:
        super().__init__(parent, background="w")
        self.setMinimumHeight(170)
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        plot = self.getPlotItem()
        plot.setLabel("bottom", "score")
        plot.setLabel("left", "candidates")
        for axis in ("bottom", "left"):
            plot.getAxis(axis).enableAutoSIPrefix(False)  # "score (x0.001)" reads badly
        plot.showGrid(x=False, y=True, alpha=0.15)
        self.legend = plot.addLegend(offset=(-8, 8), labelTextSize="8pt")
        self.dropped_bars = pg.BarGraphItem(x=[], height=[], width=0.1, brush=self.DROPPED,
                                            pen=pg.mkPen(None), name="dropped")
        self.kept_bars = pg.BarGraphItem(x=[], height=[], width=0.1, brush=self.KEPT,
                                         pen=pg.mkPen(None), name="kept")
        plot.addItem(self.dropped_bars)
        plot.addItem(self.kept_bars)
        # Legend entries for the line kinds, created once.
        self._pos_proxy = plot.plot([], [], pen=pg.mkPen(LABEL_COLORS["positive"], width=2),
                                    name="positive")
        self._thr_proxy = plot.plot([], [], pen=pg.mkPen("#111827", width=1.5,
                                                         style=Qt.PenStyle.DashLine), name="threshold")
        self._lines: list[pg.InfiniteLine] = []

    def set_data(self, decisions: Sequence[CandidateDecision],
                 thresholds: Sequence[tuple[float, str]]) -> None:
        plot = self.getPlotItem()
        for line in self._lines:
            plot.removeItem(line)
        self._lines = []
        cands = [d for d in decisions if d.reason not in RELEVANT_LABELS]
        # The scores the rules judged: the teacher's when the pass has one.
        positives = [d.judged for d in decisions if d.reason in RELEVANT_LABELS]
        values = [d.judged for d in cands] + positives + [t for t, _ in thresholds]
        if not values:
            # y0 too: the kept bars stack on the previous (30-bin) dropped counts otherwise,
            # and painting an empty histogram raised a broadcast error.
            self.kept_bars.setOpts(x=[], height=[], y0=0)
            self.dropped_bars.setOpts(x=[], height=[])
            return
        lo, hi = min(values), max(values)
        if hi - lo < 1e-9:
            lo, hi = lo - 0.5, hi + 0.5
        edges = np.linspace(lo, hi, 31)
        kept = np.histogram([d.judged for d in cands if d.kept], bins=edges)[0]
        dropped = np.histogram([d.judged for d in cands if not d.kept], bins=edges)[0]
        centres = (edges[:-1] + edges[1:]) / 2
        width = (edges[1] - edges[0]) * 0.9
        self.dropped_bars.setOpts(x=centres, height=dropped, width=width)
        self.kept_bars.setOpts(x=centres, height=kept, width=width, y0=dropped)
        for score in positives:
            line = pg.InfiniteLine(score, angle=90, pen=pg.mkPen(LABEL_COLORS["positive"], width=2))
            line.setToolTip(f"positive {score:.4g}")
            plot.addItem(line)
            self._lines.append(line)
        for score, name in thresholds:
            line = pg.InfiniteLine(score, angle=90, label=name,
                                   pen=pg.mkPen("#111827", width=1.5, style=Qt.PenStyle.DashLine),
                                   labelOpts={"position": 0.92, "color": "#111827"})
            plot.addItem(line)
            self._lines.append(line)
        plot.setXRange(lo, hi, padding=0.04)
        plot.setYRange(0, max(1, int((kept + dropped).max())) * 1.15, padding=0)
