"""Which device encodes, and which encoder (exact fp32 or fast int8) a job uses.

One place decides, so the CLI flags, the app setting and background jobs
agree: :func:`choose_device` turns a preference (``auto``, ``cpu``,
``cuda``, ``cuda:1``, ``mps``) into a torch device name, and
:func:`choose_encoder_kind` turns ``auto`` / ``fast`` / ``exact`` into what
runs on that device. ``auto`` prefers CUDA, then Apple's MPS, then the CPU;
an explicitly requested device that is absent is refused with a message
rather than silently replaced. The fast encoder is an int8 ONNX Runtime
model, a CPU engine: ``auto`` uses it on the CPU only.

Availability comes from a :class:`DeviceProbe` (torch's own checks by
default) so the selection logic is testable on a machine without a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import StudioError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
ENCODER_CHOICES = ("auto", "fast", "exact")
EXACT = "exact"
FAST = "fast"


@dataclass(frozen=True)
class DeviceProbe:
    """What accelerators this process can use."""

    cuda_count: int = 0
    mps: bool = False

    @classmethod
    def from_torch(cls) -> "DeviceProbe":
        import torch

        cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
        backend = getattr(torch.backends, "mps", None)
        mps = bool(backend is not None and backend.is_available())
        return cls(cuda, mps)


def _normalise(preference: str | None) -> str:
    return (preference or "auto").strip().lower() or "auto"


def check_device_preference(preference: str | None) -> str:
    """``preference`` lower-cased if it names a device kind (``cuda:N`` included), else StudioError."""
    pref = _normalise(preference)
    kind, _, index = pref.partition(":")
    if kind not in DEVICE_CHOICES or (index and (kind != "cuda" or not index.isdigit())):
        raise StudioError(f"unknown device {preference!r}; expected auto, cpu, cuda, cuda:N or mps")
    return pref


def choose_device(preference: str | None = "auto", probe: DeviceProbe | None = None) -> str:
    """The torch device to encode on.

    ``auto`` (or None): ``cuda`` when a CUDA device is present, else ``mps``
    when Apple's Metal backend is, else ``cpu``. An explicit device must be
    present: ``cuda`` / ``cuda:N`` / ``mps`` without one raises StudioError
    (the user asked for it; running on the CPU instead would hide that).
    """
    pref = check_device_preference(preference)
    if pref == "cpu":
        return "cpu"
    probe = probe or DeviceProbe.from_torch()
    if pref == "auto":
        if probe.cuda_count:
            return "cuda"
        return "mps" if probe.mps else "cpu"
    if pref.startswith("cuda"):
        index = int(pref.partition(":")[2] or 0)
        if probe.cuda_count == 0:
            raise StudioError(f"device {pref!r}: no CUDA device is available here "
                              "(use --device cpu or auto)")
        if index >= probe.cuda_count:
            raise StudioError(f"device {pref!r}: only {probe.cuda_count} CUDA device(s) here "
                              f"(cuda:0 to cuda:{probe.cuda_count - 1})")
        return pref
    if not probe.mps:
        raise StudioError("device 'mps': Apple's Metal backend is not available here "
                          "(use --device cpu or auto)")
    return "mps"


def check_preferences(encoder: str | None, device_preference: str | None) -> None:
    """Refuse unknown names at once, and an explicit GPU device that is absent.

    ``auto`` and ``cpu`` are checked without importing torch, so a GUI can
    call this on its UI thread; the device is only probed when named.
    """
    if _normalise(encoder) not in ENCODER_CHOICES:
        raise StudioError(f"unknown encoder {encoder!r}; expected auto, fast or exact")
    pref = check_device_preference(device_preference)
    if pref not in ("auto", "cpu"):
        choose_encoder_kind(encoder, pref)


def choose_encoder_kind(encoder: str | None, device_preference: str | None,
                        probe: DeviceProbe | None = None) -> tuple[str, str]:
    """``(kind, device)``: ``kind`` is ``fast`` (int8 on the CPU) or ``exact`` (fp32 on ``device``).

    * ``exact``: fp32 on :func:`choose_device` (``device_preference``);
    * ``fast``: int8 on the CPU; with ``auto`` as the device it stays on the
      CPU even when a GPU is present (the user chose the CPU engine), and an
      explicit GPU device is refused as a contradiction;
    * ``auto`` (or None): fast when the device comes out as the CPU, else
      exact on the GPU.

    Whether ``fast`` then really runs depends on its quality gate
    (:mod:`core.retrieval.fast_encoder`), which may still fall back to exact.
    """
    kind = _normalise(encoder)
    if kind not in ENCODER_CHOICES:
        raise StudioError(f"unknown encoder {encoder!r}; expected auto, fast or exact")
    pref = check_device_preference(device_preference)
    if kind == FAST:
        if pref not in ("auto", "cpu"):
            raise StudioError(f"the fast encoder is an int8 CPU model; it cannot run on {pref!r} "
                              "(use --encoder exact with that device, or --device cpu)")
        return FAST, "cpu"
    device = choose_device(pref, probe)
    if kind == EXACT:
        return EXACT, device
    return (FAST, "cpu") if device == "cpu" else (EXACT, device)


@dataclass(frozen=True)
class ComputeChoice:
    """A person's device and encoder preference, as every encoding job takes it (``**choice.kwargs()``).

    The app's default is ``auto`` for both: a GPU when there is one, else
    the CPU with the fast int8 encoder where it passes its quality gate.
    """

    device: str = "auto"
    encoder: str = "auto"

    @classmethod
    def parse(cls, device: object, encoder: object) -> "ComputeChoice":
        """From stored values; anything unknown (an old or hand-edited setting) becomes ``auto``."""
        dev = str(device or "").strip().lower()
        enc = str(encoder or "").strip().lower()
        return cls(dev if dev in DEVICE_CHOICES else "auto", enc if enc in ENCODER_CHOICES else "auto")

    def kwargs(self) -> dict[str, str]:
        return {"device": self.device, "encoder": self.encoder}

    def checked(self) -> tuple["ComputeChoice", str]:
        """``(self, "")`` when this choice can run here, else ``(automatic, why not)``.

        Probes torch only for an explicitly named GPU (see :func:`check_preferences`).
        """
        try:
            check_preferences(self.encoder, self.device)
        except StudioError as exc:
            return ComputeChoice(), f"{exc}; using Automatic instead"
        return self, ""


def device_unavailable(kind: str, probe: DeviceProbe) -> str:
    """Why ``kind`` (``cuda`` / ``mps``) cannot be chosen on this machine; "" when it can."""
    if kind == "cuda" and probe.cuda_count == 0:
        return "No CUDA device: torch sees no NVIDIA GPU here (or this torch build has no CUDA support)."
    if kind == "mps" and not probe.mps:
        return "No Apple MPS: the Metal backend needs an Apple-silicon Mac and a torch build with MPS."
    return ""


def probe_devices(progress=None) -> DeviceProbe:
    """:meth:`DeviceProbe.from_torch` as a job (it imports torch: run it off a UI thread)."""
    return DeviceProbe.from_torch()


def device_label(device: str | None) -> str:
    """How a status line names a device: ``CPU``, ``CUDA:1``, ``Apple MPS``."""
    kind, _, index = str(device or "cpu").partition(":")
    where = {"cpu": "CPU", "cuda": "CUDA", "mps": "Apple MPS"}.get(kind, kind)
    return where + (f":{index}" if index else "")
