"""BM25 micro-benchmark: our sparse-matrix index against rank-bm25's BM25Okapi.

Corpus (reproducible, seeded):

- ``scifact`` (default when ``../shared/data/scifact`` exists): each document
  is a real SciFact title followed by as many sentences as that SciFact
  abstract has, drawn at random from all SciFact sentences; the queries are
  the real SciFact queries. Term statistics are SciFact's at any size,
  without exact duplicate documents.
- ``zipf``: words from a Zipf(1.0) law over a 50,000-word vocabulary,
  documents of 20–180 tokens, queries of 4–12 words drawn from the same law
  minus its 100 most frequent words (as stopword removal would).

Both indexes get the same tokens (core.retrieval.tokenize, with stopword removal as the
project index uses). Measured per corpus size:

- build time (ours includes tokenizing; rank-bm25 gets pre-tokenized lists);
- per-query latency over ``n_queries`` queries: rank-bm25 ``get_scores``
  (one pass) against our ``search(query, 10)`` (scores *and* top-10) and our
  bare ``get_scores`` (best of three passes after a warm-up);
- ``search_batch`` of 1,000 queries (top 100 each);
- the largest |score difference| over the timed queries.

Run ``python benchmarks/bm25_bench.py [--corpus scifact|zipf] [N_DOCS ...]``
(default 10,000 and 100,000). ``benchmarks/retrieval_bench.py`` calls
:func:`bench_bm25`.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.retrieval.bm25 import BM25Index  # noqa: E402
from core.retrieval.tokenize import tokenize  # noqa: E402

VOCAB = 50_000
SCIFACT = Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact"


def zipf_corpus(n_docs: int, n_queries: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """(documents, queries) as whitespace-joined Zipf-distributed words."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, VOCAB + 1)
    p /= p.sum()
    words = np.array([f"w{i}" for i in range(VOCAB)], dtype=object)
    lengths = rng.integers(20, 181, size=n_docs)
    tokens = words[rng.choice(VOCAB, size=int(lengths.sum()), p=p)]
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    docs = [" ".join(tokens[bounds[i]:bounds[i + 1]]) for i in range(n_docs)]
    content = p[100:] / p[100:].sum()
    q_lengths = rng.integers(4, 13, size=n_queries)
    queries = [" ".join(words[100 + rng.choice(VOCAB - 100, size=n, p=content)]) for n in q_lengths]
    return docs, queries


def scifact_corpus(n_docs: int, n_queries: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """(documents, queries) resampled from SciFact sentences; real SciFact queries (cycled)."""
    import json
    import re

    rng = np.random.default_rng(seed)
    titles, sentence_counts, sentences = [], [], []
    with open(SCIFACT / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            parts = [s for s in re.split(r"(?<=[.!?])\s+", d["text"]) if s]
            titles.append(d.get("title") or "")
            sentence_counts.append(max(len(parts), 1))
            sentences.extend(parts)
    with open(SCIFACT / "queries.jsonl", encoding="utf-8") as fh:
        real_queries = [json.loads(line)["text"] for line in fh]
    docs = []
    for i in rng.integers(0, len(titles), size=n_docs):
        picked = rng.integers(0, len(sentences), size=sentence_counts[i])
        docs.append(titles[i] + " " + " ".join(sentences[j] for j in picked))
    order = rng.permutation(len(real_queries))
    queries = [real_queries[order[i % len(order)]] for i in range(n_queries)]
    return docs, queries


def synthetic_corpus(n_docs: int, n_queries: int, corpus: str = "auto", seed: int = 0):
    if corpus == "auto":
        corpus = "scifact" if (SCIFACT / "corpus.jsonl").exists() else "zipf"
    if corpus == "scifact":
        return scifact_corpus(n_docs, n_queries, seed)
    if corpus == "zipf":
        return zipf_corpus(n_docs, n_queries, seed)
    raise ValueError(f"unknown corpus {corpus!r}")


def _per_query(fn, queries, repeats: int = 1) -> float:
    """Seconds per query, best of ``repeats`` passes (the machine may be shared)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for q in queries:
            fn(q)
        best = min(best, (time.perf_counter() - start) / len(queries))
    return best


def bench_bm25(
    n_docs: int,
    n_queries: int = 50,
    n_batch: int = 1000,
    *,
    corpus: str = "auto",
    stopwords: bool = True,
    seed: int = 0,
) -> dict:
    """Time rank-bm25 vs ours on an ``n_docs`` corpus; see the module docstring."""
    from rank_bm25 import BM25Okapi

    if corpus == "auto":
        corpus = "scifact" if (SCIFACT / "corpus.jsonl").exists() else "zipf"
    docs, queries = synthetic_corpus(n_docs, max(n_queries, n_batch), corpus, seed)
    timed = queries[:n_queries]
    doc_ids = [f"d{i}" for i in range(n_docs)]

    start = time.perf_counter()
    ours = BM25Index.build(doc_ids, docs, stopwords=stopwords)
    build_ours = time.perf_counter() - start

    tokenized = [tokenize(d, stopwords) for d in docs]
    start = time.perf_counter()
    ref = BM25Okapi(tokenized)
    build_ref = time.perf_counter() - start
    del tokenized

    ref_s = _per_query(lambda q: ref.get_scores(tokenize(q, stopwords)), timed)
    # Ours is cheap to repeat: warm up once, then best of 3 passes.
    _per_query(lambda q: ours.search(q, 10), timed)
    ours_search_s = _per_query(lambda q: ours.search(q, 10), timed, repeats=3)
    ours_scores_s = _per_query(ours.get_scores, timed, repeats=3)

    max_diff = 0.0
    for q in timed:
        diff = np.abs(ours.get_scores(q) - ref.get_scores(tokenize(q, stopwords))).max() if n_docs else 0.0
        max_diff = max(max_diff, float(diff))

    batch = queries[:n_batch]
    start = time.perf_counter()
    ours.search_batch(batch, 100)
    batch_s = time.perf_counter() - start

    return {
        "corpus": corpus,
        "stopwords": stopwords,
        "n_docs": n_docs,
        "n_queries": n_queries,
        "build_ours_s": build_ours,
        "build_rank_bm25_s": build_ref,
        "rank_bm25_ms_per_query": ref_s * 1e3,
        "ours_search_ms_per_query": ours_search_s * 1e3,
        "ours_get_scores_ms_per_query": ours_scores_s * 1e3,
        "speedup_search": ref_s / ours_search_s,
        "speedup_get_scores": ref_s / ours_scores_s,
        "batch_queries": len(batch),
        "batch_s": batch_s,
        "batch_ms_per_query": batch_s / len(batch) * 1e3,
        "max_abs_score_diff": max_diff,
    }


def format_table(rows: list[dict]) -> str:
    header = ("corpus", "docs", "build ours s", "build r-bm25 s", "r-bm25 ms/q", "ours search ms/q",
              "speed-up", "ours scores ms/q", "speed-up", "batch 1k s", "max |diff|")
    lines = [" | ".join(header), " | ".join("---" for _ in header)]
    for r in rows:
        lines.append(" | ".join([
            r["corpus"], f"{r['n_docs']:,}", f"{r['build_ours_s']:.1f}", f"{r['build_rank_bm25_s']:.1f}",
            f"{r['rank_bm25_ms_per_query']:.1f}", f"{r['ours_search_ms_per_query']:.3f}",
            f"{r['speedup_search']:.0f}x", f"{r['ours_get_scores_ms_per_query']:.3f}",
            f"{r['speedup_get_scores']:.0f}x", f"{r['batch_s']:.2f}", f"{r['max_abs_score_diff']:.1e}",
        ]))
    return "\n".join(lines)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[10_000, 100_000])
    parser.add_argument("--corpus", choices=("auto", "scifact", "zipf"), default="auto")
    parser.add_argument("--queries", type=int, default=50, help="timed queries per size")
    args = parser.parse_args()
    results = []
    for n in args.sizes:
        results.append(bench_bm25(n, args.queries, corpus=args.corpus))
        print(f"done {n:,} documents", file=sys.stderr, flush=True)
    print(format_table(results))
