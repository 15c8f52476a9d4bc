"""Commands ``mine`` (one hard-negative mining pass) and ``review-queue`` (its proposals,
most suspicious first)."""

from __future__ import annotations

import argparse

from core.cli.retrieval import add_encoder_options
from core.mining.config import DEFAULT_RELATIVE_MARGIN, SAMPLINGS, SOURCES
from core.progress import stderr_progress


def _margin_arg(text: str) -> float | None:
    """A margin on the command line: a number, or 'none' for no margin rule."""
    if text.strip().lower() in ("none", "off"):
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'none', got {text!r}") from None


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "mine", help="propose hard negatives for a split's queries (one mining pass)",
        description="Score the corpus for every query of SPLIT that has a positive, apply the "
                    "margin / score / rank-window rules and sample NUM_NEGATIVES proposals per "
                    "query. Every candidate is stored with the rule that kept or dropped it, as "
                    "a new mining pass; review the proposals in the GUI or export them with "
                    "'export --use-proposed'.")
    p.add_argument("project", help="project file (.rsproj)")
    p.add_argument("--source", choices=SOURCES, default="dense",
                   help="candidate scores: dense (model cosine, default), bm25, or hybrid (RRF)")
    p.add_argument("--model", default=None,
                   help="dense model: 'bundled' (default), a model version id, or a local folder")
    p.add_argument("--num-negatives", type=int, default=5, help="proposals per query (default 5)")
    p.add_argument("--range-min", type=int, default=0,
                   help="skip this many of the best surviving candidates (default 0)")
    p.add_argument("--range-max", type=int, default=100,
                   help="consider at most this many surviving candidates (default 100)")
    p.add_argument("--relative-margin", type=_margin_arg, default=DEFAULT_RELATIVE_MARGIN,
                   help="drop candidates scoring above pos - |pos|*X, pos = lowest positive score "
                        f"(default {DEFAULT_RELATIVE_MARGIN}, NV-Retriever's TopK-PercPos; "
                        "'none' turns the rule off)")
    p.add_argument("--absolute-margin", type=float, default=None,
                   help="drop candidates scoring above pos - X")
    p.add_argument("--max-score", type=float, default=None, help="drop candidates scoring above X")
    p.add_argument("--min-score", type=float, default=None, help="drop candidates scoring below X")
    p.add_argument("--sampling", choices=SAMPLINGS, default="top",
                   help="top (default), random (seeded) or simans (p ∝ exp(-a(s-pos-b)^2))")
    p.add_argument("--simans-a", type=float, default=0.5, help="SimANS a (default 0.5)")
    p.add_argument("--simans-b", type=float, default=0.0, help="SimANS b (default 0)")
    p.add_argument("--split", default="train", help="query split (default train; 'all' for every query)")
    p.add_argument("--seed", type=int, default=0, help="random / simans sampling seed (default 0)")
    p.add_argument("--only-unlabeled", action="store_true",
                   help="skip queries that already have negative or false-negative labels")
    p.add_argument("--only-changed", action="store_true",
                   help="only queries whose labels changed since the last pass, or never mined")
    p.add_argument("--teacher", default=None, metavar="FOLDER",
                   help="rescore each query's candidates with a teacher before the rules judge them: "
                        "a local cross-encoder folder (sentence-transformers CrossEncoder), a larger "
                        "bi-encoder folder, or a model version id; margins and max / min score then "
                        "apply to the teacher's scores, as mine_hard_negatives(cross_encoder=...)")
    add_encoder_options(p)
    p.add_argument("--json", action="store_true", help="print the pass number and counts as JSON")
    p.set_defaults(func=cmd_mine)

    q = sub.add_parser(
        "review-queue", help="list a pass's proposals across queries, likeliest false negatives first",
        description="The review queue of a mining pass: its proposals, and the candidates a margin "
                    "or max-score rule dropped as too close to the positive (possible positives), "
                    "ordered by suspicion — a score for 'this may be relevant' from the teacher's "
                    "and the retriever's score relative to the query's lowest positive, BM25 "
                    "agreement and the newest fine-tuned model's score (core.mining.suspicion).")
    q.add_argument("project", help="project file (.rsproj)")
    q.add_argument("--pass", dest="pass_number", type=int, default=None,
                   help="mining pass number (default: the latest)")
    q.add_argument("--limit", type=int, default=None, help="list at most K items")
    q.add_argument("--json", action="store_true",
                   help="print the items as JSON (query id, document id, suspicion, reasons, ...)")
    q.set_defaults(func=cmd_review_queue)


def cmd_mine(args: argparse.Namespace) -> int:
    from core.cli.main import print_json, split_arg
    from core.mining.config import MiningConfig
    from core.mining.miner import mine
    from core.project.file import Project
    from core.retrieval.service import Retrieval

    config = MiningConfig(
        source=args.source, model_id=args.model, num_negatives=args.num_negatives,
        range_min=args.range_min, range_max=args.range_max,
        absolute_margin=args.absolute_margin, relative_margin=args.relative_margin,
        max_score=args.max_score, min_score=args.min_score, sampling=args.sampling,
        simans_a=args.simans_a, simans_b=args.simans_b, seed=args.seed,
        split=split_arg(args.split),
        only_unlabeled=args.only_unlabeled, only_changed=args.only_changed, teacher=args.teacher,
    )
    with Project.open(args.project) as project:
        retrieval = Retrieval(project, args.model, device=args.device, encoder=args.encoder)
        result = mine(project, config, stderr_progress(), retrieval)
    if args.json:
        print_json(result.to_dict())
        return 0
    c = result.counts
    print(f"pass {result.pass_number}: {c['proposed']} negatives proposed for "
          f"{c['queries_mined']} queries ({c['queries_short']} with fewer than {config.num_negatives}; "
          f"{c['queries_without_positives']} skipped without a positive)")
    dropped = ", ".join(f"{k} {v}" for k, v in c["dropped"].items() if v)
    print(f"dropped: {dropped or 'none'}; confirmed negatives kept: {c['confirmed']}")
    signals = c.get("signals", {})
    teacher = signals.get("teacher")
    if teacher:
        print(f"teacher ({teacher['kind']}): {teacher['name']}; the rules judged its scores")
    for note in signals.get("notes", []):
        print(f"note: {note}")
    return 0


def cmd_review_queue(args: argparse.Namespace) -> int:
    from core.cli.main import print_json
    from core.errors import StudioError
    from core.mining.queue import review_queue
    from core.mining.store import latest_pass, mining_passes
    from core.project.file import Project

    if args.limit is not None and args.limit < 1:
        raise StudioError(f"--limit must be at least 1, got {args.limit}")
    with Project.open(args.project) as project:
        known = [p.pass_number for p in mining_passes(project)]
        if not known:
            raise StudioError(f"{args.project}: no mining pass yet; run 'mine' first")
        if args.pass_number is not None and args.pass_number not in known:
            raise StudioError(f"{args.project}: no mining pass {args.pass_number}; "
                              f"passes: {', '.join(map(str, known))}")
        number = args.pass_number if args.pass_number is not None else latest_pass(project)
        items = review_queue(project, number, args.limit, stderr_progress())
        notes = next(p.counts for p in mining_passes(project)
                     if p.pass_number == number).get("signals", {}).get("notes", [])
    if args.json:
        print_json({"pass": number, "items": [
            {"query_id": p.query_id, "doc_id": p.doc_id, "suspicion": round(p.suspicion or 0.0, 6),
             "kind": p.kind, "state": p.state, "rank": p.rank, "score": p.score,
             "teacher_score": p.teacher_score, "reasons": list(p.reasons)} for p in items]})
        return 0
    print(f"pass {number}: {len(items)} items, most suspicious first")
    for note in notes:  # why a second opinion is missing (e.g. a model's vectors not cached)
        print(f"note: {note}")
    for p in items:
        kind = "possible positive" if p.kind == "possible_positive" else "proposal"
        print(f"{p.suspicion or 0.0:6.3f}  {p.query_id}\t{p.doc_id}\t{kind}, {p.state}; "
              f"{'; '.join(p.reasons[:2])}")
    return 0
