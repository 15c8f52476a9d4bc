"""Import benchmark: time and peak memory for a generated BEIR corpus.

Generates a BEIR folder (default 100,000 documents of ~70 words, 1,000
queries, 2,000 judgements) in a temporary folder and imports it twice per
size, each run in a fresh subprocess so peak RSS (``ru_maxrss``) is its own:

- ``import_source``: Retriever Studio's streaming importer (batches of 1,000
  rows in one transaction, with validation);
- ``naive``: the obvious script, ``json.loads`` every line into a list, then
  ``sqlite_utils`` ``insert_all`` (batches of 1,000, same WAL/synchronous
  settings as a project file, no validation, no label history).

Usage: ``.venv/bin/python benchmarks/import_bench.py [--docs 100000] [--sizes 25000,100000]``
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORDS = ("retrieval dense sparse vector index query document corpus label negative positive "
         "embedding model training encoder ranking relevance judgement metric recall precision "
         "vitamin protein cell gene tumor patient clinical trial effect risk cohort").split()


def generate(folder: Path, n_docs: int, n_queries: int = 1000, seed: int = 0) -> Path:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "corpus.jsonl", "w", encoding="utf-8") as f:
        for i in range(n_docs):
            title = " ".join(rng.choices(WORDS, k=6))
            text = " ".join(rng.choices(WORDS, k=70))
            f.write(json.dumps({"_id": f"doc{i}", "title": title, "text": text}) + "\n")
    with open(folder / "queries.jsonl", "w", encoding="utf-8") as f:
        for i in range(n_queries):
            f.write(json.dumps({"_id": f"q{i}", "text": " ".join(rng.choices(WORDS, k=8))}) + "\n")
    (folder / "qrels").mkdir(exist_ok=True)
    with open(folder / "qrels" / "train.tsv", "w", encoding="utf-8") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for i in range(n_queries):
            for d in rng.sample(range(n_docs), 2):
                f.write(f"q{i}\tdoc{d}\t1\n")
    return folder


def _child(method: str, source: Path, db: Path) -> None:
    sys.path.insert(0, str(ROOT))
    import sqlite_utils  # noqa: F401  (loaded before the baseline, as the importer loads it)

    from core.io.importers import import_source

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    if method == "import_source":
        counts = import_source(db, source)
        n = counts["documents"]
    else:
        import csv

        import sqlite_utils as su

        database = su.Database(db)
        # Same durability settings as a project file, so the comparison is about reading and inserting.
        database.conn.execute("PRAGMA journal_mode=WAL")
        database.conn.execute("PRAGMA synchronous=NORMAL")
        docs = [json.loads(line) for line in open(source / "corpus.jsonl", encoding="utf-8")]
        database["documents"].insert_all(
            ({"id": d["_id"], "title": d.get("title", ""), "text": d["text"]} for d in docs), pk="id",
            batch_size=1000)
        queries = [json.loads(line) for line in open(source / "queries.jsonl", encoding="utf-8")]
        database["queries"].insert_all(({"id": q["_id"], "text": q["text"]} for q in queries), pk="id")
        with open(source / "qrels" / "train.tsv", encoding="utf-8") as f:
            rows = list(csv.reader(f, delimiter="\t"))[1:]
        database["labels"].insert_all(({"query_id": q, "doc_id": d, "gain": int(s)} for q, d, s in rows),
                                      pk=("query_id", "doc_id"))
        n = len(docs)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "peak_kib": peak, "baseline_kib": baseline, "documents": n}))


def measure(method: str, source: Path, work: Path) -> dict:
    db = work / f"{method}-{source.name}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, __file__, "--child", method, str(source), str(db)],
                         capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="25000,100000", help="comma-separated document counts")
    parser.add_argument("--child", nargs=3, metavar=("METHOD", "SOURCE", "DB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        method, source, db = args.child
        _child(method, Path(source), Path(db))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="import-bench-") as tmp:
        work = Path(tmp)
        rows = []
        for n in sizes:
            source = generate(work / f"beir{n}", n)
            size_mb = (source / "corpus.jsonl").stat().st_size / 2**20
            results = {m: measure(m, source, work) for m in ("import_source", "naive")}
            for m, r in results.items():
                rows.append((n, size_mb, m, r))
        print(f"{'documents':>9}  {'corpus MiB':>10}  {'method':<14} {'seconds':>8} {'peak RSS MiB':>12} "
              f"{'RSS growth MiB':>14} {'time vs naive':>13} {'growth vs naive':>15}")
        by_size = {}
        for n, size_mb, m, r in rows:
            by_size.setdefault(n, {})[m] = r
        for n, size_mb, m, r in rows:
            naive = by_size[n]["naive"]
            growth = (r["peak_kib"] - r["baseline_kib"]) / 1024
            naive_growth = (naive["peak_kib"] - naive["baseline_kib"]) / 1024
            print(f"{n:>9,}  {size_mb:>10.1f}  {m:<14} {r['seconds']:>8.2f} {r['peak_kib'] / 1024:>12.1f} "
                  f"{growth:>14.1f} {r['seconds'] / naive['seconds']:>13.2f} "
                  f"{growth / naive_growth if naive_growth > 0 else float('nan'):>15.2f}")


if __name__ == "__main__":
    main()
