"""The mining dialog's preview: one query scored once, its rules re-run as settings move.

:func:`prepare_preview` scores one query over the whole corpus (the slow part, re-done
only when the query, source, model or split changes, or with a teacher, its pool depth
too: the teacher rescores that pool once); :meth:`PreviewData.decide` then
runs :func:`core.mining.rules.decide` on that row, which is pure and fast, so the table
and histogram follow a slider. It shows exactly what :func:`core.mining.miner.mine`
would store for that query. Nothing here writes to the project.

:func:`load_preview` and :func:`decide_preview` are the dialog's background jobs: they
take the project *path* and open their own connection (one owner per connection).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

from core.errors import StudioError
from core.mining.config import MiningConfig
from core.mining.rules import CandidateDecision, decide
from core.mining.scores import ScoreRows, pool_from_row, rows_for_config
from core.mining.store import pool_extra, query_labels, rejected_pairs
from core.mining.teacher import Teacher, load_teacher, rescore, with_teacher_scores
from core.progress import Progress
from core.project.file import Project
from core.project.schema import RELEVANT_LABELS

if TYPE_CHECKING:  # pragma: no cover
    from core.retrieval.service import Retrieval

TITLE_DEPTH = 1200  # documents whose titles the preview fetches (best first)


# -- preview (no writes) ---------------------------------------------------------------------

@dataclass(frozen=True)
class PreviewData:
    """One query's full score row and labels: enough to re-run the rules as settings move."""

    query_id: str
    row: np.ndarray
    doc_ids: Sequence[str]
    doc_index: Mapping[str, int]
    labels: Mapping[str, str]
    rejected: frozenset[str]
    extra: int  # P of the split (pool = range_max + P)
    teacher_scores: Mapping[str, float] | None = None  # the teacher's scores of the pool it saw

    def decide(self, config: MiningConfig) -> list[CandidateDecision]:
        """The decisions ``mine`` would store for this query under ``config`` (pure, fast)."""
        scored = pool_from_row(self.query_id, self.row, self.doc_ids, self.doc_index,
                               config.range_max + self.extra, list(self.labels))
        if self.teacher_scores is not None:
            missing = [c.doc_id for c in scored.candidates if c.doc_id not in self.teacher_scores]
            if missing:
                raise StudioError("the teacher scored a smaller pool than these settings need; "
                                  "score the preview again")
            scored = with_teacher_scores(scored, [self.teacher_scores[c.doc_id]
                                                  for c in scored.candidates])
        return decide(scored, self.labels, self.rejected, config)

    @property
    def has_positive(self) -> bool:
        return any(v in RELEVANT_LABELS for v in self.labels.values())


def prepare_preview(
    project: Project,
    query_id: str,
    config: MiningConfig,
    retrieval: "Retrieval | None" = None,
    progress: Progress | None = None,
    *,
    rows: ScoreRows | None = None,
    teacher: Teacher | None = None,
) -> PreviewData:
    """Score one query (source, model and split from ``config``) for :meth:`PreviewData.decide`.

    With ``config.teacher`` (or a loaded ``teacher``) the teacher also scores the
    pool of ``config.range_max``, so the preview holds until the window grows.
    """
    progress = progress or Progress()
    query = project.get_query(query_id)
    if query is None:
        raise StudioError(f"unknown query id {query_id!r}")
    if rows is None:
        rows, _, _ = rows_for_config(project, config, retrieval, progress.sub(0.0, 0.8))
    row = np.asarray(next(iter(rows.rows([query_id], progress.sub(0.8, 0.85))))[1])
    doc_index = {d: i for i, d in enumerate(rows.doc_ids)}
    labels = query_labels(project, None, query_id).get(query_id, {})
    extra = pool_extra(project, config.split)
    teacher_scores = None
    if teacher is None and config.teacher is not None:
        progress.fraction(0.85, "Loading the teacher")
        teacher = load_teacher(project, config.teacher)
    if teacher is not None:
        progress.fraction(0.9, "The teacher rescores the pool")
        scored = pool_from_row(query_id, row, rows.doc_ids, doc_index, config.range_max + extra,
                               list(labels))
        texts = {d: doc.retrieval_text for d, doc in
                 project.get_documents([c.doc_id for c in scored.candidates]).items()}
        teacher_scores = {c.doc_id: c.judged for c in rescore(teacher, scored, query.text, texts).candidates}
    return PreviewData(
        query_id, row, rows.doc_ids, doc_index, labels,
        frozenset(rejected_pairs(project, None, query_id).get(query_id, set())),
        extra, teacher_scores,
    )


def preview_query(
    project: Project,
    query_id: str,
    config: MiningConfig,
    retrieval: "Retrieval | None" = None,
    progress: Progress | None = None,
) -> list[CandidateDecision]:
    """What a pass with ``config`` would decide for one query, without writing anything."""
    return prepare_preview(project, query_id, config, retrieval, progress).decide(config)




# -- the dialog's jobs (own connection, on a job thread) ---------------------------------------

@dataclass(frozen=True)
class PreviewBundle:
    """A scored preview query plus what the dialog shows about it."""

    data: PreviewData
    query_text: str
    titles: dict[str, str]
    minable: tuple[str, ...] = field(default_factory=tuple)  # queries of the split with a positive


def load_preview(project_path: Path, query_id: str | None, config: MiningConfig,
                 retrieval: "Retrieval | None", *, progress: Progress) -> PreviewBundle:
    """Score one query for the preview (the first minable query of the split if None)."""
    with Project.open(project_path) as project:
        labels = query_labels(project, config.split)
        minable = tuple(q.id for q in project.queries(config.split)
                        if any(v in RELEVANT_LABELS for v in labels.get(q.id, {}).values()))
        if query_id is None or project.get_query(query_id) is None:
            if not minable:
                where = f"split {config.split!r}" if config.split else "this project"
                raise StudioError(f"no query in {where} has a positive label: nothing to preview")
            query_id = minable[0]
        data = prepare_preview(project, query_id, config, retrieval, progress)
        row = data.row
        depth = min(TITLE_DEPTH, len(row))
        top = np.argpartition(-row, depth - 1)[:depth] if 0 < depth < len(row) else np.arange(len(row))
        wanted = [data.doc_ids[i] for i in top.tolist()] + list(data.labels)
        docs = project.get_documents(wanted)
        titles = {d: (doc.title or doc.text[:90]) for d, doc in docs.items()}
        query = project.get_query(query_id)
        return PreviewBundle(data, query.text if query else query_id, titles, minable)


def decide_preview(data: PreviewData, config: MiningConfig, *,
                   progress: Progress) -> list[CandidateDecision]:
    """:meth:`PreviewData.decide` as a job (a cancellation point first: the latest request wins)."""
    progress.check()
    return data.decide(config)
