"""Exact top-``depth`` pools of dense (inner product) scores, found through an int8 product.

The miner needs, per query, the ``depth`` best documents by the fp32 inner
product (ties in corpus order) and the exact score and ordinal rank of a few
labeled documents outside them. The full fp32 product (what
:func:`core.mining.scores._matmul_t` computes and ``mine_hard_negatives``
computes) dominates that work; an int8 × int8 → int32 product
(``torch._int_mm``) is about 4x cheaper on CPUs with VNNI. This module uses it
only to *locate* the pool, then certifies it: every document that could belong
to the pool is rescored exactly in fp32, so the result is the exact pool.

Quantisation (one global document scale, so a row is ranked by its int32
values directly). A per-document scale was measured too: on 100,000 × 384
random unit vectors its bound selects 12 % fewer candidates with one β per
query (49 % fewer with a β per query-document pair), but the B × N float
pass it needs (m · S_j, plus the pair bounds) cost 0.21 s more per 1,000
queries than the int32-only path, more than the rescoring it saves.

* documents: ``S = max_jk |d_jk| / 127``, ``d̂_j = round(d_j / S)`` (int8),
  ``e_j = d_j - S d̂_j``, computed once per corpus (:class:`DenseCorpus`);
* each query: ``s_i = max_k |q_ik| / 127``, ``q̂_i = round(q_i / s_i)``,
  ``ε_i = q_i - s_i q̂_i``; ``m_ij = q̂_i · d̂_j`` is exact in int32.

The bound. Let ``r_ij`` be the fp32 score the rescoring computes and
``c_i = s_i S``. Since ``q·d - c m = q·e_j + ε_i·(S d̂_j)``, Cauchy–Schwarz
and the standard dot-product rounding bound (``|fl(q·d) - q·d| ≤ γ_n Σ|q_k d_k|``,
``γ_n = n u / (1 - n u)``, ``u = 2⁻²⁴``, any summation order, FMA or not) give

    |r_ij - c_i m_ij| ≤ β_i = ‖q_i‖ E + ‖ε_i‖ D̂ + γ_n ‖q_i‖ D

with ``E = max_j ‖e_j‖``, ``D̂ = max_j ‖S d̂_j‖``, ``D = max_j ‖d_j‖``. The
norms are computed in float32 and turned into upper bounds
(:func:`_norm_bound`: ``(1 + 4(n+4)u)`` relative for the sum of squares and
the root, ``sqrt(n)·2⁻⁶³`` for squares that underflow, ``u·‖S d̂‖`` for the
rounding of ``S·d̂`` inside ``e``); β is formed in float64 and inflated by 1e-6
relative. ``c m`` is never rounded: the comparisons below are on integers,
with one or two integers of slack for the float64 quotients that set them.
On the synthetic benchmark's unit vectors (dimension 384) β ≈ 0.02; the
largest true error in a sample of 50 queries was 0.004.

Pool (K = depth). Rescore K distinct documents of large ``m`` (the largest
entry of each of the K column chunks (up to 32 columns) of largest maximum,
:class:`_ChunkedBlock`; the int32 block is read in full only once): the
least of their exact scores, ``L``, is at most the K-th largest exact score
(any K documents' least score is). Every document whose ``r`` reaches the
K-th largest ``r`` (ties included) has ``c m + β ≥ r ≥ L``, so the candidates
``m ≥ (L - β) / c`` contain the exact pool (and the K rescored documents);
they are rescored in fp32 and the ``depth`` best by ``(-r, corpus row)`` are
the pool.

Ranks of requested (extra) documents. ``rank_j = #(r_k > r_j) + #(k < j,
r_k = r_j) + 1``. If ``r_j ≥ L``, every document counted there has
``r_k ≥ r_j ≥ L`` and so is a candidate: the rank is counted among the
candidates (a document in the pool gets its pool position). Otherwise
documents with ``lo_k > r_j`` are surely above, those with ``hi_k < r_j``
surely not; only the band in between is rescored and compared exactly.

Each document's score for a query is computed once, so every comparison is
between the same fp32 values. (A gathered product may differ from the full
matmul's row by an ulp: both are "the fp32 score".)

Fallback, with the same results from the full fp32 product
(:func:`core.mining.scores.pool_arrays` per row): no torch ``_int_mm`` or a
kernel that fails a self-check or refuses the shape, a corpus under
``MIN_INT8_DOCS`` (where the fp32 product is cheaper),
``depth >= n_docs``, a zero query, or a band too wide for the int8 product to
pay off. NaN or infinite vectors are refused (ValueError): their scores have
no order, so neither product defines a pool.
"""

from __future__ import annotations

import math
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

from core.progress import Progress

BLOCK_ELEMENTS = 16_000_000  # int32 scores in one block of queries (64 MB), as core.mining.scores
PARTITION_ROWS = 16  # rows cut by one argpartition (its int64 indices: 0.66 MB for SciFact)
MAX_BLOCK_QUERIES = 64  # keeps a small corpus's block (and the peak memory) small: 1.3 MB of scores for SciFact
# torch 2.13's CPU _int_mm (one thread, K = 384, N = 100,000) runs 1,024 queries in 0.13 s in
# blocks of 64-80 rows but 0.28 s in blocks of 88 or more: the int8 path uses blocks of 64.
INT8_BLOCK_QUERIES = 64
# Below this the fp32 product is cheaper than the int8 path's per-query work (one thread,
# 800 queries, depth 103: 5,000 docs 0.08 s vs 0.07 s, 20,000 0.17 vs 0.19, 40,000 0.31 vs 0.38).
MIN_INT8_DOCS = 20_000
# Rows gathered for one product while rescoring: 0.75 MB stays in cache (one thread, 100,000 x 384:
# 135 ns a row against 175 ns for one gather of thousands).
GATHER_ROWS = 512
_U = 2.0 ** -24  # unit roundoff of float32
_INFLATE = 1.0 + 1e-6  # covers the float64 rounding in forming β


def _int_mm():
    """``(torch._int_mm, wants_contiguous)`` if it multiplies correctly here, else None.

    The corpus codes are stored documents × dimension; ``_int_mm`` reads them
    as its second operand through a transposed view, as fast as a contiguous
    dimension × documents copy on this CPU build (0.135 s vs 0.131 s for
    1,024 × 384 × 100,000) and without the copy. Builds that refuse or
    mis-multiply that layout get the contiguous copy; an exact check on a
    small product decides, once per process.
    """
    global _INT_MM_CHECKED
    if _INT_MM_CHECKED is not None:
        return _INT_MM_CHECKED or None
    _INT_MM_CHECKED = False
    try:
        import torch

        mm = torch._int_mm
    except (ImportError, AttributeError):
        return None
    rng = np.random.default_rng(0)
    a = rng.integers(-127, 128, (64, 48), dtype=np.int8)
    rows = rng.integers(-127, 128, (40, 48), dtype=np.int8)  # documents x dimension
    want = a.astype(np.int64) @ rows.T.astype(np.int64)
    for contiguous in (False, True):
        mat2 = torch.from_numpy(rows).T
        try:
            got = mm(torch.from_numpy(a), mat2.contiguous() if contiguous else mat2).numpy()
        except RuntimeError:  # a build whose kernel refuses this layout or shape
            continue
        if np.array_equal(got, want):
            _INT_MM_CHECKED = (mm, contiguous)
            break
    return _INT_MM_CHECKED or None


_INT_MM_CHECKED = None


def _gamma(n: int) -> float:
    return n * _U / (1.0 - n * _U)


PREPARE_ROWS = 1_024  # corpus rows quantised at a time: one 1.5 MB buffer, reused, stays in cache


def _quantise(vectors: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """int8 codes of ``vectors / scale`` and, per row, float32 norms of the error, the decoded row and the row.

    All in float32 for speed; :func:`_norm_bound` turns a computed norm into a bound of the exact one.
    """
    safe = np.where(scale > 0, scale, np.float32(1.0)).astype(np.float32)
    codes = np.clip(np.rint(vectors / safe), -127, 127).astype(np.int8)
    decoded = safe * codes
    return codes, _norms(vectors - decoded), _norms(decoded), _norms(vectors)


def _quantise_corpus(vectors: np.ndarray, scale: np.float32) -> tuple[np.ndarray, float, float, float]:
    """:func:`_quantise` of a corpus by one scale: the codes and the largest float32 norms (error, decoded, row).

    Rows go through one small buffer in place (a pass per operation over
    memory that stays in cache, no page-faulting temporaries); a largest
    norm is the root of the largest sum of squares (the float32 root is
    monotone), so one root per norm.
    """
    import torch

    # torch's allocation: numpy asks for huge pages on large arrays, and the kernel's compaction
    # for them made this preparation 0.04 s or 0.13 s at random; 4 KiB pages take 0.055 s steadily.
    codes = torch.empty(vectors.shape, dtype=torch.int8).numpy()
    buffer = np.empty((min(PREPARE_ROWS, len(vectors)), vectors.shape[1]), np.float32)
    squares = np.empty(len(buffer), np.float32)
    error = decoded = norm = np.float32(0.0)
    for start in range(0, len(vectors), PREPARE_ROWS):
        rows = vectors[start:start + PREPARE_ROWS]
        part, sums = buffer[:len(rows)], squares[:len(rows)]
        np.divide(rows, scale, out=part)
        np.rint(part, out=part)
        np.clip(part, -127, 127, out=part)
        codes[start:start + len(rows)] = part  # integers in [-127, 127]: exact in int8
        np.multiply(part, scale, out=part)  # the decoded rows, S·d̂
        decoded = max(decoded, np.einsum("ij,ij->i", part, part, out=sums).max())
        np.subtract(rows, part, out=part)  # the error rows, e
        error = max(error, np.einsum("ij,ij->i", part, part, out=sums).max())
        norm = max(norm, np.einsum("ij,ij->i", rows, rows, out=sums).max())
    return codes, float(np.sqrt(error)), float(np.sqrt(decoded)), float(np.sqrt(norm))


def _norms(rows: np.ndarray) -> np.ndarray:
    return np.sqrt(np.einsum("ij,ij->i", rows, rows))


def _norm_bound(computed, dim: int):
    """An upper bound of an exact norm from its float32 computation (elementwise).

    A float32 sum of n squares and its square root err by at most (n + 2)u
    relative, bounded here by 4(n + 4)u with room to spare; squares that
    underflow lose less than 2⁻¹²⁶ each, sqrt(n)·2⁻⁶³ in the norm. Returns float64.
    """
    return np.asarray(computed, np.float64) * (1.0 + 4 * (dim + 4) * _U) + math.sqrt(dim) * 2.0 ** -63


class DenseCorpus:
    """Document vectors prepared once for :func:`dense_pools`: fp32 rows, int8 codes, bounds."""

    def __init__(self, vectors: np.ndarray, *, use_int8: bool = True,
                 min_int8_docs: int = MIN_INT8_DOCS) -> None:
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if self.vectors.ndim != 2:
            raise ValueError(f"document vectors must be a matrix, got shape {self.vectors.shape}")
        self.n_docs, self.dim = self.vectors.shape
        # max and min once: they find NaN and infinity and give the scale (no corpus-sized temporary)
        extremes = (self.vectors.max(), self.vectors.min()) if self.vectors.size else None
        _refuse_non_finite(self.vectors, "document", extremes)
        self.codes_t = None  # torch int8 (dim, n_docs): _int_mm's second operand (a view or a copy)
        self._buffer, self._buffer_lock = None, threading.Lock()  # see score_buffer
        if not (use_int8 and self.n_docs >= max(min_int8_docs, 1) and self.dim > 0
                and _int_mm() is not None):
            return
        import torch

        scale = max(extremes[0], -extremes[1]) / np.float32(127.0)
        scale = np.float32(scale if scale > 0 else 1.0)  # S, as the codes use it
        codes_all, error, decoded, norm = _quantise_corpus(self.vectors, scale)
        self.scale = float(scale)
        self.code_norm = float(_norm_bound(decoded, self.dim))  # D̂
        # E; the float32 product S·d̂ rounds by at most u|S d̂| per entry: u·D̂ in the norm.
        self.code_error = float(_norm_bound(error, self.dim)) + _U * self.code_norm
        self.norm = float(_norm_bound(norm, self.dim))  # D
        if not all(math.isfinite(v) for v in (self.code_norm, self.code_error, self.norm)):
            return  # norms overflow float32: the full product only
        codes_t = torch.from_numpy(codes_all).T
        self.codes_t = codes_t.contiguous() if _int_mm()[1] else codes_t

    @property
    def uses_int8(self) -> bool:
        return self.codes_t is not None

    @contextmanager
    def score_buffer(self, n_rows: int):
        """An int32 (n_rows, n_docs) tensor for a block's int8 product, reused by the next block.

        A fresh 25 MB output per block page-faults on every block: 0.10 s of
        the 0.25 s the product took over 1,000 queries x 100,000 documents,
        one thread. The buffer stays with the corpus; a block that finds it
        in use by another thread gets None (a fresh output).
        """
        import torch

        if not self._buffer_lock.acquire(blocking=False):
            yield None
            return
        try:
            if self._buffer is None or len(self._buffer) < n_rows:
                self._buffer = torch.empty((n_rows, self.n_docs), dtype=torch.int32)
            yield self._buffer[:n_rows]
        finally:
            self._buffer_lock.release()


@dataclass(frozen=True)
class DensePoolBlock:
    """Pools of a block of queries, plus the exact scores and ranks of requested documents."""

    docs: np.ndarray  # (B, depth) int64 corpus rows, best first, ties by corpus row
    scores: np.ndarray  # (B, depth) float32 exact fp32 scores
    extra_scores: list[np.ndarray]  # per query, float32, for the requested extra rows
    extra_ranks: list[np.ndarray]  # per query, int64 exact 1-based ordinal ranks
    rescored: int  # exact fp32 dot products computed (0 on the full-product path)
    used_int8: bool  # False: the block took the full fp32 product


def _refuse_non_finite(vectors: np.ndarray, kind: str, extremes: tuple | None = None) -> None:
    """NaN or infinite scores have no order: neither product can give a pool for them.

    ``extremes``: ``(vectors.max(), vectors.min())`` where the caller has them.
    """
    if not vectors.size:
        return
    high, low = extremes if extremes is not None else (vectors.max(), vectors.min())
    if np.isfinite(high) and np.isfinite(low):
        return  # max and min propagate NaN and reach ±inf: two reductions, no corpus-sized mask
    bad = ~np.isfinite(vectors).all(axis=1)
    if bad.any():
        raise ValueError(f"{kind} vector {int(np.flatnonzero(bad)[0])} holds NaN or infinity; "
                         "re-encode it")


def pool_block_size(corpus: DenseCorpus) -> int:
    """Queries per block: the score block stays under BLOCK_ELEMENTS, a multiple of 8 (VNNI tiles)."""
    most = INT8_BLOCK_QUERIES if corpus.uses_int8 else MAX_BLOCK_QUERIES
    size = min(most, BLOCK_ELEMENTS // max(corpus.n_docs, 1))
    return max(8, size // 8 * 8)


def dense_pools(corpus: DenseCorpus, query_vectors: np.ndarray, depth: int,
                extra: Sequence[np.ndarray] | None = None) -> DensePoolBlock:
    """The exact top-``depth`` pools of one block of queries (see the module docstring).

    ``extra[i]`` holds corpus rows whose exact score and rank query ``i``
    needs (a row in the pool gets its pool score and position).
    """
    queries = np.ascontiguousarray(query_vectors, dtype=np.float32)
    if queries.ndim != 2 or queries.shape[1] != corpus.dim:
        raise ValueError(f"query vectors of shape {queries.shape} for a corpus of dimension {corpus.dim}")
    _refuse_non_finite(queries, "query")
    n_queries = len(queries)
    extra = [np.asarray(e, dtype=np.int64) for e in (extra if extra is not None else [()] * n_queries)]
    if len(extra) != n_queries:
        raise ValueError(f"{len(extra)} extra lists for {n_queries} queries")
    every = np.concatenate(extra) if extra else np.zeros(0, np.int64)
    if len(every) and (every.min() < 0 or every.max() >= corpus.n_docs):
        raise ValueError("an extra row is outside the corpus")
    depth = max(0, min(int(depth), corpus.n_docs))
    if corpus.uses_int8 and 0 < depth < corpus.n_docs and n_queries:
        block = _int8_pools(corpus, queries, depth, extra)
        if block is not None:
            return block
    return _full_pools(corpus, queries, depth, extra)


def iter_dense_pools(corpus: DenseCorpus, query_vectors: np.ndarray, depth: int,
                     extra: Sequence[np.ndarray] | None = None,
                     progress: Progress | None = None) -> Iterator[tuple[int, DensePoolBlock]]:
    """``(first query, block)`` over bounded blocks of ``query_vectors``; one block alive at a time."""
    progress = progress or Progress()
    n = len(query_vectors)
    extra = list(extra) if extra is not None else [np.zeros(0, np.int64)] * n
    step = pool_block_size(corpus)
    for start in range(0, n, step):
        progress.update(start, n, f"Scoring queries: {start}/{n}")
        yield start, dense_pools(corpus, query_vectors[start:start + step], depth,
                                 extra[start:start + step])
    progress.update(n, n, f"Scored {n} queries")


# -- the full fp32 product (reference semantics, and the fallback) ------------------------------

def _full_pools(corpus: DenseCorpus, queries: np.ndarray, depth: int,
                extra: list[np.ndarray]) -> DensePoolBlock:
    """The pools from the full fp32 product: one top-k over the block, ties at the cut in corpus order."""
    from core.mining.scores import _matmul_t

    n = len(queries)
    if n == 0 or corpus.n_docs == 0 or depth == 0:
        return DensePoolBlock(np.zeros((n, depth), np.int64), np.zeros((n, depth), np.float32),
                              [np.zeros(0, np.float32) for _ in range(n)],
                              [np.zeros(0, np.int64) for _ in range(n)], 0, False)
    # Below MIN_INT8_DOCS numpy's BLAS is the cheaper product (SciFact, 64 x 384 by 5,183 x 384,
    # one thread: 38 ms for 809 queries and 3 MiB more memory, against torch's 44-52 ms and the
    # 20 MiB its first CPU matmul allocates); above it torch's is 2.5x faster (_matmul_t).
    rows = queries @ corpus.vectors.T if corpus.n_docs < MIN_INT8_DOCS else _matmul_t(queries, corpus.vectors)
    docs, scores = _top_by_score_then_row(rows, depth)
    extra_scores, extra_ranks = [], []
    for i in range(n):
        wanted = extra[i]
        values = rows[i][wanted]
        extra_scores.append(values.astype(np.float32))
        extra_ranks.append(np.fromiter(
            (np.count_nonzero(rows[i] > v) + np.count_nonzero(rows[i][:r] == v) + 1
             for r, v in zip(wanted.tolist(), values.tolist())), np.int64, len(wanted)))
    return DensePoolBlock(docs, scores, extra_scores, extra_ranks, 0, False)


def _top_by_score_then_row(rows: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``rows``, the ``depth`` best columns by (-score, column) and their scores.

    One ``np.argpartition`` over the block (4x faster than ``torch.topk`` on
    SciFact's 809 x 5,183 here); it takes arbitrary members of a tie at the
    cut, so a row whose cut value is tied beyond what it took is cut again by
    :func:`core.mining.scores.pool_arrays` (ties in corpus order).
    """
    from core.mining.scores import pool_arrays

    n_rows, n_cols = rows.shape
    if depth < n_cols:
        columns = np.empty((n_rows, depth), np.int64)
        values = np.empty((n_rows, depth), rows.dtype)
        for start in range(0, n_rows, PARTITION_ROWS):  # argpartition's int64 index block stays small
            part = rows[start:start + PARTITION_ROWS]
            top = np.argpartition(part, n_cols - depth, axis=1)[:, n_cols - depth:]
            columns[start:start + PARTITION_ROWS] = top
            values[start:start + PARTITION_ROWS] = np.take_along_axis(part, top, axis=1)
        order = np.lexsort((columns, -values))  # along each row: best first, ties by column
        values = np.take_along_axis(values, order, axis=1)
        columns = np.take_along_axis(columns, order, axis=1)
        cut = values[:, -1:]
        untaken_ties = np.flatnonzero(np.count_nonzero(rows == cut, axis=1)
                                      > np.count_nonzero(values == cut, axis=1))
    else:
        values = np.zeros((n_rows, depth), np.float32)
        columns = np.zeros((n_rows, depth), np.int64)
        untaken_ties = np.arange(n_rows)
    for i in untaken_ties.tolist():
        pool = pool_arrays("", rows[i], {}, depth)
        columns[i], values[i] = pool.docs, pool.scores
    return columns, values.astype(np.float32, copy=False)


# -- the int8 product, certified -----------------------------------------------------------------

def _query_bounds(corpus: DenseCorpus, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """int8 codes of the queries, ``c_i = s_i S`` and ``β_i`` (float64)."""
    scale = (np.abs(queries).max(axis=1) / np.float32(127.0))[:, None]
    codes, error, decoded, norms = _quantise(queries, scale)
    norms = _norm_bound(norms, corpus.dim)
    error = _norm_bound(error, corpus.dim) + _U * _norm_bound(decoded, corpus.dim)
    beta = (norms * corpus.code_error + error * corpus.code_norm
            + _gamma(corpus.dim) * norms * corpus.norm) * _INFLATE + 1e-30
    return codes, scale[:, 0].astype(np.float64) * corpus.scale, beta


class _ChunkedBlock:
    """An int32 block of approximate scores with the maxima of its column chunks.

    The maxima answer "every entry ≥ a floor, per row" while reading again
    only the chunks whose maximum reaches the floor, and give each row
    ``depth`` distinct documents of large ``m`` cheaply: the largest entry of
    each of its ``depth`` chunks of largest maximum.
    """

    def __init__(self, m, depth: int) -> None:
        self.m = m.numpy()
        n_rows, n = self.m.shape
        # 32 columns: the maxima of 1,000 x 100,000 in 0.018 s (0.03 s with 16); >= 4·depth chunks
        self.chunk = max(1, min(32, n // (4 * depth)))
        self.full = n // self.chunk * self.chunk
        chunks = m[:, :self.full].reshape(n_rows, self.full // self.chunk, self.chunk)
        self.maxima = (chunks.amax(2) if self.chunk > 1 else chunks[:, :, 0]).numpy()
        self.chunks = chunks.numpy()

    def top_chunk_entries(self, depth: int) -> np.ndarray:
        """Per row, ``depth`` distinct columns, ascending: the largest entry of each of the top chunks."""
        n_chunks = self.maxima.shape[1]  # > depth (at least 4·depth, or every column)
        best = np.argpartition(self.maxima, n_chunks - depth, axis=1)[:, n_chunks - depth:]  # 4x torch.topk
        if self.chunk > 1:
            within = self.chunks[np.arange(len(best))[:, None], best].argmax(axis=2)
            best = best * self.chunk + within
        return np.sort(best.astype(np.int64, copy=False), axis=1)

    def at_least(self, floor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, columns)`` of the entries ≥ ``floor[row]``, by row then column."""
        floor = np.clip(floor, np.iinfo(np.int32).min, np.iinfo(np.int32).max).astype(np.int32)
        # Flat indices (half the time of a 2-D np.nonzero) and a flat take (a fifth of a 2-D gather).
        n_chunks = self.maxima.shape[1]
        hits = np.flatnonzero(self.maxima >= floor[:, None])
        hit_rows = hits // n_chunks
        values = np.take(self.chunks.reshape(-1, self.chunk), hits, axis=0)  # (hits, chunk)
        hit, offset = np.divmod(np.flatnonzero(values >= floor[hit_rows, None]), self.chunk)
        rows, cols = hit_rows[hit], (hits[hit] - hit_rows[hit] * n_chunks) * self.chunk + offset
        if self.full < self.m.shape[1]:  # the last columns, outside every chunk (fewer than a chunk)
            tail_rows, tail_cols = np.nonzero(self.m[:, self.full:] >= floor[:, None])
            order = np.argsort(np.concatenate([rows, tail_rows]), kind="stable")
            cols = np.concatenate([cols, tail_cols + self.full])[order]
            rows = np.concatenate([rows, tail_rows])[order]
        return rows.astype(np.int64, copy=False), cols.astype(np.int64, copy=False)


def _int8_pools(corpus: DenseCorpus, queries: np.ndarray, depth: int,
                extra: list[np.ndarray]) -> DensePoolBlock | None:
    """The block through the int8 product, or None where it cannot be used (the caller falls back)."""
    import torch

    codes, c, beta = _query_bounds(corpus, queries)
    if not ((c > 0).all() and np.isfinite(beta).all()):  # a zero query, or norms overflowing float32
        return None
    with corpus.score_buffer(len(codes)) as out:
        try:
            m = _int_mm()[0](torch.from_numpy(codes), corpus.codes_t, **({} if out is None else {"out": out}))
        except RuntimeError:  # a build whose kernel refuses this shape
            return None
        return _certified_pools(corpus, queries, depth, extra, _ChunkedBlock(m, depth), c, beta)


def _certified_pools(corpus: DenseCorpus, queries: np.ndarray, depth: int, extra: list[np.ndarray],
                     block: _ChunkedBlock, c: np.ndarray, beta: np.ndarray) -> DensePoolBlock | None:
    """The pools and extras of a block from its int8 product (``block``), or None as :func:`_int8_pools`."""
    n, n_docs = len(queries), corpus.n_docs
    scored = _BlockScores(corpus.vectors, queries)
    # 1. Per row, depth documents of large m, rescored: the least of their exact scores, L, is at
    # most the depth-th largest exact score.
    first = block.top_chunk_entries(depth)
    least = scored.of(np.repeat(np.arange(n), depth), first.ravel(), sorted_unique=True).reshape(n, depth).min(1)
    # 2. Only documents with c m + β ≥ L can be in the pool: m ≥ (L - β) / c, one integer of
    # slack against the float64 rounding of the quotient. This superset holds the first depth.
    floor = np.ceil((least - beta) / c) - 1
    if (floor < -corpus.dim * 127 * 127).any():  # the band spans every possible value
        return None
    rows, cols = block.at_least(floor.astype(np.int64))
    bounds = np.searchsorted(rows, np.arange(n + 1))
    counts = np.diff(bounds)
    if counts.max() > n_docs // 4:  # too wide to pay off
        return None
    candidate_scores = scored.extend_to(rows, cols)
    if candidate_scores is None:  # the first depth are candidates by the bound; never a wrong pool
        return None
    # 3. The candidates of each row side by side, padded with -inf after them: the pools and the
    # shallow extras' ranks read this (rows x widest) matrix. Positions keep column order.
    width = int(counts.max())
    position = np.arange(len(rows)) - bounds[rows]
    values = np.full((n, width), -np.inf, np.float32)
    values[rows, position] = candidate_scores
    columns = np.full((n, width), n_docs, np.int64)
    columns[rows, position] = cols
    at, pool_scores = _top_by_score_then_row(values, depth)
    docs = np.take_along_axis(columns, at, axis=1)
    extra_scores, extra_ranks = _extra_ranks(scored, block.m, values, columns, least, c, beta, extra)
    return DensePoolBlock(docs, pool_scores, extra_scores, extra_ranks, scored.count, True)


class _BlockScores:
    """The exact fp32 scores computed for a block's (query row, document) pairs, each computed once.

    Every comparison then reads one value per pair, whichever product call
    computed it (a gathered product could differ by an ulp between calls).
    """

    def __init__(self, vectors: np.ndarray, queries: np.ndarray) -> None:
        self.vectors, self.queries = vectors, queries
        self.keys = np.zeros(0, np.int64)  # row * n_docs + document, ascending
        self.scores = np.zeros(0, np.float32)
        self.count = 0  # dot products computed

    def of(self, rows: np.ndarray, cols: np.ndarray, sorted_unique: bool = False,
           keep: bool = True) -> np.ndarray:
        """The scores of the pairs ``(rows, cols)``, computing those not yet known.

        ``keep=False``: the new scores are not kept, for pairs never asked for again.
        """
        keys = rows * len(self.vectors) + cols
        known, scores = self._lookup(keys)
        if known.all():
            return scores
        fresh = keys[~known] if sorted_unique else np.unique(keys[~known])
        new = self._compute(fresh)
        scores[~known] = new if sorted_unique else new[np.searchsorted(fresh, keys[~known])]
        if keep:
            merged = np.concatenate([self.keys, fresh])
            order = np.argsort(merged, kind="stable")  # two sorted runs: a merge
            self.keys, self.scores = merged[order], np.concatenate([self.scores, new])[order]
        return scores

    def extend_to(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray | None:
        """The scores of the pairs ``(rows, cols)`` (by row then column, a superset of those scored).

        None, changing nothing, if they miss a scored pair (the bound guarantees they do not).
        """
        keys = rows * len(self.vectors) + cols
        at = np.searchsorted(keys, self.keys)
        if len(at) and (at[-1] >= len(keys) or not np.array_equal(keys[at], self.keys)):
            return None
        scores = np.empty(len(keys), np.float32)
        scores[at] = self.scores
        fresh = np.ones(len(keys), bool)
        fresh[at] = False
        scores[fresh] = self._compute(keys[fresh])
        self.keys, self.scores = keys, scores
        return scores

    def _lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        scores = np.empty(len(keys), np.float32)
        if not len(self.keys):
            return np.zeros(len(keys), bool), scores
        at = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        known = self.keys[at] == keys
        scores[known] = self.scores[at[known]]
        return known, scores

    def _compute(self, keys: np.ndarray) -> np.ndarray:
        """fp32 scores of ascending ``keys``, gathered products per query row."""
        n_docs = len(self.vectors)
        rows, cols = np.divmod(keys, n_docs)
        out = np.empty(len(keys), np.float32)
        starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]]) if len(rows) else rows
        for a, b in zip(starts.tolist(), np.r_[starts[1:], len(rows)].tolist()):
            query = self.queries[rows[a]]
            if b - a > n_docs // 3:  # the product over the corpus: 48 ns a document, a gather 135 ns a row
                out[a:b] = (self.vectors @ query)[cols[a:b]]
                continue
            for start in range(a, b, GATHER_ROWS):
                end = min(start + GATHER_ROWS, b)
                out[start:end] = np.take(self.vectors, cols[start:end], axis=0) @ query
        self.count += len(keys)
        return out


def _extra_ranks(scored: _BlockScores, m: np.ndarray, values: np.ndarray, columns: np.ndarray,
                 least: np.ndarray, c: np.ndarray, beta: np.ndarray,
                 extra: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Exact scores and ordinal ranks of the extra rows (see the module docstring).

    An extra scoring at least its row's L ranks among the candidates (every
    document above it is one); the others are ranked by the documents surely
    above plus exact comparisons in their band.
    """
    lengths = [len(e) for e in extra]
    owner = np.repeat(np.arange(len(extra)), lengths)
    wanted = np.concatenate(extra) if len(owner) else np.zeros(0, np.int64)
    score = scored.of(owner, wanted)
    ranks = np.empty(len(wanted), np.int64)
    shallow = score >= least[owner]
    if shallow.any():
        at = np.flatnonzero(shallow)
        row_values, row_columns = values[owner[at]], columns[owner[at]]
        s, j = score[at, None], wanted[at, None]
        ranks[at] = np.count_nonzero((row_values > s) | ((row_values == s) & (row_columns < j)), axis=1) + 1
    deep = np.flatnonzero(~shallow)
    for row in np.unique(owner[deep]).tolist():
        here = deep[owner[deep] == row]
        ranks[here] = _band_ranks(scored, m[row], row, wanted[here], score[here], c[row], beta[row])
    bounds = np.cumsum([0] + lengths)
    return ([score[a:b] for a, b in zip(bounds[:-1], bounds[1:])],
            [ranks[a:b] for a, b in zip(bounds[:-1], bounds[1:])])


def _band_ranks(scored: _BlockScores, m_row: np.ndarray, row: int, docs: np.ndarray, scores: np.ndarray,
                c: float, beta: float) -> np.ndarray:
    """Exact ordinal ranks of a query's ``docs``: documents surely above, plus exact comparisons in the band.

    The union of the documents' bands is rescored once (a pair's score is read
    by this row only, so it is not kept).
    """
    # Surely above: c m - β > score ⇐ m ≥ above; surely not: c m + β < score ⇐ m ≤ below
    # (two integers of slack against the float64 rounding of the quotients).
    above = [math.floor((s + beta) / c) + 2 for s in scores.tolist()]
    below = [math.ceil((s - beta) / c) - 2 for s in scores.tolist()]
    sure = [int(np.count_nonzero(m_row >= a)) for a in above]
    inside = np.zeros(len(m_row), bool)
    for a, b in zip(above, below):
        inside |= (m_row > b) & (m_row < a)
    band = np.flatnonzero(inside)
    band_scores = scored.of(np.full(len(band), row), band, sorted_unique=True, keep=False)
    band_m = m_row[band]
    ranks = np.empty(len(docs), np.int64)
    for k, (doc, score, a, b) in enumerate(zip(docs.tolist(), scores.tolist(), above, below)):
        mine = (band_m > b) & (band_m < a) if len(docs) > 1 else slice(None)
        here, here_scores = band[mine], band_scores[mine]
        ranks[k] = sure[k] + int(np.count_nonzero(here_scores > score)) \
            + int(np.count_nonzero((here_scores == score) & (here < doc))) + 1
    return ranks
