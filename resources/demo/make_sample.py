"""Rebuild the bundled demo sample from SciFact (run from the repository root).

    .venv/bin/python resources/demo/make_sample.py ../shared/data/scifact

Takes 60 train and 40 test queries (seeded), every document judged for them,
each query's top BM25 documents (so the candidate panes hold real hard
negatives), and random fill up to 400 documents. Writes a BEIR folder here.
"""

from __future__ import annotations

import csv
import json
import random
import re
import sys
from pathlib import Path

from rank_bm25 import BM25Okapi

N_TRAIN, N_TEST, N_DOCS, BM25_PER_QUERY = 60, 40, 400, 3


def tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    with path.open() as f:
        for row in csv.reader(f, delimiter="\t"):
            if row[0] == "query-id":
                continue
            out.setdefault(row[0], {})[row[1]] = int(row[2])
    return out


def main(source: Path, target: Path) -> None:
    rng = random.Random(13)
    corpus = [json.loads(line) for line in (source / "corpus.jsonl").open()]
    queries = {q["_id"]: q for q in map(json.loads, (source / "queries.jsonl").open())}
    qrels = {split: read_qrels(source / "qrels" / f"{split}.tsv") for split in ("train", "test")}
    chosen = {
        "train": sorted(rng.sample(sorted(qrels["train"]), N_TRAIN), key=int),
        "test": sorted(rng.sample(sorted(qrels["test"]), N_TEST), key=int),
    }
    bm25 = BM25Okapi([tokens(d["title"] + " " + d["text"]) for d in corpus])
    keep: dict[str, None] = {}
    for split, qids in chosen.items():
        for qid in qids:
            keep.update(dict.fromkeys(qrels[split][qid]))
            scores = bm25.get_scores(tokens(queries[qid]["text"]))
            top = sorted(range(len(corpus)), key=lambda i: -scores[i])[:BM25_PER_QUERY]
            keep.update(dict.fromkeys(corpus[i]["_id"] for i in top))
    rest = [d["_id"] for d in corpus if d["_id"] not in keep]
    keep.update(dict.fromkeys(rng.sample(rest, max(0, N_DOCS - len(keep)))))
    (target / "qrels").mkdir(parents=True, exist_ok=True)
    with (target / "corpus.jsonl").open("w") as f:
        for d in corpus:
            if d["_id"] in keep:
                f.write(json.dumps({"_id": d["_id"], "title": d["title"], "text": d["text"]}) + "\n")
    with (target / "queries.jsonl").open("w") as f:
        for split in ("train", "test"):
            for qid in chosen[split]:
                f.write(json.dumps({"_id": qid, "text": queries[qid]["text"]}) + "\n")
    for split, qids in chosen.items():
        with (target / "qrels" / f"{split}.tsv").open("w") as f:
            f.write("query-id\tcorpus-id\tscore\n")
            for qid in qids:
                for did, rel in qrels[split][qid].items():
                    f.write(f"{qid}\t{did}\t{rel}\n")
    print(f"{len(keep)} documents, {N_TRAIN} train + {N_TEST} test queries -> {target}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(__file__).resolve().parent / "scifact-sample")
