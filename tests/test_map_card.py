"""Where the map's hover card goes: beside its point, flipped and pushed so it stays in view."""

from __future__ import annotations

import pytest

from core.map.framing import card_corner

VIEW = (0.0, 0.0, 10.0, 8.0)  # left, bottom, right, top


@pytest.mark.parametrize("point, corner", [
    ((2.0, 2.0), (2.0, 5.0)),   # room up and right: upper right of the point
    ((9.0, 2.0), (5.0, 5.0)),   # at the right edge: flipped to the left
    ((2.0, 7.0), (2.0, 7.0)),   # at the top: flipped below
    ((9.5, 7.5), (5.5, 7.5)),   # top-right corner: both
    ((3.0, 1.0), (3.0, 4.0)),
])
def test_card_beside_its_point_flips_at_the_edges(point, corner):
    assert card_corner(*point, 4.0, 3.0, VIEW) == pytest.approx(corner)


def test_card_keeps_its_gap_from_the_point_on_either_side():
    assert card_corner(2.0, 2.0, 4.0, 3.0, VIEW, (0.5, 0.25)) == pytest.approx((2.5, 5.25))
    assert card_corner(9.0, 7.0, 4.0, 3.0, VIEW, (0.5, 0.25)) == pytest.approx((4.5, 6.75))


def test_card_wider_than_the_space_either_side_is_pushed_inside():
    x0, y_top = card_corner(5.0, 0.5, 7.0, 7.5, VIEW)
    # No room right (5+7 > 10) nor left (5-7 < 0): pushed against the left edge, 0..7 x 0.5..8.
    assert (x0, y_top) == pytest.approx((0.0, 8.0))
    x0, y_top = card_corner(5.0, 4.0, 12.0, 3.0, VIEW)
    assert x0 == 0.0  # larger than the view: its left edge stays in
