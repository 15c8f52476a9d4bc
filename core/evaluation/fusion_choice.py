"""Choosing a model's hybrid fusion on its training queries, never on the split being evaluated.

Equal-weight RRF can pull a strong dense model toward a weaker BM25 (on
SciFact a fine-tuned model's dense nDCG@10 0.7186 fell to 0.7130 as an RRF
hybrid). :func:`choose_fusion` tries a small grid — RRF (k = 60) and the
weighted min-max fusion with dense weights 0, 0.1, …, 1 — on the BM25 and
dense rankings of a set of queries and keeps the one with the highest mean
nDCG@10. The grid holds both parts alone (weight 0 ranks as BM25, weight 1 as
dense, within the fused depth), so on the queries it is chosen on the hybrid
never scores below the better of its parts.

Ties (equal means) go to the earliest candidate in :func:`fusion_grid`'s
order: RRF first, then dense weights from the balanced 0.5 outward, the
heavier dense weight first at equal distance (0.5, 0.6, 0.4, 0.7, …, 1, 0) —
a fusion of both parts before either part alone.

:func:`tune_fusion` runs it for one model on a split's queries (``train`` by
default) and stores the result with the model
(:mod:`core.retrieval.fusion_setting`), where every hybrid search of that
model picks it up.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from core.errors import StudioError
from core.progress import Progress
from core.project.file import Project
from core.retrieval.fusion_setting import (
    FusionSetting,
    fuse,
    store_fusion,
    stored_fusion,
)

Ranking = Sequence[tuple[str, float]]
CHOICE_METRIC = "ndcg@10"
FUSION_SPLIT = "train"


def fusion_grid(step: float = 0.1, rrf_k: int = 60) -> list[FusionSetting]:
    """The candidates in tie-break order: RRF, then dense weights from 0.5 outward (heavier dense first)."""
    n = round(1 / step)
    weights = sorted((round(i * step, 10) for i in range(n + 1)),
                     key=lambda w: (round(abs(w - 0.5), 6), -w))
    return [FusionSetting("rrf", None, rrf_k)] + [FusionSetting("weighted", w, rrf_k) for w in weights]


def _mean_metric(qrels: Mapping[str, Mapping[str, int]], run: Mapping[str, Mapping[str, float]]) -> float:
    from core.evaluation.metrics import evaluate

    return float(evaluate(qrels, run, metrics=(CHOICE_METRIC,)).mean[CHOICE_METRIC])


def _as_run(rankings: Mapping[str, Ranking]) -> dict[str, dict[str, float]]:
    return {q: {d: float(s) for d, s in ranking} for q, ranking in rankings.items()}


def choose_fusion(
    qrels: Mapping[str, Mapping[str, int]],
    lexical: Mapping[str, Ranking],
    dense: Mapping[str, Ranking],
    *,
    grid: Sequence[FusionSetting] | None = None,
    k: int = 100,
    split: str | None = None,
) -> tuple[FusionSetting, list[dict]]:
    """The fusion of ``grid`` with the highest mean nDCG@10 over the queries of ``qrels``.

    ``lexical`` and ``dense`` map each query id to its BM25 and dense ranking
    (``(doc_id, score)``, best first, as deep as the hybrid fuses); fused
    rankings are cut at ``k`` and scored exactly as an evaluation scores a
    run. Returns the chosen setting (with ``tuned_on=split``, the query count,
    its nDCG@10 and both parts' nDCG@10 on the same queries) and the table of
    every candidate's mean in grid order. Raises :class:`StudioError` when no
    query has a relevant judgement and a ranking from both parts.
    """
    grid = list(grid) if grid is not None else fusion_grid()
    qids = sorted(q for q, rels in qrels.items()
                  if any(g >= 1 for g in rels.values()) and q in lexical and q in dense)
    if not qids:
        raise StudioError("no queries with relevant labels and both rankings to choose a fusion on")
    judged = {q: qrels[q] for q in qids}
    parts = {"bm25": _mean_metric(judged, _as_run({q: lexical[q] for q in qids})),
             "dense": _mean_metric(judged, _as_run({q: dense[q] for q in qids}))}
    table = []
    best: tuple[float, FusionSetting] | None = None
    for setting in grid:
        fused = {q: fuse(setting, lexical[q], dense[q], limit=k) for q in qids}
        value = _mean_metric(judged, _as_run(fused))
        table.append({"method": setting.method, "dense_weight": setting.dense_weight, CHOICE_METRIC: value})
        if best is None or value > best[0]:  # strictly better: ties keep the earlier candidate
            best = (value, setting)
    value, setting = best
    chosen = FusionSetting(setting.method, setting.dense_weight, setting.rrf_k, tuned_on=split,
                           queries=len(qids), ndcg_at_10=value, parts_ndcg_at_10=parts)
    return chosen, table


def tune_fusion(
    project: Project,
    model_id: str,
    split: str = FUSION_SPLIT,
    progress: Progress | None = None,
    *,
    retrieval=None,
    device: str | None = "auto",
    encoder: str | None = "exact",
) -> FusionSetting:
    """Choose ``model_id``'s fusion on the queries of ``split`` and store it with the model.

    ``retrieval`` (a :class:`core.retrieval.service.Retrieval` of the same
    model) is reused when given. Raises :class:`StudioError` when ``split``
    has no query with a relevant label.
    """
    from core.retrieval.service import Retrieval

    project.require_writable()  # the choice is stored: refuse now, not after searching every query
    progress = progress or Progress()
    retrieval = retrieval or Retrieval(project, model_id, device=device, encoder=encoder)
    qrels = project.qrels(split)
    queries = {q.id: q.text for q in project.queries(split) if q.id in qrels}
    if not queries:
        raise StudioError(f"cannot choose a fusion for {model_id}: split {split!r} has no queries "
                          "with relevant labels")
    depth = retrieval.fusion_depth
    progress.fraction(0.0, f"Choosing the hybrid fusion of {model_id} on {len(queries)} {split} queries")
    lexical = retrieval.search_many(queries, "bm25", k=depth, progress=progress.sub(0.0, 0.3))
    dense = retrieval.search_many(queries, "dense", k=depth, progress=progress.sub(0.3, 0.9))
    as_pairs = lambda hits: {q: [(h.doc_id, h.score) for h in hs] for q, hs in hits.items()}  # noqa: E731
    chosen, _table = choose_fusion({q: qrels[q] for q in queries}, as_pairs(lexical), as_pairs(dense),
                                   split=split)
    store_fusion(project, retrieval.model_id, chosen)
    progress.fraction(1.0, f"Hybrid fusion of {model_id}: {chosen.describe()}")
    return chosen


def fusion_chosen_on(project: Project, retrieval, split: str = FUSION_SPLIT,
                     progress: Progress | None = None) -> FusionSetting:
    """``retrieval``'s model's fusion chosen on ``split``: the stored choice, else one made and stored now.

    Raises :class:`StudioError` when it has to be chosen and cannot be
    (``split`` has no judged query, or the project is read-only).
    """
    setting = stored_fusion(project, retrieval.model_id)
    if setting is None or setting.tuned_on != split:
        setting = tune_fusion(project, retrieval.model_id, split, progress, retrieval=retrieval)
    return setting
