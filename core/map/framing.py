"""Where to point the map's camera: around a query, or at one found point."""

from __future__ import annotations

import numpy as np

from core.map.layout import MapLayout
from core.project.queries import QueryOverlay


def map_extent(doc_xy: np.ndarray, query_xy: np.ndarray) -> float:
    """The larger side of the box around every drawn point (1.0 for a degenerate map)."""
    all_xy = np.vstack([doc_xy, query_xy])
    return float(np.ptp(all_xy, axis=0).max()) or 1.0


def query_window(layout: MapLayout, doc_xy: np.ndarray, query_xy: np.ndarray, query_row: int,
                 overlay: QueryOverlay | None) -> tuple[float, float, float]:
    """Centre and half-side of a square around query ``query_row`` holding most of its documents.

    Its documents are the ones ``overlay`` judged or proposed (when the
    overlay is this query's) and its nearest documents in the embedding
    space. The half-side is twice the median distance from the query to
    them, so a few documents UMAP placed far away do not zoom out the whole
    view, and at least 1/30 of the map's extent.
    """
    q = query_xy[query_row]
    index = layout.doc_index
    rows: set[int] = set()
    if overlay is not None and overlay.query_id == layout.query_ids[query_row]:
        rows |= {index[d] for d in overlay.labels if d in index}
        rows |= {index[d] for d in overlay.proposals if d in index}
    if layout.query_neighbors is not None:
        rows |= set(layout.query_neighbors[query_row].tolist())
    dist = np.linalg.norm(doc_xy[sorted(rows)] - q, axis=1) if rows else np.zeros(0)
    half = max(2.0 * float(np.median(dist)) if len(dist) else 0.0,
               map_extent(doc_xy, query_xy) / 30)
    return float(q[0]), float(q[1]), half


def locate_side(doc_xy: np.ndarray, query_xy: np.ndarray, view_width: float) -> float:
    """Side of the square view centred on a found point: a quarter of the map, never zooming out."""
    return min(view_width, map_extent(doc_xy, query_xy) / 4)


def card_corner(x: float, y: float, width: float, height: float,
                view: tuple[float, float, float, float],
                gap: tuple[float, float] = (0.0, 0.0)) -> tuple[float, float]:
    """Top-left corner (view coordinates, y up) of a ``width`` x ``height`` card for point (x, y).

    The card sits to the upper right of the point; where that runs past the
    ``view`` box (left, bottom, right, top) it flips to the left and/or
    below the point, and a card that still does not fit (larger than the
    view, or a point at a corner) is pushed inside, so no part is cut off
    except where the card is larger than the view (then its top-left stays in).
    ``gap`` (x, y) keeps it that far from the point.
    """
    left, bottom, right, top = view
    gx, gy = gap
    x0 = x + gx if x + gx + width <= right else x - gx - width
    y_top = y + gy + height if y + gy + height <= top else y - gy
    x0 = max(min(x0, right - width), left)
    y_top = min(max(y_top, bottom + height), top)
    return x0, y_top
