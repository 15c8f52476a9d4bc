"""The mining rules on hand-built scores: no model, no project.

Scores are binary fractions (0.5, 0.25, ...) wherever a rule compares at
its boundary, so the expected side of each comparison is exact.
"""

from __future__ import annotations

import pytest

from core.errors import StudioError
from core.mining.config import MiningConfig
from core.mining.rules import (
    REASON_TEXT,
    SCORE_RULES,
    decide,
    explanations,
    lowest_relevant,
    thresholds_for,
)
from core.mining.scores import Candidate, ScoredQuery


def scored(pairs, outside=(), qid="q"):
    """Pool from ``[(doc, score)]`` (ranked by score, ties in the given order)."""
    order = sorted(range(len(pairs)), key=lambda i: (-pairs[i][1], i))
    cands = [Candidate(pairs[i][0], r + 1, pairs[i][1], True) for r, i in enumerate(order)]
    cands += [Candidate(d, rank, s, False) for d, s, rank in outside]
    return ScoredQuery(qid, tuple(cands))


def reasons(decisions):
    return {d.doc_id: d.reason for d in decisions}


def kept(decisions):
    return [d.doc_id for d in decisions if d.reason == "kept"]


def cfg(**kw):
    kw.setdefault("num_negatives", 2)
    kw.setdefault("range_max", 10)
    # Each test names the rules it exercises: no default margin on top of them.
    kw.setdefault("relative_margin", None)
    return MiningConfig(source="bm25", **kw)


def test_labels_are_law():
    sq = scored([("p", 0.9), ("fn", 0.8), ("neg", 0.7), ("rej", 0.6), ("a", 0.5), ("b", 0.4), ("c", 0.3)])
    labels = {"p": "positive", "fn": "false_negative", "neg": "negative"}
    out = decide(sq, labels, {"rej"}, cfg())
    assert reasons(out) == {"p": "positive", "fn": "false_negative", "neg": "confirmed",
                            "rej": "previously_rejected", "a": "kept", "b": "kept", "c": "not_sampled"}
    statuses = {d.doc_id: d.status for d in out}
    assert statuses["neg"] == "kept" and statuses["p"] == "dropped" and statuses["rej"] == "dropped"
    # A confirmed negative is kept even where a rule would drop it: max_score below its score.
    out = decide(sq, labels, {"rej"}, cfg(max_score=0.25))
    assert reasons(out)["neg"] == "confirmed"
    assert kept(out) == []


def test_no_positive_means_nothing_to_decide():
    sq = scored([("a", 0.9), ("b", 0.8)])
    assert decide(sq, {"a": "negative"}, set(), cfg()) == []


def test_absolute_margin_drops_close_candidates():
    # pos = 0.5; m = 0.25: drop when s + 0.25 > 0.5, i.e. s > 0.25.
    sq = scored([("p", 0.5), ("a", 0.375), ("b", 0.25), ("c", 0.125)])
    out = decide(sq, {"p": "positive"}, set(), cfg(absolute_margin=0.25))
    assert reasons(out) == {"p": "positive", "a": "absolute_margin", "b": "kept", "c": "kept"}


def test_relative_margin_with_positive_scores():
    # pos = 0.5, m = 0.5: threshold 0.5 - 0.25 = 0.25; s > 0.25 dropped, 0.25 stays.
    sq = scored([("p", 0.5), ("a", 0.375), ("b", 0.25), ("c", 0.125)])
    out = decide(sq, {"p": "positive"}, set(), cfg(relative_margin=0.5))
    assert reasons(out)["a"] == "relative_margin"
    assert kept(out) == ["b", "c"]


def test_relative_margin_with_negative_scores():
    # pos = -0.5, m = 0.5: threshold = -0.5 - |-0.5|*0.5 = -0.75. The old
    # pos*(1-m) formula would give -0.25 and keep candidates *above* the positive.
    sq = scored([("a", -0.25), ("p", -0.5), ("b", -0.625), ("c", -0.75), ("d", -0.875)])
    out = decide(sq, {"p": "positive"}, set(), cfg(relative_margin=0.5))
    assert reasons(out) == {"a": "relative_margin", "p": "positive", "b": "relative_margin",
                            "c": "kept", "d": "kept"}


def test_lowest_of_several_positives_sets_the_margin():
    # Positives at 0.875 and 0.5 (the second outside the pool): pos = 0.5.
    sq = scored([("p1", 0.875), ("a", 0.75), ("b", 0.375), ("c", 0.25)], outside=[("p2", 0.5, 40)])
    labels = {"p1": "positive", "p2": "positive"}
    out = decide(sq, labels, set(), cfg(absolute_margin=0.0))
    assert reasons(out) == {"p1": "positive", "a": "absolute_margin", "p2": "positive",
                            "b": "kept", "c": "kept"}
    # A confirmed false negative is relevant too and can lower pos further.
    labels["b"] = "false_negative"
    out = decide(sq, labels, set(), cfg(absolute_margin=0.0))
    assert reasons(out)["b"] == "false_negative"
    assert kept(out) == ["c"]


def test_max_and_min_score():
    sq = scored([("p", 1.0), ("a", 0.75), ("b", 0.5), ("c", 0.25), ("d", 0.125)])
    out = decide(sq, {"p": "positive"}, set(), cfg(max_score=0.5, min_score=0.25, num_negatives=3))
    assert reasons(out) == {"p": "positive", "a": "max_score", "b": "kept", "c": "kept", "d": "min_score"}


def test_first_failing_rule_is_the_reason():
    # "a" fails the absolute margin, the relative margin and max_score: the first one wins.
    sq = scored([("p", 0.5), ("a", 0.4375), ("b", 0.125)])
    out = decide(sq, {"p": "positive"}, set(),
                 cfg(absolute_margin=0.125, relative_margin=0.25, max_score=0.25, num_negatives=1))
    assert reasons(out)["a"] == "absolute_margin"
    out = decide(sq, {"p": "positive"}, set(), cfg(relative_margin=0.25, max_score=0.25, num_negatives=1))
    assert reasons(out)["a"] == "relative_margin"


def test_rank_window_counts_surviving_candidates():
    # Survivors (after the positive and the margin): c d e f g. range_min=1 skips
    # c (the best survivor, not raw rank 2), range_max=3 ends after e.
    sq = scored([("p", 0.9), ("a", 0.89), ("c", 0.5), ("d", 0.4), ("e", 0.3), ("f", 0.2), ("g", 0.1)])
    out = decide(sq, {"p": "positive"}, set(),
                 cfg(absolute_margin=0.05, range_min=1, range_max=3, num_negatives=1))
    assert reasons(out) == {"p": "positive", "a": "absolute_margin", "c": "rank_window",
                            "d": "kept", "e": "not_sampled", "f": "rank_window", "g": "rank_window"}


def test_ties_resolve_by_rank():
    sq = scored([("p", 0.9), ("a", 0.5), ("b", 0.5), ("c", 0.5)])
    out = decide(sq, {"p": "positive"}, set(), cfg(num_negatives=2))
    assert kept(out) == ["a", "b"]
    assert reasons(out)["c"] == "not_sampled"
    assert [d.rank for d in out] == [1, 2, 3, 4]


def test_too_few_candidates_keeps_what_there_is():
    sq = scored([("p", 0.9), ("a", 0.875), ("b", 0.2)])
    out = decide(sq, {"p": "positive"}, set(), cfg(relative_margin=0.05, num_negatives=5, range_max=10))
    assert reasons(out) == {"p": "positive", "a": "relative_margin", "b": "kept"}


def test_random_sampling_is_seeded_and_stays_in_the_window():
    pool = [("p", 1.0)] + [(f"d{i}", 0.9 - i * 0.01) for i in range(30)]
    sq = scored(pool)
    labels = {"p": "positive"}
    c = cfg(sampling="random", num_negatives=4, range_min=5, range_max=25)
    first = kept(decide(sq, labels, set(), c))
    assert first == kept(decide(sq, labels, set(), c))
    assert len(first) == 4
    window = {f"d{i}" for i in range(5, 25)}
    assert set(first) <= window
    seeds = {tuple(kept(decide(sq, labels, set(), c.replace(seed=s)))) for s in range(8)}
    assert len(seeds) > 1
    # Kept ones are listed best first, like sentence-transformers re-sorts its sample.
    ranks = [d.rank for d in decide(sq, labels, set(), c) if d.reason == "kept"]
    assert ranks == sorted(ranks)


def test_simans_prefers_scores_near_the_positive():
    # pos = 0.5; with a large a and b = 0 the sample concentrates next to 0.5,
    # not at the top of the window (0.49 .. 0.10).
    pool = [("p", 0.5)] + [(f"d{i:02d}", 0.49 - i * 0.01) for i in range(40)]
    sq = scored(pool)
    out = decide(sq, {"p": "positive"}, set(),
                 cfg(sampling="simans", simans_a=5000.0, num_negatives=3, range_max=40))
    assert set(kept(out)) == {"d00", "d01", "d02"}
    # b shifts the preferred score: s - pos - b = 0 at s = 0.3.
    out = decide(sq, {"p": "positive"}, set(),
                 cfg(sampling="simans", simans_a=5000.0, simans_b=-0.2, num_negatives=3, range_max=40))
    assert set(kept(out)) <= {f"d{i:02d}" for i in range(16, 23)}
    # a = 0 is uniform: still exactly num_negatives, reproducible.
    c = cfg(sampling="simans", simans_a=0.0, num_negatives=3, range_max=40)
    assert kept(decide(sq, {"p": "positive"}, set(), c)) == kept(decide(sq, {"p": "positive"}, set(), c))
    assert len(kept(decide(sq, {"p": "positive"}, set(), c))) == 3


def test_simans_survives_extreme_weights():
    # Weights exp(-a*d^2) underflow to 0 for all but one candidate; sampling
    # without replacement must still return num_negatives documents.
    pool = [("p", 10.0)] + [(f"d{i}", 9.0 - i) for i in range(6)]
    out = decide(scored(pool), {"p": "positive"}, set(),
                 cfg(sampling="simans", simans_a=1e6, num_negatives=3))
    assert len(kept(out)) == 3


@pytest.mark.parametrize("kwargs, message", [
    ({"num_negatives": 0}, "num_negatives"),
    ({"range_min": -1}, "range_min"),
    ({"range_min": 10, "range_max": 10}, "smaller"),
    ({"num_negatives": 6, "range_min": 5, "range_max": 10}, "window"),
    ({"source": "splade"}, "source"),
    ({"sampling": "best"}, "sampling"),
    ({"relative_margin": float("nan")}, "finite"),
])
def test_config_validation(kwargs, message):
    with pytest.raises(StudioError, match=message):
        MiningConfig(**kwargs)


def test_config_round_trips_through_json():
    c = MiningConfig(source="hybrid", relative_margin=0.05, sampling="simans", split=None)
    assert MiningConfig.from_dict(c.to_dict()) == c


def test_dense_rows_score_in_bounded_blocks(monkeypatch):
    import numpy as np

    from core.mining import scores as mining_scores
    from core.progress import Progress

    rng = np.random.default_rng(0)
    docs = rng.standard_normal((50, 8)).astype(np.float32)
    queries = rng.standard_normal((7, 8)).astype(np.float32)
    monkeypatch.setattr(mining_scores, "BLOCK_ELEMENTS", 100)  # 2 queries x 50 documents
    seen = []

    def vectors(qids):
        seen.append(len(qids))
        return queries[[int(q) for q in qids]]

    rows = mining_scores.DenseRows([str(i) for i in range(50)], docs, vectors)
    out = dict(rows.rows([str(i) for i in range(7)], Progress()))
    assert max(seen) == 2 and sum(seen) == 7
    for i in range(7):
        assert np.allclose(out[str(i)], docs @ queries[i], atol=1e-5)


def test_pool_from_row_ties_and_labeled_outside():
    import numpy as np

    from core.mining.scores import pool_from_row

    row = np.array([0.5, 0.9, 0.5, 0.1, 0.5, 0.3])
    ids = ["a", "b", "c", "d", "e", "f"]
    sq = pool_from_row("q", row, ids, {d: i for i, d in enumerate(ids)}, depth=3, labeled=["d", "b"])
    # Ties at the cut go in corpus order: a, c (not e); d is labeled and added with its exact rank.
    assert [(c.doc_id, c.rank, c.in_pool) for c in sq.candidates] == [
        ("b", 1, True), ("a", 2, True), ("c", 3, True), ("d", 6, False)]


# -- where the rules cut and what they say: thresholds_for / explanations against decide -----

def _rule_sides(decisions, config):
    """Check each decision against the threshold lines: the rule that dropped it cuts on the
    drop side of its score, every earlier rule on the keep side; survivors pass every line."""
    lines = dict((name, cut) for cut, name in thresholds_for(decisions, config))
    active = [r for r in SCORE_RULES if r.value(config) is not None and r.line in lines]

    def dropped_by(rule, score):  # the drop side of the line (scores are exact binary fractions)
        return score < lines[rule.line] if rule.reason == "min_score" else score > lines[rule.line]

    for d in decisions:
        if d.reason in {r.reason for r in active}:
            rule = next(r for r in active if r.reason == d.reason)
            assert dropped_by(rule, d.score), d
            assert not any(dropped_by(r, d.score) for r in active[:active.index(rule)]), d
        elif d.reason in ("kept", "not_sampled", "rank_window"):
            assert not any(dropped_by(r, d.score) for r in active), d


def test_thresholds_and_explanations_state_the_cuts_decide_applies():
    # pos = 0.5. Cuts: absolute 0.5 − 0.0625 = 0.4375, relative 0.5 − |0.5|·0.25 = 0.375,
    # max 0.3125, min 0.0625; in that order, so each drops the first candidate past it.
    sq = scored([("p", 0.5), ("a", 0.46875), ("b", 0.40625), ("c", 0.34375), ("d", 0.25),
                 ("e", 0.1875), ("f", 0.125), ("g", 0.03125)])
    config = cfg(absolute_margin=0.0625, relative_margin=0.25, max_score=0.3125, min_score=0.0625)
    out = decide(sq, {"p": "positive"}, (), config)
    assert reasons(out) == {"p": "positive", "a": "absolute_margin", "b": "relative_margin",
                            "c": "max_score", "d": "kept", "e": "kept", "f": "not_sampled",
                            "g": "min_score"}
    assert lowest_relevant(out) == 0.5
    assert thresholds_for(out, config) == [(0.4375, "abs. margin"), (0.375, "rel. margin"),
                                           (0.3125, "max"), (0.0625, "min")]
    _rule_sides(out, config)
    text = explanations(out, config)
    assert text["absolute_margin"] == "dropped: score + 0.0625 > lowest positive 0.5"
    assert text["relative_margin"] == "dropped: score > 0.5 − |0.5|·0.25 = 0.375"
    assert text["max_score"] == "dropped: score > max score 0.3125"
    assert text["min_score"] == "dropped: score < min score 0.0625"
    assert text["rank_window"] == "dropped: not among surviving candidates 1–10"
    assert text["not_sampled"] == "dropped: in the window, but not one of the 2 sampled (top)"
    # Every reason decide gave has its line, and the others keep their plain words.
    assert {d.reason for d in out} <= set(text)
    assert text["kept"] == REASON_TEXT["kept"] and text["positive"] == REASON_TEXT["positive"]


def test_a_candidate_on_a_cut_survives_it():
    # s + m = pos exactly (0.375 + 0.125 = 0.5) is not above it: the margin keeps it, and the
    # histogram puts its line on that score.
    sq = scored([("p", 0.5), ("on", 0.375), ("past", 0.4375), ("low", 0.25)])
    config = cfg(absolute_margin=0.125)
    out = decide(sq, {"p": "positive"}, (), config)
    assert reasons(out) == {"p": "positive", "on": "kept", "past": "absolute_margin", "low": "kept"}
    assert thresholds_for(out, config) == [(0.375, "abs. margin")]
    _rule_sides(out, config)


def test_relative_cut_moves_down_for_a_negative_positive_score():
    # pos = −0.5 (cosine can be negative): cut = −0.5 − |−0.5|·0.5 = −0.75, below pos.
    sq = scored([("p", -0.5), ("near", -0.625), ("far", -0.875), ("farther", -0.9375)])
    config = cfg(relative_margin=0.5)
    out = decide(sq, {"p": "positive"}, (), config)
    assert reasons(out) == {"p": "positive", "near": "relative_margin", "far": "kept",
                            "farther": "kept"}
    assert thresholds_for(out, config) == [(-0.75, "rel. margin")]
    assert explanations(out, config)["relative_margin"] == "dropped: score > -0.5 − |-0.5|·0.5 = -0.75"
    _rule_sides(out, config)


def test_margins_measure_from_the_lowest_relevant_score():
    # A positive at 0.75 and a false negative at 0.5: pos = 0.5, and the
    # false negative's own decision carries the score the lines start from.
    sq = scored([("p", 0.75), ("fn", 0.5), ("a", 0.4375), ("b", 0.25), ("c", 0.125)])
    config = cfg(absolute_margin=0.125)
    out = decide(sq, {"p": "positive", "fn": "false_negative"}, (), config)
    assert reasons(out)["a"] == "absolute_margin"
    assert lowest_relevant(out) == 0.5
    assert thresholds_for(out, config) == [(0.375, "abs. margin")]
    assert explanations(out, config)["absolute_margin"] == "dropped: score + 0.125 > lowest positive 0.5"


def test_without_a_relevant_decision_only_the_score_bounds_have_lines():
    config = cfg(absolute_margin=0.125, relative_margin=0.25, max_score=0.75, min_score=0.25)
    assert decide(scored([("a", 0.5), ("b", 0.25)]), {}, (), config) == []
    assert thresholds_for([], config) == [(0.75, "max"), (0.25, "min")]
    text = explanations([], config)
    assert text["absolute_margin"] == REASON_TEXT["absolute_margin"]
    assert text["relative_margin"] == REASON_TEXT["relative_margin"]
    assert text["max_score"] == "dropped: score > max score 0.75"


@pytest.mark.parametrize("seed", range(6))
def test_lines_agree_with_decide_on_random_pools(seed):
    import random

    rng = random.Random(seed)
    pairs = [(f"d{i}", rng.randrange(-64, 64) / 64) for i in range(40)]
    positive, negative = rng.sample(range(40), 2)
    labels = {pairs[positive][0]: "positive", pairs[negative][0]: "negative"}
    pick = lambda *values: rng.choice((None,) + values)  # noqa: E731
    config = cfg(absolute_margin=pick(0.0625, 0.25), relative_margin=pick(0.125, 0.5),
                 max_score=pick(0.5, 0.75), min_score=pick(-0.5, 0.0), range_max=12, range_min=1)
    out = decide(scored(pairs), labels, (), config)
    assert out
    _rule_sides(out, config)
    text = explanations(out, config)
    for rule in SCORE_RULES:
        if rule.value(config) is not None:
            assert text[rule.reason] != REASON_TEXT[rule.reason]  # says its numbers
