"""The suspicion score (hand-computed) and the review queue built from a stored pass."""

from __future__ import annotations

import math

import pytest
from helpers_candidates import candidate_rows

from core.mining.config import MiningConfig
from core.mining.miner import mine
from core.mining.queue import review_queue
from core.mining.store import mining_passes
from core.mining.suspicion import (
    Level,
    QueryLevels,
    Signals,
    agreement,
    closeness,
    suspicion,
)
from core.project.file import Project

# -- the pure function, by hand --------------------------------------------------------------


def test_closeness_is_a_logistic_of_the_gap_in_pool_spreads():
    level = Level(pos=0.5, spread=0.1)
    assert closeness(0.5, level) == pytest.approx(0.5)
    assert closeness(0.6, level) == pytest.approx(0.7310585786)  # 1 / (1 + e^-1)
    assert closeness(0.3, level) == pytest.approx(0.1192029220)  # 1 / (1 + e^2)
    assert closeness(-1e9, level) == 0.0  # far below: no overflow
    flat = Level(pos=0.5, spread=0.0)
    assert [closeness(x, flat) for x in (0.6, 0.5, 0.4)] == [1.0, 0.5, 0.0]


def test_agreement_is_one_in_bm25s_top_ten_then_falls_with_rank():
    assert [agreement(r) for r in (1, 10, 20, 100)] == [1.0, 1.0, 0.5, 0.1]


def test_levels_take_the_lowest_relevant_score_and_the_pool_spread():
    levels = QueryLevels.from_scores({"retriever": [0.7, 0.5], "teacher": []},
                                     {"retriever": [0.2, 0.4, 0.6, 0.8], "teacher": [1.0]},
                                     likeness=[0.1, 0.3, 0.5, 0.7])
    assert levels.levels["retriever"].pos == 0.5
    assert levels.levels["retriever"].spread == pytest.approx(math.sqrt(0.05))
    assert "teacher" not in levels.levels  # no relevant teacher score: the signal cannot count
    # Likeness is centred on the pool's mean similarity, not on a positive.
    assert levels.levels["likeness"].pos == pytest.approx(0.4)
    assert levels.levels["likeness"].spread == pytest.approx(math.sqrt(0.05))


def test_suspicion_is_the_weighted_mean_of_the_signals_present():
    levels = QueryLevels({"retriever": Level(0.5, 0.1), "teacher": Level(1.0, 2.0)})
    s = suspicion(Signals(retriever=0.6, teacher=2.0, bm25_rank=20), levels)
    # teacher 1/(1+e^-0.5) = 0.6224593312 (weight 3), retriever 0.7310585786 (1), agreement 0.5 (1)
    assert s.score == pytest.approx((3 * 0.6224593312 + 0.7310585786 + 0.5) / 5)
    assert [r.split()[0] for r in s.reasons] == ["teacher", "retriever", "BM25"]
    # Only the retriever: its closeness alone.
    alone = suspicion(Signals(retriever=0.3), QueryLevels({"retriever": Level(0.5, 0.1)}))
    assert alone.score == pytest.approx(0.1192029220)
    # Dropped as too close to the positive: +1, and that reason first.
    close = suspicion(Signals(retriever=0.3, too_close="relative_margin"),
                      QueryLevels({"retriever": Level(0.5, 0.1)}))
    assert close.score == pytest.approx(1.1192029220)
    assert close.reasons[0].startswith("dropped by relative margin")
    # Likeness to the known positives counts with weight 2: 1 / (1 + e^-2) = 0.8807970780.
    like = suspicion(Signals(retriever=0.5, positive_similarity=0.8),
                     QueryLevels({"retriever": Level(0.5, 0.1), "likeness": Level(0.6, 0.1)}))
    assert like.score == pytest.approx((2 * 0.8807970780 + 0.5) / 3)
    assert like.reasons[0].startswith("like a known positive")
    # The fine-tuned model's score counts with weight 2.
    model = suspicion(Signals(retriever=0.5, model=0.5),
                      QueryLevels({"retriever": Level(0.5, 0.1), "model": Level(0.7, 0.2)}))
    assert model.score == pytest.approx((0.5 + 2 / (1 + math.e)) / 3)


# -- the queue from a stored pass --------------------------------------------------------------


def test_queue_offers_margin_drops_as_possible_positives_first_then_proposals_by_suspicion(tiny_project):
    with Project.open(tiny_project) as project:
        config = MiningConfig(source="bm25", split=None, num_negatives=2, range_max=6,
                              relative_margin=0.5)
        result = mine(project, config)
        stored = [(r.query_id, r.doc_id, r.score, r.reason)
                  for r in candidate_rows(project.conn, result.pass_number)]
        queue = review_queue(project)
        limited = review_queue(project, limit=2)
    dropped = {(q, d) for q, d, _, r in stored if r == "relative_margin"}
    kept = {(q, d) for q, d, _, r in stored if r == "kept"}
    assert dropped and kept
    assert {(p.query_id, p.doc_id) for p in queue} == dropped | kept
    kinds = [p.kind for p in queue]
    assert kinds == sorted(kinds, key=lambda k: k != "possible_positive")  # possible positives first
    assert [p.suspicion for p in queue] == sorted((p.suspicion for p in queue), reverse=True)
    assert limited == queue[:2]
    # Each suspicion is the pure function of what the pass stored (BM25 pass: retriever only).
    for p in queue:
        scores = [s for q, _, s, _ in stored if q == p.query_id]
        positives = [s for q, _, s, r in stored if q == p.query_id and r == "positive"]
        mean = sum(scores) / len(scores)
        spread = math.sqrt(sum((s - mean) ** 2 for s in scores) / len(scores))
        expected = 1 / (1 + math.exp(-(p.score - min(positives)) / spread))
        expected += 1.0 if p.kind == "possible_positive" else 0.0
        assert p.suspicion == pytest.approx(expected)


def test_a_dense_pass_gets_bm25_ranks_and_likeness_to_the_positives_when_first_reviewed(tiny_project):
    from conftest import TINY_QRELS

    from core.retrieval.service import Retrieval

    with Project.open(tiny_project) as project:
        result = mine(project, MiningConfig(source="dense", split=None, num_negatives=2, range_max=6))
        # Mining stores no second opinions: the review queue computes them once.
        assert all(r.bm25_rank is None and r.positive_similarity is None
                   for r in candidate_rows(project.conn, result.pass_number))
        assert set(result.counts["signals"]) == {"teacher"}
        queue = review_queue(project)
        rows = [(r.query_id, r.doc_id, r.bm25_rank, r.positive_similarity)
                for r in candidate_rows(project.conn, result.pass_number)]
        texts = {q.id: q.text for q in project.queries()}
        retrieval = Retrieval(project)
        bm25_scores = {q: {h.doc_id: h.score for h in retrieval.search(t, "bm25", k=12)}
                       for q, t in texts.items()}
        doc_ids, vectors = retrieval.document_embeddings()
        counts = {p.pass_number: p.counts for p in mining_passes(project)}[result.pass_number]
    assert rows and all(r is not None for _, _, r, _ in rows)
    for qid, doc, rank, _ in rows:
        scores = bm25_scores[qid]
        if doc in scores:  # BM25 returns only documents sharing a term; equal scores share a rank
            assert rank == 1 + sum(s > scores[doc] for s in scores.values())
    # Likeness: the cosine to the nearest relevant document other than itself.
    vec = dict(zip(doc_ids, vectors))
    for qid, doc, _, similarity in rows:
        others = [d for q, d, _ in TINY_QRELS if q == qid and d != doc]
        if not others:
            assert similarity is None
        else:
            assert similarity == pytest.approx(max(float(vec[doc] @ vec[d]) for d in others), abs=1e-5)
    assert all(any(r.startswith("BM25 rank") for r in p.reasons) for p in queue)
    assert all(any(r.startswith("like a known positive") for r in p.reasons) for p in queue)
    assert counts["signals"]["bm25_rank"] is True and counts["signals"]["positive_similarity"] is True


def test_the_newest_fine_tuned_version_scores_candidates_once_its_embeddings_are_cached(
        tiny_project, tmp_path):
    from helpers_retrieval import linked_model_copy

    from core.retrieval.embeddings import document_embeddings, query_embeddings
    from core.retrieval.encoder import Encoder

    # A "fine-tuned" version: the bundled weights with another version note in its config, so
    # another fingerprint (and another embedding cache) but vectors we can compute independently.
    folder = linked_model_copy(tmp_path / "v1", copy=("config_sentence_transformers.json",))
    (folder / "config_sentence_transformers.json").write_text(
        '{"__version__": {"sentence_transformers": "2.0.1"}}', encoding="utf-8")
    config = MiningConfig(source="dense", split=None, num_negatives=2, range_max=6)
    with Project.open(tiny_project) as project:
        project.db["model_versions"].insert({
            "id": "v1", "name": "v1", "path": str(folder), "base": "bundled",
            "created_at": "2026-01-01T00:00:00", "config": "{}", "train_counts": "{}", "metrics": "{}"})
        first = mine(project, config)
        review_queue(project, first.pass_number)
        assert "not cached" in _counts(project, first.pass_number)["signals"]["notes"][0]
        assert [r for r in candidate_rows(project.conn, first.pass_number)
                if r.model_score is not None] == []
        encoder = Encoder(folder)
        doc_vectors = dict(zip(project.document_ids(), document_embeddings(project, encoder)))
        second = mine(project, config)
        queue = review_queue(project)
        assert _counts(project, second.pass_number)["signals"]["model_score"] == "v1"
        rows = [(r.query_id, r.doc_id, r.model_score)
                for r in candidate_rows(project.conn, second.pass_number)]
        query_vectors = dict(zip([q.id for q in project.queries()],
                                 query_embeddings(project, encoder, [q.id for q in project.queries()])))
    for qid, doc, score in rows:
        assert score == pytest.approx(float(query_vectors[qid] @ doc_vectors[doc]), abs=1e-5)
    assert all(any(r.startswith("fine-tuned model") for r in p.reasons) for p in queue)


def test_a_version_whose_folder_is_gone_leaves_out_its_signal_and_says_so(tiny_project, tmp_path):
    """Mining with the bundled model does not fail because another version's folder was deleted."""
    config = MiningConfig(source="dense", split=None, num_negatives=2, range_max=6)
    with Project.open(tiny_project) as project:
        project.db["model_versions"].insert({
            "id": "v1", "name": "v1", "path": str(tmp_path / "deleted-v1"), "base": "bundled",
            "created_at": "2026-01-01T00:00:00", "config": "{}", "train_counts": "{}", "metrics": "{}"})
        result = mine(project, config)
        assert review_queue(project)  # the review does not fail either
        signals = _counts(project, result.pass_number)["signals"]
    assert result.counts["proposed"] > 0
    assert "model_score" not in signals or signals["model_score"] is None
    note = signals["notes"][0]
    assert note.startswith("model_score: model version 'v1'") and "missing" in note


def _counts(project, pass_number):
    return {p.pass_number: p.counts for p in mining_passes(project)}[pass_number]


def test_second_opinions_are_computed_once_and_a_read_only_project_is_not_written(
        tiny_project, tmp_path, monkeypatch):
    import shutil

    from core.mining import signals as signals_module

    config = MiningConfig(source="dense", split=None, num_negatives=2, range_max=6)
    with Project.open(tiny_project) as project:
        result = mine(project, config)
    copy = tmp_path / "read-only.rsproj"
    shutil.copy(tiny_project, copy)
    before = copy.read_bytes()
    with Project.open(copy, read_only=True) as project:
        read_only_queue = review_queue(project)
    assert copy.read_bytes() == before  # computed for the queue, not stored
    with Project.open(tiny_project) as project:
        queue = review_queue(project)
        assert not signals_module.second_opinions_pending(_counts(project, result.pass_number))
        calls = []
        real = signals_module.signal_rows
        monkeypatch.setattr(signals_module, "signal_rows", lambda *a, **k: calls.append(1) or real(*a, **k))
        assert review_queue(project) == queue  # read back, not computed again
    assert calls == []
    assert [(p.query_id, p.doc_id, p.suspicion, p.reasons) for p in read_only_queue] == \
        [(p.query_id, p.doc_id, p.suspicion, p.reasons) for p in queue]
    assert any(r.startswith("BM25 rank") for p in queue for r in p.reasons)


def test_a_pass_whose_model_folder_is_gone_is_still_reviewed_with_the_opinions_left(
        tiny_project, tmp_path):
    # Second opinions come at the first review, maybe long after mining: the pass's model
    # version may be deleted by then. The queue must still open, with BM25's opinion and a
    # note saying why likeness to the positives is missing.
    import shutil

    from helpers_retrieval import linked_model_copy

    folder = linked_model_copy(tmp_path / "v1", copy=("config_sentence_transformers.json",))
    (folder / "config_sentence_transformers.json").write_text(
        '{"__version__": {"sentence_transformers": "2.0.2"}}', encoding="utf-8")
    with Project.open(tiny_project) as project:
        project.db["model_versions"].insert({
            "id": "v1", "name": "v1", "path": str(folder), "base": "bundled",
            "created_at": "2026-01-01T00:00:00", "config": "{}", "train_counts": "{}", "metrics": "{}"})
        result = mine(project, MiningConfig(source="dense", model_id="v1", split=None,
                                            num_negatives=2, range_max=6))
        shutil.rmtree(folder)
        queue = review_queue(project)
        signals = _counts(project, result.pass_number)["signals"]
    assert queue and all(any(r.startswith("BM25 rank") for r in p.reasons) for p in queue)
    assert signals["bm25_rank"] is True and signals["positive_similarity"] is False
    assert any(n.startswith("positive_similarity: the pass's model cannot be loaded")
               for n in signals["notes"])
