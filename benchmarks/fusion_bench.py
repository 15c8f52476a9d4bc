"""Hybrid fusion chosen on the train queries, measured on the test queries (issue 14, part 5).

    .venv/bin/python benchmarks/fusion_bench.py PROJECT [--models bundled,v1] [--encoder exact]

For each model: the fusion is chosen on the ``train`` split's queries
(:func:`core.evaluation.fusion_choice.choose_fusion`, the same code compare
uses), then BM25, dense, RRF and the chosen fusion are scored on the ``test``
split (nDCG@10). For information only, the same grid is also scored on test
— the best fusion in hindsight, which nothing in the app ever uses. Writes
``benchmarks/out/fusion_<model>.json`` and prints a table. The choice is not
stored with the model (``compare`` does that); the project only gains caches.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _rankings(retrieval, project, split: str):
    qrels = project.qrels(split)
    texts = {q.id: q.text for q in project.queries(split) if q.id in qrels}
    depth = retrieval.fusion_depth

    def pairs(hits):
        return {q: [(h.doc_id, h.score) for h in hs] for q, hs in hits.items()}

    return ({q: qrels[q] for q in texts}, pairs(retrieval.search_many(texts, "bm25", k=depth)),
            pairs(retrieval.search_many(texts, "dense", k=depth)))


def main() -> int:
    from core.evaluation.fusion_choice import choose_fusion
    from core.project.file import Project
    from core.retrieval.fusion_setting import DEFAULT_FUSION
    from core.retrieval.service import Retrieval

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("project")
    parser.add_argument("--models", default="bundled")
    parser.add_argument("--encoder", default="exact")
    args = parser.parse_args()
    out_dir = ROOT / "benchmarks" / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    with Project.open(args.project) as project:
        for model in args.models.split(","):
            t0 = time.monotonic()
            retrieval = Retrieval(project, model, fusion="rrf", encoder=args.encoder)
            chosen, train_table = choose_fusion(*_rankings(retrieval, project, "train"), split="train")
            test_qrels, test_lex, test_dense = _rankings(retrieval, project, "test")
            rrf, _ = choose_fusion(test_qrels, test_lex, test_dense, grid=[DEFAULT_FUSION], split="test")
            on_test, _ = choose_fusion(test_qrels, test_lex, test_dense,
                                       grid=[chosen], split="test")
            hindsight, test_table = choose_fusion(test_qrels, test_lex, test_dense, split="test")
            row = {"model": model, "encoder": retrieval.encoder_selection.to_dict()["kind"],
                   "chosen_on_train": chosen.to_dict(),
                   "test": {"queries": on_test.queries, "bm25": on_test.parts_ndcg_at_10["bm25"],
                            "dense": on_test.parts_ndcg_at_10["dense"], "rrf": rrf.ndcg_at_10,
                            "chosen": on_test.ndcg_at_10,
                            "best_in_hindsight": {"setting": hindsight.short(), "ndcg@10": hindsight.ndcg_at_10}},
                   "train_table": train_table, "test_table": test_table,
                   "seconds": round(time.monotonic() - t0, 1)}
            (out_dir / f"fusion_{Path(model).name}.json").write_text(json.dumps(row, indent=2))
            t = row["test"]
            print(f"{model}: chosen on train {chosen.short()} (train nDCG@10 {chosen.ndcg_at_10:.4f}, "
                  f"{chosen.queries} queries); test ({t['queries']} queries): BM25 {t['bm25']:.4f}, "
                  f"dense {t['dense']:.4f}, RRF {t['rrf']:.4f}, chosen {t['chosen']:.4f}, "
                  f"best in hindsight {hindsight.short()} {hindsight.ndcg_at_10:.4f}; {row['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
