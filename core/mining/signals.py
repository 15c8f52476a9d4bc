"""Second opinions on a pass's candidates, beyond the retriever's own score.

:mod:`core.mining.suspicion` turns them into a "this may be relevant" score, so a
person reviews the likeliest false negatives first. The teacher's score is part
of mining (the rules judge it); the others are only read by the review queue,
so they are computed when a pass is first reviewed (:func:`add_second_opinions`,
called by :func:`core.mining.queue.scored_proposals`) and stored with the pass:
mining, the step the loop waits on, does not pay for them, and a pass mined only
to export training data never does. Per candidate:

* ``teacher_score``: the teacher's rescoring (:mod:`core.mining.teacher`), when the
  pass had a teacher; the rules judged it (stored by the miner);
* ``bm25_rank``: BM25's rank of the document in the whole corpus (1 + the number of
  documents BM25 scores higher; equal scores share a rank), for a dense pass (a
  hybrid pass already mixes BM25 in, and a BM25 pass's own rank is BM25's); a
  document both retrievers put near the top is more often relevant;
* ``positive_similarity``: the document's cosine, under the pass's own document
  vectors (dense and hybrid passes), to the nearest of the query's relevant
  documents as the pass recorded them (itself excluded): a document like the
  known positives is often an unlabeled one ("more like this");
* ``model_score``: the cosine of the project's newest fine-tuned model version
  (other than the one that mined), when its document embeddings are already
  cached (a search or a comparison with it fills the cache). Second opinions
  never encode a corpus for this signal: the pass's counts say so instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

from core.errors import ModelError
from core.mining.scores import BM25Rows, DenseRows, ScoreRows, competition_ranks_of
from core.progress import Progress

if TYPE_CHECKING:  # pragma: no cover
    from core.mining.config import MiningConfig
    from core.project.file import Project
    from core.retrieval.service import Retrieval


@dataclass
class SignalRows:
    """Score rows of the second opinions, aligned with the pass's ``doc_ids``."""

    bm25: BM25Rows | None = None
    model: DenseRows | None = None
    doc_vectors: np.ndarray | None = None  # unit document vectors of the pass, rows in doc_ids order
    model_version: str | None = None
    notes: tuple[str, ...] = ()  # why a signal is absent, in words (the pass's counts say it)

    def describe(self) -> dict[str, object]:
        return {"bm25_rank": self.bm25 is not None, "model_score": self.model_version,
                "positive_similarity": self.doc_vectors is not None, "notes": list(self.notes)}


def pass_vectors(rows: ScoreRows) -> np.ndarray | None:
    """The unit document vectors behind a pass's rows (dense, or hybrid's dense part)."""
    for source in (rows, getattr(rows, "dense", None)):
        if isinstance(source, DenseRows):
            return source.vectors
    return None


def positive_similarity(vectors: np.ndarray, wanted: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """Per ``wanted`` row, its largest cosine to a ``relevant`` row other than itself (NaN: none)."""
    if len(wanted) == 0 or len(relevant) == 0:
        return np.full(len(wanted), np.nan)
    sims = (vectors[wanted] @ vectors[relevant].T).astype(np.float64)
    itself = wanted[:, None] == relevant[None, :]
    sims[itself] = -np.inf
    best = sims.max(axis=1)
    best[itself.all(axis=1)] = np.nan  # its only relevant neighbour is itself
    return best


def block_signals(
    signals: SignalRows,
    query_ids: Sequence[str],
    docs: np.ndarray,
    offsets: np.ndarray,
    relevant: Mapping[str, np.ndarray],
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """The second opinions of a block's decided candidates: BM25 ranks, model scores, likeness.

    Query ``k``'s candidates are ``docs[offsets[k]:offsets[k + 1]]`` (corpus rows);
    ``relevant`` gives each query's relevant corpus rows. Each result is aligned
    with ``docs``, None where the pass has no such signal.
    """
    n = len(docs)
    bm25 = np.empty(n, np.int32) if signals.bm25 is not None else None  # as stored (<i4)
    model = np.empty(n, np.float64) if signals.model is not None else None
    likeness = np.empty(n, np.float64) if signals.doc_vectors is not None else None
    model_queries = (np.asarray(signals.model.query_vectors(list(query_ids)), np.float32)
                     if signals.model is not None else None)
    for k, qid in enumerate(query_ids):
        at = slice(int(offsets[k]), int(offsets[k + 1]))
        wanted = docs[at]
        if bm25 is not None:
            bm25[at] = competition_ranks_of(signals.bm25.row(qid), wanted)
        if model is not None:
            model[at] = signals.model.vectors[wanted] @ model_queries[k]
        if likeness is not None:
            likeness[at] = positive_similarity(signals.doc_vectors, wanted,
                                               relevant.get(qid, np.zeros(0, np.int64)))
    return bm25, model, likeness


def newest_other_version(project: "Project", exclude: Sequence[str | None]) -> str | None:
    """The newest model version of the project that is not in ``exclude``."""
    versions = [v["id"] for v in project.model_versions() if v["id"] not in exclude]
    return versions[-1] if versions else None


def signal_rows(project: "Project", config: "MiningConfig", retrieval: "Retrieval",
                mining_model: str | None, progress: Progress,
                doc_ids: Sequence[str] | None = None) -> SignalRows:
    """The second-opinion rows a pass with ``config`` can have (see module docstring).

    ``doc_ids``: the pass's document order when the caller has read it already.
    """
    from core.retrieval.embeddings import cached_document_embeddings, query_embeddings
    from core.retrieval.service import Retrieval

    doc_ids = list(doc_ids) if doc_ids is not None else project.document_ids()
    out = SignalRows()
    notes: list[str] = []
    if config.source == "dense":
        texts = {q.id: q.text for q in project.queries()}
        out.bm25 = BM25Rows(retrieval.ensure_bm25(progress.sub(0.0, 0.5)), texts, doc_ids)
    version = newest_other_version(project, (mining_model, config.teacher))
    if version is not None:
        try:
            # The same encoder choice as the pass itself: after a fine-tune the
            # pipelined encode cached this version's vectors with that encoder.
            other = Retrieval(project, version, device=getattr(retrieval, "device_preference", "auto"),
                              encoder=getattr(retrieval, "encoder_preference", "exact"))
            vectors = cached_document_embeddings(project, other.encoder)
        except ModelError as exc:  # e.g. its folder was deleted: this signal is left out, said so
            vectors = None
            notes.append(f"model_score: {exc}")
        else:
            if vectors is None:
                notes.append(f"model_score: the document embeddings of model version {version} are not "
                             "cached (search or compare with it once to use it)")
        if vectors is not None:
            encoder = other.encoder
            out.model = DenseRows(doc_ids, vectors,
                                  lambda qids: query_embeddings(project, encoder, qids))
            out.model_version = version
    out.notes = tuple(notes)
    progress.fraction(1.0, "Signals ready")
    return out


def second_opinions_pending(counts: Mapping[str, object]) -> bool:
    """Whether a stored pass still waits for its second opinions (its counts say which it has)."""
    signals = counts.get("signals")
    return not isinstance(signals, Mapping) or "positive_similarity" not in signals


SIGNAL_QUERIES = 256  # stored queries whose second opinions are computed together


def add_second_opinions(project: "Project", pass_number: int, retrieval: "Retrieval | None" = None,
                        progress: Progress | None = None) -> dict[str, tuple] | None:
    """Compute a pass's second opinions (module docstring) and store them with it.

    Does nothing (returns None) for a pass that has them. A read-only project is
    not written: the opinions are returned instead, ``{query_id: (bm25_ranks,
    model_scores, positive_similarity)}``, for the caller to use as if stored.
    ``retrieval`` lends loaded indexes when it serves the pass's model.
    """
    import json

    from core.mining.config import MiningConfig
    from core.mining.scores import rows_for_config
    from core.mining.store import mining_passes
    from core.project.pass_candidates import (
        ABSENT_RANK,
        read_pass_candidates,
        write_pass_signals,
    )
    from core.project.schema import RELEVANT_LABELS

    progress = progress or Progress()
    info = next((p for p in mining_passes(project) if p.pass_number == pass_number), None)
    if info is None or not second_opinions_pending(info.counts):
        return None
    progress.fraction(0.0, f"Second opinions for pass {pass_number}")
    config = MiningConfig.from_dict(info.config)
    rows, lost = None, None
    if config.source != "bm25":  # a BM25 pass has no document vectors to compare documents by
        try:
            rows, _, retrieval = rows_for_config(project, config, retrieval, progress.sub(0.0, 0.3))
        except ModelError as exc:  # the pass's model folder is gone: the opinions that need no model
            from core.retrieval.service import Retrieval

            lost = f"positive_similarity: the pass's model cannot be loaded ({exc})"
            retrieval = Retrieval(project)  # for BM25, which needs no model
    doc_ids = rows.doc_ids if rows is not None else project.document_ids()
    signals = signal_rows(project, config, retrieval, info.model_version, progress.sub(0.3, 0.4),
                          doc_ids=doc_ids)
    if rows is not None:
        signals.doc_vectors = pass_vectors(rows)
    if lost is not None:
        signals.notes = signals.notes + (lost,)
    doc_index = {d: i for i, d in enumerate(doc_ids)}
    stored = list(read_pass_candidates(project.conn, pass_number))
    computed: dict[str, tuple] = {}
    for start in range(0, len(stored), SIGNAL_QUERIES):
        progress.update(start, len(stored), f"Second opinions: {start}/{len(stored)} queries")
        chunk = stored[start : start + SIGNAL_QUERIES]
        # A document the corpus no longer has (re-imported since the pass) gets no opinion.
        rows_of = [np.asarray([doc_index.get(d, -1) for d in q.doc_ids], np.int64) for q in chunk]
        offsets = np.zeros(len(chunk) + 1, np.int64)
        np.cumsum([len(r) for r in rows_of], out=offsets[1:])
        docs = np.concatenate(rows_of) if rows_of else np.zeros(0, np.int64)
        relevant = {q.query_id: r[np.isin(q.reason_names(), list(RELEVANT_LABELS)) & (r >= 0)]
                    for q, r in zip(chunk, rows_of)}
        bm25, model, likeness = block_signals(signals, [q.query_id for q in chunk],
                                              np.maximum(docs, 0), offsets, relevant)
        gone = docs < 0
        for values, absent in ((bm25, ABSENT_RANK), (model, np.nan), (likeness, np.nan)):
            if values is not None:
                values[gone] = absent
        for k, q in enumerate(chunk):
            at = slice(int(offsets[k]), int(offsets[k + 1]))
            computed[q.query_id] = tuple(None if v is None else v[at] for v in (bm25, model, likeness))
    counts = {**info.counts, "signals": {**(info.counts.get("signals") or {}), **signals.describe()}}
    if project.read_only:
        return computed
    with project.transaction():
        write_pass_signals(project.conn, pass_number,
                           ((qid, *values) for qid, values in computed.items()))
        project.conn.execute("UPDATE mining_passes SET counts=? WHERE pass=?",
                             (json.dumps(counts), pass_number))
    progress.update(len(stored), len(stored), f"Second opinions stored for pass {pass_number}")
    return None
