"""Hard-negative mining: ours (core.mining.miner.mine) vs sentence-transformers' mine_hard_negatives.

Two datasets, same settings for both (NV-Retriever's TopK-PercPos:
relative_margin=0.05, top sampling, num_negatives=5, range_max=100):

* ``scifact``: SciFact train (809 queries, 5,183 abstracts) with the
  bundled all-MiniLM-L6-v2. Our side runs the production path: a project,
  ``Retrieval``, the cached document embeddings and the query embedding
  cache; the reference gets the same vectors through its ``cache_folder``.
* ``synthetic``: 100,000 random unit vectors (dim 384) and 1,000 queries,
  each near 1-3 "positive" documents. Our side scores through
  ``DenseRows`` over the arrays; the reference reads the same arrays from
  its cache.

Each (method, dataset) runs in a fresh subprocess, single-threaded (torch,
BLAS), after its setup (model loaded, dataset/project built). The measured
window starts with the embeddings on disk and ends with the negatives:
seconds, and peak RSS growth (``VmHWM`` after ``/proc/self/clear_refs`` = 5
minus RSS at the start). Best time of ``--reps`` runs; memory of that run.
The negatives of both methods are compared query by query. Our side mines a fresh
copy of the prepared project each run (no passes yet), so runs measure the same work.

Usage: ``.venv/bin/python benchmarks/mining_bench.py [--only scifact|synthetic] [--reps 2]``.
``RS_SCIFACT_CACHE`` names an encoded SciFact project to copy (default
$RS_SCIFACT_CACHE, default benchmarks/out/scifact.rsproj); without one the corpus is encoded once.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench_paths import out_dir, scifact_cache

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

SETTINGS = dict(num_negatives=5, range_max=100, relative_margin=0.05)
N_DOCS, N_QUERIES, DIM = 100_000, 1_000, 384


def _single_thread() -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _status() -> dict[str, int]:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) * 1024
    return out


# -- setup (parent) ---------------------------------------------------------------------------

def prepare_scifact(work: Path) -> Path:
    """A SciFact project with cached document and query embeddings, plus texts for the reference."""
    from helpers_retrieval import SCIFACT, load_beir

    from core.project.file import Project
    from core.retrieval.embeddings import query_embeddings
    from core.retrieval.service import Retrieval

    target = work / "scifact.rsproj"
    if not target.exists():
        cached = scifact_cache()
        if cached.is_file():
            shutil.copy2(cached, target)
            if Path(str(cached) + ".data").is_dir():
                shutil.copytree(str(cached) + ".data", str(target) + ".data")
        else:
            load_beir(target, SCIFACT)
        with Project.open(target) as project:
            # The reference mines with the base model alone; a fine-tuned version in the
            # copied project would add its model-score second opinion (and a model load)
            # to our side only. This is the benchmark's own copy.
            with project.transaction():
                project.conn.execute("DELETE FROM model_versions")
    with Project.open(target) as project:
        retrieval = Retrieval(project)
        doc_ids, vectors = retrieval.document_embeddings()
        qrels = project.qrels("train")
        queries = [q for q in project.queries("train") if q.id in qrels]
        qvecs = query_embeddings(project, retrieval.encoder, [q.id for q in queries])
        texts = {d.id: d.retrieval_text for d in project.iter_documents()}
    import numpy as np

    np.save(work / "scifact-docs.npy", vectors)
    np.save(work / "scifact-queries.npy", qvecs)
    (work / "scifact.json").write_text(json.dumps({
        "doc_ids": doc_ids, "corpus": [texts[d] for d in doc_ids],
        "query_ids": [q.id for q in queries], "queries": [q.text for q in queries],
        "positives": [[texts[d] for d in qrels[q.id]] for q in queries],
    }))
    return target


def prepare_synthetic(work: Path) -> Path:
    import numpy as np
    from helpers_mining import make_array_project, synthetic_embeddings

    target = work / "synthetic.rsproj"
    if target.exists():
        return target
    docs, queries, positives = synthetic_embeddings(N_DOCS, N_QUERIES, DIM, max_positives=3, seed=1)
    doc_ids = [f"d{i}" for i in range(N_DOCS)]
    query_ids = [f"q{i}" for i in range(N_QUERIES)]
    corpus = [f"synthetic document {i}" for i in range(N_DOCS)]
    query_texts = [f"synthetic query {i}" for i in range(N_QUERIES)]
    np.save(work / "synthetic-docs.npy", docs)
    np.save(work / "synthetic-queries.npy", queries)
    (work / "synthetic.json").write_text(json.dumps({
        "doc_ids": doc_ids, "corpus": corpus, "query_ids": query_ids, "queries": query_texts,
        "positives": [[corpus[i] for i in pos] for pos in positives],
    }))
    make_array_project(target, doc_ids, corpus, query_ids, query_texts,
                       [[doc_ids[i] for i in pos] for pos in positives])
    return target


# -- one measured run (child) -------------------------------------------------------------------

def fresh_copy(project: Path) -> Path:
    """A copy of the prepared project for one run, so every run mines a project without passes.

    Its ``.data`` folder (cached embeddings) is shared through a link: runs only read it.
    """
    run = project.with_name("run-" + project.name)
    for stale in (run, Path(str(run) + "-wal"), Path(str(run) + "-shm"), Path(str(run) + ".data")):
        if stale.is_symlink() or stale.is_file():
            stale.unlink()
    shutil.copy2(project, run)
    data = Path(str(project) + ".data")
    if data.is_dir():
        Path(str(run) + ".data").symlink_to(data.resolve(), target_is_directory=True)
    return run


def child(method: str, dataset: str, work: Path, out: Path) -> None:
    _single_thread()
    import numpy as np
    import torch

    torch.set_num_threads(1)
    meta = json.loads((work / f"{dataset}.json").read_text())
    text_to_id = dict(zip(meta["corpus"], meta["doc_ids"]))
    if method == "ours":
        from core.mining.config import MiningConfig
        from core.mining.miner import mine
        from core.mining.scores import DenseRows
        from core.mining.store import proposals
        from core.project.file import Project
        from core.retrieval.service import Retrieval

        # Setup, like the reference's imports: the modules mining imports lazily are loaded
        # here, so the measured window does not compile them (this machine sets
        # PYTHONDONTWRITEBYTECODE, so every import compiles from source).
        for module in ("core.mining.dense_pool", "core.retrieval.bm25", "core.retrieval.embeddings",
                       "core.retrieval.dense_index", "core.project.pass_candidates"):
            importlib.import_module(module)
        project = Project.open(fresh_copy(work / f"{dataset}.rsproj"))
        config = MiningConfig(source="dense", sampling="top", **SETTINGS)
        retrieval = Retrieval(project) if dataset == "scifact" else None
        if retrieval is not None:
            retrieval.encoder  # loads the model: setup, like the reference's model
        before = _status()["VmRSS"]
        open("/proc/self/clear_refs", "w").write("5")
        t0 = time.perf_counter()
        if dataset == "scifact":
            result = mine(project, config, retrieval=retrieval)
        else:
            docs = np.load(work / "synthetic-docs.npy")
            queries = np.load(work / "synthetic-queries.npy")
            qrow = {q: i for i, q in enumerate(meta["query_ids"])}
            rows = DenseRows(meta["doc_ids"], docs, lambda qids: queries[[qrow[q] for q in qids]])
            result = mine(project, config, rows=rows)
        seconds = time.perf_counter() - t0
        peak = _status()["VmHWM"]
        negatives: dict[str, list[str]] = {q: [] for q in meta["query_ids"]}
        for p in proposals(project, result.pass_number):
            negatives[p.query_id].append(p.doc_id)
        project.close()
    else:
        from helpers_mining import st_prepare, st_run
        from sentence_transformers import SentenceTransformer

        from core.retrieval.encoder import bundled_model_path

        model = SentenceTransformer(str(bundled_model_path()), device="cpu", local_files_only=True)
        cache = work / f"st-cache-{dataset}"
        shutil.rmtree(cache, ignore_errors=True)
        dataset_obj = st_prepare(model, meta["queries"], meta["positives"], meta["corpus"],
                                 np.load(work / f"{dataset}-queries.npy"),
                                 np.load(work / f"{dataset}-docs.npy"), cache)
        import gc

        gc.collect()
        before = _status()["VmRSS"]
        open("/proc/self/clear_refs", "w").write("5")
        t0 = time.perf_counter()
        ref = st_run(model, dataset_obj, meta["corpus"], cache, sampling_strategy="top", **SETTINGS)
        seconds = time.perf_counter() - t0
        peak = _status()["VmHWM"]
        by_text = dict(zip(meta["queries"], meta["query_ids"]))
        negatives = {q: [] for q in meta["query_ids"]}
        for qtext, negs in ref.items():
            negatives[by_text[qtext]] = [text_to_id[t] for t in negs]
    out.write_text(json.dumps({"seconds": seconds, "peak_growth": max(0, peak - before),
                               "rss_before": before, "negatives": negatives}))


# -- driver (parent) --------------------------------------------------------------------------------

def run_child(method: str, dataset: str, work: Path) -> dict:
    out = work / f"result-{method}-{dataset}.json"
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"
    subprocess.run([sys.executable, __file__, "--child", method, dataset, str(work), str(out)],
                   check=True, env=env)
    return json.loads(out.read_text())


def agreement(a: dict[str, list[str]], b: dict[str, list[str]], duplicates: set[str]) -> tuple[int, int]:
    keys = [q for q in a if q not in duplicates]
    return sum(a[q] == b.get(q) for q in keys), len(keys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("scifact", "synthetic"))
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--workdir", default=str(out_dir("mining")))
    parser.add_argument("--child", nargs=4, metavar=("METHOD", "DATASET", "WORK", "OUT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        method, dataset, work, out = args.child
        child(method, dataset, Path(work), Path(out))
        return
    _single_thread()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    datasets = [args.only] if args.only else ["scifact", "synthetic"]
    rows = []
    for dataset in datasets:
        t = time.perf_counter()
        (prepare_scifact if dataset == "scifact" else prepare_synthetic)(work)
        print(f"[{dataset}] prepared in {time.perf_counter() - t:.1f} s", file=sys.stderr, flush=True)
        best: dict[str, dict] = {}
        for rep in range(args.reps):
            for method in ("ours", "st"):
                r = run_child(method, dataset, work)
                print(f"[{dataset}] {method} rep {rep + 1}: {r['seconds']:.2f} s, "
                      f"peak growth {r['peak_growth'] / 2**20:.0f} MiB", file=sys.stderr, flush=True)
                if method not in best or r["seconds"] < best[method]["seconds"]:
                    best[method] = r
        meta = json.loads((work / f"{dataset}.json").read_text())
        counts: dict[str, int] = {}
        for t in meta["queries"]:
            counts[t] = counts.get(t, 0) + 1
        dups = {q for q, t in zip(meta["query_ids"], meta["queries"]) if counts[t] > 1}
        same, total = agreement(best["ours"]["negatives"], best["st"]["negatives"], dups)
        rows.append((dataset, best, same, total))
    print()
    print("| dataset | method | seconds | peak RSS growth MiB | time vs reference | memory vs reference "
          "| negatives identical |")
    print("|---|---|--:|--:|--:|--:|--:|")
    for dataset, best, same, total in rows:
        ref = best["st"]
        for method, title in (("ours", "core.mining.miner.mine"), ("st", "mine_hard_negatives")):
            r = best[method]
            print(f"| {dataset} | {title} | {r['seconds']:.2f} | {r['peak_growth'] / 2**20:.0f} | "
                  f"{r['seconds'] / ref['seconds']:.2f} | "
                  f"{r['peak_growth'] / max(ref['peak_growth'], 1):.2f} | "
                  + (f"{same}/{total} queries" if method == "ours" else "") + " |")


if __name__ == "__main__":
    main()
