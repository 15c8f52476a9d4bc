"""What the map colours in each "Colour by" mode, and what its legend says.

:func:`map_overlays` is a pure function from the mode, the layout and the
overlay data loaded for it (:class:`OverlayData`) to the document rows of
every coloured layer, the current query's marks (its row, its embedding-space
neighbours, its judged documents by label) and the legend entries. The Map
tab draws what it returns; colours and symbols are the tab's business and
live in ``gui``.

Layers are named by key: one per label (plus ``proposal``, unreviewed mined
candidates), one per rank band of a retriever's top :data:`RANK_DEPTH`, and
one per split of the judging queries (``split:train`` ... ``split:mixed``,
then up to :data:`OTHER_SPLIT_LAYERS` further split names, sorted, as
``split:other0`` ...; any more split names are drawn as mixed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.map.layout import NEIGHBOURS_K, MapLayout
from core.project.queries import QueryOverlay

MODES = (("labels", "Labels of the current query"), ("all", "Labels of all queries"),
         ("split", "Split of the judging queries"),
         ("rank", "Rank for the current query"))
RETRIEVERS = (("dense", "Dense"), ("bm25", "BM25"), ("hybrid", "Hybrid"))
RANK_DEPTH = 100  # documents ranked for the "rank" mode; the rest stay grey

# Bottom-up drawing order; the legend lists them top-down.
LABEL_LAYERS = (("proposal", "Mined proposal (unreviewed)"), ("negative", "Negative"),
                ("false_negative", "False negative"), ("positive", "Positive"))
RANK_LAYERS = (  # (key, title, lowest rank, highest rank)
    ("rank51", "Rank 51–100", 51, 100),
    ("rank11", "Rank 11–50", 11, 50),
    ("rank2", "Rank 2–10", 2, 10),
    ("rank1", "Rank 1", 1, 1),
)
NAMED_SPLITS = ("train", "test", "dev", "validation", "mixed")
OTHER_SPLIT_LAYERS = 4
SPLIT_LAYERS = tuple(f"split:{s}" for s in NAMED_SPLITS) + tuple(
    f"split:other{i}" for i in range(OTHER_SPLIT_LAYERS))
LAYER_KEYS = tuple(k for k, _t in LABEL_LAYERS) + tuple(k for k, *_ in RANK_LAYERS) + SPLIT_LAYERS

# Legend swatches that are not layers.
DOCUMENTS, QUERIES, CURRENT_QUERY, NEIGHBOURS = "documents", "queries", "current", "neighbours"


@dataclass(frozen=True)
class OverlayData:
    """What the Map tab has loaded for colouring; ``None`` where it is not loaded.

    ``query`` is the current query's labels and proposals; ``all_labels`` one
    label per document over all queries; ``splits`` the split of the queries
    that judged each document; ``ranks`` the current query's ranks under the
    chosen retriever.
    """

    query: QueryOverlay | None = None
    all_labels: dict[str, str] | None = None
    splits: dict[str, str] | None = None
    ranks: dict[str, int] | None = None


@dataclass(frozen=True)
class LegendEntry:
    swatch: str  # a layer key, or DOCUMENTS / QUERIES / CURRENT_QUERY / NEIGHBOURS
    text: str


@dataclass(frozen=True)
class MapOverlays:
    """Everything the map draws on top of the grey documents and query stars."""

    groups: dict[str, list[int]]  # every layer key -> document rows (into layout.doc_ids)
    query_row: int | None  # the current query's row in layout.query_ids, if it is on the map
    neighbours: np.ndarray | None  # its nearest document rows in the embedding space
    judged: dict[str, list[int]]  # label -> document rows it judged (lines from its star)
    legend: list[LegendEntry]


def split_layers(splits: dict[str, str]) -> dict[str, str]:
    """Layer key of each split name: named splits first, the others sorted into the spare layers."""
    others = sorted({s for s in splits.values() if s not in NAMED_SPLITS})
    keys = {s: f"split:{s}" for s in NAMED_SPLITS}
    for i, name in enumerate(others[:OTHER_SPLIT_LAYERS]):
        keys[name] = f"split:other{i}"
    return keys


def rank_layer(rank: int) -> str:
    """The layer of a 1-based rank within :data:`RANK_DEPTH`."""
    return next(key for key, _t, lo, hi in RANK_LAYERS if lo <= rank <= hi)


def map_overlays(mode: str, layout: MapLayout, data: OverlayData, current_query_id: str | None,
                 retriever: str = "dense") -> MapOverlays:
    """The coloured layers, the current query's marks and the legend for ``mode``.

    ``mode`` is a key of :data:`MODES`; ``retriever`` (a key of
    :data:`RETRIEVERS`) names the ranking in the "rank" legend. Documents of
    ``data`` that are not on the map are left out.
    """
    index = layout.doc_index
    groups: dict[str, list[int]] = {key: [] for key in LAYER_KEYS}
    if mode == "labels" and data.query is not None:
        for doc_id, label in data.query.labels.items():
            if doc_id in index:
                groups[label].append(index[doc_id])
        groups["proposal"] = [index[d] for d in data.query.proposals if d in index]
    elif mode == "all" and data.all_labels is not None:
        for doc_id, label in data.all_labels.items():
            if doc_id in index:
                groups[label].append(index[doc_id])
    elif mode == "split" and data.splits is not None:
        keys = split_layers(data.splits)
        for doc_id, split in data.splits.items():
            if doc_id in index:
                groups[keys.get(split, "split:mixed")].append(index[doc_id])
    elif mode == "rank" and data.ranks is not None:
        for doc_id, rank in data.ranks.items():
            if doc_id in index:
                groups[rank_layer(rank)].append(index[doc_id])

    query_row = layout.query_index.get(current_query_id) if current_query_id else None
    neighbours = (layout.query_neighbors[query_row]
                  if query_row is not None and layout.query_neighbors is not None else None)
    judged: dict[str, list[int]] = {}
    if data.query is not None and query_row is not None:
        for doc_id, label in data.query.labels.items():
            if doc_id in index:
                judged.setdefault(label, []).append(index[doc_id])
    legend = _legend(mode, layout, data, groups, current_query_id if query_row is not None else None,
                     retriever)
    return MapOverlays(groups, query_row, neighbours, judged, legend)


def _legend(mode: str, layout: MapLayout, data: OverlayData, groups: dict[str, list[int]],
            current_query_id: str | None, retriever: str) -> list[LegendEntry]:
    entries = [LegendEntry(DOCUMENTS, f"Documents ({len(layout.doc_ids):,})"),
               LegendEntry(QUERIES, f"Queries ({len(layout.query_ids):,})")]
    if current_query_id is not None:
        entries += [LegendEntry(CURRENT_QUERY, f"Current query {current_query_id}"),
                    LegendEntry(NEIGHBOURS, f"{NEIGHBOURS_K} nearest documents (embedding space)")]
    if mode == "labels":
        titles = [(k, t) for k, t in reversed(LABEL_LAYERS)]
    elif mode == "all":
        titles = [(k, f"{t} for some query") for k, t in reversed(LABEL_LAYERS)]
    elif mode == "split":
        names = {key: name for name, key in split_layers(data.splits or {}).items()}
        titles = [(key, "Judged for queries of several splits" if key == "split:mixed"
                   else f"Judged for {names.get(key, key[6:])} queries") for key in SPLIT_LAYERS]
    else:
        titles = [(k, t) for k, t, *_ in reversed(RANK_LAYERS)]
    entries += [LegendEntry(key, f"{title} ({len(groups[key])})")
                for key, title in titles if groups[key]]
    if mode == "rank" and data.ranks is not None:
        entries.append(LegendEntry(DOCUMENTS, f"{dict(RETRIEVERS)[retriever]}: "
                                              f"not in the top {RANK_DEPTH}"))
    return entries
