"""The retrieval service: BM25, dense and hybrid search over one project.

A :class:`Retrieval` builds (or loads from the project's cache folder) the
BM25 index and the dense index lazily, on first use or through
``ensure_bm25`` / ``ensure_dense`` (which take a Progress, so the GUI can run
them in a worker with a progress bar). It never holds on to the caller's
``Project``: whenever it needs to read the file it opens its own connection
from ``project.path``, so any thread may call it. Lazy builds are guarded by
one lock per index; searches on built indexes run concurrently.

Retrievers:

* ``bm25``: :mod:`core.bm25` (rank-bm25's Okapi scores);
* ``dense``: cosine similarity of the model's unit vectors (:mod:`core.retrieval.dense_index`);
* ``hybrid``: reciprocal rank fusion (Cormack, Clarke & Büttcher 2009,
  ``Σ 1 / (k + rank)``, k = 60) of the BM25 and dense top-``fusion_depth``
  lists, or with ``fusion="weighted"`` a weighted sum of min-max normalised
  scores (:func:`core.retrieval.fusion.weighted_fusion`).
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
