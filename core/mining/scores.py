"""Score rows for mining: one query's scores over the whole corpus, in bounded batches.

The miner needs more than a top-k list: the scores (and ranks) of the
query's labeled documents too, wherever they rank, because the margins are
measured against the lowest positive's score and the export writes positive
scores. Each :class:`ScoreRows` yields, per query, a full score row over
the corpus; rows are computed a few queries at a time so the score block
stays near ``BLOCK_ELEMENTS`` floats and a full queries × corpus matrix is
never materialised (unlike ``mine_hard_negatives`` without FAISS, which
scores up to 16,384 queries against the whole corpus at once).
:func:`pool_blocks` turns them into :class:`PoolBlock` s, the pools of a block
of queries; dense rows skip the full rows (:mod:`core.mining.dense_pool`).

Sources:

* ``dense``: inner product of unit vectors (cosine), exact, numpy matmul;
* ``bm25``: :meth:`core.retrieval.bm25.BM25Index.get_scores` (rank-bm25's Okapi scores);
* ``hybrid``: reciprocal rank fusion, ``Σ 1 / (k + rank)`` over the BM25 and
  dense ranks (Cormack, Clarke & Büttcher 2009, k = 60). Ranks are taken over
  the *whole* corpus, so every document, a positive at rank 5,000 included,
  has a score; for documents that both retrievers rank within
  ``Retrieval.fusion_depth`` this is exactly the search pane's hybrid score.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import (
    TYPE_CHECKING,
    Callable,
    Iterator,
    Mapping,
    NamedTuple,
    Protocol,
    Sequence,
)

import numpy as np

from core.progress import Progress

if TYPE_CHECKING:  # pragma: no cover
    from core.mining.config import MiningConfig
    from core.project.file import Project
    from core.retrieval.bm25 import BM25Index
    from core.retrieval.service import Retrieval

BLOCK_ELEMENTS = 16_000_000  # floats in one batch of score rows (64 MB as float32, as core.retrieval.dense_index)
MAX_BATCH = 512


class Candidate(NamedTuple):
    """One scored document of one query: ``rank`` is its 1-based rank in the corpus."""

    # A NamedTuple, not a frozen dataclass: a pass creates one per candidate
    # (85,000 for SciFact train) and tuples are ~4x cheaper to build.
    doc_id: str
    rank: int
    score: float
    in_pool: bool  # among the top ``depth`` retrieved documents
    teacher_score: float | None = None  # the teacher's rescoring (core.mining.teacher), if any

    @property
    def judged(self) -> float:
        """The score the rules judge: the teacher's when there is one, else the retriever's."""
        return self.score if self.teacher_score is None else self.teacher_score


@dataclass(frozen=True)
class ScoredQuery:
    """A query's candidate pool (best first) plus its labeled documents outside the pool."""

    query_id: str
    candidates: tuple[Candidate, ...]


class ScoreRows(Protocol):
    """Full score rows over ``doc_ids`` for queries, batch by batch."""

    doc_ids: list[str]

    def rows(self, query_ids: Sequence[str], progress: Progress) -> Iterator[tuple[str, np.ndarray]]:
        ...


def batch_size(n_docs: int) -> int:
    return max(1, min(MAX_BATCH, BLOCK_ELEMENTS // max(n_docs, 1)))


def _matmul_t(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b.T`` in float32, through torch when it is installed.

    torch's CPU matmul measured 2.5x faster than numpy's bundled OpenBLAS
    on one thread here (80 x 384 by 100,000 x 384: 0.25 s vs 0.61 s), and it
    is the product ``mine_hard_negatives`` computes. Both share memory with
    the numpy arrays, so nothing is copied.
    """
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return a @ b.T
    with torch.no_grad():
        return (torch.from_numpy(np.ascontiguousarray(a)) @ torch.from_numpy(b).T).numpy()


class DenseRows:
    """Cosine rows from unit document vectors and a function giving query vectors."""

    def __init__(
        self,
        doc_ids: Sequence[str],
        doc_vectors: np.ndarray,
        query_vectors: Callable[[list[str]], np.ndarray],
    ) -> None:
        if len(doc_ids) != len(doc_vectors):
            raise ValueError(f"{len(doc_vectors)} vectors but {len(doc_ids)} document ids")
        self.doc_ids = list(doc_ids)
        self.vectors = np.ascontiguousarray(doc_vectors, dtype=np.float32)
        self.query_vectors = query_vectors
        self._prepared = None

    def prepared(self):
        """The vectors prepared for :func:`core.mining.dense_pool.dense_pools` (once)."""
        from core.mining.dense_pool import DenseCorpus

        if self._prepared is None:
            self._prepared = DenseCorpus(self.vectors)
        return self._prepared

    def rows(self, query_ids: Sequence[str], progress: Progress) -> Iterator[tuple[str, np.ndarray]]:
        query_ids = list(query_ids)
        step = batch_size(len(self.doc_ids))
        for start in range(0, len(query_ids), step):
            progress.update(start, len(query_ids), f"Scoring queries: {start}/{len(query_ids)}")
            batch = query_ids[start : start + step]
            block = _matmul_t(np.asarray(self.query_vectors(batch), dtype=np.float32), self.vectors)
            yield from zip(batch, block)
            # Free this block before the next one is computed: with a consumer that drops its
            # row too (the miner does), at most one block is alive at a time.
            del block
        progress.update(len(query_ids), len(query_ids), f"Scored {len(query_ids)} queries")


class BM25Rows:
    """BM25 rows, permuted into ``doc_ids`` order if the index stores another order."""

    def __init__(self, index: "BM25Index", query_texts: Mapping[str, str],
                 doc_ids: Sequence[str] | None = None) -> None:
        self.index = index
        self.query_texts = query_texts
        self.doc_ids = list(doc_ids) if doc_ids is not None else list(index.doc_ids)
        if self.doc_ids == list(index.doc_ids):
            self._perm = None
        else:
            position = {d: i for i, d in enumerate(index.doc_ids)}
            missing = [d for d in self.doc_ids if d not in position]
            if missing or len(self.doc_ids) != len(index.doc_ids):
                from core.errors import StudioError

                raise StudioError("the BM25 index does not match the project's documents; rebuild it")
            self._perm = np.fromiter((position[d] for d in self.doc_ids), np.int64, len(self.doc_ids))

    def row(self, query_id: str) -> np.ndarray:
        """The BM25 score of every document for one query, in ``doc_ids`` order."""
        row = self.index.get_scores(self.query_texts[query_id])
        return row if self._perm is None else row[self._perm]

    def rows(self, query_ids: Sequence[str], progress: Progress) -> Iterator[tuple[str, np.ndarray]]:
        query_ids = list(query_ids)
        for i, qid in enumerate(query_ids):
            if i % 64 == 0:
                progress.update(i, len(query_ids), f"Scoring queries: {i}/{len(query_ids)}")
            yield qid, self.row(qid)
        progress.update(len(query_ids), len(query_ids), f"Scored {len(query_ids)} queries")


def ordinal_ranks(row: np.ndarray) -> np.ndarray:
    """1-based rank of every entry, best score first, ties in index order."""
    order = np.argsort(-row, kind="stable")
    ranks = np.empty(len(row), dtype=np.int64)
    ranks[order] = np.arange(1, len(row) + 1)
    return ranks


def competition_ranks_of(row: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Per ``wanted`` entry of ``row``, 1 + how many entries score strictly higher.

    Equal scores share a rank (BM25 ties by the hundred: documents matching the
    same terms with the same length), so a rank says how many documents the
    retriever prefers, not where a tie happened to fall in corpus order. One
    sort of the row (vectorised: 2x faster on SciFact's BM25 rows than sorting
    only their non-zero entries), then a binary search per entry.
    """
    ordered = np.sort(row)
    return (len(row) - np.searchsorted(ordered, row[wanted], side="right") + 1).astype(np.int64)


class HybridRows:
    """BM25 and dense rows fused as the model's hybrid search fuses them.

    ``method="rrf"``: reciprocal rank fusion over whole-corpus ranks,
    ``1/(k + r_bm25) + 1/(k + r_dense)``; within both top lists this is the
    search pane's RRF, and a document outside them still gets a (small) score.
    ``method="weighted"``: ``w_bm25 · n_bm25 + w_dense · n_dense`` where each
    ``n`` is min-max normalised over that ranking's top ``depth`` documents
    (:func:`core.retrieval.fusion.normalize`) and clipped at 0 below, which is
    exactly :func:`core.retrieval.fusion_setting.fuse` over the top-``depth``
    lists the search pane fuses: a document a list did not retrieve adds 0.
    """

    def __init__(self, lexical: ScoreRows, dense: ScoreRows, k: int = 60, *,
                 method: str = "rrf", weights: Sequence[float] | None = None, depth: int = 100) -> None:
        if list(lexical.doc_ids) != list(dense.doc_ids):
            raise ValueError("hybrid scoring needs both sources in the same document order")
        if method not in ("rrf", "weighted"):
            raise ValueError(f"unknown hybrid fusion {method!r}")
        if method == "weighted" and (weights is None or len(weights) != 2):
            raise ValueError("weighted hybrid fusion needs two weights (BM25, dense)")
        self.lexical = lexical
        self.dense = dense
        self.k = k
        self.method = method
        self.weights = None if weights is None else (float(weights[0]), float(weights[1]))
        self.depth = depth
        self.doc_ids = list(dense.doc_ids)

    def rows(self, query_ids: Sequence[str], progress: Progress) -> Iterator[tuple[str, np.ndarray]]:
        quiet = Progress(cancel_event=None)  # the dense stream reports; this one would double-count
        pairs = zip(self.lexical.rows(query_ids, quiet), self.dense.rows(query_ids, progress))
        for (qid, lex), (_, den) in pairs:
            progress.check()
            if self.method == "rrf":
                yield qid, 1.0 / (self.k + ordinal_ranks(lex)) + 1.0 / (self.k + ordinal_ranks(den))
            else:
                w_lex, w_den = self.weights
                # BM25 retrieves only documents sharing a term with the query.
                yield qid, (w_lex * top_minmax(lex, self.depth, retrieved=lex > 0)
                            + w_den * top_minmax(den, self.depth))


def top_minmax(row: np.ndarray, depth: int, retrieved: np.ndarray | None = None) -> np.ndarray:
    """Scores min-max normalised over the ``depth`` best, clipped at 0 below them.

    A document in the top ``depth`` (of those ``retrieved`` can return, all by
    default) gets :func:`core.retrieval.fusion.normalize`'s value (1.0 for all
    when the top scores are equal); every other document 0, the weight an
    unretrieved document has in a weighted fusion.
    """
    row = np.asarray(row, dtype=np.float64)
    out = np.zeros(len(row))
    eligible = row if retrieved is None else row[retrieved]
    n = len(eligible)
    if n == 0:
        return out
    depth = max(1, min(depth, n))
    top = np.partition(eligible, n - depth)[n - depth:]
    lo, hi = float(top.min()), float(top.max())
    mask = row >= lo if retrieved is None else retrieved & (row >= lo)
    out[mask] = 1.0 if hi == lo else (row[mask] - lo) / (hi - lo)
    return out


@dataclass(frozen=True)
class Pool:
    """A query's candidates as arrays: the pool best first, then labeled documents outside it
    (by rank).

    What :class:`ScoredQuery` holds, without a Python object per candidate: the
    miner decides a pass of 100,000 candidates on these
    (:func:`core.mining.decisions.decide_pool`). ``docs`` are rows of the score
    rows' ``doc_ids``.
    """

    query_id: str
    docs: np.ndarray  # int64 corpus rows
    ranks: np.ndarray  # int64, 1-based rank in the corpus for this query
    scores: np.ndarray  # float64, the retriever's
    in_pool: np.ndarray  # bool: among the top ``depth`` (False: a labeled document outside)
    teacher_scores: np.ndarray | None = None  # float64, the teacher's rescoring, if any

    def __len__(self) -> int:
        return len(self.docs)

    def scored(self, doc_ids: Sequence[str]) -> ScoredQuery:
        """The same candidates as a :class:`ScoredQuery` (what :func:`core.mining.rules.decide` reads)."""
        teacher = (self.teacher_scores.tolist() if self.teacher_scores is not None
                   else [None] * len(self))
        return ScoredQuery(self.query_id, tuple(
            Candidate(doc_ids[i], r, s, p, t) for i, r, s, p, t in zip(
                self.docs.tolist(), self.ranks.tolist(), self.scores.tolist(),
                self.in_pool.tolist(), teacher)))

    @classmethod
    def from_scored(cls, scored: ScoredQuery, doc_index: Mapping[str, int]) -> "Pool":
        """The arrays of ``scored`` (teacher scores all present or all absent)."""
        cands = scored.candidates
        teacher = [c.teacher_score for c in cands]
        return cls(scored.query_id,
                   np.fromiter((doc_index[c.doc_id] for c in cands), np.int64, len(cands)),
                   np.fromiter((c.rank for c in cands), np.int64, len(cands)),
                   np.fromiter((c.score for c in cands), np.float64, len(cands)),
                   np.fromiter((c.in_pool for c in cands), bool, len(cands)),
                   None if not cands or teacher[0] is None else np.asarray(teacher, np.float64))


@dataclass(frozen=True)
class PoolBlock:
    """Several queries' pools back to back, so the rules run over a block of queries at once.

    Query ``k``'s candidates are rows ``offsets[k]:offsets[k + 1]`` of the
    column arrays, laid out as in its :class:`Pool`.
    """

    query_ids: tuple[str, ...]
    offsets: np.ndarray  # int64, len(query_ids) + 1
    docs: np.ndarray
    ranks: np.ndarray
    scores: np.ndarray
    in_pool: np.ndarray
    teacher_scores: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.docs)

    @classmethod
    def of(cls, pools: Sequence[Pool]) -> "PoolBlock":
        """The pools one after the other (teacher scores all present or all absent)."""
        offsets = np.zeros(len(pools) + 1, np.int64)
        np.cumsum([len(p) for p in pools], out=offsets[1:])
        teacher = [p.teacher_scores for p in pools]
        if any(t is None for t in teacher) and not all(t is None for t in teacher):
            raise ValueError("a block's pools either all have teacher scores or none has")

        def joined(arrays: list[np.ndarray], dtype: type) -> np.ndarray:
            return np.concatenate(arrays).astype(dtype, copy=False) if arrays else np.zeros(0, dtype)

        return cls(tuple(p.query_id for p in pools), offsets,
                   joined([p.docs for p in pools], np.int64), joined([p.ranks for p in pools], np.int64),
                   joined([p.scores for p in pools], np.float64), joined([p.in_pool for p in pools], bool),
                   None if not pools or teacher[0] is None else joined(teacher, np.float64))

    def query_of_rows(self) -> np.ndarray:
        """Per row, the position of its query in ``query_ids``."""
        return np.repeat(np.arange(len(self.query_ids)), np.diff(self.offsets))

    def pool(self, k: int) -> Pool:
        at = slice(int(self.offsets[k]), int(self.offsets[k + 1]))
        return Pool(self.query_ids[k], self.docs[at], self.ranks[at], self.scores[at], self.in_pool[at],
                    None if self.teacher_scores is None else self.teacher_scores[at])


def pool_arrays(
    query_id: str,
    row: np.ndarray,
    doc_index: Mapping[str, int],
    depth: int,
    labeled: Sequence[str] = (),
) -> Pool:
    """The ``depth`` best documents of ``row`` (ties in corpus order) plus ``labeled`` ones.

    Labeled documents outside the pool are added with their score and exact
    corpus rank (``in_pool=False``) so margins and exported scores are known.
    """
    n = len(row)
    depth = min(depth, n)
    if depth <= 0:
        top = np.zeros(0, dtype=np.int64)
    elif depth < n:
        part = np.argpartition(row, n - depth)[n - depth :]  # the depth largest (no negated copy)
        kth = row[part].min()
        # argpartition takes arbitrary members of a tie at the cut: take tied
        # documents in corpus order so the pool is deterministic.
        above = np.flatnonzero(row > kth)
        tied = np.flatnonzero(row == kth)[: depth - len(above)]
        top = np.concatenate([above, tied])
    else:
        top = np.arange(n)
    top = top[np.lexsort((top, -row[top]))]
    seen = set(top.tolist()) if labeled else set()
    outside = []
    for doc in labeled:
        i = doc_index.get(doc)
        if i is None or i in seen:
            continue
        seen.add(i)
        outside.append(i)
    out_rows = np.asarray(outside, dtype=np.int64)
    out_scores = row[out_rows]
    out_ranks = np.fromiter(
        (np.count_nonzero(row > s) + np.count_nonzero(row[:i] == s) + 1
         for i, s in zip(outside, out_scores)), np.int64, len(outside))
    by_rank = np.argsort(out_ranks)  # the whole pool in rank order, as the rules read it
    out_rows, out_scores, out_ranks = out_rows[by_rank], out_scores[by_rank], out_ranks[by_rank]
    return Pool(
        query_id,
        np.concatenate([top.astype(np.int64), out_rows]),
        np.concatenate([np.arange(1, len(top) + 1, dtype=np.int64), out_ranks]),
        np.concatenate([row[top], out_scores]).astype(np.float64),
        np.concatenate([np.ones(len(top), bool), np.zeros(len(outside), bool)]),
    )


POOL_BLOCK_QUERIES = 256  # queries whose pools the rules decide together
QUERY_VECTORS_AT_ONCE = 4096  # query vectors read from the cache per call (6 MB at dimension 384)


def pool_blocks(
    rows: ScoreRows,
    query_ids: Sequence[str],
    labeled: Mapping[str, Sequence[str]],
    doc_index: Mapping[str, int],
    depth: int,
    progress: Progress,
) -> Iterator[PoolBlock]:
    """The pools of ``query_ids`` (:func:`pool_arrays` of each score row), a block of queries at a time.

    ``labeled`` names each query's labeled documents, added with their exact
    rank when they fall outside the pool. Dense rows never form whole score
    rows: :mod:`core.mining.dense_pool` finds the same pools through a
    certified int8 product (large corpora) or one top-k per block (small ones).
    """
    if isinstance(rows, DenseRows):
        yield from _dense_pool_blocks(rows, list(query_ids), labeled, doc_index, depth, progress)
        return
    pools: list[Pool] = []
    for qid, row in rows.rows(query_ids, progress):
        pools.append(pool_arrays(qid, row, doc_index, depth, labeled.get(qid, ())))
        del row  # a view into a score block: let the next block replace it
        if len(pools) == POOL_BLOCK_QUERIES:
            yield PoolBlock.of(pools)
            pools = []
    if pools:
        yield PoolBlock.of(pools)


def _dense_pool_blocks(rows: "DenseRows", query_ids: list[str], labeled: Mapping[str, Sequence[str]],
                       doc_index: Mapping[str, int], depth: int,
                       progress: Progress) -> Iterator[PoolBlock]:
    from core.errors import StudioError
    from core.mining.dense_pool import dense_pools, pool_block_size

    try:
        corpus = rows.prepared()
    except ValueError as exc:  # NaN or infinite vectors: no order to mine by
        raise StudioError(f"cannot mine with these embeddings: {exc}") from exc
    step = pool_block_size(corpus)
    fetch = max(step, QUERY_VECTORS_AT_ONCE // step * step)  # the query cache is read in large batches
    for start in range(0, len(query_ids), step):
        progress.update(start, len(query_ids), f"Scoring queries: {start}/{len(query_ids)}")
        if start % fetch == 0:
            fetched = np.asarray(rows.query_vectors(query_ids[start : start + fetch]), np.float32)
        batch = query_ids[start : start + step]
        vectors = fetched[start % fetch : start % fetch + len(batch)]
        extra = []
        for qid in batch:
            wanted = dict.fromkeys(doc_index[d] for d in labeled.get(qid, ()) if d in doc_index)
            extra.append(np.fromiter(wanted, np.int64, len(wanted)))
        try:
            found = dense_pools(corpus, vectors, depth, extra)
        except ValueError as exc:
            raise StudioError(f"cannot mine with these query embeddings: {exc}") from exc
        yield _block_of_dense_pools(batch, found, extra)
    progress.update(len(query_ids), len(query_ids), f"Scored {len(query_ids)} queries")


def _block_of_dense_pools(query_ids: list[str], found, extra: list[np.ndarray]) -> PoolBlock:
    """A :class:`PoolBlock` of dense pools plus the labeled rows that rank below them (by rank)."""
    n, depth = found.docs.shape
    out_query, out_docs, out_ranks, out_scores = [], [], [], []
    for k, (wanted, ranks, scores) in enumerate(zip(extra, found.extra_ranks, found.extra_scores)):
        outside = np.flatnonzero(ranks > depth)
        if len(outside):
            outside = outside[np.argsort(ranks[outside])]
            out_query.append(np.full(len(outside), k, np.int64))
            out_docs.append(wanted[outside])
            out_ranks.append(ranks[outside])
            out_scores.append(scores[outside])

    def joined(pool_part: np.ndarray, parts: list[np.ndarray], dtype: type) -> np.ndarray:
        return np.concatenate([pool_part.reshape(-1)] + parts).astype(dtype, copy=False)

    owner = joined(np.repeat(np.arange(n), depth), out_query, np.int64)
    # Stable by query: each query's pool (best first), then its labeled rows outside by rank.
    order = np.argsort(owner, kind="stable")
    offsets = np.searchsorted(owner[order], np.arange(n + 1)).astype(np.int64)
    return PoolBlock(
        tuple(query_ids), offsets,
        joined(found.docs, out_docs, np.int64)[order],
        joined(np.tile(np.arange(1, depth + 1), n), out_ranks, np.int64)[order],
        joined(found.scores, out_scores, np.float64)[order],
        joined(np.ones(n * depth, bool), [np.zeros(len(q), bool) for q in out_query], bool)[order])


def pool_from_row(
    query_id: str,
    row: np.ndarray,
    doc_ids: Sequence[str],
    doc_index: Mapping[str, int],
    depth: int,
    labeled: Sequence[str] = (),
) -> ScoredQuery:
    """:func:`pool_arrays` as a :class:`ScoredQuery` of :class:`Candidate` tuples."""
    return pool_arrays(query_id, row, doc_index, depth, labeled).scored(doc_ids)


# -- building rows for a project ---------------------------------------------------

def project_rows(
    project: "Project",
    source: str,
    retrieval: "Retrieval",
    progress: Progress | None = None,
) -> ScoreRows:
    """Score rows of ``source`` over ``project``, reusing ``retrieval``'s loaded indexes."""
    progress = progress or Progress()
    doc_ids = project.document_ids()
    texts = {q.id: q.text for q in project.queries()}

    def dense() -> DenseRows:
        ids, vectors = retrieval.document_embeddings(progress.sub(0.0, 0.9))
        encoder = retrieval.encoder

        def query_vectors(qids: list[str]) -> np.ndarray:
            from core.retrieval.embeddings import query_embeddings

            # Through the on-disk query cache, so re-mining skips the encoder.
            return query_embeddings(project, encoder, qids)

        rows = DenseRows(ids, vectors, query_vectors)
        if list(ids) != doc_ids:
            from core.errors import StudioError

            raise StudioError("the document embeddings do not match the project's documents; "
                              "the corpus changed while loading, try again")
        return rows

    if source == "bm25":
        index = retrieval.ensure_bm25(progress)
        return BM25Rows(index, texts, doc_ids)
    if source == "dense":
        return dense()
    if source == "hybrid":
        lexical = BM25Rows(retrieval.ensure_bm25(progress.sub(0.0, 0.1)), texts, doc_ids)
        # The model's own fusion (chosen on the train queries when it was
        # compared or trained), so a hybrid pass mines what hybrid search shows.
        method = getattr(retrieval, "fusion", "rrf") or "rrf"
        k = int(getattr(retrieval, "rrf_k", 60) or 60)
        weights = ((getattr(retrieval, "fusion_weights", None) or [0.5, 0.5])
                   if method == "weighted" else None)
        return HybridRows(lexical, dense(), k=k, method=method, weights=weights,
                          depth=int(getattr(retrieval, "fusion_depth", 100) or 100))
    raise ValueError(f"unknown mining source {source!r}")


def rows_for_config(project: Project, config: "MiningConfig", retrieval: "Retrieval | None",
                    progress: Progress) -> tuple[ScoreRows, str | None, "Retrieval"]:
    """Score rows for a mining ``config``, reusing ``retrieval`` when it serves the same model.

    Returns the rows, the model version the pass records (None for BM25) and
    the retrieval that scored them.
    """
    from core.retrieval.service import Retrieval

    if retrieval is None:
        retrieval = Retrieval(project, config.model_id)
    elif config.source != "bm25" and config.model_id not in (None, retrieval.model_id):
        from core.retrieval.encoder import resolve_model

        if resolve_model(project, config.model_id)[0] != retrieval.model_id:
            retrieval = Retrieval(project, config.model_id)
    rows = project_rows(project, config.source, retrieval, progress)
    return rows, (None if config.source == "bm25" else retrieval.model_id), retrieval
