"""Embedding cache: every text is encoded once per model.

Layout under ``project.data_dir / "embeddings" / <fingerprint>[-int8][-f16]``::

    seg-<uuid>.npz    segments: ``hashes`` (n x 20 bytes, sha1 of the text)
                      and ``vectors`` (n x dim, float32 or float16)
    aligned.json      fast path: {corpus_revision, segment, rows}; that
                      segment holds exactly the corpus in document order
    queries/          the same segment store for query texts

Vectors are keyed by the sha1 of the text the encoder saw (the model's
fingerprint, which folds in prompts, names the folder), so editing a few
documents re-encodes only those, and identical texts share one vector.
New vectors are written as a new segment after every few chunks (atomic
rename), so a cancelled or crashed run keeps what it finished and a
reader never sees half a file. After a complete run the store is compacted
into one segment in document order and ``aligned.json`` records the corpus
revision: reopening the project then loads that one file and touches
neither SQLite texts nor the model.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import uuid
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

import numpy as np

from core.progress import Progress
from core.project.leftovers import sweep, temp_name

if TYPE_CHECKING:  # pragma: no cover
    from core.project.file import Project
    from core.retrieval.encoder import Encoder

CACHE_DIR = "embeddings"
_HASH_BYTES = 20
_FLUSH_SECONDS = 20.0  # write finished chunks at least this often while encoding
_FLUSH_ROWS = 4096
_MAX_QUERY_SEGMENTS = 8
_TMP_PREFIX = ".tmp-"  # a file being written; renamed into place when complete


class DamagedSegmentError(ValueError):
    """A segment file that cannot be read back as written."""


_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _folder_lock(folder: Path) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(str(folder), threading.Lock())


def text_hash(text: str) -> bytes:
    """sha1 of the UTF-8 text (20 bytes): the cache key of one embedding."""
    return hashlib.sha1(text.encode("utf-8")).digest()


def cache_folder(project: "Project", encoder: "Encoder", dtype: str = "float32") -> Path:
    """Where ``encoder``'s document embeddings for ``project`` live.

    Named by ``encoder.cache_key``: the model fingerprint for fp32 vectors
    (whatever device made them), ``<fingerprint>-int8`` for the fast encoder's.
    """
    suffix = "" if np.dtype(dtype) == np.float32 else "-f16"
    return project.data_dir / CACHE_DIR / f"{encoder.cache_key}{suffix}"


class SegmentStore:
    """Append-only set of (hash, vector) segments in one folder."""

    def __init__(self, folder: Path, dimension: int, dtype: str | np.dtype = "float32") -> None:
        self.folder = folder
        self.dimension = dimension
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float16):
            raise ValueError(f"embedding cache dtype must be float32 or float16, not {dtype}")

    def segment_names(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(p.name for p in self.folder.glob("seg-*.npz"))

    def read_segment(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(hashes as n x 20 uint8, vectors)`` of one segment; DamagedSegmentError if unreadable."""
        try:
            with np.load(self.folder / name) as z:
                hashes, vectors = z["hashes"], z["vectors"]
        except FileNotFoundError:
            raise
        # np.load and zipfile raise any of these on a truncated or garbled file.
        except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            raise DamagedSegmentError(f"{self.folder / name}: {type(exc).__name__}: {exc}") from exc
        if (vectors.ndim != 2 or vectors.shape[1] != self.dimension
                or hashes.shape != (len(vectors), _HASH_BYTES)
                or vectors.dtype.kind != "f" or not np.all(np.isfinite(vectors))):
            raise DamagedSegmentError(
                f"{self.folder / name}: hashes {hashes.shape} and vectors {vectors.shape} "
                f"{vectors.dtype} do not form {self.dimension}-dimensional embeddings")
        return hashes, vectors

    def load(self, on_damaged: Callable[[str], None] | None = None) -> tuple[dict[bytes, int], np.ndarray]:
        """All cached vectors: ``(hash -> row, matrix)``; later segments win.

        A damaged segment (truncated by a full disk, edited by hand) is
        removed and its texts are encoded again by the caller; ``on_damaged``
        receives one line about it. Temporary files of writers that were
        killed are removed too.
        """
        sweep(self.folder, _TMP_PREFIX)
        for _attempt in range(3):
            try:
                parts = []
                for name in self.segment_names():
                    try:
                        parts.append(self.read_segment(name))
                    except DamagedSegmentError as exc:
                        self._discard(name)
                        if on_damaged is not None:
                            on_damaged(f"Embedding cache: removed a damaged segment, its texts are "
                                       f"encoded again ({exc})")
                break
            except FileNotFoundError:  # compacted by another process meanwhile
                continue
        else:
            parts = []
        if not parts:
            return {}, np.zeros((0, self.dimension), dtype=self.dtype)
        matrix = np.concatenate([v for _, v in parts]).astype(self.dtype, copy=False)
        all_hashes = np.concatenate([h for h, _ in parts])
        rows = {bytes(h): i for i, h in enumerate(all_hashes)}
        return rows, matrix

    def _discard(self, name: str) -> None:
        try:
            (self.folder / name).unlink()
        except OSError:
            pass  # read-only cache: skipped on every load until it can go

    def append(self, hashes: Sequence[bytes], vectors: np.ndarray) -> str | None:
        """Write one new segment atomically; returns its name."""
        if len(hashes) == 0:
            return None
        name = f"seg-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.npz"
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / temp_name(_TMP_PREFIX, f"-{name}")
        h = np.frombuffer(b"".join(hashes), dtype=np.uint8).reshape(len(hashes), _HASH_BYTES)
        with open(tmp, "wb") as f:
            np.savez(f, hashes=h, vectors=np.ascontiguousarray(vectors, dtype=self.dtype))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.folder / name)
        return name

    def replace_all(self, hashes: Sequence[bytes], vectors: np.ndarray) -> str | None:
        """Compact: write one segment with exactly these rows, then drop the others."""
        old = self.segment_names()
        name = self.append(hashes, vectors)
        for n in old:
            try:
                (self.folder / n).unlink()
            except FileNotFoundError:
                pass
        return name


def _read_aligned(folder: Path) -> dict | None:
    try:
        return json.loads((folder / "aligned.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_aligned(folder: Path, info: dict) -> None:
    tmp = folder / temp_name(_TMP_PREFIX, "-aligned.json")
    tmp.write_text(json.dumps(info), encoding="utf-8")
    os.replace(tmp, folder / "aligned.json")


def _current_aligned(project: "Project", folder: Path) -> dict | None:
    """``aligned.json`` of ``folder`` if it describes the project's current corpus, else None."""
    info = _read_aligned(folder)
    if not info or info.get("corpus_revision") != project.corpus_revision \
            or info.get("rows") != project.document_count():
        return None
    return info


def has_cached_document_embeddings(project: "Project", encoder: "Encoder", dtype: str = "float32") -> bool:
    """Whether :func:`cached_document_embeddings` would find the current corpus's vectors (reads no matrix)."""
    return _current_aligned(project, cache_folder(project, encoder, dtype)) is not None


def cached_document_embeddings(
    project: "Project", encoder: "Encoder", dtype: str = "float32"
) -> np.ndarray | None:
    """The fast path alone: the aligned matrix if it matches the corpus revision, else None."""
    folder = cache_folder(project, encoder, dtype)
    info = _current_aligned(project, folder)
    if info is None:
        return None
    store = SegmentStore(folder, encoder.dimension, dtype)
    try:
        _, vectors = store.read_segment(info["segment"])
    except (OSError, KeyError, ValueError, TypeError):
        return None  # the full path below checks every segment and rebuilds
    if vectors.shape != (info.get("rows"), encoder.dimension) or len(vectors) != project.document_count():
        return None
    return np.ascontiguousarray(vectors, dtype=np.float32)


def document_embeddings(
    project: "Project",
    encoder: "Encoder",
    progress: Progress | None = None,
    *,
    dtype: str = "float32",
) -> np.ndarray:
    """Embeddings of all documents, rows aligned with ``project.document_ids()``.

    Returns a float32 ``(n_docs, dimension)`` matrix of unit vectors. Only
    texts missing from the cache are encoded; with ``dtype="float16"`` the
    cache stores half-precision vectors (half the disk, ~1e-3 error).
    """
    progress = progress or Progress()
    folder = cache_folder(project, encoder, dtype)
    with _folder_lock(folder):
        fast = cached_document_embeddings(project, encoder, dtype)
        if fast is not None:
            progress.fraction(1.0, "Document embeddings loaded from cache")
            return fast
        revision = project.corpus_revision
        progress.fraction(0.0, "Checking embedding cache")
        texts: list[str] = []
        hashes: list[bytes] = []
        for doc in project.iter_documents():
            t = doc.retrieval_text
            texts.append(t)
            hashes.append(text_hash(t))
        store = SegmentStore(folder, encoder.dimension, dtype)
        rows, matrix = store.load(on_damaged=lambda line: progress.fraction(0.0, line))
        missing: dict[bytes, str] = {}
        for h, t in zip(hashes, texts):
            if h not in rows and h not in missing:
                missing[h] = t
        if missing:
            new_rows, new_matrix = _encode_missing(store, encoder, missing, progress.sub(0.0, 0.97))
            base = len(matrix)
            matrix = np.concatenate([matrix, new_matrix]) if base else new_matrix
            for i, h in enumerate(new_rows):
                rows[h] = base + i
        index = np.fromiter((rows[h] for h in hashes), dtype=np.int64, count=len(hashes))
        aligned = matrix[index]
        # Compact into one segment in document order, unless the store already
        # is exactly that (new rows sit on disk in encoding order, so not then).
        segs = store.segment_names()
        if len(hashes) and (missing or len(segs) != 1 or len(matrix) != len(hashes)
                            or not np.array_equal(index, np.arange(len(hashes)))):
            progress.fraction(0.98, "Compacting embedding cache")
            segment = store.replace_all(hashes, aligned)
        elif segs:
            segment = segs[0]
        else:
            segment = None
        if segment is not None:
            _write_aligned(folder, {"corpus_revision": revision, "segment": segment,
                                    "rows": len(hashes), "dtype": store.dtype.name,
                                    "model": str(encoder.model_path)})
        progress.fraction(1.0, f"Document embeddings ready ({len(missing)} encoded, "
                               f"{len(hashes) - len(missing)} cached)")
        return np.ascontiguousarray(aligned, dtype=np.float32)


def _encode_missing(
    store: SegmentStore, encoder: "Encoder", missing: dict[bytes, str], progress: Progress
) -> tuple[list[bytes], np.ndarray]:
    """Encode ``missing`` texts, flushing finished chunks to new segments as it goes."""
    keys = list(missing)
    texts = [missing[k] for k in keys]
    n = len(texts)
    out = np.empty((n, encoder.dimension), dtype=store.dtype)
    pending: list[np.ndarray] = []  # index arrays encoded but not yet written
    last_flush = time.monotonic()

    def flush() -> None:
        nonlocal last_flush
        if pending:
            idx = np.concatenate(pending)
            store.append([keys[i] for i in idx], out[idx])
            pending.clear()
        last_flush = time.monotonic()

    done = 0
    progress.update(0, n, f"Encoding documents: 0/{n}")
    try:
        for idx, vecs in encoder.iter_encode_documents(texts):
            out[idx] = vecs
            pending.append(idx)
            done += len(idx)
            if sum(map(len, pending)) >= _FLUSH_ROWS or time.monotonic() - last_flush > _FLUSH_SECONDS:
                flush()
            progress.update(done, n, f"Encoding documents: {done}/{n}")
    finally:
        # Runs on cancellation too: finished chunks are kept for the next run.
        flush()
    return keys, out


def query_embeddings(
    project: "Project",
    encoder: "Encoder",
    query_ids: Iterable[str],
    progress: Progress | None = None,
) -> np.ndarray:
    """Embeddings of the given queries (rows in the given order), cached like documents."""
    query_ids = list(query_ids)
    texts_by_id: dict[str, str] = {}
    for start in range(0, len(query_ids), 500):
        chunk = query_ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for qid, text in project.conn.execute(
            f"SELECT id, text FROM queries WHERE id IN ({marks})", chunk
        ):
            texts_by_id[qid] = text
    unknown = [q for q in query_ids if q not in texts_by_id]
    if unknown:
        from core.errors import ProjectError

        raise ProjectError(f"unknown query id {unknown[0]!r}" + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""))
    return encode_texts_cached(
        cache_folder(project, encoder) / "queries", encoder,
        [texts_by_id[q] for q in query_ids], progress,
    )


def encode_texts_cached(
    folder: Path, encoder: "Encoder", texts: Sequence[str], progress: Progress | None = None
) -> np.ndarray:
    """Query embeddings for ``texts`` through a segment store in ``folder``."""
    progress = progress or Progress()
    with _folder_lock(folder):
        store = SegmentStore(folder, encoder.dimension)
        rows, matrix = store.load(on_damaged=lambda line: progress.fraction(0.0, line))
        hashes = [text_hash(t) for t in texts]
        missing: dict[bytes, str] = {}
        for h, t in zip(hashes, texts):
            if h not in rows and h not in missing:
                missing[h] = t
        if missing:
            keys = list(missing)
            vecs = encoder.encode_queries([missing[k] for k in keys], progress)
            store.append(keys, vecs)
            base = len(matrix)
            matrix = np.concatenate([matrix, vecs]) if base else vecs
            for i, h in enumerate(keys):
                rows[h] = base + i
            if len(store.segment_names()) > _MAX_QUERY_SEGMENTS:
                all_keys = sorted(rows, key=rows.get)
                store.replace_all(all_keys, matrix[[rows[k] for k in all_keys]])
        progress.fraction(1.0, "Query embeddings ready")
        if not texts:
            return np.zeros((0, encoder.dimension), dtype=np.float32)
        return np.ascontiguousarray(matrix[[rows[h] for h in hashes]], dtype=np.float32)
