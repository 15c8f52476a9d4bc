"""Encoding throughput and quality: the fast int8 encoder vs torch fp32, in one run.

Throughput: ``--docs`` SciFact abstracts (seeded sample from
../shared/data/scifact), encoded by bare ``SentenceTransformer.encode``
(torch fp32, batch 32, normalised: the reference) and by our
:class:`core.retrieval.onnx_int8.FastEncoder` (int8 ONNX Runtime, same batch
size, through ``encode_documents``), both at ``--threads`` intra-op threads,
repetitions interleaved (fp32, int8, fp32, int8, ...) so a change of load on
the shared machine hits both. Reported: best and median documents per
second of each and the ratio of the bests and of the medians; the cosine of
each int8 vector to its fp32 vector (mean, min); the load average before and
after (``os.getloadavg``).

Quality (``--ndcg-docs`` > 0): nDCG@10 of the SciFact test queries, dense
exact search, fp32 vs int8 (documents and queries each encoded by the
encoder under test, as the app does), on a reduced corpus: every document
judged for a test query plus seeded random others up to ``--ndcg-docs``.
The absolute nDCG is higher than on the full 5,183 documents; the loss
between the two encoders is the figure that matters.

Usage: ``.venv/bin/python benchmarks/encode_bench.py [--docs 600] [--reps 3]
[--threads 2] [--ndcg-docs 1200]``. The int8 model is built (once) in the
per-user cache, as the app does.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SCIFACT = ROOT.parent / "shared" / "data" / "scifact"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def load_scifact() -> tuple[dict[str, str], dict[str, str], dict[str, dict[str, int]]]:
    docs: dict[str, str] = {}
    with open(SCIFACT / "corpus.jsonl", encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            title = d.get("title") or ""
            docs[str(d["_id"])] = f"{title} {d['text']}" if title else d["text"]
    queries: dict[str, str] = {}
    with open(SCIFACT / "queries.jsonl", encoding="utf-8") as f:
        for line in f:
            q = json.loads(line)
            queries[str(q["_id"])] = q["text"]
    qrels: dict[str, dict[str, int]] = {}
    with open(SCIFACT / "qrels" / "test.tsv", encoding="utf-8") as f:
        next(f)
        for line in f:
            qid, did, score = line.rstrip("\n").split("\t")
            if int(score) > 0:
                qrels.setdefault(qid, {})[did] = int(score)
    return docs, queries, qrels


def throughput(st_model, fast, texts: list[str], reps: int) -> dict:
    import numpy as np

    times: dict[str, list[float]] = {"fp32": [], "int8": []}
    vectors = {}
    for _ in range(reps):
        t = time.perf_counter()
        vectors["fp32"] = st_model.encode(texts, batch_size=32, normalize_embeddings=True,
                                          convert_to_numpy=True, show_progress_bar=False)
        times["fp32"].append(time.perf_counter() - t)
        t = time.perf_counter()
        vectors["int8"] = fast.encode_documents(texts)
        times["int8"].append(time.perf_counter() - t)
    cos = (np.asarray(vectors["fp32"]) * vectors["int8"]).sum(axis=1)
    n = len(texts)
    out = {"docs": n, "reps": reps, "cos_mean": float(cos.mean()), "cos_min": float(cos.min())}
    for kind, ts in times.items():
        out[kind] = {"best_dps": n / min(ts), "median_dps": n / statistics.median(ts),
                     "seconds": [round(x, 2) for x in ts]}
    out["ratio_best"] = out["int8"]["best_dps"] / out["fp32"]["best_dps"]
    out["ratio_median"] = out["int8"]["median_dps"] / out["fp32"]["median_dps"]
    return out


def ndcg_comparison(exact, fast, docs, queries, qrels, n_docs: int, seed: int) -> dict:
    import numpy as np

    from core.evaluation.metrics import ndcg

    judged = sorted({d for rel in qrels.values() for d in rel if d in docs})
    others = sorted(set(docs) - set(judged))
    random.Random(seed).shuffle(others)
    ids = judged + others[: max(n_docs - len(judged), 0)]
    texts = [docs[d] for d in ids]
    qids = sorted(q for q in qrels if q in queries)
    out = {"corpus_docs": len(ids), "queries": len(qids)}
    for name, encoder in (("fp32", exact), ("int8", fast)):
        t = time.perf_counter()
        dvecs = encoder.encode_documents(texts)
        seconds = time.perf_counter() - t
        qvecs = encoder.encode_queries([queries[q] for q in qids])
        scores = qvecs @ dvecs.T
        top = np.argsort(-scores, axis=1)[:, :10]
        values = [ndcg([ids[i] for i in row], qrels[q], 10) for q, row in zip(qids, top)]
        out[name] = {"ndcg@10": float(np.mean(values)), "encode_seconds": round(seconds, 1)}
    out["loss"] = out["fp32"]["ndcg@10"] - out["int8"]["ndcg@10"]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=600, help="abstracts for the throughput sample")
    parser.add_argument("--reps", type=int, default=3, help="interleaved repetitions of each encoder")
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads for torch and ONNX Runtime")
    parser.add_argument("--ndcg-docs", type=int, default=1200,
                        help="reduced-corpus size for the nDCG@10 check (0 skips it)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--model", type=Path, default=None,
                        help="a model folder, e.g. a fine-tuned version's <project>.data/models/vN "
                             "(default: the bundled model); its int8 copy is built beside it")
    args = parser.parse_args()

    import torch

    from core.retrieval.encoder import (
        bundled_model_path,
        load_sentence_transformer,
        model_fingerprint,
        shared_encoder,
    )
    from core.retrieval.onnx_int8 import FastEncoder, ensure_fast_model, fast_model_dir

    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    folder = args.model or bundled_model_path()
    fast_dir = fast_model_dir(folder, model_fingerprint(folder), beside_model=args.model is not None)
    t = time.perf_counter()
    manifest = ensure_fast_model(folder, fast_dir)
    build_seconds = time.perf_counter() - t
    fast = FastEncoder(folder, fast_dir, threads=args.threads)
    st_model = load_sentence_transformer(folder, device="cpu")
    docs, queries, qrels = load_scifact()
    sample_ids = random.Random(args.seed).sample(sorted(docs), args.docs)
    texts = [docs[d] for d in sample_ids]
    st_model.encode(texts[:32], batch_size=32)  # warm both up
    fast.encode_documents(texts[:32])
    result = {"model": str(folder), "threads": args.threads, "route": manifest["route"], "build_or_load_seconds": round(build_seconds, 1),
              "throughput": throughput(st_model, fast, texts, args.reps)}
    if args.ndcg_docs:
        exact = shared_encoder(folder, device="cpu")
        result["ndcg"] = ndcg_comparison(exact, fast, docs, queries, qrels, args.ndcg_docs, args.seed)
    result["loadavg_before"] = [round(x, 2) for x in load_before]
    result["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, indent=2))
    tp = result["throughput"]
    print(f"\nencode throughput, {tp['docs']} SciFact abstracts, {args.threads} threads, {tp['reps']} interleaved reps:")
    print(f"  torch fp32 (SentenceTransformer.encode): best {tp['fp32']['best_dps']:.1f} docs/s, "
          f"median {tp['fp32']['median_dps']:.1f}")
    print(f"  ours int8 (ONNX Runtime, per-channel):   best {tp['int8']['best_dps']:.1f} docs/s, "
          f"median {tp['int8']['median_dps']:.1f}")
    print(f"  ratio int8 / fp32: best {tp['ratio_best']:.2f}x, median {tp['ratio_median']:.2f}x; "
          f"cosine to fp32 mean {tp['cos_mean']:.4f}, min {tp['cos_min']:.4f}")
    if "ndcg" in result:
        n = result["ndcg"]
        print(f"  nDCG@10 SciFact test ({n['queries']} queries, {n['corpus_docs']}-document reduced corpus): "
              f"fp32 {n['fp32']['ndcg@10']:.4f}, int8 {n['int8']['ndcg@10']:.4f}, loss {n['loss']:+.4f}")
    print(f"  load average before {result['loadavg_before']}, after {result['loadavg_after']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
