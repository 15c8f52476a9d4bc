"""Mining a pass: score the selected queries, decide each candidate, store it all at once.

For every selected query with at least one relevant document the miner takes
the top ``range_max + P`` documents as the candidate pool, a block of queries at a
time (:func:`core.mining.scores.pool_blocks`: BM25 and hybrid from whole score rows,
dense through :mod:`core.mining.dense_pool`, which finds the same pools without
materialising the rows), lets the teacher rescore each pool when the configuration
names one (:mod:`core.mining.teacher`) and runs the rules over the whole block at
once (:func:`core.mining.decisions.decide_block`, proved equal to
:func:`core.mining.rules.decide`, where the rules and their order are documented).

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
scores feed the margins and the ``ntuple-scores`` export), with the teacher's
score when there is one. The other second opinions :mod:`core.mining.suspicion`
reads (BM25 rank, likeness to the known positives, the newest fine-tuned model's
score; :mod:`core.mining.signals`) join the pass when it is first reviewed. The meta key
``current_pass`` becomes the new pass number, so labels set while reviewing
it carry that pass.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np

from core.errors import StudioError
from core.mining.config import DROP_REASONS, KEEP_REASONS, REASONS, MiningConfig
from core.mining.decisions import REASON_CODE, BlockDecisions, decide_block
from core.mining.scores import Pool, PoolBlock, ScoreRows, pool_blocks, rows_for_config
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

    def add(self, decisions: BlockDecisions, wanted: int) -> None:
        """Count a decided block of queries."""
        self.queries_mined += len(decisions.offsets) - 1
        self.candidates += len(decisions)
        self.reasons += np.bincount(decisions.reasons, minlength=len(REASONS))
        self.queries_short += int(np.count_nonzero(decisions.kept_per_query() < wanted))

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


def _query_candidates(block: PoolBlock, decided: BlockDecisions) -> Iterator[QueryCandidates]:
    """Each query's decided candidates of a block as columns."""
    # The stored widths (ranks are stored as int32): a pass's arrays stay small until the write.
    docs = block.docs[decided.rows].astype(np.int32)
    ranks, scores = block.ranks[decided.rows].astype(np.int32), block.scores[decided.rows]
    teacher = None if block.teacher_scores is None else block.teacher_scores[decided.rows]
    for k, qid in enumerate(block.query_ids):
        at = slice(int(decided.offsets[k]), int(decided.offsets[k + 1]))
        yield QueryCandidates(qid, docs[at], ranks[at], scores[at], decided.reasons[at],
                              None if teacher is None else teacher[at])


def _rescored(teacher: Teacher, pool: Pool, doc_ids: Sequence[str], doc_index: dict[str, int],
              project: Project, query_text: str) -> Pool:
    """``pool`` with the teacher's scores of its candidates."""
    ids = [doc_ids[i] for i in pool.docs.tolist()]
    texts = {d: doc.retrieval_text for d, doc in project.get_documents(ids).items()}
    return Pool.from_scored(rescore(teacher, pool.scored(doc_ids), query_text, texts), doc_index)


def mine(
    project: Project,
    config: MiningConfig,
    progress: Progress | None = None,
    retrieval: "Retrieval | None" = None,
    *,
    rows: ScoreRows | None = None,
    teacher: Teacher | None = None,
) -> MiningResult:
    """Mine one pass over the selected queries and store it (all or nothing).

    ``retrieval`` lends its loaded indexes and model (the GUI shares one);
    ``rows`` replaces scoring altogether (benchmarks feed precomputed
    embeddings through :class:`core.mining.scores.DenseRows`); ``teacher`` replaces
    loading ``config.teacher`` (tests and benchmarks lend a loaded one). Raises
    :class:`StudioError` when no selected query has a relevant label.
    Decisions are held as arrays (a few bytes per candidate) while scoring,
    and the project is locked only for the final insert. The review queue's
    second opinions are computed when the pass is first reviewed
    (:func:`core.mining.signals.add_second_opinions`).
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
                                                         progress.sub(0.0, 0.25))
    else:
        model_version = None if config.source == "bm25" else config.model_id
    if teacher is None and config.teacher is not None:
        progress.fraction(0.25, "Loading the teacher")
        teacher = load_teacher(project, config.teacher)
    doc_index = {d: i for i, d in enumerate(rows.doc_ids)}
    query_texts = {q.id: q.text for q in selected}

    # Decisions are kept as a few arrays per query until the end, and the project is
    # locked only for the final insert: a cancelled or failed pass writes nothing.
    stored: list[QueryCandidates] = []
    labeled = {qid: list(labels.get(qid, {})) for qid in minable}
    for block in pool_blocks(rows, minable, labeled, doc_index, depth, progress.sub(0.25, 0.92)):
        if teacher is not None:
            block = PoolBlock.of([_rescored(teacher, block.pool(k), rows.doc_ids, doc_index, project,
                                            query_texts[qid])
                                  for k, qid in enumerate(block.query_ids)])
        decided = decide_block(block, labels, rejected, config, doc_index)
        tally.add(decided, config.num_negatives)
        stored.extend(_query_candidates(block, decided))
        progress.check()
    progress.fraction(0.93, "Storing the pass")
    counts = tally.as_counts()
    # The other second opinions join these counts when the pass is first reviewed.
    counts["signals"] = {"teacher": None if teacher is None else
                         {"kind": teacher.kind, "name": teacher.name}}
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
