"""Before/after: which model to compare with, and a slider (and Play) between the two maps."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QWidget,
)

from core.map.jobs import BeforeAfter
from core.project.file import Project

from .style import LABEL_COLORS, LABEL_TITLES

BUNDLED_TITLE = "bundled (all-MiniLM-L6-v2)"
PLAY_STEP = 3  # slider steps (of 100) per frame
PLAY_FRAME_MS = 40


def model_title(project: Project, model_id: str) -> str:
    """The name a user gave a model version (the bundled model by its own name)."""
    if model_id == "bundled":
        return BUNDLED_TITLE
    for v in project.model_versions():
        if v["id"] == model_id:
            return v["name"]
    return model_id


class CompareModelBox(QComboBox):
    """"off", or the model whose map the current model's map is laid out from and compared with."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(18)
        self.setToolTip("Lay out another model's map from this one and move between them")

    def fill(self, project: Project, current_model: str, chosen: str | None) -> bool:
        """List every model but ``current_model`` and keep ``chosen``; False if it is gone."""
        self.blockSignals(True)
        self.clear()
        self.addItem("off", None)
        models = [("bundled", BUNDLED_TITLE)] + [(v["id"], v["name"]) for v in project.model_versions()]
        for model_id, title in models:
            if model_id != current_model:
                self.addItem(f"{title} → current model", model_id)
        i = self.findData(chosen)
        self.setCurrentIndex(max(i, 0))
        self.blockSignals(False)
        return i >= 0


class BeforeAfterBar(QWidget):
    """Slider from the before model's map (0) to the after model's (1), Play, and the summary."""

    blendChanged = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 100)
        self.slider.setValue(100)
        self.slider.setFixedWidth(160)
        self.slider.valueChanged.connect(lambda v: self.blendChanged.emit(v / 100.0))
        self.play_button = QPushButton("Play")
        self.play_button.setToolTip("Animate from the other model's map to the current model's")
        self.before_label = QLabel()
        self.after_label = QLabel()
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        for w in (self.before_label, self.slider, self.after_label, self.play_button):
            row.addWidget(w)
        row.addWidget(self.summary, 1)
        self.setLayout(row)
        self.setVisible(False)
        self._timer = QTimer(self)
        self._timer.setInterval(PLAY_FRAME_MS)
        self._timer.timeout.connect(self._play_step)

    def reset(self, before_title: str | None, after_title: str) -> None:
        """Back to the after map without announcing it; name the two models (if there is a before)."""
        self.slider.blockSignals(True)
        self.slider.setValue(100)
        self.slider.blockSignals(False)
        if before_title is not None:
            self.before_label.setText(f"before: <b>{before_title}</b>")
            self.after_label.setText(f"after: <b>{after_title}</b>")

    def play(self) -> None:
        """Move from the before map to the after map in about 1.4 seconds."""
        self.slider.setValue(0)
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _play_step(self) -> None:
        value = self.slider.value() + PLAY_STEP
        self.slider.setValue(min(value, 100))
        if value >= 100:
            self._timer.stop()

    def show_summary(self, pair: BeforeAfter | None) -> None:
        """Median query–document distance per label, before → after (empty without a pair)."""
        parts = []
        for label in ("positive", "false_negative", "negative"):
            if pair is not None and label in pair.summary:
                before, after, n = pair.summary[label]
                verb = "closer" if after < before else "farther"
                parts.append(f'<span style="color:{LABEL_COLORS[label]}">{LABEL_TITLES[label]}s</span> '
                             f"{before:.3f} → {after:.3f} ({n} pair{'s' if n != 1 else ''}, {verb})")
        self.summary.setText(("  Median query–document distance (relative to the map's spread): "
                              + " · ".join(parts)) if parts else "")
