"""Commands ``search`` and ``evaluate``: retrieval from the command line."""

from __future__ import annotations

import argparse
import sys

from core.evaluation.evaluate import DEFAULT_METRICS
from core.progress import stderr_progress
from core.retrieval.service import RETRIEVERS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="rank a project's documents for a query text",
                       description="Rank the project's documents for QUERY with BM25, "
                                   "the dense model, or their fusion.")
    p.add_argument("project", help="project file (.rsproj)")
    p.add_argument("query", help="query text")
    _common(p)
    p.add_argument("-k", type=int, default=10, help="number of results (default 10)")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("evaluate", help="evaluate a retriever on a split's labels",
                       description="Run a retriever on every query of SPLIT that has relevant "
                                   "labels and report the mean metrics; the run is recorded "
                                   "in the project (runs and metrics tables).")
    p.add_argument("project", help="project file (.rsproj)")
    _common(p)
    p.add_argument("--split", default="test", help="query split (default test; 'all' for every query)")
    p.add_argument("--metrics", "-k", dest="metrics", default=",".join(DEFAULT_METRICS),
                   help="comma-separated metrics, e.g. ndcg@10,recall@100,mrr@10,map@100,"
                        "precision@10,hole@10 (default: %(default)s)")
    p.add_argument("--no-record", action="store_true", help="do not store the run in the project")
    p.set_defaults(func=cmd_evaluate)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--retriever", "-r", choices=RETRIEVERS, default="bm25",
                   help="bm25, dense or hybrid (default bm25)")
    p.add_argument("--model", default=None,
                   help="dense model: 'bundled' (default), a model version id, or a local folder")
    p.add_argument("--fusion", choices=("rrf", "weighted"), default="rrf",
                   help="hybrid fusion: reciprocal rank (k=60, default) or weighted min-max scores")
    p.add_argument("--weights", default=None,
                   help="weighted fusion: BM25,dense weights, e.g. 0.3,0.7")
    p.add_argument("--json", action="store_true", help="print JSON on stdout")


def _retrieval(project, args):
    from core.retrieval.service import Retrieval

    weights = None
    if args.weights:
        try:
            weights = [float(w) for w in args.weights.split(",")]
        except ValueError:
            from core.errors import StudioError

            raise StudioError(f"--weights {args.weights!r}: expected two numbers like 0.3,0.7") from None
    return Retrieval(project, args.model, fusion=args.fusion, fusion_weights=weights)


def cmd_search(args: argparse.Namespace) -> int:
    from core.cli.main import print_json
    from core.project.file import Project

    with Project.open(args.project) as project:
        retrieval = _retrieval(project, args)
        progress = stderr_progress()
        if args.retriever in ("bm25", "hybrid"):
            retrieval.ensure_bm25(progress)
        if args.retriever in ("dense", "hybrid"):
            retrieval.ensure_dense(progress)
        hits = retrieval.search(args.query, args.retriever, k=args.k)
        docs = project.get_documents([h.doc_id for h in hits])
    rows = [{"rank": h.rank, "doc_id": h.doc_id, "score": h.score,
             "title": docs[h.doc_id].title if h.doc_id in docs else ""} for h in hits]
    if args.json:
        print_json({"query": args.query, "retriever": args.retriever,
                    "model": None if args.retriever == "bm25" else retrieval.model_id,
                    "hits": rows})
    else:
        for r in rows:
            print(f"{r['rank']:>4}  {r['score']:10.4f}  {r['doc_id']}  {r['title'][:80]}")
        if not rows:
            print("no matching documents", file=sys.stderr)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from core.cli.main import print_json, split_arg
    from core.evaluation.evaluate import evaluate_retriever
    from core.project.file import Project

    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    split = split_arg(args.split)
    with Project.open(args.project) as project:
        retrieval = _retrieval(project, args)
        result = evaluate_retriever(project, retrieval, args.retriever, split=split,
                                    metrics=metrics, progress=stderr_progress(),
                                    record=not args.no_record)
    if args.json:
        print_json(result)
    else:
        model = "" if args.retriever == "bm25" else f" ({retrieval.model_id})"
        print(f"{args.retriever}{model} on split {args.split}, {result['queries']} queries")
        for m in metrics:
            print(f"  {m:<14} {result[m]:.4f}")
    return 0
