"""A mining rule's optional number: a checkbox turns the rule on, a slider and a spin box set it.

The slider follows the spin box (and back) across a range the dialog rescales
to the score source; ``changed`` fires when the value in use changes.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QHBoxLayout, QSlider, QWidget


class OptionalNumber(QWidget):
    """An optional float: checkbox (on/off), slider and spin box kept in step."""

    changed = Signal()
    STEPS = 1000

    def __init__(self, low: float, high: float, decimals: int, default: float,
                 tooltip: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.check = QCheckBox()
        self.check.setToolTip("Use this rule")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, self.STEPS)
        self.spin = QDoubleSpinBox()
        self.spin.setKeyboardTracking(False)
        self.spin.setMinimumWidth(90)
        for w in (self, self.slider, self.spin):
            w.setToolTip(tooltip)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.check)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.spin)
        self._syncing = False
        self.set_range(low, high, decimals)
        self.spin.setValue(default)
        self._to_slider()
        self.check.toggled.connect(self._toggled)
        self.slider.valueChanged.connect(self._from_slider)
        self.spin.valueChanged.connect(self._from_spin)
        self._toggled(False)

    def set_range(self, low: float, high: float, decimals: int) -> None:
        value = self.spin.value()
        self._low, self._high = low, high
        self._syncing = True
        self.spin.setDecimals(decimals)
        self.spin.setRange(low, high)
        self.spin.setSingleStep((high - low) / 100 if high > low else 0.01)
        self.spin.setValue(min(max(value, low), high))
        self._syncing = False
        self._to_slider()

    def value(self) -> float | None:
        return self.spin.value() if self.check.isChecked() else None

    def set_value(self, value: float | None) -> None:
        self.check.setChecked(value is not None)
        if value is not None:
            if not self._low <= value <= self._high:
                self.set_range(min(self._low, value), max(self._high, value), self.spin.decimals())
            self.spin.setValue(value)

    def _toggled(self, on: bool) -> None:
        self.slider.setEnabled(on)
        self.spin.setEnabled(on)
        self.changed.emit()

    def _to_slider(self) -> None:
        span = self._high - self._low
        pos = 0 if span <= 0 else round((self.spin.value() - self._low) / span * self.STEPS)
        self._syncing = True
        self.slider.setValue(int(pos))
        self._syncing = False

    def _from_slider(self, pos: int) -> None:
        if self._syncing:
            return
        self._syncing = True
        self.spin.setValue(self._low + (self._high - self._low) * pos / self.STEPS)
        self._syncing = False
        if self.check.isChecked():
            self.changed.emit()

    def _from_spin(self, _value: float) -> None:
        if self._syncing:
            return
        self._to_slider()
        if self.check.isChecked():
            self.changed.emit()
