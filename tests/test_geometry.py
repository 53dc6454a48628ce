"""Boxes, polygons, masks (pixret/geometry.py) on tiny exact arrays."""

import numpy as np
import pytest

from pixret.errors import PixretError
from pixret.geometry import (
    Box,
    box_iou,
    fill_polygons,
    mask_outlines,
    mask_to_polygon,
    mask_to_rle,
    points_box,
    polygons_as_lists,
    polygons_to_rle,
    rle_to_mask,
)


def test_box_parse_format_check():
    assert Box.parse("1,2.5,30,40") == (1.0, 2.5, 30.0, 40.0)
    assert Box.parse([1, 2, 3, 4]).format() == "1, 2, 3, 4"
    assert Box(-5, -5, 50, 20).check(40, 30) == (0.0, 0.0, 40.0, 20.0)  # clipped to the image
    for bad, message in (("1,2,3", "got 3"), ("a,b,c,d", "got 'a,b,c,d'"), (None, "got None")):
        with pytest.raises(PixretError, match=f"box must be 4 numbers x1,y1,x2,y2, {message}"):
            Box.parse(bad)
    for box, message in (((5, 5, 5, 9), "is empty"), ((50, 50, 60, 60), "lies outside the 40x30 image"),
                         ((0, 0, float("nan"), 3), "non-finite")):  # fmt: skip
        with pytest.raises(PixretError, match=message):
            Box(*box).check(40, 30)
    assert Box(1, 2, 3, 4).polygon().tolist() == [[1, 2], [3, 2], [3, 4], [1, 4]]


def test_box_iou_and_points_box():
    assert box_iou((0, 0, 2, 2), (1, 0, 3, 2)) == pytest.approx(1 / 3)
    assert box_iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0
    assert points_box(np.array([[3, 1], [0, 4], [2, 2]])) == (0, 1, 3, 4)


def test_fill_polygons_takes_the_union_and_pixel_centres_on_the_edge():
    square = np.array([[1, 1], [3, 1], [3, 3], [1, 3]], float)
    m = fill_polygons([square, square + [1, 0]], 5, 6)
    want = np.zeros((5, 6), np.uint8)
    want[1:4, 1:5] = 1  # both squares, edges included, no even-odd hole where they overlap
    assert (m == want).all()
    assert fill_polygons([square], 3, 3, off=(1, 1))[:3, :3].all()  # a window whose (0, 0) is pixel (1, 1)
    assert not fill_polygons([square[:2]], 5, 6, min_points=3).any()


def test_mask_outlines_fill_back_and_rle_round_trips():
    m = np.zeros((8, 9), np.uint8)
    m[1:5, 2:7] = 1
    m[6:8, 0:2] = 1  # a small second region
    outlines = mask_outlines(m, min_area=0)
    assert len(outlines) == 2
    assert (fill_polygons(outlines, 8, 9) == m).all()
    assert len(mask_outlines(m, min_area=4)) == 1  # regions under the area are left out
    assert mask_to_polygon(m).min(0).tolist() == [2, 1]  # the largest region's outline
    assert mask_to_polygon(np.zeros((3, 3))).shape == (0, 2)
    rle = mask_to_rle(m)
    assert rle["size"] == [8, 9] and isinstance(rle["counts"], str)
    assert (rle_to_mask(rle) == m).all()
    assert (rle_to_mask(polygons_to_rle(outlines, 8, 9)) == m).all()


def test_polygons_as_lists_rounds():
    assert polygons_as_lists([np.array([[1.234, 2.345]])], 1) == [[[1.2, 2.3]]]
