"""Mining a pass: score the selected queries, decide each candidate, store it all at once.

For every selected query with at least one relevant document the miner scores the
corpus (:mod:`core.mining.scores`: dense, BM25 or hybrid, in bounded batches), takes
the top ``range_max + P`` documents as the candidate pool, lets the teacher rescore
that pool when the configuration names one (:mod:`core.mining.teacher`) and runs
the rules over the whole pool at once (:func:`core.mining.decisions.decide_pool`, proved
equal to :func:`core.mining.rules.decide`, where the rules and their order are documented).

The pool holds ``range_max + P`` documents, P being the largest number of
labeled documents of any query in the split: every query then keeps at
least ``range_max`` unlabeled candidates after its labeled ones are taken
out. This equals ``mine_hard_negatives``' ``range_max + max_positives`` on
a dataset of positives, which the parity test relies on.

A pass is stored in one transaction, once every query is decided (until then its
decisions are a few arrays per query, so a cancelled pass writes nothing): a ``mining_passes`` row (pass number,
source, model version, configuration and counts) plus, per query, one
``pass_candidates`` row of packed arrays (:mod:`core.project.pass_candidates`)
holding every scored document, labeled documents outside the pool included (their
scores feed the margins and the ``ntuple-scores`` export), with the second
opinions of :mod:`core.mining.signals` (teacher score, BM25 rank, likeness to
the known positives, the newest fine-tuned model's score) that
:mod:`core.mining.suspicion` reads. The meta key
``current_pass`` becomes the new pass number, so labels set while reviewing
it carry that pass.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.errors import StudioError
from core.mining.config import DROP_REASONS, KEEP_REASONS, REASONS, MiningConfig
from core.mining.decisions import REASON_CODE, PoolDecisions, decide_pool
from core.mining.scores import Pool, ScoreRows, pool_arrays, rows_for_config
from core.mining.signals import (
    SignalRows,
    pass_vectors,
    per_candidate,
    positive_similarity,
    signal_rows,
)
from core.mining.store import query_labels, rejected_pairs, select_queries
from core.mining.teacher import Teacher, load_teacher, rescore
from core.progress import Progress
from core.project.file import Project, now_iso
from core.project.pass_candidates import QueryCandidates, write_pass_candidates
from core.project.schema import RELEVANT_LABELS

if TYPE_CHECKING:  # pragma: no cover
    from core.retrieval.service import Retrieval


# -- mining a pass -----------------------------------------------------------------------

@dataclass(frozen=True)
class MiningResult:
    """A stored pass: its number, the configuration and what happened."""

    pass_number: int
    source: str
    model_version: str | None
    config: MiningConfig
    counts: dict[str, Any]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"pass": self.pass_number, "source": self.source, "model_version": self.model_version,
                "config": self.config.to_dict(), "counts": self.counts, "seconds": round(self.seconds, 3)}


@dataclass
class _Tally:
    queries_selected: int = 0
    queries_mined: int = 0
    queries_without_positives: int = 0
    queries_short: int = 0  # fewer proposals than num_negatives
    candidates: int = 0
    reasons: np.ndarray = field(default_factory=lambda: np.zeros(len(REASONS), np.int64))

    def add(self, decisions: PoolDecisions, wanted: int) -> None:
        self.queries_mined += 1
        self.candidates += len(decisions)
        self.reasons += np.bincount(decisions.reasons, minlength=len(REASONS))
        if decisions.count("kept") < wanted:
            self.queries_short += 1

    def as_counts(self) -> dict[str, Any]:
        return {
            "queries_selected": self.queries_selected,
            "queries_mined": self.queries_mined,
            "queries_without_positives": self.queries_without_positives,
            "queries_short": self.queries_short,
            "proposed": int(self.reasons[REASON_CODE["kept"]]),
            "confirmed": int(self.reasons[REASON_CODE["confirmed"]]),
            "candidates": self.candidates,
            "dropped": {r: int(self.reasons[REASON_CODE[r]]) for r in DROP_REASONS},
        }


def _query_candidates(pool: Pool, decisions: PoolDecisions, bm25_ranks: np.ndarray | None,
                      model_scores: np.ndarray | None,
                      likeness: np.ndarray | None) -> QueryCandidates:
    """One query's decided candidates, column by column, until the pass is stored."""
    at = decisions.order
    return QueryCandidates(pool.query_id, pool.docs[at], pool.ranks[at], pool.scores[at],
                           decisions.reasons,
                           None if pool.teacher_scores is None else pool.teacher_scores[at],
                           bm25_ranks, model_scores, likeness)


def mine(
    project: Project,
    config: MiningConfig,
    progress: Progress | None = None,
    retrieval: "Retrieval | None" = None,
    *,
    rows: ScoreRows | None = None,
    signals: SignalRows | None = None,
    teacher: Teacher | None = None,
) -> MiningResult:
    """Mine one pass over the selected queries and store it (all or nothing).

    ``retrieval`` lends its loaded indexes and model (the GUI shares one);
    ``rows`` replaces scoring altogether (benchmarks feed precomputed
    embeddings through :class:`core.mining.scores.DenseRows`), and with it
    ``signals`` the second opinions (none unless given); ``teacher`` replaces
    loading ``config.teacher`` (tests and benchmarks lend a loaded one). Raises
    :class:`StudioError` when no selected query has a relevant label.
    Decisions are held as arrays (a few bytes per candidate) while scoring,
    and the project is locked only for the final insert.
    """
    progress = progress or Progress()
    project.require_writable()  # before minutes of scoring, not at the final store
    started = time.perf_counter()
    progress.fraction(0.0, "Reading labels")
    labels = query_labels(project, config.split)
    rejected = rejected_pairs(project, config.split)
    selected = select_queries(project, config)
    tally = _Tally(queries_selected=len(selected))
    minable = [q.id for q in selected
               if any(v in RELEVANT_LABELS for v in labels.get(q.id, {}).values())]
    tally.queries_without_positives = len(selected) - len(minable)
    if not minable:
        where = f"split {config.split!r}" if config.split is not None else "this project"
        raise StudioError(
            f"nothing to mine: none of the {len(selected)} selected queries in {where} "
            "has a positive label")
    depth = config.range_max + max((len(v) for v in labels.values()), default=0)
    if rows is None:
        rows, model_version, retrieval = rows_for_config(project, config, retrieval,
                                                         progress.sub(0.0, 0.2))
        if signals is None:
            signals = signal_rows(project, config, retrieval, model_version, progress.sub(0.2, 0.25))
    else:
        model_version = None if config.source == "bm25" else config.model_id
    signals = signals or SignalRows()
    if signals.doc_vectors is None:
        signals.doc_vectors = pass_vectors(rows)
    if teacher is None and config.teacher is not None:
        progress.fraction(0.25, "Loading the teacher")
        teacher = load_teacher(project, config.teacher)
    doc_index = {d: i for i, d in enumerate(rows.doc_ids)}
    query_texts = {q.id: q.text for q in selected}

    # Decisions are kept as a few arrays per query until the end, and the project is
    # locked only for the final insert: a cancelled or failed pass writes nothing.
    stored: list[QueryCandidates] = []
    # Not zip(): a zip keeps its last item (and so the previous score block) alive while it
    # asks for the next one, which would double the peak memory of scoring.
    signal_rows_ = signals.rows(minable)
    for qid, row in rows.rows(minable, progress.sub(0.25, 0.92)):
        bm25_row, model_row = next(signal_rows_)
        query_labels_ = labels.get(qid, {})
        pool = pool_arrays(qid, row, doc_index, depth, list(query_labels_))
        if teacher is not None:
            ids = [rows.doc_ids[i] for i in pool.docs.tolist()]
            texts = {d: doc.retrieval_text for d, doc in project.get_documents(ids).items()}
            pool = Pool.from_scored(rescore(teacher, pool.scored(rows.doc_ids), query_texts[qid],
                                            texts), doc_index)
        decisions = decide_pool(pool, query_labels_, rejected.get(qid, ()), config, doc_index)
        tally.add(decisions, config.num_negatives)
        wanted = pool.docs[decisions.order]
        likeness = None
        if signals.doc_vectors is not None:
            relevant = np.asarray([doc_index[d] for d, lab in query_labels_.items()
                                   if lab in RELEVANT_LABELS and d in doc_index], np.int64)
            likeness = positive_similarity(signals.doc_vectors, wanted, relevant)
        stored.append(_query_candidates(pool, decisions,
                                        *per_candidate(wanted, bm25_row, model_row), likeness))
        del row, bm25_row, model_row  # views into score blocks: let the next block replace them
    progress.fraction(0.93, "Storing the pass")
    counts = tally.as_counts()
    counts["signals"] = {"teacher": None if teacher is None else
                         {"kind": teacher.kind, "name": teacher.name}, **signals.describe()}
    conn = project.conn
    with project.transaction():
        pass_number = int(conn.execute("SELECT coalesce(max(pass), 0) + 1 FROM mining_passes")
                          .fetchone()[0])
        conn.execute(
            "INSERT INTO mining_passes(pass, created_at, source, model_version, config, counts) "
            "VALUES(?,?,?,?,?,?)",
            (pass_number, now_iso(), config.source, model_version,
             json.dumps(config.to_dict()), json.dumps(counts)),
        )
        write_pass_candidates(conn, pass_number, rows.doc_ids, stored, reasons=REASONS,
                              kept=KEEP_REASONS)
        project._set_meta("current_pass", str(pass_number))
    progress.fraction(1.0, f"Pass {pass_number}: {counts['proposed']} negatives proposed "
                           f"for {counts['queries_mined']} queries")
    return MiningResult(pass_number, config.source, model_version, config, counts,
                        time.perf_counter() - started)




def run_mining(project_path: Path, config: MiningConfig, retrieval: "Retrieval | None" = None, *,
               progress: Progress) -> MiningResult:
    """:func:`mine` on the project file at ``project_path`` (a job: it opens its own connection)."""
    with Project.open(project_path) as project:
        return mine(project, config, progress, retrieval)
