"""Which map points a gesture covers: a lasso or box, or a click within a radius.

Plain geometry on map coordinates (numpy, scipy's k-d tree, matplotlib's
polygon test) over a :class:`DrawnMap`, the points where the Map tab draws
them; the tab turns mouse events into these calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from core.map.layout import MapLayout

QUERY_REACH = 1.6  # query stars are drawn larger than document dots, so they catch from farther


def points_in_polygon(xy: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Rows of ``xy`` (n x 2) inside ``polygon`` (k x 2, closed or not); none below 3 corners."""
    polygon = np.asarray(polygon, dtype=np.float64)
    if len(polygon) < 3 or not len(xy):
        return np.zeros(0, np.int64)
    from matplotlib.path import Path as PolyPath

    lo, hi = polygon.min(axis=0), polygon.max(axis=0)
    box = np.flatnonzero((xy[:, 0] >= lo[0]) & (xy[:, 0] <= hi[0])
                         & (xy[:, 1] >= lo[1]) & (xy[:, 1] <= hi[1]))
    inside = PolyPath(polygon).contains_points(xy[box]) if len(box) else np.zeros(0, bool)
    return box[inside]


def rectangle(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """The four corners of an axis-aligned rectangle, as a polygon for :func:`points_in_polygon`."""
    return np.array([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], dtype=np.float64)


class PointPicker:
    """The document or query nearest to a position, within a radius (k-d trees over both sets)."""

    def __init__(self, doc_xy: np.ndarray, query_xy: np.ndarray) -> None:
        from scipy.spatial import cKDTree

        self._docs = cKDTree(doc_xy) if len(doc_xy) else None
        self._queries = cKDTree(query_xy) if len(query_xy) else None

    def nearest(self, x: float, y: float, radius: float) -> tuple[str, int] | None:
        """``("query", row)`` within ``QUERY_REACH * radius``, else ``("document", row)`` within ``radius``.

        Queries win: their stars are drawn on top.
        """
        for kind, tree, reach in (("query", self._queries, QUERY_REACH),
                                  ("document", self._docs, 1.0)):
            if tree is None:
                continue
            dist, i = tree.query((x, y), distance_upper_bound=radius * reach)
            if np.isfinite(dist):
                return kind, int(i)
        return None


@dataclass
class DrawnMap:
    """A layout as drawn now: its ids, and positions that the before/after slider may move.

    A point is ``(kind, row)`` with kind ``"document"`` or ``"query"``.
    """

    layout: MapLayout
    doc_xy: np.ndarray
    query_xy: np.ndarray

    def xy(self, kind: str) -> np.ndarray:
        return self.doc_xy if kind == "document" else self.query_xy

    def row(self, kind: str, ident: str) -> int | None:
        index = self.layout.doc_index if kind == "document" else self.layout.query_index
        return index.get(ident)

    def point_id(self, point: tuple[str, int]) -> str:
        kind, row = point
        return (self.layout.doc_ids if kind == "document" else self.layout.query_ids)[row]

    @cached_property
    def picker(self) -> PointPicker:
        """Built on the first click or hover, not for every slider step."""
        return PointPicker(self.doc_xy, self.query_xy)
