"""The fast CPU encoder: an int8 ONNX Runtime copy of a sentence-transformers model.

Route (sentence-transformers' own ``backend="onnx"`` needs optimum-onnx,
which would downgrade transformers, so the export is done here):

1. the model's transformer is exported with ``torch.onnx.export`` (the
   TorchScript exporter, eager attention so that ONNX Runtime's BERT fusion
   recognises the attention pattern);
2. :func:`onnxruntime.transformers.optimizer.optimize_model` fuses
   embeddings, attention, GELU and layer norms (BERT-family models only;
   other architectures keep the plain graph);
3. :func:`onnxruntime.quantization.quantize_dynamic` turns the weights of
   MatMul and fused Attention into int8 with **per-channel** scales,
   activations quantised per batch at run time (uint8), no reduced range:
   the configuration sentence-transformers' ``export_dynamic_quantized_onnx_model``
   uses for AVX-512 VNNI CPUs. Per-tensor scales were measured here to drop
   the cosine to fp32 to 0.90; per-channel kept it at 0.99.

Pooling (mean over the attention mask, or the CLS token) and unit
normalisation run in numpy after the graph, as the sentence-transformers
Pooling and Normalize modules do; only models made of Transformer + Pooling
(+ Normalize) are supported. The built model lives in a folder with the
tokenizer and a manifest (``fast_encoder.json``) naming the source model's
fingerprint, so a retrained folder never reuses a stale int8 copy.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
import uuid
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from core.errors import ModelError
from core.progress import Progress
from core.retrieval.encoder import (
    FAST_DIRNAME,
    Encoder,
    check_model_folder,
    model_fingerprint,
)

MANIFEST = "fast_encoder.json"
MODEL_FILE = "model_int8.onnx"
FORMAT = 1
ROUTE = "onnxruntime dynamic int8 (per-channel weights, BERT fusion), torch.onnx export"

_SUPPORTED_MODULES = ("Transformer", "Pooling", "Normalize")
_BERT_FAMILY = {"bert", "roberta", "xlm-roberta", "camembert", "electra"}
_build_locks: dict[str, threading.Lock] = {}
_build_guard = threading.Lock()


class FastEncoderUnsupported(ModelError):
    """The model cannot be turned into the fast encoder (the reason says why)."""


def user_cache_dir() -> Path:
    """Per-user cache folder: ``$RETRIEVER_STUDIO_CACHE``, else ``$XDG_CACHE_HOME/retriever-studio``
    (``~/.cache/retriever-studio``)."""
    explicit = os.environ.get("RETRIEVER_STUDIO_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "retriever-studio"


def fast_model_dir(model_folder: Path, fingerprint: str, *, beside_model: bool) -> Path:
    """Where the int8 copy of ``model_folder`` lives.

    A project's own model version keeps it beside its weights
    (``<version>/fast-int8``, skipped by :func:`model_fingerprint`); the
    bundled model (inside site-packages) and folders the user merely pointed
    at are never written to, so theirs goes to the per-user cache, named by
    the model's fingerprint.
    """
    if beside_model:
        return Path(model_folder) / FAST_DIRNAME
    return user_cache_dir() / "fast-encoders" / fingerprint


def read_manifest(folder: Path) -> dict | None:
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if manifest.get("format") != FORMAT or not (folder / MODEL_FILE).is_file():
        return None
    return manifest


def _pipeline(model) -> tuple[object, dict, bool]:
    """``(transformer module, pooling config, normalize)`` of a loaded SentenceTransformer."""
    names = [type(m).__name__ for m in model]
    unsupported = [n for n in names if n not in _SUPPORTED_MODULES]
    if unsupported or names[:2] != ["Transformer", "Pooling"]:
        raise FastEncoderUnsupported(
            f"the fast encoder supports Transformer + Pooling (+ Normalize) models; this one is "
            f"{' + '.join(names)}")
    pooling = model[1].get_config_dict()
    mode = pooling.get("pooling_mode")
    if mode is None:  # older sentence-transformers configs: one flag per mode
        flags = {"mean": "pooling_mode_mean_tokens", "cls": "pooling_mode_cls_token"}
        on = [m for m, key in flags.items() if pooling.get(key)]
        mode = on[0] if len(on) == 1 else "other"
    if mode not in ("mean", "cls"):
        raise FastEncoderUnsupported(f"the fast encoder supports mean or CLS pooling, not {mode!r}")
    return model[0], {"mode": mode, "include_prompt": bool(pooling.get("include_prompt", True))}, \
        "Normalize" in names


def build_fast_model(model_folder: Path, dest: Path, *, per_channel: bool = True,
                     progress: Progress | None = None) -> dict:
    """Export, fuse and quantise ``model_folder`` into ``dest``; returns the manifest.

    Written to a temporary sibling folder and renamed into place, so a
    crash leaves no half-built model; when another thread or process
    finished first, its copy is kept. Raises :class:`FastEncoderUnsupported`
    for models the fast path cannot reproduce.
    """
    import torch

    from core.retrieval.encoder import load_sentence_transformer

    progress = progress or Progress()
    model_folder = Path(model_folder)
    check_model_folder(model_folder)
    fingerprint = model_fingerprint(model_folder)
    progress.fraction(0.0, "Fast encoder: loading the model")
    st = load_sentence_transformer(model_folder, device="cpu")
    transformer, pooling, normalize = _pipeline(st)
    hf = transformer.auto_model
    if hasattr(hf, "set_attn_implementation"):
        hf.set_attn_implementation("eager")  # the pattern ONNX Runtime's BERT fusion recognises
    hf.eval()
    tokenizer = st.tokenizer
    sample = tokenizer(["retriever studio", "a second, longer sample text"], padding=True,
                       return_tensors="pt")
    inputs = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in sample]

    class _LastHidden(torch.nn.Module):
        def __init__(self, inner) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *args):
            return self.inner(**dict(zip(inputs, args))).last_hidden_state

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".tmp-{dest.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        with tempfile.TemporaryDirectory(prefix="rs-onnx-") as work:
            fp32 = Path(work) / "model.onnx"
            progress.fraction(0.15, "Fast encoder: exporting to ONNX")
            axes = {name: {0: "batch", 1: "sequence"} for name in inputs + ["last_hidden_state"]}
            with torch.no_grad(), warnings.catch_warnings():
                # The TorchScript exporter warns about its own deprecation and about
                # branches traced as constants (mask padding: always zero here,
                # as the mask and the input share one length); none of it is the user's.
                warnings.simplefilter("ignore")
                torch.onnx.export(_LastHidden(hf), tuple(sample[k] for k in inputs), str(fp32),
                                  input_names=inputs, output_names=["last_hidden_state"],
                                  dynamic_axes=axes, opset_version=17, dynamo=False)
            source = fp32
            config = hf.config
            fused = False
            if getattr(config, "model_type", "") in _BERT_FAMILY:
                progress.fraction(0.45, "Fast encoder: fusing attention and layer norms")
                from onnxruntime.transformers import optimizer

                optimized = optimizer.optimize_model(
                    str(fp32), model_type="bert", num_heads=int(config.num_attention_heads),
                    hidden_size=int(config.hidden_size), opt_level=1)
                source = Path(work) / "optimized.onnx"
                optimized.save_model_to_file(str(source))
                fused = bool(optimized.get_fused_operator_statistics().get("Attention"))
            progress.fraction(0.7, "Fast encoder: quantising weights to int8")
            import onnx
            from onnxruntime.quantization import QuantType, quantize_dynamic

            # quantize_dynamic logs a root-logger hint to run its shape pre-processing
            # (the fusion above already did what it would); it is not the user's business.
            logging.disable(logging.WARNING)
            try:
                quantize_dynamic(str(source), str(tmp / MODEL_FILE),
                                 op_types_to_quantize=["MatMul", "Attention"],
                                 per_channel=per_channel, reduce_range=False, weight_type=QuantType.QInt8,
                                 # fused ops live in the com.microsoft domain, which ONNX shape
                                 # inference cannot type; their outputs are float
                                 extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
            finally:
                logging.disable(logging.NOTSET)
        tokenizer.save_pretrained(str(tmp))
        import onnxruntime

        manifest = {
            "format": FORMAT, "route": ROUTE, "source": str(model_folder),
            "source_fingerprint": fingerprint, "per_channel": per_channel, "attention_fused": fused,
            "onnxruntime": onnxruntime.__version__, "inputs": inputs, "pooling": pooling,
            "normalize": normalize, "max_seq_length": int(st.max_seq_length),
            "do_lower_case": bool(getattr(transformer, "do_lower_case", False)),
            "dimension": int(config.hidden_size), "prompts": dict(getattr(st, "prompts", None) or {}),
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        try:
            os.replace(tmp, dest)
        except OSError:
            if read_manifest(dest) is None:  # not a finished build by someone else
                shutil.rmtree(dest, ignore_errors=True)
                os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    progress.fraction(1.0, "Fast encoder ready")
    return read_manifest(dest) or manifest


def ensure_fast_model(model_folder: Path, dest: Path, progress: Progress | None = None) -> dict:
    """The manifest of ``dest``, building it first when missing or built from other weights."""
    fingerprint = model_fingerprint(Path(model_folder))
    with _build_guard:
        lock = _build_locks.setdefault(str(dest), threading.Lock())
    with lock:
        manifest = read_manifest(dest)
        if manifest is not None and manifest.get("source_fingerprint") == fingerprint:
            return manifest
        if manifest is not None:  # the model was retrained in place: the copy is stale
            shutil.rmtree(dest, ignore_errors=True)
        return build_fast_model(model_folder, dest, progress=progress)


class FastEncoder(Encoder):
    """:class:`Encoder` on the int8 ONNX model in ``fast_folder`` (built by :func:`build_fast_model`).

    Same interface and the same prompts as the exact encoder; its
    ``fingerprint`` is the source model's, while ``cache_key`` adds
    ``-int8`` so cached int8 vectors never mix with fp32 ones.
    """

    kind = "fast"

    def __init__(self, model_path: str | Path, fast_folder: str | Path, *,
                 query_prompt: str | None = None, document_prompt: str | None = None,
                 batch_size: int = 32, chunk_size: int = 256, threads: int | None = None) -> None:
        import onnxruntime
        from transformers import AutoTokenizer

        self.model_path = Path(model_path)
        self.fast_folder = Path(fast_folder)
        manifest = read_manifest(self.fast_folder)
        if manifest is None:
            raise ModelError(f"fast encoder folder {self.fast_folder}: no built int8 model")
        self.manifest = manifest
        prompts = manifest.get("prompts") or {}
        self.query_prompt = query_prompt if query_prompt is not None else (prompts.get("query") or "")
        if document_prompt is None:
            document_prompt = next((prompts[n] for n in ("document", "passage", "corpus") if prompts.get(n)), "")
        self.document_prompt = document_prompt
        if not manifest["pooling"].get("include_prompt", True) and (self.query_prompt or self.document_prompt):
            raise FastEncoderUnsupported("the fast encoder does not reproduce pooling that excludes the prompt")
        self.batch_size = batch_size
        self.chunk_size = max(chunk_size, batch_size)
        self.dimension = int(manifest["dimension"])
        self.device = "cpu"
        self.max_seq_length = int(manifest["max_seq_length"])
        self._inputs = list(manifest["inputs"])
        self._mean = manifest["pooling"]["mode"] == "mean"
        self._lower = bool(manifest.get("do_lower_case"))
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.fast_folder), local_files_only=True)
        # A fast tokenizer with truncation/padding set per call raises "Already
        # borrowed" when two threads use it at once (the GUI's prefetch and a job can).
        self._tokenizer_lock = threading.Lock()
        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(str(self.fast_folder / MODEL_FILE), options,
                                                    providers=["CPUExecutionProvider"])
        self.fingerprint = model_fingerprint(self.model_path, extra=self._fingerprint_extra())
        self.cache_key = f"{self.fingerprint}-int8"

    def _embed(self, texts: Sequence[str], prompt: str, small: bool) -> np.ndarray:
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            batch = [prompt + t if prompt else t for t in texts[start:start + self.batch_size]]
            if self._lower:
                batch = [t.lower() for t in batch]
            with self._tokenizer_lock:
                enc = self.tokenizer(batch, padding=True, truncation=True, max_length=self.max_seq_length,
                                     return_tensors="np")
            feed = {name: np.asarray(enc[name], dtype=np.int64) for name in self._inputs}
            hidden = self.session.run(None, feed)[0]
            if self._mean:
                mask = feed["attention_mask"][..., None].astype(np.float32)
                vecs = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
            else:
                vecs = hidden[:, 0]
            norms = np.linalg.norm(vecs, axis=1, keepdims=True)
            out[start:start + len(batch)] = vecs / np.maximum(norms, 1e-12)
        return out
