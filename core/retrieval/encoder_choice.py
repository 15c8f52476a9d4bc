"""Which encoder a project's job gets: exact fp32 on a device, or the int8 fast encoder if it passes its gate.

The quality gate: on a sample of the project's documents (``GATE_SAMPLE``
evenly spaced ones, with the document prompt), the fast encoder's unit
vectors must agree with the exact encoder's, mean cosine ≥ ``GATE_THRESHOLD``
(0.99). Otherwise the job keeps fp32 and :attr:`EncoderSelection.reason`
says why. A gate verdict is stored beside the int8 model, keyed by the
sample's texts, so it is computed once per model and corpus sample.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from core.progress import Progress
from core.retrieval.device import (
    EXACT,
    FAST,
    DeviceProbe,
    choose_encoder_kind,
    device_label,
)
from core.retrieval.encoder import BUNDLED, Encoder, model_fingerprint, shared_encoder

if TYPE_CHECKING:  # pragma: no cover
    from core.project.file import Project

GATE_THRESHOLD = 0.99
GATE_SAMPLE = 64
GATE_FILE = "gate.json"
# The progress note (core.progress.Progress.note) that carries a job's EncoderSelection.to_dict().
ENCODER_NOTE = "encoder"


@dataclass(frozen=True)
class GateResult:
    """Agreement of the fast encoder with fp32 on ``n`` sample documents."""

    passed: bool
    mean_cosine: float
    min_cosine: float
    n: int
    threshold: float = GATE_THRESHOLD

    def describe(self) -> str:
        verdict = "passed" if self.passed else "failed"
        return (f"quality gate {verdict}: mean cosine to fp32 {self.mean_cosine:.4f} "
                f"(min {self.min_cosine:.4f}) on {self.n} documents, threshold {self.threshold}")


def cosine_agreement(exact: np.ndarray, fast: np.ndarray) -> tuple[float, float]:
    """``(mean, min)`` over rows of cos(exact_i, fast_i)."""
    a = np.asarray(exact, dtype=np.float64)
    b = np.asarray(fast, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2 or len(a) == 0:
        raise ValueError(f"cosine_agreement needs two equal non-empty matrices, not {a.shape} and {b.shape}")
    cos = (a * b).sum(axis=1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)
    return float(cos.mean()), float(cos.min())


def run_gate(exact: Encoder, fast: Encoder, texts: Sequence[str],
             threshold: float = GATE_THRESHOLD) -> GateResult:
    """Encode ``texts`` as documents with both encoders and compare them."""
    mean, low = cosine_agreement(exact.encode_documents(texts), fast.encode_documents(texts))
    return GateResult(mean >= threshold, mean, low, len(texts), threshold)


def gate_sample(project: "Project", n: int = GATE_SAMPLE) -> list[str]:
    """The retrieval texts of ``n`` documents spread evenly over the corpus (all of a smaller one)."""
    ids = project.document_ids()
    if len(ids) > n:
        ids = [ids[int(i)] for i in np.linspace(0, len(ids) - 1, n).round()]
    docs = project.get_documents(ids)
    return [docs[d].retrieval_text for d in ids if d in docs]


def _sample_key(texts: Sequence[str], fast: Encoder, threshold: float) -> str:
    h = hashlib.sha1(f"{fast.cache_key}\0{fast.document_prompt}\0{threshold}".encode())
    for t in texts:
        h.update(t.encode("utf-8") + b"\0")
    return h.hexdigest()[:16]


def cached_gate(fast_folder: Path, texts: Sequence[str], exact_factory, fast: Encoder,
                threshold: float = GATE_THRESHOLD) -> GateResult:
    """:func:`run_gate`, remembered in ``fast_folder/gate.json`` per sample and threshold."""
    path = Path(fast_folder) / GATE_FILE
    key = _sample_key(texts, fast, threshold)
    try:
        verdicts = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        verdicts = {}
    if isinstance(verdicts, dict) and isinstance(verdicts.get(key), dict):
        try:
            return GateResult(**verdicts[key])
        except TypeError:
            pass  # an older record: measure again
    result = run_gate(exact_factory(), fast, texts, threshold)
    verdicts = verdicts if isinstance(verdicts, dict) else {}
    verdicts[key] = asdict(result)
    tmp = path.with_name(f".tmp-{os.getpid()}-{GATE_FILE}")
    tmp.write_text(json.dumps(verdicts, indent=1), encoding="utf-8")
    os.replace(tmp, path)
    return result


@dataclass(frozen=True)
class EncoderSelection:
    """The encoder a job runs with, and why."""

    encoder: Encoder
    kind: str  # "fast" (int8, CPU) or "exact" (fp32)
    device: str
    requested: str
    reason: str = ""
    gate: GateResult | None = None

    def describe(self) -> str:
        what = "fast int8 encoder (CPU)" if self.kind == FAST else f"exact fp32 encoder on {self.device}"
        tail = f"; {self.reason}" if self.reason else ""
        return what + tail

    def to_dict(self) -> dict:
        return {"kind": self.kind, "device": self.device, "requested": self.requested,
                "reason": self.reason, "gate": asdict(self.gate) if self.gate else None}


def refused_fast(info: dict) -> bool:
    """A selection (``to_dict()``) where the fast encoder was asked for (or allowed) but fp32 runs."""
    return info.get("kind") == EXACT and info.get("requested") != EXACT and bool(info.get("reason"))


def compute_label(info: dict) -> str:
    """A short status-line text for a selection (``to_dict()``): ``"CPU · fast int8"``, ``"CUDA · exact fp32"``."""
    what = "fast int8" if info.get("kind") == FAST else "exact fp32"
    return f"{device_label(info.get('device'))} · {what}"


def _is_project_version(project: "Project | None", model_id: str) -> bool:
    if project is None or model_id == BUNDLED:
        return False
    return project.conn.execute("SELECT 1 FROM model_versions WHERE id=?", (model_id,)).fetchone() is not None


def select_encoder(
    project: "Project | None",
    model_id: str,
    folder: Path,
    *,
    encoder: str | None = EXACT,
    device: str | None = "auto",
    query_prompt: str | None = None,
    document_prompt: str | None = None,
    sample: Sequence[str] | None = None,
    threshold: float = GATE_THRESHOLD,
    progress: Progress | None = None,
    probe: DeviceProbe | None = None,
) -> EncoderSelection:
    """Load the encoder for ``encoder`` (auto / fast / exact) and ``device`` (see :mod:`core.retrieval.device`).

    For the fast encoder: build the int8 model once (beside a project's model
    version, in the user cache for the bundled model or an outside folder),
    then gate it on ``sample`` (default: :func:`gate_sample` of ``project``).
    A model the fast path cannot reproduce, a failed build or a failed gate
    gives the exact encoder on the CPU, with the reason.

    The selection is also noted on ``progress`` as :data:`ENCODER_NOTE`
    (:meth:`EncoderSelection.to_dict`), so whoever follows the job learns it.
    """
    progress = progress or Progress()
    selection = _select(project, model_id, folder, encoder, device, query_prompt, document_prompt,
                        sample, threshold, progress, probe)
    progress.note(ENCODER_NOTE, selection.to_dict())  # a status line shows what runs, and why
    return selection


def _select(project, model_id, folder, encoder, device, query_prompt, document_prompt, sample,
            threshold, progress: Progress, probe) -> EncoderSelection:
    from core.retrieval.onnx_int8 import ensure_fast_model, fast_model_dir

    requested = (encoder or "auto").lower()
    kind, dev = choose_encoder_kind(encoder, device, probe)
    prompts = {"query_prompt": query_prompt, "document_prompt": document_prompt}

    def exact() -> Encoder:
        return shared_encoder(folder, device=dev, **prompts)

    if kind == EXACT:
        progress.fraction(0.0, "Loading model")
        return EncoderSelection(exact(), EXACT, dev, requested)
    if requested == "auto" and project is not None:
        # Vectors already on disk cost nothing, and fp32 ones are the better:
        # the automatic choice does not encode the corpus again to save time.
        from core.retrieval.embeddings import has_cached_document_embeddings

        progress.fraction(0.0, "Loading model")
        exact_encoder = exact()
        if has_cached_document_embeddings(project, exact_encoder):
            return EncoderSelection(exact_encoder, EXACT, dev, requested,
                                    "exact fp32: this corpus's fp32 embeddings are already cached")
    fast_dir = fast_model_dir(folder, model_fingerprint(folder),
                              beside_model=_is_project_version(project, model_id))
    try:
        ensure_fast_model(folder, fast_dir, progress.sub(0.0, 0.8))
        fast = shared_encoder(folder, fast_folder=fast_dir, **prompts)
    except Exception as exc:  # unsupported model or a failed export: fp32 still works
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return EncoderSelection(exact(), EXACT, dev, requested,
                                f"fast encoder unavailable, using fp32: {first}")
    if sample is None:
        sample = gate_sample(project) if project is not None else []
    if not sample:
        return EncoderSelection(exact(), EXACT, dev, requested,
                                "fast encoder not used: no documents to check its quality on")
    progress.fraction(0.85, "Fast encoder: checking its quality against fp32")
    gate = cached_gate(fast_dir, list(sample), exact, fast, threshold)
    progress.fraction(1.0, "Encoder ready")
    if not gate.passed:
        return EncoderSelection(exact(), EXACT, dev, requested,
                                f"fast encoder refused, using fp32: {gate.describe()}", gate)
    return EncoderSelection(fast, FAST, "cpu", requested, gate.describe(), gate)
