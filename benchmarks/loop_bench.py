"""The whole loop, headless, on SciFact: import, encode, mine, fine-tune, compare on the held-out test split.

    .venv/bin/python benchmarks/loop_bench.py --fresh               # nothing cached: what a new user waits for
    .venv/bin/python benchmarks/loop_bench.py                       # reuse an encoded copy (training settings)
    .venv/bin/python benchmarks/loop_bench.py --epochs 3 --lr 3e-5  # another training setting
    .venv/bin/python benchmarks/loop_bench.py --reuse v1            # re-compare an existing version

``--fresh`` (issue 13's target, ≤ 9 min on 2 cores) starts from nothing:
a new BEIR import of ../shared/data/scifact into the work folder, and an
empty per-user cache (``RETRIEVER_STUDIO_CACHE`` pointed inside the work
folder), so the fast encoder's int8 model, its quality gate and every
embedding are built during the run. Each step is timed:

1. import: ``core.io.importers.import_source`` (BEIR);
2. encode: the bundled model's corpus and query embeddings
   (``core.training.loop.prepare_embeddings``, ``--encoder``: fast int8 where
   it passes its gate);
3. mine: one pass over the train split with the bundled model (dense), the
   settings of ``--mine-*`` (NV-Retriever's 95 % margin by default);
4. train: :func:`core.training.trainer.train` on the train split with the
   pass's proposals as hard negatives (nobody reviews them here), then
5. encode the new version (the pipelined step the app runs when a fine-tune
   ends: ``retrain_and_remine(prepare=True)``);
6. compare: :func:`core.evaluation.compare.compare_models` on the test split
   (BM25, the bundled and the fine-tuned model, dense and hybrid with each
   version's fusion chosen on the train queries); nothing is encoded again.

Without ``--fresh`` the project is a private copy of ``--source`` (default
$RS_SCIFACT_CACHE or benchmarks/out/scifact.rsproj, with its embeddings)
and the encoder is exact fp32 unless ``--encoder`` says otherwise, as in the
training-settings table of benchmarks/README.md.

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

SCIFACT = Path(os.environ.get("RS_SCIFACT_DATA") or ROOT.parent / "shared" / "data" / "scifact")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _remove(*paths: Path) -> None:
    for p in paths:
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()


def prepare_project(source: Path, work: Path, fresh: bool) -> tuple[Path, float]:
    """A private project to mutate: a new import (``fresh``) or a copy of ``source`` with its caches."""
    target = work / ("scifact-fresh.rsproj" if fresh else "scifact-loop.rsproj")
    t0 = time.perf_counter()
    if target.exists() and not fresh:
        return target, 0.0
    _remove(target, Path(str(target) + ".data"), Path(str(target) + "-wal"), Path(str(target) + "-shm"))
    work.mkdir(parents=True, exist_ok=True)
    if not fresh and source.is_file():
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
                            ignore=shutil.ignore_patterns("*.lock"))
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
    ap.add_argument("--fresh", action="store_true",
                    help="nothing cached: a new import and an empty per-user cache (issue 13's loop)")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads (default: every core with --fresh, else 1 for a shared VM)")
    ap.add_argument("--encoder", choices=("auto", "fast", "exact"), default=None,
                    help="encoder for every encode (default: auto with --fresh, else exact)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--precision", default=None, help="training precision (auto, fp32, bf16)")
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
    threads = args.threads or (os.cpu_count() if args.fresh else 1)
    encoder = args.encoder or ("auto" if args.fresh else "exact")
    if args.fresh:
        # An empty per-user cache: the bundled model's int8 copy and its gate
        # are built inside the measured run, as on a new machine.
        cache = args.work / "fresh-user-cache"
        _remove(cache)
        os.environ["RETRIEVER_STUDIO_CACHE"] = str(cache)

    wall0 = time.perf_counter()
    import torch

    torch.set_num_threads(threads)
    from core.evaluation.compare import compare_models
    from core.mining.config import MiningConfig
    from core.mining.miner import mine
    from core.progress import Progress, StderrPrinter, stderr_progress
    from core.project.file import Project
    from core.retrieval.service import Retrieval
    from core.training.loop import prepare_embeddings, retrain_and_remine
    from core.training.trainer import TrainingConfig, with_overrides

    timings: dict[str, float] = {"imports_s": time.perf_counter() - wall0}
    path, timings["project_s"] = prepare_project(args.source, args.work, args.fresh)
    log(f"project {path} ready in {timings['project_s']:.1f} s")
    result: dict = {"machine": {"cpus": os.cpu_count(), "torch_threads": threads,
                                "python": platform.python_version(), "torch": torch.__version__,
                                "load_avg_start": os.getloadavg()},
                    "fresh": args.fresh, "encoder": encoder, "device": args.device}
    with Project.open(path) as project:
        if args.reuse:
            version_id = args.reuse
        else:
            t0 = time.perf_counter()
            base = prepare_embeddings(project, "bundled", stderr_progress(),
                                      device=args.device, encoder=encoder)
            timings["encode_base_s"] = time.perf_counter() - t0
            result["encode_base"] = base
            log(f"bundled embeddings ready in {timings['encode_base_s']:.1f} s: {base['encoder']}")
            mcfg = MiningConfig(source="dense", model_id="bundled", split="train",
                                num_negatives=args.mine_negatives, range_min=args.mine_range_min,
                                range_max=args.mine_range_max,
                                relative_margin=args.mine_relative_margin)
            t0 = time.perf_counter()
            retrieval = Retrieval(project, "bundled", device=args.device, encoder=encoder)
            mined = mine(project, mcfg, stderr_progress(), retrieval)
            timings["mine_s"] = time.perf_counter() - t0
            log(f"mined pass {mined.pass_number} in {timings['mine_s']:.1f} s: {mined.counts['proposed']} proposed")
            result["mining"] = mined.to_dict()

            tcfg = with_overrides(TrainingConfig(use_proposed=True), epochs=args.epochs,
                                  batch_size=args.batch_size, lr=args.lr,
                                  max_seq_length=args.max_seq_length, num_negatives=args.negatives,
                                  loss=args.loss, precision=args.precision)
            t0, c0 = time.perf_counter(), time.process_time()
            printer = StderrPrinter()
            trained_cpu: list[float] = []

            def report(fraction: float, message: str) -> None:
                if message.startswith("Registering the model version") and not trained_cpu:
                    trained_cpu.append(time.process_time() - c0)
                printer(fraction, message)

            outcome = retrain_and_remine(project, tcfg, Progress(report), remine=False, prepare=True,
                                         device=args.device, encoder=encoder)
            if trained_cpu:
                timings["train_cpu_s"] = trained_cpu[0]
            version = outcome.version
            timings["encode_new_s"] = outcome.encode_seconds
            timings["train_s"] = time.perf_counter() - t0 - outcome.encode_seconds
            # CPU seconds are the robust figure on a VM shared with other jobs
            # (training and the new version's encode together).
            timings["train_encode_cpu_s"] = time.process_time() - c0
            result["encode_new"] = outcome.embeddings
            version_id = version.id
            losses = [h["loss"] for h in version.loss_history]
            log(f"trained {version_id} in {timings['train_s']:.1f} s, {len(losses)} steps, "
                f"loss {losses[0]:.4f} -> {losses[-1]:.4f}")
            result["training"] = {"version": version_id, "config": version.config,
                                  "counts": version.train_counts, "seconds": version.train_seconds,
                                  "loss_history": [[h["step"], h["loss"]] for h in version.loss_history]}
        t0, c0 = time.perf_counter(), time.process_time()
        cmp = compare_models(project, ["bundled", version_id], split="test", progress=stderr_progress(),
                             device=args.device, encoder=encoder)
        timings["compare_s"] = time.perf_counter() - t0
        timings["compare_cpu_s"] = time.process_time() - c0
        log(f"compared in {timings['compare_s']:.1f} s")
    timings["total_s"] = time.perf_counter() - wall0
    result["timings"] = timings
    result["compare"] = {k: v for k, v in cmp.items() if k != "per_query"}
    result["machine"]["load_avg_end"] = os.getloadavg()
    out = args.out or args.work / f"loop_bench-{version_id}.json"
    out.write_text(json.dumps(result, indent=2, default=str))
    log(f"wrote {out}")

    print()
    steps = [("imports", "imports_s"), ("import", "project_s"), ("encode bundled", "encode_base_s"),
             ("mine", "mine_s"), ("train", "train_s"), (f"encode {version_id}", "encode_new_s"),
             ("compare", "compare_s"), ("**total**", "total_s")]
    print("| step | seconds |")
    print("| --- | ---: |")
    for label, key in steps:
        if key in timings:
            print(f"| {label} | {timings[key]:.1f} |")

    print()
    print("| retriever | nDCG@10 | Recall@10 | Recall@100 | MRR@10 | MAP@100 | Δ nDCG@10 vs bundled | W/T/L | p (t) | p (perm) |")
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
