"""Dense candidate pools: the int8 product, certified (core.mining.dense_pool), vs the full fp32 product.

The reference is today's miner path: ``_matmul_t`` over blocks of
``batch_size`` queries, then ``pool_arrays`` per row with the query's
positives as labeled documents. Ours: ``DenseCorpus`` (prepared once, timed
separately) and ``iter_dense_pools`` with the positives as extra rows.
Depth 103 (the mining benchmark's range_max 100 + up to 3 positives).

Datasets: ``synthetic`` (100,000 random unit documents x 1,000 queries near
1-3 of them, dim 384, as benchmarks/mining_bench.py) and ``scifact`` (the
MiniLM vectors mining_bench.py leaves in its work folder:
scifact-docs.npy, scifact-queries.npy, scifact.json), when present.

Single-threaded (torch and BLAS). Best of ``--reps`` runs; peak RSS growth
(``VmHWM`` after ``/proc/self/clear_refs`` = 5, minus RSS before) of that run.
Also reports exact dot products rescored per query and pool mismatches
(documents that differ between the two pools; only ulp-level near-ties may).

``--cold``: instead, ``DenseCorpus`` then ``iter_dense_pools`` over the
synthetic data once per fresh process (first touch of every buffer
included, as a mining run pays it), best of ``--reps`` processes.

Usage: ``.venv/bin/python benchmarks/dense_pool_bench.py [--reps 3] [--workdir DIR] [--cold]``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from bench_paths import out_dir  # noqa: E402
from mining_bench import _status  # noqa: E402  (VmRSS / VmHWM, as the mining benchmark reads them)

DEPTH = 103


def _measure(run):
    import gc

    gc.collect()
    before = _status()["VmRSS"]
    open("/proc/self/clear_refs", "w").write("5")
    t0 = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - t0
    return seconds, _status()["VmHWM"] - before, result


def reference(docs: np.ndarray, queries: np.ndarray, positives: list[list[int]]):
    from core.mining.scores import _matmul_t, batch_size, pool_arrays

    step = batch_size(len(docs))
    pools = []
    for start in range(0, len(queries), step):
        block = _matmul_t(queries[start:start + step], docs)
        for i, row in enumerate(block):
            wanted = positives[start + i]
            pools.append(pool_arrays("", row, {r: r for r in wanted}, DEPTH, wanted).docs[:DEPTH])
        del block
    return pools


def ours(docs: np.ndarray, queries: np.ndarray, positives: list[list[int]]):
    from core.mining.dense_pool import DenseCorpus, iter_dense_pools

    corpus = DenseCorpus(docs)
    pools, rescored = [], 0
    extra = [np.asarray(p, np.int64) for p in positives]
    for _, block in iter_dense_pools(corpus, queries, DEPTH, extra):
        pools.extend(block.docs)
        rescored += block.rescored
    return pools, rescored


def prepare_only(docs: np.ndarray):
    from core.mining.dense_pool import DenseCorpus

    return DenseCorpus(docs)


def cold_once() -> dict:
    """One cold run in this (fresh) process: seconds of the preparation and of the pools."""
    from helpers_mining import synthetic_embeddings

    from core.mining.dense_pool import DenseCorpus, iter_dense_pools

    docs, queries, positives = synthetic_embeddings(100_000, 1_000, 384, max_positives=3, seed=1)
    extra = [np.asarray(p, np.int64) for p in positives]
    t0 = time.perf_counter()
    corpus = DenseCorpus(docs)
    t1 = time.perf_counter()
    for _ in iter_dense_pools(corpus, queries, DEPTH, extra):
        pass
    t2 = time.perf_counter()
    return {"prepare": round(t1 - t0, 3), "pools": round(t2 - t1, 3), "total": round(t2 - t0, 3)}


def cold(reps: int) -> None:
    import subprocess

    runs = []
    for _ in range(reps):
        out = subprocess.run([sys.executable, __file__, "--cold-child"], capture_output=True, text=True,
                             check=True).stdout
        runs.append(json.loads(out.splitlines()[-1]))
    print("synthetic cold", json.dumps({"best": min(runs, key=lambda r: r["total"]), "runs": runs}), flush=True)


def datasets(workdir: Path):
    from helpers_mining import synthetic_embeddings

    docs, queries, positives = synthetic_embeddings(100_000, 1_000, 384, max_positives=3, seed=1)
    yield "synthetic", docs, queries, positives
    if (workdir / "scifact.json").is_file():
        meta = json.loads((workdir / "scifact.json").read_text())
        row = {}
        for i, text in enumerate(meta["corpus"]):
            row.setdefault(text, i)
        yield ("scifact", np.load(workdir / "scifact-docs.npy"), np.load(workdir / "scifact-queries.npy"),
               [[row[t] for t in p] for p in meta["positives"]])
    else:
        print(f"no SciFact vectors in {workdir} (run benchmarks/mining_bench.py first)", file=sys.stderr)


def main() -> None:
    import torch

    torch.set_num_threads(1)
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--workdir", default=str(out_dir("mining")))
    parser.add_argument("--cold", action="store_true", help="fresh processes, our path only")
    parser.add_argument("--cold-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cold_child:
        print(json.dumps(cold_once()), flush=True)
        return
    if args.cold:
        cold(args.reps)
        return
    report = {}
    for name, docs, queries, positives in datasets(Path(args.workdir)):
        docs = np.ascontiguousarray(docs, np.float32)
        queries = np.ascontiguousarray(queries, np.float32)
        row = {}
        for label, run in (("reference", lambda: reference(docs, queries, positives)),
                           ("ours", lambda: ours(docs, queries, positives)),
                           ("prepare", lambda: prepare_only(docs))):
            runs = [_measure(run) for _ in range(args.reps)]
            seconds, peak, result = min(runs, key=lambda r: r[0])
            row[label] = {"seconds": round(seconds, 3), "peak_rss_mib": round(peak / 2**20, 1)}
            if label == "reference":
                ref_pools = result
            elif label == "ours":
                pools, rescored = result
                row["rescored_per_query"] = round(rescored / len(queries), 1)
                row["pool_mismatches"] = int(sum(len(set(a.tolist()) ^ set(b.tolist())) // 2
                                                 for a, b in zip(pools, ref_pools)))
        report[name] = row
        print(name, json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
