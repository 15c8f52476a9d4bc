"""Fixtures for the BM25 / metrics / stats tests: SciFact loading and random runs."""

from __future__ import annotations

import csv
import json
import random
from functools import lru_cache
from pathlib import Path

SCIFACT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "scifact"


@lru_cache(maxsize=1)
def load_scifact() -> tuple[list[str], list[str], dict[str, str], dict[str, dict[str, dict[str, int]]]]:
    """(doc_ids, retrieval texts, {qid: query text}, {split: qrels}) from the BEIR files."""
    from core.project.file import retrieval_text

    doc_ids, texts = [], []
    with open(SCIFACT / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            doc_ids.append(d["_id"])
            texts.append(retrieval_text(d.get("title") or "", d["text"]))
    queries = {}
    with open(SCIFACT / "queries.jsonl", encoding="utf-8") as fh:
        for line in fh:
            q = json.loads(line)
            queries[q["_id"]] = q["text"]
    qrels: dict[str, dict[str, dict[str, int]]] = {}
    for split in ("train", "test"):
        with open(SCIFACT / "qrels" / f"{split}.tsv", encoding="utf-8") as fh:
            rows = csv.reader(fh, delimiter="\t")
            next(rows)
            for qid, did, score in rows:
                qrels.setdefault(split, {}).setdefault(qid, {})[did] = int(score)
    return doc_ids, texts, queries, qrels


def random_corpus(n_docs: int, seed: int = 0, vocab_size: int = 60) -> list[str]:
    """Zipf-ish random documents; a few very common words get negative idf."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(vocab_size)]
    weights = [1.0 / (i + 1) for i in range(vocab_size)]
    docs = []
    for i in range(n_docs):
        length = rng.randint(0, 30) if i % 7 else 0  # some empty documents
        docs.append(" ".join(rng.choices(words, weights, k=length)))
    return docs
