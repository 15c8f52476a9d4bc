"""The retrieval service: BM25, dense and hybrid search over one project.

A :class:`Retrieval` builds (or loads from the project's cache folder) the
BM25 index and the dense index lazily, on first use or through
``ensure_bm25`` / ``ensure_dense`` (which take a Progress, so the GUI can run
them in a worker with a progress bar). It never holds on to the caller's
``Project``: whenever it needs to read the file it opens its own connection
from ``project.path``, so any thread may call it. Lazy builds are guarded by
one lock per index; searches on built indexes run concurrently.

Retrievers:

* ``bm25``: :mod:`core.retrieval.bm25` (rank-bm25's Okapi scores);
* ``dense``: cosine similarity of the model's unit vectors (:mod:`core.retrieval.dense_index`);
* ``hybrid``: reciprocal rank fusion (Cormack, Clarke & Büttcher 2009,
  ``Σ 1 / (k + rank)``, k = 60) of the BM25 and dense top-``fusion_depth``
  lists, or with ``fusion="weighted"`` a weighted sum of min-max normalised
  scores (:func:`core.retrieval.fusion.weighted_fusion`). Without an explicit
  ``fusion`` the model's own choice is used — the fusion picked on the
  training queries and stored with the model
  (:mod:`core.retrieval.fusion_setting`) — and RRF when none was chosen.

The dense encoder follows ``device`` and ``encoder`` (see
:mod:`core.retrieval.device`): fp32 on CUDA / MPS / the CPU, or the int8 fast
encoder on the CPU once it passes its quality gate
(:mod:`core.retrieval.encoder_choice`); :attr:`Retrieval.encoder_selection`
says which one runs and why.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Mapping, Sequence

import numpy as np

from core.errors import StudioError
from core.progress import Progress
from core.retrieval.device import EXACT, check_preferences
from core.retrieval.encoder import Encoder, resolve_model
from core.retrieval.fusion_setting import (
    DEFAULT_FUSION,
    FusionSetting,
    fuse,
    stored_fusion,
)

if TYPE_CHECKING:  # pragma: no cover
    from core.project.file import Project
    from core.retrieval.bm25 import BM25Index
    from core.retrieval.dense_index import DenseIndex
    from core.retrieval.encoder_choice import EncoderSelection


RETRIEVERS = ("bm25", "dense", "hybrid")
FUSIONS = ("rrf", "weighted")
_QUERY_CACHE_SIZE = 1024
_BATCH = 256  # queries per progress step in search_many
_DISK_CACHED_BATCH = 8  # more query texts than this also go through the on-disk cache


@dataclass(frozen=True)
class Hit:
    """One ranked document: ``rank`` is 1-based."""

    doc_id: str
    score: float
    rank: int


def _hits(pairs: Sequence[tuple[str, float]]) -> list[Hit]:
    return [Hit(d, float(s), i + 1) for i, (d, s) in enumerate(pairs)]


def check_retriever(retriever: str) -> None:
    if retriever not in RETRIEVERS:
        raise StudioError(f"unknown retriever {retriever!r}; expected one of {', '.join(RETRIEVERS)}")


class Retrieval:
    """BM25 / dense / hybrid search over one project, safe to use from worker threads."""

    def __init__(
        self,
        project: "Project",
        model_id: str | None = None,
        *,
        fusion: str | None = None,
        rrf_k: int = 60,
        fusion_weights: Sequence[float] | None = None,
        fusion_depth: int = 100,
        query_prompt: str | None = None,
        document_prompt: str | None = None,
        dense_backend: str = "auto",
        ef_search: int | None = None,
        embedding_dtype: str = "float32",
        device: str | None = "auto",
        encoder: str | None = EXACT,
    ) -> None:
        if fusion is not None and fusion not in FUSIONS:
            raise StudioError(f"unknown fusion {fusion!r}; expected one of {', '.join(FUSIONS)}")
        self.path = Path(project.path)
        # Resolved now, in the caller's thread, so a bad id fails at once.
        self._model_id, self._model_path = resolve_model(project, model_id)
        # The model's stored fusion choice, unless the caller chose one.
        self.fusion_setting: FusionSetting | None = None
        if fusion is None:
            self.fusion_setting = stored_fusion(project, self._model_id) or DEFAULT_FUSION
            fusion, rrf_k = self.fusion_setting.method, self.fusion_setting.rrf_k
            fusion_weights = self.fusion_setting.weights
        check_preferences(encoder, device)  # a bad name or an absent named device fails here too
        self.device_preference = device
        self.encoder_preference = encoder
        self._selection: "EncoderSelection | None" = None
        self.fusion = fusion
        self.rrf_k = rrf_k
        self.fusion_weights = list(fusion_weights) if fusion_weights is not None else None
        self.fusion_depth = fusion_depth
        self._prompts = (query_prompt, document_prompt)
        self._index_args: dict = {"backend": dense_backend}
        if ef_search is not None:
            self._index_args["ef_search"] = ef_search
        self.embedding_dtype = embedding_dtype
        self._bm25: "BM25Index | None" = None
        self._encoder: Encoder | None = None
        self._vectors: np.ndarray | None = None
        self._dense: "DenseIndex | None" = None
        self._bm25_lock = threading.Lock()
        self._dense_lock = threading.Lock()
        self._revisions: dict[str, str] = {}  # index name -> corpus revision it was built from
        self._qcache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._qcache_lock = threading.Lock()

    def use_fusion(self, setting: FusionSetting) -> None:
        """Fuse this model's hybrid as ``setting`` says from now on (e.g. a fusion just chosen)."""
        self.fusion_setting = setting
        self.fusion, self.rrf_k, self.fusion_weights = setting.method, setting.rrf_k, setting.weights

    # -- state ------------------------------------------------------------------
    @property
    def model_id(self) -> str:
        """``"bundled"``, a model version id, or the resolved folder path."""
        return self._model_id

    @property
    def model_path(self) -> Path:
        return self._model_path

    @property
    def bm25_ready(self) -> bool:
        return self._bm25 is not None

    @property
    def dense_ready(self) -> bool:
        return self._dense is not None

    @contextmanager
    def _project(self) -> Iterator["Project"]:
        from core.project.file import Project

        project = Project.open(self.path)
        try:
            yield project
        finally:
            project.close()

    def reset(self) -> None:
        """Forget built indexes (after the corpus changed); the next use reloads from cache."""
        with self._bm25_lock, self._dense_lock:
            self._bm25 = None
            self._dense = None
            self._vectors = None
            self._revisions.clear()

    def is_stale(self) -> bool:
        """True when a built index predates the project's current corpus (call :meth:`reset`)."""
        if not self._revisions:
            return False
        with self._project() as project:
            current = project.corpus_revision
        return any(rev != current for rev in self._revisions.values())

    # -- lazy builds ------------------------------------------------------------
    def ensure_bm25(self, progress: Progress | None = None) -> "BM25Index":
        """Load or build the BM25 index (cached in the project's data folder)."""
        if self._bm25 is not None:
            return self._bm25
        with self._bm25_lock:
            if self._bm25 is None:
                from core.retrieval.bm25 import load_or_build

                with self._project() as project:
                    revision = project.corpus_revision
                    self._bm25 = load_or_build(project, progress)
                    self._revisions["bm25"] = revision
        return self._bm25

    def ensure_dense(self, progress: Progress | None = None) -> "DenseIndex":
        """Load the model, the document embeddings (encoding only what the cache lacks) and the index."""
        if self._dense is not None:
            if progress is not None and self._selection is not None:
                from core.retrieval.encoder_choice import ENCODER_NOTE

                progress.note(ENCODER_NOTE, self._selection.to_dict())  # this job uses it too
            return self._dense
        with self._dense_lock:
            if self._dense is None:
                from core.retrieval.dense_index import DenseIndex
                from core.retrieval.embeddings import document_embeddings

                progress = progress or Progress()
                if self._encoder is None:
                    progress.busy("Loading model")
                    self._load_encoder(progress.sub(0.0, 0.02))
                with self._project() as project:
                    for _attempt in range(3):
                        revision = project.corpus_revision
                        doc_ids = project.document_ids()
                        vectors = document_embeddings(project, self._encoder, progress.sub(0.02, 0.95),
                                                      dtype=self.embedding_dtype)
                        if project.corpus_revision == revision and len(vectors) == len(doc_ids):
                            break  # ids and vectors come from the same corpus state
                    index = DenseIndex.load_or_build(
                        project, self._encoder.cache_key, vectors, doc_ids,
                        progress=progress.sub(0.95, 1.0), **self._index_args)
                self._vectors = vectors
                self._dense = index
                self._revisions["dense"] = revision
        return self._dense

    def _load_encoder(self, progress: Progress | None = None) -> None:
        """Pick and load the encoder (caller holds ``_dense_lock``)."""
        from core.retrieval.encoder_choice import select_encoder

        with self._project() as project:
            selection = select_encoder(
                project, self._model_id, self._model_path, encoder=self.encoder_preference,
                device=self.device_preference, query_prompt=self._prompts[0],
                document_prompt=self._prompts[1], progress=progress)
        self._selection = selection
        self._encoder = selection.encoder

    @property
    def encoder(self) -> Encoder:
        """The loaded encoder (loads the model on first use, without touching documents)."""
        if self._encoder is None:
            with self._dense_lock:
                if self._encoder is None:
                    self._load_encoder()
        return self._encoder

    @property
    def encoder_selection(self) -> "EncoderSelection":
        """Which encoder runs (fast int8 or exact fp32), on which device, and why."""
        _ = self.encoder  # loads it on first use
        assert self._selection is not None
        return self._selection

    @property
    def bm25(self) -> "BM25Index":
        return self.ensure_bm25()

    @property
    def dense_index(self) -> "DenseIndex":
        return self.ensure_dense()

    def document_embeddings(self, progress: Progress | None = None) -> tuple[list[str], np.ndarray]:
        """``(doc_ids, unit vectors)`` of the corpus, as the dense index holds them."""
        index = self.ensure_dense(progress)
        return index.doc_ids, index.vectors

    # -- query vectors ----------------------------------------------------------
    def encode_queries(self, texts: Sequence[str], progress: Progress | None = None,
                       *, disk_cache: bool | None = None) -> np.ndarray:
        """Unit query vectors, through a small LRU of recent query texts.

        Batches of more than a few texts (or any batch with ``disk_cache=True``)
        also use the project's on-disk query store
        (:func:`core.retrieval.embeddings.encode_texts_cached`), so re-running an
        evaluation or a mining pass encodes nothing; a single interactive query
        skips the disk.
        """
        encoder = self.encoder
        out = np.empty((len(texts), encoder.dimension), dtype=np.float32)
        todo: dict[str, list[int]] = {}
        with self._qcache_lock:
            for i, t in enumerate(texts):
                vec = self._qcache.get(t)
                if vec is None:
                    todo.setdefault(t, []).append(i)
                else:
                    self._qcache.move_to_end(t)
                    out[i] = vec
        if todo:
            keys = list(todo)
            if disk_cache if disk_cache is not None else len(keys) > _DISK_CACHED_BATCH:
                # Batches (evaluation, mining) recur across sessions: keep their
                # vectors in the project's query-embedding store too.
                from core.retrieval.embeddings import cache_folder, encode_texts_cached

                with self._project() as project:
                    folder = cache_folder(project, encoder) / "queries"
                vecs = encode_texts_cached(folder, encoder, keys, progress)
            else:
                vecs = encoder.encode_queries(keys, progress)
            with self._qcache_lock:
                for t, v in zip(keys, vecs):
                    out[todo[t]] = v
                    self._qcache[t] = v
                    self._qcache.move_to_end(t)
                while len(self._qcache) > _QUERY_CACHE_SIZE:
                    self._qcache.popitem(last=False)
        elif progress is not None:
            progress.fraction(1.0, "Query embeddings cached")
        return out

    # -- searching --------------------------------------------------------------
    def search(self, query_text: str, retriever: str = "bm25", k: int = 10) -> list[Hit]:
        """Top-``k`` documents for one query text."""
        check_retriever(retriever)
        if retriever == "bm25":
            return _hits(self.ensure_bm25().search(query_text, k))
        if retriever == "dense":
            return _hits(self.ensure_dense().search_ids(self.encode_queries([query_text]), k)[0])
        depth = max(k, self.fusion_depth)
        lexical = self.ensure_bm25().search(query_text, depth)
        dense = self.ensure_dense().search_ids(self.encode_queries([query_text]), depth)[0]
        return _hits(self._fuse(lexical, dense, k))

    def _fuse(self, lexical: list[tuple[str, float]], dense: list[tuple[str, float]], k: int):
        from core.retrieval.fusion import rrf, weighted_fusion

        if self.fusion_setting is not None:
            return fuse(self.fusion_setting, lexical, dense, limit=k)
        if self.fusion == "rrf":
            return rrf([lexical, dense], k=self.rrf_k, limit=k)
        return weighted_fusion([lexical, dense], weights=self.fusion_weights, limit=k)

    def search_many(
        self,
        queries: Mapping[str, str],
        retriever: str = "bm25",
        k: int = 100,
        progress: Progress | None = None,
    ) -> dict[str, list[Hit]]:
        """Top-``k`` hits for every ``{query_id: text}``; batched, with progress and cancellation."""
        check_retriever(retriever)
        progress = progress or Progress()
        qids = list(queries)
        texts = [queries[q] for q in qids]
        depth = k if retriever != "hybrid" else max(k, self.fusion_depth)
        lexical: list[list[tuple[str, float]]] | None = None
        dense: list[list[tuple[str, float]]] | None = None
        use_bm25 = retriever in ("bm25", "hybrid")
        use_dense = retriever in ("dense", "hybrid")
        # Progress ranges: index loading first, then the searches.
        spans = {"bm25": (0.0, 0.1, 0.1, 0.5), "dense": (0.0, 0.6, 0.6, 1.0)}
        if retriever == "bm25":
            spans["bm25"] = (0.0, 0.3, 0.3, 1.0)
        elif retriever == "dense":
            spans["dense"] = (0.0, 0.5, 0.5, 1.0)
        else:
            spans["dense"] = (0.1, 0.6, 0.6, 0.9)
        if use_bm25:
            a, b, c, d = spans["bm25"]
            index = self.ensure_bm25(progress.sub(a, b))
            sub = progress.sub(c, d)
            lexical = []
            for start in range(0, len(texts), _BATCH):
                sub.update(start, len(texts), f"BM25: {start}/{len(texts)} queries")
                lexical.extend(index.search_batch(texts[start : start + _BATCH], depth))
            sub.update(len(texts), len(texts), f"BM25: {len(texts)} queries")
        if use_dense:
            a, b, c, d = spans["dense"]
            index = self.ensure_dense(progress.sub(a, b))
            sub = progress.sub(c, d)
            qvecs = self.encode_queries(texts, sub.sub(0.0, 0.8), disk_cache=True)
            dense = []
            search = sub.sub(0.8, 1.0)
            for start in range(0, len(texts), _BATCH):
                search.update(start, len(texts), f"Dense search: {start}/{len(texts)} queries")
                dense.extend(index.search_ids(qvecs[start : start + _BATCH], depth))
            search.update(len(texts), len(texts), f"Dense search: {len(texts)} queries")
        out: dict[str, list[Hit]] = {}
        for i, qid in enumerate(qids):
            if retriever == "bm25":
                out[qid] = _hits(lexical[i])
            elif retriever == "dense":
                out[qid] = _hits(dense[i])
            else:
                out[qid] = _hits(self._fuse(lexical[i], dense[i], k))
        progress.fraction(1.0, f"Searched {len(qids)} queries")
        return out

    def run(
        self,
        queries: Mapping[str, str],
        retriever: str = "bm25",
        k: int = 100,
        progress: Progress | None = None,
    ) -> dict[str, dict[str, float]]:
        """:meth:`search_many` as a ranx / pytrec_eval run ``{qid: {doc_id: score}}``."""
        return {
            qid: {h.doc_id: h.score for h in hits}
            for qid, hits in self.search_many(queries, retriever, k, progress).items()
        }


