"""labelme files (datasets/labelme.py): every shape type with an area, sizes that must be real."""

import base64
import json

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw

from pixret.datasets import load_benchmark, read_labelme
from pixret.errors import BenchmarkWarning, PixretError
from pixret.geometry import fill_polygons


def test_label_sizes_must_be_real(tiny_release):
    bench, d = tiny_release
    label = next(iter(bench.pair_labels.values()))
    doc = json.loads(label.read_text())
    doc["imageWidth"] = -200
    label.write_text(json.dumps(doc))
    with pytest.raises(PixretError, match="imageWidth must be a whole number of pixels"):
        load_benchmark(d, "tiny").gt(*next(iter(bench.pair_labels)))


def _label(path, *shapes, **size):
    path.write_text(json.dumps({"shapes": list(shapes), **size}))
    return path


def _png_b64(mask: np.ndarray) -> str:
    return base64.b64encode(cv2.imencode(".png", mask.astype(np.uint8) * 255)[1].tobytes()).decode()


def test_rectangles_and_polygons_read_as_labelme_draws_them(tmp_path):
    doc = _label(tmp_path / "a.json",
                 {"shape_type": "rectangle", "points": [[50, 60], [10, 20]]},  # corners in any order
                 {"points": [[0, 0], [4, 0], [4, 4]]},  # no shape_type: a polygon
                 {"shape_type": "oriented_rectangle", "points": [[0, 5], [5, 0], [10, 5], [5, 10]]})  # fmt: skip
    shapes = read_labelme(doc)
    assert shapes.polygons[0].tolist() == [[10, 20], [50, 20], [50, 60], [10, 60]]
    assert shapes.polygons[1].tolist() == [[0, 0], [4, 0], [4, 4]]
    assert len(shapes.polygons) == 3
    # filled as labelme's shape_to_mask fills a rectangle: both corners' pixels included
    m = fill_polygons(shapes.polygons[:1], 70, 70)
    assert m[20:61, 10:51].all() and m.sum() == 41 * 41


def test_a_circle_is_its_disc(tmp_path):
    shapes = read_labelme(_label(tmp_path / "c.json", {"shape_type": "circle", "points": [[100, 80], [130, 120]]}))
    (poly,) = shapes.polygons
    r = np.hypot(*poly.T - np.array([[100], [80]]))
    assert np.allclose(r, 50)  # on the circle of radius 50 (the rim point is 30, 40 away)
    assert np.hypot(*np.diff(np.r_[poly, poly[:1]], axis=0).T).max() <= 2.0  # vertices at most 2 px apart
    # the pixels labelme's shape_to_mask draws for it (PIL's ellipse), against pixret's fill
    drawn = Image.new("L", (250, 200))
    ImageDraw.Draw(drawn).ellipse([50, 30, 150, 130], outline=1, fill=1)
    disc = np.asarray(drawn).astype(bool)
    m = fill_polygons([poly], 200, 250).astype(bool)
    assert (m & disc).sum() / (m | disc).sum() > 0.99


def test_a_mask_shape_fills_back_to_its_pixels(tmp_path):
    patch = np.zeros((9, 12), bool)
    patch[1:8, 2:6] = True  # a bar
    patch[3:6, 6:11] = True  # and an arm: one irregular region
    patch[0, 11] = True  # and a separate pixel
    doc = _label(tmp_path / "m.json", {"shape_type": "mask", "points": [[20.4, 30.0], [31.6, 38.0]],
                                       "mask": _png_b64(patch)})  # fmt: skip
    shapes = read_labelme(doc)
    canvas = np.zeros((50, 50), bool)
    canvas[30:39, 20:32] = patch  # placed at the first corner, rounded (20, 30)
    assert (fill_polygons(shapes.polygons, 50, 50).astype(bool) == canvas).all()


def test_a_mask_with_a_hole_is_filled_with_a_warning(tmp_path):
    ring = np.ones((7, 7), bool)
    ring[2:5, 2:5] = False
    doc = _label(tmp_path / "h.json", {"shape_type": "mask", "points": [[0, 0], [6, 6]], "mask": _png_b64(ring)})
    with pytest.warns(BenchmarkWarning, match="h.json: mask shape 0 has holes"):
        shapes = read_labelme(doc)
    assert fill_polygons(shapes.polygons, 7, 7).all()


@pytest.mark.parametrize(
    "shape, message",
    [
        ({"shape_type": "line", "points": [[0, 0], [5, 5]]}, "shape 1 is a line, which has no area"),
        ({"shape_type": "linestrip", "points": [[0, 0], [5, 5], [9, 0]]}, "shape 1 is a linestrip, which has no area"),
        ({"shape_type": "point", "points": [[3, 3]]}, "shape 1 is a point, which has no area"),
        ({"shape_type": "ellipse", "points": [[3, 3], [5, 5]]}, "shape 1 has an unknown shape_type 'ellipse'"),
        ({"shape_type": "circle", "points": [[3, 3]]}, "shape 1 is a circle of 1 points"),
        ({"shape_type": "mask", "points": [[3, 3], [5, 5]]}, "shape 1 is a mask without its 'mask'"),
        ({"shape_type": "mask", "points": [[3, 3], [5, 5]], "mask": "%%%"}, "shape 1: 'mask' is not base64"),
    ],
)
def test_shapes_without_an_area_are_refused_naming_the_type_and_file(tmp_path, shape, message):
    doc = _label(tmp_path / "odd.json", {"points": [[0, 0], [4, 0], [4, 4]]}, shape)
    with pytest.raises(PixretError, match=f"odd.json: {message}"):
        read_labelme(doc)
