"""Ranking metrics with trec_eval's definitions (checked against pytrec_eval and ranx).

Data is plain dicts, as in ranx and pytrec_eval:
``qrels = {qid: {doc_id: gain}}`` (gain ≥ 1 is relevant, 0 judged non-relevant)
and ``run = {qid: {doc_id: score}}``.

Ranking a run: by score, highest first; equal scores by doc_id in *descending*
string order, which is what trec_eval (and so pytrec_eval) does.

Which queries count: those in ``qrels`` with at least one relevant document.
A query missing from the run, or with an empty run, scores 0 on every metric
(trec_eval's ``-c``). Means are arithmetic means over those queries.

Notation in the formulas: ``rel_i`` is the gain of the document at rank i
(1-based; 0 when unjudged), ``[rel_i ≥ 1]`` is 1 for a relevant document, R is
the number of relevant documents of the query.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence

__all__ = [
    "EvalResult", "evaluate", "rank", "parse_metric",
    "ndcg", "recall", "mrr", "average_precision", "precision", "hole",
]

DEFAULT_METRICS = ("ndcg@10", "recall@100", "mrr@10", "map@100")


@dataclass
class EvalResult:
    """Per-query values and their means; ``mean`` is 0.0 for every metric when no query counts."""

    per_query: dict[str, dict[str, float]]
    mean: dict[str, float]

    @property
    def n_queries(self) -> int:
        return len(self.per_query)


def rank(scores: Mapping[str, float]) -> list[str]:
    """Doc ids by score descending, ties by doc_id descending (trec_eval's order)."""
    return [d for d, _ in sorted(scores.items(), key=lambda x: (x[1], x[0]), reverse=True)]


# -- kernels: ``ranked`` is the full ranking, ``k`` its cut-off --------------------
def ndcg(ranked: Sequence[str], qrels: Mapping[str, int], k: int) -> float:
    """nDCG@k with linear gains (Järvelin & Kekäläinen 2002; trec_eval ``ndcg_cut``).

    DCG@k = Σ_{i=1..k} rel_i / log2(i + 1); nDCG@k = DCG@k / IDCG@k, where
    IDCG@k is the DCG@k of the query's judged gains sorted descending. Gains
    are the qrels grades as they are (not 2^rel − 1).
    """
    dcg = sum(max(qrels.get(d, 0), 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted((g for g in qrels.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall(ranked: Sequence[str], qrels: Mapping[str, int], k: int) -> float:
    """Recall@k = |{i ≤ k : rel_i ≥ 1}| / R (trec_eval ``recall_k``)."""
    n_rel = sum(1 for g in qrels.values() if g >= 1)
    if not n_rel:
        return 0.0
    return sum(1 for d in ranked[:k] if qrels.get(d, 0) >= 1) / n_rel


def precision(ranked: Sequence[str], qrels: Mapping[str, int], k: int) -> float:
    """Precision@k = |{i ≤ k : rel_i ≥ 1}| / k; a run shorter than k still divides by k (trec_eval ``P_k``)."""
    return sum(1 for d in ranked[:k] if qrels.get(d, 0) >= 1) / k


def mrr(ranked: Sequence[str], qrels: Mapping[str, int], k: int) -> float:
    """Reciprocal rank@k = 1 / (rank of the first relevant document) if it is ≤ k, else 0
    (Voorhees 1999, TREC-8 QA; trec_eval ``recip_rank`` on the run cut at k)."""
    for i, d in enumerate(ranked[:k]):
        if qrels.get(d, 0) >= 1:
            return 1.0 / (i + 1)
    return 0.0


def average_precision(ranked: Sequence[str], qrels: Mapping[str, int], k: int) -> float:
    """AP@k = (Σ_{i ≤ k, rel_i ≥ 1} Precision@i) / R (trec_eval ``map_cut_k``: the
    divisor is every relevant document, retrieved within k or not)."""
    n_rel = sum(1 for g in qrels.values() if g >= 1)
    if not n_rel:
        return 0.0
    hits = 0
    total = 0.0
    for i, d in enumerate(ranked[:k]):
        if qrels.get(d, 0) >= 1:
            hits += 1
            total += hits / (i + 1)
    return total / n_rel


def hole(ranked: Sequence[str], judged: Iterable[str] | set[str], k: int) -> float:
    """Hole@k = |{i ≤ k : document i has no judgement for this query}| / k
    (Thakur et al. 2021, BEIR; divided by k like BEIR even when fewer than k
    documents were retrieved). ``judged`` holds the query's judged
    documents, relevant and non-relevant. BEIR pools judgements over all
    queries; here a judgement only counts for its own query."""
    judged = judged if isinstance(judged, (set, frozenset)) else set(judged)
    return sum(1 for d in ranked[:k] if d not in judged) / k


_RELEVANCE_KERNELS: dict[str, Callable[[Sequence[str], Mapping[str, int], int], float]] = {
    "ndcg": ndcg,
    "recall": recall,
    "mrr": mrr,
    "map": average_precision,
    "precision": precision,
}
METRIC_NAMES = tuple(_RELEVANCE_KERNELS) + ("hole",)


def parse_metric(name: str) -> tuple[str, int]:
    """``"ndcg@10"`` -> ``("ndcg", 10)``; ValueError for an unknown name or a bad cut-off."""
    base, sep, cut = name.strip().lower().partition("@")
    if base not in METRIC_NAMES:
        raise ValueError(f"unknown metric {name!r}; known: {', '.join(m + '@k' for m in METRIC_NAMES)}")
    if not sep or not cut.isdigit() or int(cut) < 1:
        raise ValueError(f"metric {name!r} needs a cut-off ≥ 1, e.g. {base}@10")
    return base, int(cut)


def evaluate(
    qrels: Mapping[str, Mapping[str, int]],
    run: Mapping[str, Mapping[str, float]],
    metrics: Sequence[str] = DEFAULT_METRICS,
    judged: Mapping[str, Iterable[str]] | None = None,
) -> EvalResult:
    """Per-query and mean values of ``metrics`` (names ``ndcg@k``, ``recall@k``, ``mrr@k``,
    ``map@k``, ``precision@k``, ``hole@k``) for ``run`` against ``qrels``.

    ``judged`` gives each query's judged documents for ``hole@k`` (relevant and
    negative); without it the query's ``qrels`` keys are used.
    """
    parsed = [(m, *parse_metric(m)) for m in metrics]
    max_k = max((k for _, _, k in parsed), default=0)
    per_query: dict[str, dict[str, float]] = {}
    for qid, rels in qrels.items():
        if not any(g >= 1 for g in rels.values()):
            continue
        scores = run.get(qid) or {}
        # Only the top max_k matter; sorting all of a long run is cheap enough.
        ranked = rank(scores)[:max_k]
        values: dict[str, float] = {}
        for name, base, k in parsed:
            if base == "hole":
                query_judged = judged.get(qid, ()) if judged is not None else rels.keys()
                values[name] = hole(ranked, set(query_judged), k)
            else:
                values[name] = _RELEVANCE_KERNELS[base](ranked, rels, k)
        per_query[qid] = values
    n = len(per_query)
    mean = {
        name: (sum(v[name] for v in per_query.values()) / n if n else 0.0)
        for name, _, _ in parsed
    }
    return EvalResult(per_query, mean)
