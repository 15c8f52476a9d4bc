"""Mining a pass: score the selected queries, decide each candidate, store it all at once.

For every selected query with at least one relevant document the miner scores the
corpus (:mod:`core.mining.scores`: dense, BM25 or hybrid, in bounded batches), takes
the top ``range_max + P`` documents as the candidate pool, lets the teacher rescore
that pool when the configuration names one (:mod:`core.mining.teacher`) and runs
:func:`core.mining.rules.decide` (the rules and their order are documented there).

The pool holds ``range_max + P`` documents, P being the largest number of
labeled documents of any query in the split: every query then keeps at
least ``range_max`` unlabeled candidates after its labeled ones are taken
out. This equals ``mine_hard_negatives``' ``range_max + max_positives`` on
a dataset of positives, which the parity test relies on.

A pass is stored in one transaction: a ``mining_passes`` row (pass number,
source, model version, configuration and counts) plus one ``candidates``
row per scored document, labeled documents outside the pool included (their
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
from typing import TYPE_CHECKING, Any, Sequence

from core.errors import StudioError
from core.mining.config import DROP_REASONS, REASONS, MiningConfig
from core.mining.rules import CandidateDecision, decide
from core.mining.scores import ScoreRows, pool_from_row, rows_for_config
from core.mining.signals import (
    NO_SIGNALS,
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
    reasons: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))

    def add(self, decisions: Sequence[CandidateDecision], wanted: int) -> None:
        self.queries_mined += 1
        self.candidates += len(decisions)
        proposed = 0
        for d in decisions:
            self.reasons[d.reason] += 1
            proposed += d.reason == "kept"
        if proposed < wanted:
            self.queries_short += 1

    def as_counts(self) -> dict[str, Any]:
        return {
            "queries_selected": self.queries_selected,
            "queries_mined": self.queries_mined,
            "queries_without_positives": self.queries_without_positives,
            "queries_short": self.queries_short,
            "proposed": self.reasons["kept"],
            "confirmed": self.reasons["confirmed"],
            "candidates": self.candidates,
            "dropped": {r: self.reasons[r] for r in DROP_REASONS},
        }


_STAGE = "temp.rs_mining_stage"


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
    Decisions are staged in a temporary table while scoring, so memory
    stays bounded and the project is locked only for the final copy.
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

    conn = project.conn
    conn.execute(f"DROP TABLE IF EXISTS {_STAGE}")
    conn.execute(f"CREATE TABLE {_STAGE} (query_id TEXT, doc_id TEXT, rank INTEGER, "
                 "score REAL, status TEXT, reason TEXT, teacher_score REAL, bm25_rank INTEGER, "
                 "model_score REAL, positive_similarity REAL)")
    insert = f"INSERT INTO {_STAGE} VALUES (?,?,?,?,?,?,?,?,?,?)"
    try:
        buffer: list[tuple] = []
        pairs = zip(rows.rows(minable, progress.sub(0.25, 0.92)), signals.rows(minable))
        for (qid, row), (bm25_row, model_row) in pairs:
            query_labels_ = labels.get(qid, {})
            scored = pool_from_row(qid, row, rows.doc_ids, doc_index, depth, list(query_labels_))
            if teacher is not None:
                texts = {d: doc.retrieval_text for d, doc in
                         project.get_documents([c.doc_id for c in scored.candidates]).items()}
                scored = rescore(teacher, scored, query_texts[qid], texts)
            decisions = decide(scored, query_labels_, rejected.get(qid, ()), config)
            tally.add(decisions, config.num_negatives)
            wanted = [d.doc_id for d in decisions]
            likeness = None
            if signals.doc_vectors is not None:
                relevant = [d for d, lab in query_labels_.items() if lab in RELEVANT_LABELS]
                likeness = positive_similarity(signals.doc_vectors, doc_index, wanted, relevant)
            extra = (per_candidate(wanted, doc_index, bm25_row, model_row, likeness)
                     if bm25_row is not None or model_row is not None or likeness else {})
            for d in decisions:
                sig = extra.get(d.doc_id, NO_SIGNALS)
                buffer.append((qid, d.doc_id, d.rank, d.score, d.status, d.reason, d.teacher_score,
                               sig.bm25_rank, sig.model_score, sig.positive_similarity))
            if len(buffer) >= 20_000:
                conn.executemany(insert, buffer)
                buffer.clear()
        if buffer:
            conn.executemany(insert, buffer)
        progress.fraction(0.93, "Storing the pass")
        counts = tally.as_counts()
        counts["signals"] = {"teacher": None if teacher is None else
                             {"kind": teacher.kind, "name": teacher.name}, **signals.describe()}
        with project.transaction():
            pass_number = int(conn.execute("SELECT coalesce(max(pass), 0) + 1 FROM mining_passes")
                              .fetchone()[0])
            conn.execute(
                "INSERT INTO mining_passes(pass, created_at, source, model_version, config, counts) "
                "VALUES(?,?,?,?,?,?)",
                (pass_number, now_iso(), config.source, model_version,
                 json.dumps(config.to_dict()), json.dumps(counts)),
            )
            conn.execute(
                "INSERT INTO candidates(pass, query_id, doc_id, rank, score, status, reason, "
                "teacher_score, bm25_rank, model_score, positive_similarity) "
                "SELECT ?, query_id, doc_id, rank, score, status, reason, teacher_score, bm25_rank, "
                f"model_score, positive_similarity FROM {_STAGE}",
                (pass_number,),
            )
            project._set_meta("current_pass", str(pass_number))
    finally:
        conn.execute(f"DROP TABLE IF EXISTS {_STAGE}")
    progress.fraction(1.0, f"Pass {pass_number}: {counts['proposed']} negatives proposed "
                           f"for {counts['queries_mined']} queries")
    return MiningResult(pass_number, config.source, model_version, config, counts,
                        time.perf_counter() - started)




def run_mining(project_path: Path, config: MiningConfig, retrieval: "Retrieval | None" = None, *,
               progress: Progress) -> MiningResult:
    """:func:`mine` on the project file at ``project_path`` (a job: it opens its own connection)."""
    with Project.open(project_path) as project:
        return mine(project, config, progress, retrieval)
