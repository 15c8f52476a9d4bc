"""What the map colours in each mode and what its legend says (core.map.overlays, no Qt)."""

from __future__ import annotations

import numpy as np

from core.map.layout import MapLayout
from core.map.overlays import LAYER_KEYS, OverlayData, map_overlays, split_layers
from core.project.queries import QueryOverlay

DOCS = ["d0", "d1", "d2", "d3", "d4", "d5"]
QUERIES = ["q0", "q1", "q2"]
NEIGHBOURS = np.array([[0, 1], [2, 3], [4, 5]], np.int32)  # two "nearest documents" per query


def layout() -> MapLayout:
    return MapLayout(DOCS, np.arange(12, dtype=np.float32).reshape(6, 2), QUERIES,
                     np.zeros((3, 2), np.float32), "bundled", query_neighbors=NEIGHBOURS)


def coloured(groups: dict[str, list[int]]) -> dict[str, list[int]]:
    """The non-empty layers, rows sorted (a layer's order carries no meaning)."""
    return {key: sorted(rows) for key, rows in groups.items() if rows}


def legend(drawn) -> list[tuple[str, str]]:
    return [(e.swatch, e.text) for e in drawn.legend]


def test_labels_mode_colours_the_current_querys_labels_and_proposals():
    overlay = QueryOverlay("q1", {"d1": "positive", "d3": "negative", "d4": "false_negative",
                                  "gone": "positive"}, frozenset({"d2", "gone2"}))
    drawn = map_overlays("labels", layout(), OverlayData(query=overlay), "q1")
    assert set(drawn.groups) == set(LAYER_KEYS)
    assert coloured(drawn.groups) == {"positive": [1], "negative": [3], "false_negative": [4],
                                      "proposal": [2]}
    assert drawn.query_row == 1
    assert drawn.neighbours.tolist() == [2, 3]
    assert drawn.judged == {"positive": [1], "negative": [3], "false_negative": [4]}
    assert legend(drawn) == [
        ("documents", "Documents (6)"), ("queries", "Queries (3)"),
        ("current", "Current query q1"), ("neighbours", "10 nearest documents (embedding space)"),
        ("positive", "Positive (1)"), ("false_negative", "False negative (1)"),
        ("negative", "Negative (1)"), ("proposal", "Mined proposal (unreviewed) (1)"),
    ]


def test_without_a_current_query_on_the_map_there_are_no_query_marks():
    overlay = QueryOverlay("q9", {"d0": "positive"}, frozenset())
    for current in (None, "q9"):  # none chosen, or one the map does not have
        drawn = map_overlays("labels", layout(), OverlayData(query=overlay), current)
        assert drawn.query_row is None and drawn.neighbours is None and drawn.judged == {}
        assert coloured(drawn.groups) == {"positive": [0]}
        assert legend(drawn) == [("documents", "Documents (6)"), ("queries", "Queries (3)"),
                                 ("positive", "Positive (1)")]


def test_all_mode_colours_one_label_per_document_and_still_draws_the_querys_lines():
    summary = {"d0": "positive", "d1": "positive", "d2": "proposal", "d5": "negative",
               "gone": "false_negative"}
    overlay = QueryOverlay("q0", {"d0": "positive", "d3": "negative"}, frozenset({"d4"}))
    drawn = map_overlays("all", layout(), OverlayData(query=overlay, all_labels=summary), "q0")
    assert coloured(drawn.groups) == {"positive": [0, 1], "proposal": [2], "negative": [5]}
    assert drawn.judged == {"positive": [0], "negative": [3]}  # lines: the current query's labels
    assert legend(drawn)[4:] == [("positive", "Positive for some query (2)"),
                                 ("negative", "Negative for some query (1)"),
                                 ("proposal", "Mined proposal (unreviewed) for some query (1)")]


def test_split_mode_gives_named_splits_their_layers_and_other_names_the_spare_ones():
    splits = {"d0": "train", "d1": "test", "d2": "mixed", "d3": "zeta", "d4": "alpha",
              "d5": "train", "gone": "dev"}
    drawn = map_overlays("split", layout(), OverlayData(splits=splits), None)
    # Other names in sorted order: alpha -> other0, zeta -> other1.
    assert coloured(drawn.groups) == {"split:train": [0, 5], "split:test": [1],
                                      "split:mixed": [2], "split:other0": [4],
                                      "split:other1": [3]}
    assert legend(drawn)[2:] == [
        ("split:train", "Judged for train queries (2)"),
        ("split:test", "Judged for test queries (1)"),
        ("split:mixed", "Judged for queries of several splits (1)"),
        ("split:other0", "Judged for alpha queries (1)"),
        ("split:other1", "Judged for zeta queries (1)"),
    ]


def test_split_names_beyond_the_spare_layers_are_drawn_as_mixed():
    splits = {d: name for d, name in zip(DOCS, ["e", "d", "c", "b", "a", "train"])}
    assert split_layers(splits) == {"train": "split:train", "test": "split:test", "dev": "split:dev",
                                    "validation": "split:validation", "mixed": "split:mixed",
                                    "a": "split:other0", "b": "split:other1",
                                    "c": "split:other2", "d": "split:other3"}
    drawn = map_overlays("split", layout(), OverlayData(splits=splits), None)
    assert coloured(drawn.groups) == {"split:train": [5], "split:mixed": [0],
                                      "split:other0": [4], "split:other1": [3],
                                      "split:other2": [2], "split:other3": [1]}


def test_rank_mode_bands_ranks_and_names_the_retriever():
    ranks = {"d0": 1, "d1": 2, "d2": 10, "d3": 11, "d4": 50, "d5": 100, "gone": 3}
    overlay = QueryOverlay("q2", {"d0": "positive"}, frozenset())
    drawn = map_overlays("rank", layout(), OverlayData(query=overlay, ranks=ranks), "q2", "bm25")
    assert coloured(drawn.groups) == {"rank1": [0], "rank2": [1, 2], "rank11": [3, 4],
                                      "rank51": [5]}  # the labels are not coloured in this mode
    assert legend(drawn)[4:] == [("rank1", "Rank 1 (1)"), ("rank2", "Rank 2–10 (2)"),
                                 ("rank11", "Rank 11–50 (2)"), ("rank51", "Rank 51–100 (1)"),
                                 ("documents", "BM25: not in the top 100")]


def test_a_mode_whose_data_is_not_loaded_colours_nothing():
    data = OverlayData(all_labels={"d0": "positive"}, splits={"d1": "train"})
    for mode in ("labels", "rank"):
        drawn = map_overlays(mode, layout(), data, None)
        assert coloured(drawn.groups) == {}
        assert legend(drawn) == [("documents", "Documents (6)"), ("queries", "Queries (3)")]
