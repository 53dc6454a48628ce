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


def test_a_box_message_is_one_short_line_whatever_the_box(small, tmp_path):
    """Issue 32 (I4): ``--box=1e308,1e308,1e308,1e308`` printed a 1.3 KB line (each number in
    full, 309 digits); a long text given as a box was quoted whole. The CLI and the API alike."""
    from fastapi.testclient import TestClient

    from pixret.server.app import create_app
    from tests.helpers import run_cli

    idx, paths = small
    client = TestClient(create_app(idx.root), base_url="http://127.0.0.1:8000")
    for box, said in (("1e308,1e308,1e308,1e308", "box 1e+308, 1e+308, 1e+308, 1e+308 is empty"),
                      ("1e308,0,-1e308,5", "box 1e+308, 0, -1e+308, 5 is empty"),
                      ("x" * 5000, "got 'xxxxxxxxxx"), ("1," * 3000 + "1", "got 3001: '1,1,1,")):  # fmt: skip
        r = run_cli(["search", paths[0], "--index", idx.root, f"--box={box}"])
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and said in r.stderr, r.stderr
        assert len(r.stderr) < 200, r.stderr
        answer = client.post("/api/search", data={"box": box, "image_id": "0"})
        assert answer.status_code == 422 and said in answer.json()["detail"] and len(answer.json()["detail"]) < 200


def test_messages_print_numbers_compactly_and_cut_what_they_quote():
    from pixret.errors import number, quoted

    assert [number(v) for v in (1e308, 60.0, 220, 0.123456789, float("nan"), 10**20, np.int64(7))] == [
        "1e+308", "60", "220", "0.123457", "nan", "1e+20", "7"]  # fmt: skip
    assert number(10**5000) == "an integer of about 5,001 digits"  # str() would refuse it
    assert quoted("a b") == "'a b'" and quoted("x" * 5000) == repr("x" * 60) + "... (5,000 characters)"
    assert len(quoted([1e308] * 1000)) < 100
