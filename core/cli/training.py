"""Commands ``train`` and ``compare``: fine-tune a model version, compare retrievers."""

from __future__ import annotations

import argparse
import time

from core.cli.retrieval import add_encoder_options
from core.progress import stderr_progress
from core.training.trainer import LOSSES, PRECISIONS, TrainingConfig

_DEFAULTS = TrainingConfig()


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="fine-tune the dense model on the project's labels",
        description="Fine-tune a sentence-transformers model on the labels of the training split "
                    "(positives, confirmed hard negatives; proposed ones with --use-proposed) and "
                    "register it as a new model version. The held-out split is never trained on.")
    p.add_argument("project", help="project file (.rsproj)")
    p.add_argument("--base", default=_DEFAULTS.base,
                   help="base model: 'bundled' (default), a model version id or a model folder")
    p.add_argument("--epochs", type=int, default=_DEFAULTS.epochs, help="epochs (default %(default)s)")
    p.add_argument("--batch-size", type=int, default=_DEFAULTS.batch_size,
                   help="examples per step (default %(default)s)")
    p.add_argument("--lr", type=float, default=_DEFAULTS.lr, help="learning rate (default %(default)s)")
    p.add_argument("--warmup-ratio", type=float, default=_DEFAULTS.warmup_ratio,
                   help="share of steps with linear warm-up (default %(default)s)")
    p.add_argument("--max-seq-length", type=int, default=_DEFAULTS.max_seq_length,
                   help="truncate training texts to this many tokens (default %(default)s)")
    p.add_argument("--split", default=_DEFAULTS.split,
                   help="training split (default %(default)s; 'all' = every query outside the held-out split)")
    p.add_argument("--heldout-split", default=_DEFAULTS.heldout_split,
                   help="evaluation split never used for training (default %(default)s)")
    p.add_argument("--use-proposed", action="store_true",
                   help="also train on negatives proposed by the latest mining pass, not yet reviewed")
    p.add_argument("--negatives", type=int, default=_DEFAULTS.num_negatives,
                   help="hard negatives per example (default %(default)s)")
    p.add_argument("--loss", choices=LOSSES, default=_DEFAULTS.loss,
                   help="mnrl (default), cached_mnrl (GradCache, large batches in constant memory) "
                        "or gist (GISTEmbedLoss: a guide model masks negatives it scores above the "
                        "positive, tolerating false negatives; at most 1 hard negative per example)")
    p.add_argument("--guide", default=_DEFAULTS.guide,
                   help="guide model of --loss gist: 'base' (default, a frozen copy of the base "
                        "model), a model version id or a model folder")
    p.add_argument("--seed", type=int, default=_DEFAULTS.seed, help="random seed (default %(default)s)")
    p.add_argument("--precision", choices=PRECISIONS, default=_DEFAULTS.precision,
                   help="training arithmetic: fp32 (default); 'auto' uses bf16 mixed precision where "
                        "the CPU or GPU computes bf16 natively (about 2x faster, slightly lower "
                        "nDCG on SciFact), else fp32")
    p.add_argument("--name", default=None, help="display name of the new model version")
    p.add_argument("--remine", action="store_true",
                   help="afterwards re-encode the corpus with the new model and re-mine negatives "
                        "as a new pass with the current mining settings")
    p.add_argument("--no-encode", action="store_true",
                   help="do not encode the corpus and queries with the new version afterwards "
                        "(by default they go into the embedding cache, ready for compare and mine)")
    add_encoder_options(p)
    p.add_argument("--json", action="store_true", help="print JSON on stdout")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "compare", help="compare BM25, model versions and hybrids on a split",
        description="Evaluate BM25 and, for each model, the dense and hybrid (BM25 + dense) "
                    "retrievers on SPLIT; report means, deltas against the first model, "
                    "win/tie/loss and paired-test p-values. Runs are stored in the project.")
    p.add_argument("project", help="project file (.rsproj)")
    p.add_argument("--models", required=True,
                   help="comma-separated model ids or names, e.g. bundled,v1 (the first is the baseline)")
    p.add_argument("--split", default="test", help="query split (default test; 'all' for every query)")
    p.add_argument("--retrievers", default="bm25,dense,hybrid",
                   help="which of bm25,dense,hybrid to evaluate (default all three)")
    p.add_argument("--per-query", action="store_true",
                   help="include per-query metric values in the JSON")
    add_encoder_options(p)
    p.add_argument("--json", action="store_true", help="print JSON on stdout")
    p.set_defaults(func=cmd_compare)


def loss_summary(history: list[dict]) -> dict:
    """First, last, minimum and mean-of-last-10% loss of a training run."""
    losses = [h["loss"] for h in history]
    if not losses:
        return {"steps": 0}
    tail = losses[-max(1, len(losses) // 10):]
    return {"steps": len(losses), "first": losses[0], "last": losses[-1], "min": min(losses),
            "mean_last_10pct": sum(tail) / len(tail)}


def cmd_train(args: argparse.Namespace) -> int:
    from core.cli.main import print_json, split_arg
    from core.project.file import Project

    config = TrainingConfig(
        base=args.base, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        warmup_ratio=args.warmup_ratio, max_seq_length=args.max_seq_length,
        split=split_arg(args.split), heldout_split=args.heldout_split,
        use_proposed=args.use_proposed, num_negatives=args.negatives, loss=args.loss,
        guide=args.guide, precision=args.precision,
        seed=args.seed, name=args.name)
    progress = stderr_progress()
    t0 = time.monotonic()
    with Project.open(args.project) as project:
        from core.training.loop import retrain_and_remine

        outcome = retrain_and_remine(project, config, progress=progress, remine=args.remine,
                                     prepare=not args.no_encode, device=args.device,
                                     encoder=args.encoder)
        version, remine = outcome.version, outcome.remine_summary()
    out = {
        "model_version": version.id, "name": version.name, "path": str(version.path),
        "base": version.base, "training_seconds": round(version.train_seconds, 2),
        "total_seconds": round(time.monotonic() - t0, 2),
        "loss": loss_summary(version.loss_history), "train_counts": version.train_counts,
        "config": version.config,
    }
    if remine is not None:
        out["remine"] = remine
    if outcome.embeddings is not None:
        out["embeddings"] = outcome.embeddings
    if args.json:
        print_json(out)
    else:
        loss = out["loss"]
        print(f"model version {version.id} ({version.name}) in {out['training_seconds']} s, "
              f"{loss.get('steps', 0)} steps, loss {loss.get('first', float('nan')):.4f} → "
              f"{loss.get('last', float('nan')):.4f}")
        print(f"folder: {version.path}")
        if remine is not None:
            print(f"re-mined: {remine}")
        if outcome.embeddings and outcome.embeddings.get("ready"):
            e = outcome.embeddings
            print(f"embeddings: {e['documents']} documents and {e['queries']} queries cached in "
                  f"{e['seconds']} s ({e['encoder']['kind']} encoder)")
            if e.get("fusion"):
                print(f"hybrid fusion of {version.id}: {e['fusion']}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from core.cli.main import print_json, split_arg
    from core.evaluation.compare import compare_models
    from core.project.file import Project

    models = [m for m in args.models.split(",") if m.strip()]
    retrievers = [r.strip() for r in args.retrievers.split(",") if r.strip()]
    with Project.open(args.project) as project:
        result = compare_models(project, models, split=split_arg(args.split), retrievers=retrievers,
                                progress=stderr_progress(), device=args.device, encoder=args.encoder)
    if args.json:
        if not args.per_query:
            result = {k: v for k, v in result.items() if k != "per_query"}
        print_json(result)
        return 0
    metrics = result["metrics"]
    primary = result["primary_metric"]
    by_b = {c["b"]: c for c in result["comparisons"] if c["metric"] == primary}
    print(f"split {result['split']!r}, {result['queries']} queries; baseline {result['baseline']}")
    header = f"{'retriever':52}" + "".join(f"{m:>11}" for m in metrics) + f"{'Δ ' + primary:>13}{'W/T/L':>12}{'p (t)':>9}"
    print(header)
    for s in result["systems"]:
        c = by_b.get(s["key"])
        tail = (f"{c['delta']:>+13.4f}{c['wins']:>5}/{c['ties']}/{c['losses']:<4}"
                f"{(c['t_pvalue'] if c['t_pvalue'] is not None else float('nan')):>9.4f}") if c else f"{'(baseline)':>13}"
        print(f"{s['label'][:52]:52}" + "".join(f"{s['mean'][m]:>11.4f}" for m in metrics) + tail)
    for model, f in result.get("fusion", {}).items():
        print(f"hybrid fusion of {model}: {f['label']}" + (f" — {f['note']}" if f["note"] else ""))
    worse = [r for r in result["query_deltas"] if r["delta"] < 0]
    a, b = result["main_pair"]
    print(f"{len(worse)} queries got worse from {a} to {b} ({primary})")
    return 0
