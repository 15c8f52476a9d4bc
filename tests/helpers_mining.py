"""Mining test helpers: array-backed projects and the sentence-transformers reference.

``st_reference_negatives`` runs ``sentence_transformers.util.mine_hard_negatives``
on embeddings we choose: it pre-seeds the function's own ``cache_folder``
under the file names it derives (sha256 of model name, prompts and texts),
so the reference sees exactly the vectors our miner sees and never encodes.
Also used by ``benchmarks/mining_bench.py``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np


def normalized(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def synthetic_embeddings(n_docs: int, n_queries: int, dim: int, max_positives: int, seed: int = 0):
    """Random unit document vectors; each query sits near 1..max_positives of them.

    Returns ``(doc_vectors, query_vectors, positives)`` with ``positives[i]``
    the document indices relevant to query i.
    """
    rng = np.random.default_rng(seed)
    docs = normalized(rng.standard_normal((n_docs, dim)))
    queries = np.empty((n_queries, dim), dtype=np.float32)
    positives: list[list[int]] = []
    for i in range(n_queries):
        k = int(rng.integers(1, max_positives + 1))
        pos = rng.choice(n_docs, size=k, replace=False).tolist()
        positives.append(pos)
        queries[i] = docs[pos].mean(axis=0) + rng.standard_normal(dim) * 0.08
    return docs, normalized(queries), positives


def make_array_project(path: Path, doc_ids: Sequence[str], doc_texts: Sequence[str],
                       query_ids: Sequence[str], query_texts: Sequence[str],
                       positives: Sequence[Sequence[str]], split: str = "train") -> Path:
    """A project with these documents, queries (all in ``split``) and imported positives."""
    from core.project.file import Project

    with Project.create(path) as project:
        with project.transaction():
            project.db["documents"].insert_all(
                ({"id": d, "title": "", "text": t} for d, t in zip(doc_ids, doc_texts)), batch_size=5000)
            project.db["queries"].insert_all(
                ({"id": q, "text": t, "split": split} for q, t in zip(query_ids, query_texts)),
                batch_size=5000)
            project.touch_corpus()
        project.set_labels([(q, d, "positive", 1) for q, docs in zip(query_ids, positives) for d in docs],
                           source="imported", pass_number=0)
    return path


def identity_model():
    """A SentenceTransformer with only a Normalize module: cosine similarity, no weights."""
    from sentence_transformers import SentenceTransformer

    try:
        from sentence_transformers.sentence_transformer.modules import Normalize
    except ImportError:  # older releases
        from sentence_transformers.models import Normalize
    return SentenceTransformer(modules=[Normalize()], device="cpu")


def st_prepare(
    model,
    query_texts: Sequence[str],
    positive_texts: Sequence[Sequence[str]],
    corpus_texts: Sequence[str],
    query_vectors: np.ndarray,
    doc_vectors: np.ndarray,
    cache_dir: str | Path,
):
    """The reference's input dataset, with our vectors written into its embedding cache.

    ``query_vectors`` / ``doc_vectors`` align with ``query_texts`` /
    ``corpus_texts``; texts must be unique (the reference deduplicates by text).
    """
    from datasets import Dataset

    anchors, positives = [], []
    for q, pos in zip(query_texts, positive_texts):
        for p in pos:
            anchors.append(q)
            positives.append(p)
    dataset = Dataset.from_dict({"query": anchors, "positive": positives})
    corpus = list(dict.fromkeys(list(corpus_texts) + positives))
    row_of_doc = {t: i for i, t in enumerate(corpus_texts)}
    uniq_queries = list(dict.fromkeys(anchors))
    row_of_query = {t: i for i, t in enumerate(query_texts)}
    model_name = model.model_card_data.base_model or ""
    qhash = hashlib.sha256(repr((model_name, None, None, uniq_queries)).encode()).hexdigest()
    chash = hashlib.sha256(repr((model_name, None, None, corpus)).encode()).hexdigest()
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(cache / f"query_embeddings_{qhash}.npy",
            np.asarray(query_vectors, dtype=np.float32)[[row_of_query[q] for q in uniq_queries]])
    np.save(cache / f"corpus_embeddings_{chash}.npy",
            np.asarray(doc_vectors, dtype=np.float32)[[row_of_doc[t] for t in corpus]])
    return dataset


def st_run(model, dataset, corpus_texts: Sequence[str], cache_dir: str | Path,
           **kwargs) -> dict[str, list[str]]:
    """Run ``mine_hard_negatives``: ``{query_text: [negative texts]}``, best first."""
    from sentence_transformers.util import mine_hard_negatives

    out_ds = mine_hard_negatives(dataset, model, corpus=list(corpus_texts), cache_folder=str(cache_dir),
                                 output_format="labeled-pair", verbose=False, **kwargs)
    out: dict[str, list[str]] = {q: [] for q in dict.fromkeys(dataset["query"])}
    for query, doc, label in zip(out_ds["query"], out_ds["positive"], out_ds["label"]):
        if label == 0:
            out[query].append(doc)
    return out


def st_reference_negatives(
    model,
    query_texts: Sequence[str],
    positive_texts: Sequence[Sequence[str]],
    corpus_texts: Sequence[str],
    query_vectors: np.ndarray,
    doc_vectors: np.ndarray,
    cache_dir: str | Path | None = None,
    **kwargs,
) -> dict[str, list[str]]:
    """Negatives ``mine_hard_negatives`` picks on our vectors, ``{query_text: [negative texts]}``."""
    tmp = None
    if cache_dir is None:
        tmp = tempfile.TemporaryDirectory()
        cache_dir = tmp.name
    try:
        dataset = st_prepare(model, query_texts, positive_texts, corpus_texts, query_vectors,
                             doc_vectors, cache_dir)
        return st_run(model, dataset, corpus_texts, cache_dir, **kwargs)
    finally:
        if tmp is not None:
            tmp.cleanup()


def read_beir(folder: Path, qrel_files: tuple[str, ...]):
    """``(documents, queries, relevant)``: relevant = {query: sorted docs with score > 0}."""
    docs = []
    with open(folder / "corpus.jsonl", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            docs.append((str(r["_id"]), r.get("title") or "", r.get("text") or ""))
    queries = {}
    with open(folder / "queries.jsonl", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            queries[str(r["_id"])] = r["text"]
    relevant: dict[str, set[str]] = {}
    for name in qrel_files:
        with open(folder / "qrels" / name, encoding="utf-8") as f:
            for row in csv.DictReader(f, delimiter="\t"):
                if float(row["score"]) > 0:
                    relevant.setdefault(row["query-id"], set()).add(row["corpus-id"])
    return docs, queries, {q: sorted(d) for q, d in relevant.items()}
