"""Evaluating one retriever on a split, and recording the run.

:func:`evaluate_retriever` runs BM25, dense or hybrid search
(:class:`core.retrieval.service.Retrieval`) over the queries of a split
that have relevant judgements, scores the run with
:func:`core.evaluation.metrics.evaluate` (nDCG, recall, MRR, MAP at the
requested cut-offs; queries without relevant labels are skipped, as BEIR
does) and, unless told not to, stores the per-query and mean values in the
project's ``runs`` and ``metrics`` tables so the compare view and the
significance tests can read them back.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Sequence

from core.errors import StudioError
from core.progress import Progress
from core.retrieval.service import Retrieval, check_retriever

if TYPE_CHECKING:  # pragma: no cover
    from core.project.file import Project


DEFAULT_METRICS = ("ndcg@10", "recall@100", "mrr@10", "map@100")
def _max_cutoff(metrics: Sequence[str]) -> int:
    cut = 10
    for m in metrics:
        if "@" in m:
            try:
                cut = max(cut, int(m.split("@", 1)[1]))
            except ValueError:
                raise StudioError(f"bad metric {m!r}: expected name@k, e.g. ndcg@10") from None
    return cut


def evaluate_retriever(
    project: "Project",
    retrieval: Retrieval,
    retriever: str,
    *,
    split: str | None = "test",
    metrics: Sequence[str] = DEFAULT_METRICS,
    progress: Progress | None = None,
    record: bool = True,
) -> dict:
    """Evaluate ``retriever`` on the queries of ``split`` that have relevant judgements.

    Relevant = labels ``positive`` and ``false_negative`` (with their gains);
    queries without any are skipped, as BEIR does. Returns the mean of each
    metric plus ``"queries"`` (how many were evaluated) and, when ``record``,
    ``"run_id"`` of the row written to the ``runs`` table (per-query and mean
    values go to ``metrics``, the mean under query id ``''``).
    """
    from core.evaluation.metrics import evaluate
    from core.project.file import now_iso

    check_retriever(retriever)
    progress = progress or Progress()
    qrels = project.qrels(split)
    judged = project.qrels(split, include_negatives=True)
    queries = {q.id: q.text for q in project.queries(split) if q.id in qrels}
    if not queries:
        where = f"split {split!r}" if split else "this project"
        raise StudioError(f"no queries with relevant labels in {where}; nothing to evaluate")
    qrels = {q: qrels[q] for q in queries}
    k = _max_cutoff(metrics)
    run = retrieval.run(queries, retriever, k=k, progress=progress.sub(0.0, 0.95))
    judged_sets = {q: set(judged.get(q, {})) for q in queries}
    try:
        result = evaluate(qrels, run, metrics=tuple(metrics), judged=judged_sets)
    except ValueError as exc:
        raise StudioError(str(exc)) from exc
    out: dict = {m: float(result.mean[m]) for m in metrics}
    out["queries"] = len(queries)
    if record:
        params = {"k": k, "metrics": list(metrics)}
        if retriever == "hybrid":
            params.update({"fusion": retrieval.fusion, "rrf_k": retrieval.rrf_k,
                           "fusion_depth": retrieval.fusion_depth})
            if retrieval.fusion_weights is not None:
                params["fusion_weights"] = retrieval.fusion_weights
            if retrieval.fusion_setting is not None and retrieval.fusion_setting.tuned_on:
                params["fusion_chosen_on"] = retrieval.fusion_setting.tuned_on
        model = None if retriever == "bm25" else retrieval.model_id
        with project.transaction():
            cur = project.conn.execute(
                "INSERT INTO runs(retriever, model_version, split, created_at, params) VALUES(?,?,?,?,?)",
                (retriever, model, split, now_iso(), json.dumps(params)),
            )
            run_id = cur.lastrowid
            rows = [(run_id, q, m, float(v)) for q, per in result.per_query.items() for m, v in per.items()]
            rows += [(run_id, "", m, float(v)) for m, v in result.mean.items()]
            project.conn.executemany(
                "INSERT INTO metrics(run_id, query_id, metric, value) VALUES(?,?,?,?)", rows)
        out["run_id"] = run_id
    progress.fraction(1.0, "Evaluation done")
    return out
