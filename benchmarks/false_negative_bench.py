"""False negatives: how many a mining pass keeps, and how fast the review queue finds them.

On Cranfield (about 8 relevant documents per query) and SciFact's queries with
several positives, half of each query's relevant documents (rounded down, seeded)
are *hidden*: left unlabeled, so to the miner they look like any other document.
Then one mining pass runs (default settings unless ``--setting`` adds others:
dense, bundled all-MiniLM-L6-v2, 5 negatives, top sampling, no margin) through
the production path (``core.mining.miner.mine`` with a ``Retrieval``: the second
opinions of ``core.mining.signals`` are computed as in the app) and we measure:

* **contamination**: the share of kept negatives (proposals) that are hidden
  relevant documents — false negatives that training would push away;
* **recall in the first 5 / 10 / 20 % of the review queue**: of the hidden
  relevant documents, how many a reviewer meets in that first part of the queue
  (``core.mining.queue``: proposals plus possible positives), in three orders:
  random (mean of 200 seeded shuffles), plain score order (the retriever's score,
  highest first, across queries) and suspicion order (``core.mining.suspicion``).

No teacher: no pretrained cross-encoder is available here, so this measures the
signals a plain pass has (retriever closeness to the positive, BM25 agreement).

Embeddings are cached in a base project per dataset under ``$RS_BENCH_OUT``
(default ``benchmarks/out/``, git-ignored) and reused by later runs; every
setting mines a fresh copy of it. ``RS_SCIFACT_CACHE`` may name an encoded SciFact
project whose embedding cache is copied in (its vectors are keyed by text, so only
matching texts are reused); otherwise SciFact's 5,183 abstracts are encoded once.

Usage: ``.venv/bin/python benchmarks/false_negative_bench.py [--only cranfield|scifact]
[--setting NAME=JSON ...]``, e.g. ``--setting 'rel0.1={"relative_margin": 0.1}'``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from helpers_mining import read_beir  # noqa: E402 (after the path set-up)

# The shared data folder: $RS_DATA, else the nearest ``shared/data`` above the checkout.
DATA = Path(os.environ.get("RS_DATA") or next(
    (p / "shared" / "data" for p in ROOT.parents if (p / "shared" / "data").is_dir()),
    ROOT.parent / "shared" / "data"))
DATASETS = {
    "cranfield": (DATA / "cranfield" / "beir", ("test.tsv",)),
    "scifact": (DATA / "scifact", ("train.tsv", "test.tsv")),
}
FRACTIONS = (0.05, 0.10, 0.20)
RANDOM_SHUFFLES = 200
SEED = 13


def out_dir() -> Path:
    folder = Path(os.environ.get("RS_BENCH_OUT") or ROOT / "benchmarks" / "out") / "false_negatives"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def hide_half(relevant: dict[str, list[str]], doc_ids: set[str]) -> tuple[dict, dict]:
    """Per query with at least 2 relevant documents: ``(visible, hidden)``, half hidden (seeded)."""
    rng = random.Random(SEED)
    visible, hidden = {}, {}
    for qid in sorted(relevant):
        docs = [d for d in relevant[qid] if d in doc_ids]
        if len(docs) < 2:
            continue
        rng.shuffle(docs)
        k = len(docs) // 2
        hidden[qid], visible[qid] = set(docs[:k]), docs[k:]
    return visible, hidden


def base_project(name: str) -> tuple[Path, dict[str, set[str]]]:
    """The dataset's project with the visible labels and encoded documents (built once)."""
    from core.project.file import Project
    from core.retrieval.service import Retrieval

    folder, qrel_files = DATASETS[name]
    docs, queries, relevant = read_beir(folder, qrel_files)
    visible, hidden = hide_half(relevant, {d for d, _, _ in docs})
    path = out_dir() / f"{name}-base.rsproj"
    if not path.exists():
        with Project.create(path) as project:
            with project.transaction():
                project.db["documents"].insert_all(
                    ({"id": d, "title": t, "text": x} for d, t, x in docs), batch_size=2000)
                project.db["queries"].insert_all(
                    ({"id": q, "text": queries[q], "split": "train"} for q in visible), batch_size=2000)
                project.touch_corpus()
            project.set_labels([(q, d, "positive", 1) for q, ds in visible.items() for d in ds],
                               source="imported", pass_number=0)
            seed = os.environ.get("RS_SCIFACT_CACHE") if name == "scifact" else None
            if seed and Path(seed + ".data", "embeddings").is_dir():
                shutil.copytree(Path(seed + ".data", "embeddings"), project.data_dir / "embeddings",
                                dirs_exist_ok=True)
            started = time.perf_counter()
            Retrieval(project).document_embeddings()
            print(f"{name}: {len(docs)} documents ready in {time.perf_counter() - started:.0f} s",
                  file=sys.stderr)
    return path, hidden


def run_setting(name: str, base: Path, hidden: dict[str, set[str]], label: str, settings: dict) -> dict:
    from core.mining.config import MiningConfig
    from core.mining.miner import mine
    from core.mining.queue import review_queue
    from core.project.file import Project

    run = out_dir() / f"{name}-{label}.rsproj"
    for p in (run, Path(str(run) + ".data")):
        shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
    shutil.copy2(base, run)
    shutil.copytree(str(base) + ".data", str(run) + ".data")
    started = time.perf_counter()
    with Project.open(run) as project:
        result = mine(project, MiningConfig(**settings))
        queue = review_queue(project, result.pass_number)
    seconds = time.perf_counter() - started
    is_hidden = [p.doc_id in hidden.get(p.query_id, ()) for p in queue]
    proposals = [h for p, h in zip(queue, is_hidden) if p.kind == "proposal"]
    total_hidden = sum(len(hidden[q]) for q in hidden)
    n = len(queue)

    def recall(order: list[bool], fraction: float) -> float:
        return sum(order[: max(1, round(n * fraction))]) / total_hidden

    by_score = [h for _, h in sorted(zip(queue, is_hidden), key=lambda x: -x[0].score)]
    rng = random.Random(SEED)
    random_recall = {}
    for fraction in FRACTIONS:
        values = []
        for _ in range(RANDOM_SHUFFLES):
            shuffled = is_hidden[:]
            rng.shuffle(shuffled)
            values.append(recall(shuffled, fraction))
        random_recall[fraction] = sum(values) / len(values)
    row = {
        "dataset": name, "setting": label, "queries": result.counts["queries_mined"],
        "hidden": total_hidden, "queue": n, "possible_positives": n - len(proposals),
        "hidden_in_queue": sum(is_hidden), "proposals": len(proposals),
        "contamination": sum(proposals) / len(proposals) if proposals else 0.0,
        "seconds": round(seconds, 1),
    }
    for fraction in FRACTIONS:
        pct = int(fraction * 100)
        row[f"random@{pct}"] = random_recall[fraction]
        row[f"score@{pct}"] = recall(by_score, fraction)
        row[f"suspicion@{pct}"] = recall(is_hidden, fraction)
    row["suspicion/random@10"] = row["suspicion@10"] / row["random@10"] if row["random@10"] else None
    return row


def print_table(rows: list[dict]) -> None:
    head = ("| dataset | setting | queries | hidden rel. | queue | contamination | "
            + " | ".join(f"{o} @{int(f * 100)} %" for f in FRACTIONS for o in ("random", "score", "suspicion"))
            + " | suspicion ÷ random @10 % |")
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in rows:
        cells = [r["dataset"], r["setting"], str(r["queries"]), str(r["hidden"]),
                 f"{r['queue']} ({r['possible_positives']} poss. pos.)", f"{r['contamination']:.1%}"]
        for f in FRACTIONS:
            pct = int(f * 100)
            cells += [f"{r[f'random@{pct}']:.1%}", f"{r[f'score@{pct}']:.1%}", f"{r[f'suspicion@{pct}']:.1%}"]
        ratio = r["suspicion/random@10"]
        cells.append("–" if ratio is None else f"{ratio:.1f}×")
        print("| " + " | ".join(cells) + " |")


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(DATASETS))
    parser.add_argument("--setting", action="append", default=[],
                        help="NAME=JSON of MiningConfig fields, mined besides the defaults")
    args = parser.parse_args()
    settings = {"default": {"split": "train"}}
    for item in args.setting:
        label, _, spec = item.partition("=")
        settings[label] = {"split": "train", **json.loads(spec)}
    rows = []
    for name in ([args.only] if args.only else list(DATASETS)):
        base, hidden = base_project(name)
        for label, config in settings.items():
            rows.append(run_setting(name, base, hidden, label, config))
            print(json.dumps(rows[-1]), file=sys.stderr)
    print_table(rows)
    (out_dir() / "results.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
