"""Model → Compute: which device (Automatic / CPU / CUDA / Apple MPS) and encoder
(Automatic / fast int8 / exact fp32) the app's encoding jobs use.

The choice is remembered in QSettings (:func:`gui.session.compute_choice`) and
applies to jobs started after it changes; running jobs keep theirs. Devices
this machine lacks are shown disabled with the reason as tooltip: which ones
it has comes from :func:`core.retrieval.device.probe_devices`, run once on a
job thread the first time the menu opens (it imports torch, too slow for the
UI thread). The fast encoder is a CPU engine, so it cannot be combined with
an explicit GPU device (that pair is disabled, with the reason).
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMenu, QWidget

from core.retrieval.device import (
    ComputeChoice,
    DeviceProbe,
    device_unavailable,
    probe_devices,
)

from .workers import JobRunner

DEVICES = (("auto", "&Automatic (CUDA, then Apple MPS, else CPU)"), ("cpu", "&CPU"),
           ("cuda", "C&UDA (NVIDIA GPU)"), ("mps", "Apple &MPS"))
ENCODERS = (("auto", "Au&tomatic (cached fp32, else fast int8 on the CPU if it passes its gate)"),
            ("fast", "&Fast int8 (CPU)"), ("exact", "&Exact fp32"))
GPUS = ("cuda", "mps")
APPLIES = "Applies to jobs started from now on; running jobs keep their device."
FAST_ON_GPU = ("The fast encoder is an int8 CPU engine: it cannot run on a GPU device "
               "(choose Automatic or CPU as the device, or the exact encoder).")


def choice_text(choice: ComputeChoice) -> str:
    """``"device CPU, encoder fast int8"``: the choice as the menu names it."""
    names = dict(DEVICES) | {f"enc:{k}": t for k, t in ENCODERS}
    device = names[choice.device].split(" (")[0].replace("&", "")
    encoder = names[f"enc:{choice.encoder}"].split(" (")[0].replace("&", "")
    return f"device {device}, encoder {encoder}"


class ComputeMenu(QMenu):
    """The device and encoder choice as two groups of radio items."""

    choiceChanged = Signal(object)  # ComputeChoice, chosen by the person

    def __init__(self, choice: ComputeChoice, parent: QWidget | None = None) -> None:
        super().__init__("&Compute", parent)
        self.setObjectName("compute-menu")
        self.setToolTipsVisible(True)  # the reasons a device is disabled
        self._choice = choice
        self.probe: DeviceProbe | None = None
        self._runner = JobRunner(self)
        self._probing = False
        self.device_actions: dict[str, QAction] = {}
        self.encoder_actions: dict[str, QAction] = {}
        self.addSection("Device")
        self._devices = QActionGroup(self)
        for key, text in DEVICES:
            self.device_actions[key] = self._radio(self._devices, text, key, self._device_chosen)
        self.addSection("Encoder")
        self._encoders = QActionGroup(self)
        for key, text in ENCODERS:
            self.encoder_actions[key] = self._radio(self._encoders, text, key, self._encoder_chosen)
        self.addSeparator()
        self.machine_action = self.addAction("")
        self.machine_action.setEnabled(False)
        self.note_action = self.addAction(APPLIES)
        self.note_action.setEnabled(False)
        self.aboutToShow.connect(self.start_probe)
        self._update()

    def _radio(self, group: QActionGroup, text: str, key: str, slot) -> QAction:
        act = QAction(text, self)
        act.setCheckable(True)
        act.setData(key)
        act.triggered.connect(lambda _checked=False, k=key: slot(k))
        group.addAction(act)
        self.addAction(act)
        return act

    @property
    def choice(self) -> ComputeChoice:
        return self._choice

    def set_choice(self, choice: ComputeChoice) -> None:
        """Show ``choice`` (set elsewhere, e.g. the stored one fell back to Automatic)."""
        self._choice = choice
        self._update()

    # -- the machine's devices -------------------------------------------------------
    def start_probe(self) -> None:
        """Find out once which devices this machine has (on a job thread)."""
        if self.probe is not None or self._probing:
            return
        self._probing = True
        self._runner.start("Checking devices", probe_devices, announce=False,
                           on_result=self._probed, on_error=self._probe_failed)

    def _probed(self, probe: DeviceProbe) -> None:
        self._probing = False
        self.probe = probe
        self._update()

    def _probe_failed(self, message: str) -> None:
        self._probing = False
        self.probe = DeviceProbe()  # torch could not say: only the CPU is offered
        self._update()
        self.machine_action.setToolTip(f"Could not check for GPUs: {message}")

    def machine_text(self) -> str:
        if self.probe is None:
            return "Checking which devices this machine has…"
        gpus = ([f"CUDA ×{self.probe.cuda_count}"] if self.probe.cuda_count else []) + (
            ["Apple MPS"] if self.probe.mps else [])
        return "This machine: " + (", ".join(gpus) + " and the CPU" if gpus else "CPU only")

    # -- choosing -----------------------------------------------------------------------
    def _device_chosen(self, key: str) -> None:
        self._chose(ComputeChoice(key, self._choice.encoder))

    def _encoder_chosen(self, key: str) -> None:
        self._chose(ComputeChoice(self._choice.device, key))

    def _chose(self, choice: ComputeChoice) -> None:
        if choice != self._choice:
            self._choice = choice
            self.choiceChanged.emit(choice)
        self._update()

    def _update(self) -> None:
        choice = self._choice
        for key, act in self.device_actions.items():
            reason = ""
            if key in GPUS:
                if self.probe is None:
                    reason = "Checking whether this machine has one…"
                else:
                    reason = device_unavailable(key, self.probe)
                if not reason and choice.encoder == "fast":
                    reason = FAST_ON_GPU
            act.setEnabled(not reason)
            act.setToolTip(reason or act.text().replace("&", ""))
            act.setStatusTip(reason)
            act.setChecked(key == choice.device)
        for key, act in self.encoder_actions.items():
            reason = FAST_ON_GPU if key == "fast" and choice.device in GPUS else ""
            act.setEnabled(not reason)
            act.setToolTip(reason or act.text().replace("&", ""))
            act.setStatusTip(reason)
            act.setChecked(key == choice.encoder)
        self.machine_action.setText(self.machine_text())
        self.machine_action.setToolTip(self.machine_text())
