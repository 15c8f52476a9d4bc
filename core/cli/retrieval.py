"""Commands ``search``, ``evaluate`` and ``encode``: retrieval from the command line.

:func:`add_encoder_options` gives every command that encodes the same
``--device`` and ``--encoder`` flags (see :mod:`core.retrieval.device`).
"""

from __future__ import annotations

import argparse
import sys
import time

from core.evaluation.evaluate import DEFAULT_METRICS
from core.progress import stderr_progress
from core.retrieval.device import DEVICE_CHOICES, ENCODER_CHOICES
from core.retrieval.service import RETRIEVERS


def add_encoder_options(p: argparse.ArgumentParser) -> None:
    """``--device`` and ``--encoder``, for every command that encodes texts."""
    p.add_argument("--device", default="auto", metavar="DEVICE",
                   help=f"where the fp32 model runs: {', '.join(DEVICE_CHOICES)} or cuda:N "
                        "(default auto: CUDA, else Apple MPS, else the CPU)")
    p.add_argument("--encoder", choices=ENCODER_CHOICES, default="auto",
                   help="fast (int8 ONNX model on the CPU, built once per model, used when its "
                        "vectors agree with fp32 to mean cosine >= 0.99 on a corpus sample), exact "
                        "(fp32), or auto (default: fast on the CPU, exact on a GPU)")


def encoder_note(retrieval, command: str) -> None:
    """Say on stderr which encoder runs, and why when it is not the one asked for."""
    print(f"{command}: {retrieval.encoder_selection.describe()}", file=sys.stderr)


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

    p = sub.add_parser("encode", help="encode the corpus and queries into the embedding cache",
                       description="Encode every document and query of PROJECT with MODEL into the "
                                   "project's embedding cache (only what the cache lacks) and report "
                                   "documents per second. With --no-cache nothing is read from or "
                                   "written to the cache: a throughput measurement.")
    p.add_argument("project", help="project file (.rsproj)")
    p.add_argument("--model", default=None,
                   help="'bundled' (default), a model version id, or a local folder")
    add_encoder_options(p)
    p.add_argument("--no-cache", action="store_true",
                   help="encode everything without reading or writing the cache")
    p.add_argument("--json", action="store_true", help="print JSON on stdout")
    p.set_defaults(func=cmd_encode)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--retriever", "-r", choices=RETRIEVERS, default="bm25",
                   help="bm25, dense or hybrid (default bm25)")
    p.add_argument("--model", default=None,
                   help="dense model: 'bundled' (default), a model version id, or a local folder")
    p.add_argument("--fusion", choices=("rrf", "weighted"), default=None,
                   help="hybrid fusion: reciprocal rank (k=60) or weighted min-max scores (default: the "
                        "fusion chosen for the model on the train split by compare, else rrf)")
    p.add_argument("--weights", default=None,
                   help="weighted fusion: BM25,dense weights, e.g. 0.3,0.7")
    add_encoder_options(p)
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
    fusion = args.fusion or ("weighted" if weights else None)
    return Retrieval(project, args.model, fusion=fusion, fusion_weights=weights,
                     device=args.device, encoder=args.encoder)


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
            encoder_note(retrieval, "search")
        hits = retrieval.search(args.query, args.retriever, k=args.k)
        docs = project.get_documents([h.doc_id for h in hits])
    rows = [{"rank": h.rank, "doc_id": h.doc_id, "score": h.score,
             "title": docs[h.doc_id].title if h.doc_id in docs else ""} for h in hits]
    if args.json:
        print_json({"query": args.query, "retriever": args.retriever,
                    "model": None if args.retriever == "bm25" else retrieval.model_id,
                    "encoder": None if args.retriever == "bm25" else retrieval.encoder_selection.to_dict(),
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
        if args.retriever != "bm25":
            encoder_note(retrieval, "evaluate")
            result["encoder"] = retrieval.encoder_selection.to_dict()
    if args.json:
        print_json(result)
    else:
        model = "" if args.retriever == "bm25" else f" ({retrieval.model_id})"
        print(f"{args.retriever}{model} on split {args.split}, {result['queries']} queries")
        for m in metrics:
            print(f"  {m:<14} {result[m]:.4f}")
    return 0


def cmd_encode(args: argparse.Namespace) -> int:
    from core.cli.main import print_json
    from core.project.file import Project
    from core.retrieval.embeddings import document_embeddings, query_embeddings
    from core.retrieval.service import Retrieval

    progress = stderr_progress()
    with Project.open(args.project) as project:
        retrieval = Retrieval(project, args.model, device=args.device, encoder=args.encoder)
        t0 = time.perf_counter()
        encoder = retrieval.encoder  # builds / gates the fast encoder on first use
        load_seconds = time.perf_counter() - t0
        query_ids = [q.id for q in project.queries()]
        t1 = time.perf_counter()
        if args.no_cache:
            docs = [d.retrieval_text for d in project.iter_documents()]
            encoder.encode_documents(docs, progress.sub(0.0, 0.9))
            encoded_docs = len(docs)
        else:
            encoded_docs = _uncached_texts(project, encoder)
            document_embeddings(project, encoder, progress.sub(0.0, 0.9))
        doc_seconds = time.perf_counter() - t1
        t2 = time.perf_counter()
        if args.no_cache:
            texts = [q.text for q in project.queries()]
            encoder.encode_queries(texts, progress.sub(0.9, 1.0))
        else:
            query_embeddings(project, encoder, query_ids, progress.sub(0.9, 1.0))
        query_seconds = time.perf_counter() - t2
        documents = project.document_count()
    selection = retrieval.encoder_selection
    out = {
        "model": retrieval.model_id, "encoder": selection.to_dict(), "cache": not args.no_cache,
        "documents": documents, "documents_encoded": encoded_docs, "queries": len(query_ids),
        "load_seconds": round(load_seconds, 3), "document_seconds": round(doc_seconds, 3),
        "query_seconds": round(query_seconds, 3),
        "documents_per_second": round(encoded_docs / doc_seconds, 2) if encoded_docs and doc_seconds else None,
    }
    if args.json:
        print_json(out)
    else:
        print(f"{selection.describe()}")
        rate = out["documents_per_second"]
        speed = f", {rate} documents/s" if rate else " (all from the cache)"
        print(f"{documents} documents ({encoded_docs} encoded) in {doc_seconds:.1f} s{speed}; "
              f"{len(query_ids)} queries in {query_seconds:.1f} s")
    return 0


def _uncached_texts(project, encoder) -> int:
    """How many distinct document texts the cache lacks for ``encoder`` (what encoding will do)."""
    from core.retrieval.embeddings import (
        SegmentStore,
        cache_folder,
        cached_document_embeddings,
        text_hash,
    )

    if cached_document_embeddings(project, encoder) is not None:
        return 0
    rows, _ = SegmentStore(cache_folder(project, encoder), encoder.dimension).load()
    return len({text_hash(d.retrieval_text) for d in project.iter_documents()} - rows.keys())
