"""The whole loop, headless, on SciFact: import, mine, fine-tune, compare on the held-out test split.

    .venv/bin/python benchmarks/loop_bench.py                       # defaults below
    .venv/bin/python benchmarks/loop_bench.py --epochs 3 --lr 3e-5  # another training setting
    .venv/bin/python benchmarks/loop_bench.py --reuse v1            # re-compare an existing version

Steps (each timed):
1. project: a private copy of the encoded SciFact project (``--source``,
   default $RS_SCIFACT_CACHE or benchmarks/out/scifact.rsproj, whose cache folder already holds the
   bundled model's embeddings), or a fresh BEIR import of
   ../shared/data/scifact when there is none;
2. mine: one pass over the train split with the bundled model (dense), the
   settings of ``--mine-*`` (NV-Retriever's 95 % margin by default);
3. fine-tune: :func:`core.training.trainer.train` on the train split with the
   pass's proposals as hard negatives (nobody reviews them here);
4. compare: :func:`core.evaluation.compare.compare_models` on the test split: BM25, the
   bundled and the fine-tuned model, dense and hybrid (BM25 + dense, RRF).
   The fine-tuned model encodes the corpus once (cached per model).

Results go to ``--out`` (JSON) and a Markdown table is printed for
benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

from bench_paths import out_dir, scifact_cache

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SCIFACT = ROOT.parent / "shared" / "data" / "scifact"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def prepare_project(source: Path, work: Path, fresh: bool) -> tuple[Path, float]:
    """A private project to mutate: a copy of ``source`` (with its caches) or a new import."""
    target = work / "scifact-loop.rsproj"
    t0 = time.perf_counter()
    if target.exists() and not fresh:
        return target, 0.0
    for p in (target, Path(str(target) + ".data"), Path(str(target) + "-wal"), Path(str(target) + "-shm")):
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()
    work.mkdir(parents=True, exist_ok=True)
    if source.is_file():
        import sqlite3

        # The backup API copies a consistent snapshot even if the source's
        # WAL still holds pages (a plain file copy could miss them).
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        dst = sqlite3.connect(str(target))
        src.backup(dst)
        src.close()
        dst.close()
        data = Path(str(source) + ".data")
        if data.is_dir():
            shutil.copytree(data, Path(str(target) + ".data"),
                            ignore=shutil.ignore_patterns("models", "*.lock"))
    else:
        from core.io.importers import import_source

        import_source(target, SCIFACT, format="beir")
    return target, time.perf_counter() - t0


def _p(value, permutations: int | None = None) -> str:
    if value is None:
        return "–"
    if permutations and value == 0:
        return f"< {1 / permutations:g}"  # no random sign flip reached the observed sum
    return f"{value:.3g}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=Path, default=scifact_cache())
    ap.add_argument("--work", type=Path, default=out_dir("loop_bench"))
    ap.add_argument("--fresh", action="store_true", help="start again from a new copy")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (the dev VM is shared)")
    ap.add_argument("--mine-negatives", type=int, default=5)
    ap.add_argument("--mine-range-min", type=int, default=0)
    ap.add_argument("--mine-range-max", type=int, default=50)
    ap.add_argument("--mine-relative-margin", type=float, default=0.05)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--max-seq-length", type=int, default=None)
    ap.add_argument("--negatives", type=int, default=None)
    ap.add_argument("--loss", default=None)
    ap.add_argument("--reuse", default=None, help="skip mining and training; compare this version")
    ap.add_argument("--out", type=Path, default=None, help="JSON results (default: <work>/loop_bench-<version>.json)")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from core.evaluation.compare import compare_models
    from core.mining.config import MiningConfig
    from core.mining.miner import mine
    from core.progress import stderr_progress
    from core.project.file import Project
    from core.training.trainer import TrainingConfig, train, with_overrides

    timings: dict[str, float] = {}
    path, timings["project_s"] = prepare_project(args.source, args.work, args.fresh)
    log(f"project {path} ready in {timings['project_s']:.1f} s")
    result: dict = {"machine": {"cpus": os.cpu_count(), "torch_threads": args.threads,
                                "python": platform.python_version(), "torch": torch.__version__,
                                "load_avg_start": os.getloadavg()}}
    with Project.open(path) as project:
        if args.reuse:
            version_id = args.reuse
        else:
            mcfg = MiningConfig(source="dense", model_id="bundled", split="train",
                                num_negatives=args.mine_negatives, range_min=args.mine_range_min,
                                range_max=args.mine_range_max,
                                relative_margin=args.mine_relative_margin)
            t0 = time.perf_counter()
            mined = mine(project, mcfg, stderr_progress())
            timings["mine_s"] = time.perf_counter() - t0
            log(f"mined pass {mined.pass_number} in {timings['mine_s']:.1f} s: {mined.counts['proposed']} proposed")
            result["mining"] = mined.to_dict()

            tcfg = with_overrides(TrainingConfig(use_proposed=True), epochs=args.epochs,
                                  batch_size=args.batch_size, lr=args.lr,
                                  max_seq_length=args.max_seq_length, num_negatives=args.negatives,
                                  loss=args.loss)
            t0, c0 = time.perf_counter(), time.process_time()
            version = train(project, tcfg, stderr_progress())
            timings["train_s"] = time.perf_counter() - t0
            # CPU seconds are the robust figure on a VM shared with other jobs.
            timings["train_cpu_s"] = time.process_time() - c0
            version_id = version.id
            losses = [h["loss"] for h in version.loss_history]
            log(f"trained {version_id} in {timings['train_s']:.1f} s, {len(losses)} steps, "
                f"loss {losses[0]:.4f} -> {losses[-1]:.4f}")
            result["training"] = {"version": version_id, "config": version.config,
                                  "counts": version.train_counts, "seconds": version.train_seconds,
                                  "loss_history": [[h["step"], h["loss"]] for h in version.loss_history]}
        t0, c0 = time.perf_counter(), time.process_time()
        cmp = compare_models(project, ["bundled", version_id], split="test", progress=stderr_progress())
        timings["compare_s"] = time.perf_counter() - t0
        timings["compare_cpu_s"] = time.process_time() - c0
        log(f"compared in {timings['compare_s']:.1f} s (includes encoding the corpus with {version_id})")
    result["timings"] = timings
    result["compare"] = {k: v for k, v in cmp.items() if k != "per_query"}
    result["machine"]["load_avg_end"] = os.getloadavg()
    out = args.out or args.work / f"loop_bench-{version_id}.json"
    out.write_text(json.dumps(result, indent=2, default=str))
    log(f"wrote {out}")

    print()
    print(f"| retriever | nDCG@10 | Recall@10 | Recall@100 | MRR@10 | MAP@100 | Δ nDCG@10 vs bundled | W/T/L | p (t) | p (perm) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | :---: | ---: | ---: |")
    by_b = {c["b"]: c for c in cmp["comparisons"] if c["metric"] == "ndcg@10"}
    for s in cmp["systems"]:
        m = s["mean"]
        c = by_b.get(s["key"])
        tail = (f"{c['delta']:+.4f} | {c['wins']}/{c['ties']}/{c['losses']} | {_p(c['t_pvalue'])} | "
                f"{_p(c['permutation_pvalue'], 10000)} |") if c else "baseline | | | |"
        print(f"| {s['label']} | {m['ndcg@10']:.4f} | {m['recall@10']:.4f} | {m['recall@100']:.4f} | "
              f"{m['mrr@10']:.4f} | {m['map@100']:.4f} | {tail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
