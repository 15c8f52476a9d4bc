"""Compare retrievers on a held-out split: BM25, each model version, and BM25+model hybrids.

Every system is evaluated on the same queries (those of ``split`` with a
relevant label) through :func:`core.evaluation.evaluate.evaluate_retriever`, which
stores a ``runs`` row with per-query and mean ``metrics`` rows. Each system is
then compared with the baseline (the first model's dense retriever) query by
query: mean delta, wins / ties / losses, and the paired two-sided t-test and
randomisation (permutation) test p-values of :func:`core.evaluation.stats.paired_compare`
(Smucker, Allan & Carterette 2007, "A comparison of statistical significance
tests for information retrieval evaluation").

Each model's hybrid fuses BM25 and dense as chosen for that model on the
queries of ``fusion_split`` (``train``; :mod:`core.evaluation.fusion_choice`),
chosen once and stored with the model when it has no choice yet. A split
that is itself the fusion split (or all queries) is never evaluated with a
fusion chosen on it: its hybrids use plain RRF, and the result says so.

The result is plain data so the compare view, the CLI and the loop benchmark
share it; :func:`query_deltas` lists queries worst-first for any two systems,
and :func:`rankings_side_by_side` fetches one query's rankings with labels.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from core.errors import StudioError
from core.progress import Progress
from core.project.file import Project
from core.retrieval.encoder import BUNDLED

COMPARE_METRICS = ("ndcg@10", "recall@10", "recall@100", "mrr@10", "map@100")
PRIMARY_METRIC = "ndcg@10"
RETRIEVERS = ("bm25", "dense", "hybrid")
RETRIEVER_LABELS = {"bm25": "BM25", "dense": "dense", "hybrid": "hybrid (BM25 + dense, RRF)"}


@dataclass(frozen=True)
class System:
    """One retriever to evaluate: ``key`` is ``bm25``, ``dense:<model>`` or ``hybrid:<model>``."""

    retriever: str
    model: str | None

    @property
    def key(self) -> str:
        return self.retriever if self.model is None else f"{self.retriever}:{self.model}"


def resolve_model_ids(project: Project, model_ids: Sequence[str]) -> list[str]:
    """Model references (``bundled``, version id, version name or model folder) as ids; StudioError if unknown."""
    versions = project.model_versions()
    by_name = {v["name"]: v["id"] for v in versions}
    ids = {v["id"] for v in versions}
    out: list[str] = []
    for ref in model_ids:
        ref = ref.strip()
        if not ref:
            continue
        if ref == BUNDLED or ref in ids:
            mid = ref
        elif ref in by_name:
            mid = by_name[ref]
        elif Path(ref).expanduser().is_dir():  # a local model folder, as resolve_model takes
            mid = str(Path(ref).expanduser().resolve())
        else:
            known = ", ".join([BUNDLED] + [v["id"] for v in versions])
            raise StudioError(f"unknown model {ref!r}; this project has: {known}")
        if mid not in out:
            out.append(mid)
    if not out:
        raise StudioError("no models to compare: give at least one model id (e.g. bundled,v1)")
    return out


def model_names(project: Project, model_ids: Sequence[str]) -> dict[str, str]:
    """Display names: a version's name, ``bundled``, or a folder's last part."""
    versions = {v["id"]: v["name"] for v in project.model_versions()}
    return {mid: versions.get(mid) or (Path(mid).name if mid != BUNDLED else BUNDLED) for mid in model_ids}


def systems_for(model_ids: Sequence[str], retrievers: Sequence[str] = RETRIEVERS) -> list[System]:
    """BM25 once, then each model's dense and hybrid retrievers, in the given order."""
    unknown = [r for r in retrievers if r not in RETRIEVERS]
    if unknown:
        raise StudioError(f"unknown retriever(s) {', '.join(unknown)}; expected {', '.join(RETRIEVERS)}")
    systems = [System("bm25", None)] if "bm25" in retrievers else []
    for mid in model_ids:
        for r in ("dense", "hybrid"):
            if r in retrievers:
                systems.append(System(r, mid))
    return systems


def _per_query(project: Project, run_id: int) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for qid, metric, value in project.conn.execute(
        "SELECT query_id, metric, value FROM metrics WHERE run_id=? AND query_id != ''", (run_id,)
    ):
        out.setdefault(qid, {})[metric] = value
    return out


def _comparison(a_key: str, b_key: str, metric: str, a: dict[str, float], b: dict[str, float]) -> dict:
    from core.evaluation.stats import paired_compare

    qids = sorted(set(a) & set(b))
    pa = {q: a[q] for q in qids}
    pb = {q: b[q] for q in qids}
    res = paired_compare(pa, pb)
    return {
        "a": a_key, "b": b_key, "metric": metric,
        "mean_a": float(res.mean_a), "mean_b": float(res.mean_b),
        "delta": float(res.mean_b - res.mean_a),
        "wins": res.wins, "ties": res.ties, "losses": res.losses,
        "t_pvalue": _float_or_none(res.t_pvalue),
        "permutation_pvalue": _float_or_none(res.permutation_pvalue),
    }


def _float_or_none(x) -> float | None:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return None if x != x else x  # NaN (all deltas zero) reads as "no test"


def compare_models(
    project: Project,
    model_ids: Sequence[str],
    split: str | None = "test",
    retrievers: Sequence[str] = RETRIEVERS,
    progress: Progress | None = None,
    *,
    metrics: Sequence[str] = COMPARE_METRICS,
    primary_metric: str = PRIMARY_METRIC,
    record_on_versions: bool = True,
    device: str | None = "auto",
    encoder: str | None = "exact",
    fusion_split: str | None = "train",
) -> dict:
    """Evaluate BM25 and each model's dense / hybrid retriever on ``split``; compare with the baseline.

    Returns plain data::

        {"split", "queries" (evaluated count), "query_texts": {query_id: text},
         "metrics", "primary_metric",
         "models", "baseline" (system key), "main_pair" ([a, b] keys: first vs last model, dense),
         "systems": [{"key", "retriever", "model", "label", "run_id", "mean": {metric: value}}],
         "per_query": {key: {query_id: {metric: value}}},
         "comparisons": [{"a", "b", "metric", "mean_a", "mean_b", "delta", "wins", "ties",
                          "losses", "t_pvalue", "permutation_pvalue"}],  # every system vs baseline
         "query_deltas": [{"query_id", "text", "a", "b", "delta"}],  # main pair, primary metric, worst first
         "encoders": {model: {"kind", "device", "requested", "reason", "gate"}},  # models searched densely
         "fusion": {model: {"method", "dense_weight", "rrf_k", "tuned_on", "queries", "ndcg_at_10",
                            "parts_ndcg_at_10", "label", "short", "note"}}}  # hybrids only

    Each evaluation is stored as a ``runs`` row with its ``metrics``; with
    ``record_on_versions`` the means are also written into each model
    version's ``metrics["eval"][split]``.

    ``device`` and ``encoder`` choose the encoder (:mod:`core.retrieval.device`);
    document and query vectors already in the project's embedding cache for
    that encoder (e.g. prepared when a fine-tune finished) are not encoded again.
    """
    from core.evaluation.evaluate import evaluate_retriever
    from core.retrieval.service import Retrieval

    progress = progress or Progress()
    model_ids = resolve_model_ids(project, model_ids)
    metrics = list(dict.fromkeys(list(metrics) + [primary_metric]))
    systems = systems_for(model_ids, retrievers)
    if not systems:
        raise StudioError("nothing to compare: no retrievers selected")
    retrievals = {mid: Retrieval(project, mid, device=device, encoder=encoder) for mid in model_ids}
    names = model_names(project, model_ids)
    fusion: dict[str, dict] = {}
    if "hybrid" in retrievers:
        tuning, progress = progress.sub(0.0, 0.2), progress.sub(0.2, 1.0)
        for j, mid in enumerate(model_ids):
            fusion[mid] = _hybrid_fusion(project, retrievals[mid], split, fusion_split,
                                         tuning.sub(j / len(model_ids), (j + 1) / len(model_ids)))
    out_systems, per_query = [], {}
    n = len(systems)
    evaluated = 0
    for i, system in enumerate(systems):
        sub = progress.sub(i / n, (i + 1) / n)
        sub.fraction(0.0, f"Evaluating {system.key} on {split or 'all queries'}")
        retrieval = retrievals[system.model] if system.model else retrievals[model_ids[0]]
        res = evaluate_retriever(project, retrieval, system.retriever, split=split,
                                 metrics=metrics, progress=sub, record=True)
        evaluated = res["queries"]
        per_query[system.key] = _per_query(project, res["run_id"])
        label = RETRIEVER_LABELS[system.retriever]
        if system.retriever == "hybrid":
            label = f"hybrid (BM25 + dense, {fusion[system.model]['short']})"
        out_systems.append({
            "key": system.key, "retriever": system.retriever, "model": system.model,
            "label": label if system.model is None else f"{label} · {names[system.model]}",
            "run_id": res["run_id"], "mean": {m: float(res[m]) for m in metrics},
        })

    keys = [s["key"] for s in out_systems]
    dense_keys = [k for k in keys if k.startswith("dense:")]
    baseline = dense_keys[0] if dense_keys else keys[0]
    main_pair = [baseline, dense_keys[-1] if len(dense_keys) > 1 else (keys[-1] if len(keys) > 1 else baseline)]
    comparisons = [
        _comparison(baseline, key, m, {q: v[m] for q, v in per_query[baseline].items()},
                    {q: v[m] for q, v in per_query[key].items()})
        for key in keys if key != baseline for m in metrics
    ]
    evaluated_ids = set(per_query[keys[0]])
    texts = {q.id: q.text for q in project.queries(split) if q.id in evaluated_ids}
    result = {
        "split": split, "queries": evaluated, "query_texts": texts, "metrics": metrics, "primary_metric": primary_metric,
        "models": model_ids, "baseline": baseline, "main_pair": main_pair,
        "systems": out_systems, "per_query": per_query, "comparisons": comparisons,
        "encoders": {mid: r.encoder_selection.to_dict() for mid, r in retrievals.items() if r.dense_ready},
        "fusion": fusion,
    }
    result["query_deltas"] = query_deltas(project, result, main_pair[0], main_pair[1], primary_metric)
    if record_on_versions:
        _record_on_versions(project, split, out_systems)
    progress.fraction(1.0, f"Compared {len(out_systems)} retrievers on {evaluated} queries")
    return result


def _hybrid_fusion(project: Project, retrieval, split: str | None, fusion_split: str | None,
                   progress: Progress) -> dict:
    """Set ``retrieval``'s fusion for evaluating ``split``; return what it uses and why.

    The model's stored choice when it was made on ``fusion_split`` and that is
    not the evaluated split; chosen now (and stored) when there is none; plain
    RRF when the evaluated split is the fusion split or contains it, or when
    the fusion split has nothing to choose on.
    """
    from core.evaluation.fusion_choice import fusion_chosen_on
    from core.retrieval.fusion_setting import DEFAULT_FUSION

    note = None
    setting = None
    if fusion_split is None or split is None or split == fusion_split:
        note = (f"default RRF: the fusion is chosen on split {fusion_split!r}, "
                f"which is {'part of ' if split is None else ''}the evaluated split")
    else:
        try:
            setting = fusion_chosen_on(project, retrieval, fusion_split, progress)
        except StudioError as exc:
            setting, note = None, f"default RRF: {exc}"
    setting = setting or DEFAULT_FUSION
    retrieval.use_fusion(setting)
    return {**setting.to_dict(), "label": setting.describe(), "short": setting.short(), "note": note}


def query_deltas(project: Project | None, result: dict, a: str, b: str, metric: str) -> list[dict]:
    """Per-query ``metric`` under systems ``a`` and ``b``, queries that got worse under ``b`` first.

    Sorted by ``delta = b - a`` ascending, ties by query id. Query texts come
    from ``result["query_texts"]`` or, when absent, from ``project``.
    """
    pa, pb = result["per_query"][a], result["per_query"][b]
    qids = sorted(set(pa) & set(pb))
    texts: dict[str, str] = dict(result.get("query_texts") or {})
    if not texts and project is not None:
        texts = {q.id: q.text for q in project.queries() if q.id in pa}
    rows = [{"query_id": q, "text": texts.get(q, ""), "a": pa[q][metric], "b": pb[q][metric],
             "delta": pb[q][metric] - pa[q][metric]} for q in qids]
    rows.sort(key=lambda r: (r["delta"], r["query_id"]))
    return rows


def _record_on_versions(project: Project, split: str | None, systems: list[dict]) -> None:
    rows = {r["id"]: r for r in project.model_versions()}
    updates: dict[str, dict] = {}
    for s in systems:
        if s["model"] in rows:
            m = updates.setdefault(s["model"], rows[s["model"]]["metrics"])
            m.setdefault("eval", {}).setdefault(split or "all", {})[s["retriever"]] = s["mean"]
    if updates:
        with project.transaction():
            for mid, m in updates.items():
                project.conn.execute("UPDATE model_versions SET metrics=? WHERE id=?",
                                     (json.dumps(m), mid))


def rankings_side_by_side(
    project: Project,
    query_id: str,
    systems: Sequence[str],
    k: int = 10,
    progress: Progress | None = None,
    *,
    retrievals: dict | None = None,
    device: str | None = "auto",
    encoder: str | None = "exact",
) -> dict:
    """One query's top-``k`` under each system key, with each document's title and label.

    ``{"query_id", "text", "relevant": [doc ids], "rankings": {key: [{"rank", "doc_id",
    "score", "title", "label", "gain"}]}}``; ``label`` is the current judgement or None.
    ``retrievals`` maps model ids to ready :class:`core.retrieval.service.Retrieval` objects to reuse.
    """
    from core.retrieval.service import Retrieval

    progress = progress or Progress()
    query = project.get_query(query_id)
    if query is None:
        raise StudioError(f"unknown query id {query_id!r}")
    labels = project.labels_for_query(query_id)
    retrievals = dict(retrievals or {})
    out: dict = {"query_id": query_id, "text": query.text,
                 "relevant": sorted(d for d, lab in labels.items() if lab.gain > 0), "rankings": {}}
    for i, key in enumerate(systems):
        progress.update(i, len(systems), f"Ranking for {key}")
        retriever, _, model = key.partition(":")
        model = model or BUNDLED
        if model not in retrievals:
            retrievals[model] = Retrieval(project, model, device=device, encoder=encoder)
        hits = retrievals[model].search(query.text, retriever, k=k)
        docs = project.get_documents([h.doc_id for h in hits])
        out["rankings"][key] = [
            {"rank": h.rank, "doc_id": h.doc_id, "score": h.score,
             "title": docs[h.doc_id].title if h.doc_id in docs else "",
             "label": labels[h.doc_id].label if h.doc_id in labels else None,
             "gain": labels[h.doc_id].gain if h.doc_id in labels else None}
            for h in hits
        ]
    progress.fraction(1.0, "Rankings ready")
    return out


def compare_project_file(project_path, model_ids: Sequence[str], split: str | None = "test",
                         retrievers: Sequence[str] = RETRIEVERS, progress: Progress | None = None,
                         *, device: str | None = "auto", encoder: str | None = "exact") -> dict:
    """:func:`compare_models` on a project file (a worker thread opens its own connection)."""
    with Project.open(project_path) as project:
        return compare_models(project, model_ids, split, retrievers, progress,
                              device=device, encoder=encoder)


def rankings_for_file(project_path, query_id: str, systems: Sequence[str], k: int = 10,
                      progress: Progress | None = None, *, retrievals: dict | None = None,
                      device: str | None = "auto", encoder: str | None = "exact") -> dict:
    """:func:`rankings_side_by_side` on a project file."""
    with Project.open(project_path) as project:
        return rankings_side_by_side(project, query_id, systems, k, progress, retrievals=retrievals,
                                     device=device, encoder=encoder)
