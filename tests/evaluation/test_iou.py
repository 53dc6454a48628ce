"""Pair IoUs (evaluation/iou.py): hand-computed values for each release quirk, strict beside them."""

import math
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pixret.errors import PixretError
from pixret.evaluation import (
    PixelPrediction,
    compat_iou,
    strict_iou,
)
from pixret.evaluation.iou import CompatPairError
from tests.helpers import SQ, square
from tests.reference.release_scripts import release_pair_iou


def test_wild_coordinates_fail_the_pair_in_bounded_memory():
    tracemalloc.start()
    box, mask = (
        compat_iou(np.array([[0, 0], [5e6, 0], [5e6, 5e6]]), (np.array(SQ, float),)) if False else (0, 0)
    )
    from pixret.evaluation.iou import CompatPairError

    with pytest.raises(CompatPairError, match="too large"):
        compat_iou(np.array([[0.0, 0.0], [5e6, 0.0], [5e6, 5e6]]), (np.array(SQ, float),))
    assert tracemalloc.get_traced_memory()[1] < 50e6
    tracemalloc.stop()
    del box, mask


def P(*polys):
    return tuple(np.asarray(p, float) for p in polys)


def test_canvas_is_the_largest_coordinate_quirk5():
    # S = 9: the last row/column of the 10x10 prediction is lost, in box and in mask
    box, mask = compat_iou(np.array(square(0, 0, 9), float), P(square(0, 0, 4)))
    assert box == pytest.approx(25 / 81, abs=1e-12)
    assert mask == pytest.approx(25 / 81, abs=1e-12)
    sbox, smask = strict_iou(PixelPrediction([np.array(square(0, 0, 9), float)]), P(square(0, 0, 4)), 20, 20)
    assert sbox == pytest.approx(16 / 81)
    assert smask == pytest.approx(25 / 100)  # the image's canvas keeps the last row/column


def test_negative_coordinates_break_the_box_quirk6():
    pred = np.array([[-10, 10], [30, 10], [30, 40], [-10, 40]], float)
    box, _ = compat_iou(pred, P(square(20, 10, 30)))
    assert box == 0.0  # slice(-10, 31) on a 50-wide canvas is empty
    sbox, _ = strict_iou(PixelPrediction([pred]), P(square(20, 10, 30)), 100, 100)
    assert sbox == pytest.approx(300 / 1500)
    # reaching further out wraps the slice: 10 of 60 columns survive
    pred2 = np.array([[-10, 10], [50, 10], [50, 40], [-10, 40]], float)
    assert compat_iou(pred2, P(square(20, 10, 30)))[0] == pytest.approx(310 / 930)


def test_coordinates_are_truncated_quirk5():
    a = compat_iou(np.array(square(0.9, 0.9, 9.05), float), P(square(0, 0, 9)))
    assert a == (1.0, 1.0)


def test_gt_box_spans_all_polygons_quirk8():
    gt = P(square(0, 0, 10), square(40, 40, 10))
    box, mask = compat_iou(np.array(square(0, 0, 10), float), gt)
    assert box == pytest.approx(121 / 2500)
    assert mask == pytest.approx(121 / 221)


def test_only_first_polygon_counts_in_compat_quirk7():
    gt = P(square(0, 0, 10), square(40, 40, 10))
    pred = PixelPrediction([np.array(square(0, 0, 10), float), np.array(square(40, 40, 10), float)])
    assert compat_iou(pred.first_polygon(), gt)[1] == pytest.approx(121 / 221)
    assert strict_iou(pred, gt, 100, 100)[1] == pytest.approx(1.0)


def test_strict_clips_to_the_image_and_handles_masks():
    gt = P(square(10, 10, 20))
    pred = PixelPrediction([np.array(square(10, 10, 200), float)])
    sbox, smask = strict_iou(pred, gt, 40, 40)  # prediction clipped to 40x40
    assert sbox == pytest.approx(400 / 900)
    assert smask == pytest.approx(441 / 900)  # pixel centres 10..30 of 10..39
    from pixret.geometry import mask_to_rle

    m = np.zeros((40, 40), np.uint8)
    m[10:31, 10:31] = 1
    assert strict_iou(PixelPrediction([], mask_to_rle(m)), gt, 40, 40)[1] == 1.0
    with pytest.raises(PixretError, match="a predicted mask of size"):
        strict_iou(PixelPrediction([], mask_to_rle(m)), gt, 50, 40)


def test_failing_pairs_raise_for_the_evaluator():
    with pytest.raises(CompatPairError):
        compat_iou(np.array(square(0, 0, 5), float), ())
    assert strict_iou(None, P(square(0, 0, 5)), 10, 10) == (0.0, 0.0)


coords = st.floats(-60, 160, allow_nan=False, width=32)


poly = st.lists(st.tuples(coords, coords), min_size=1, max_size=7)


@settings(max_examples=300, deadline=None)
@given(pred=poly, gts=st.lists(poly, min_size=1, max_size=3))
def test_compat_equals_the_release_full_canvas(pred, gts):
    pred_a = np.array(pred, float)
    gt_a = [np.array(g, float) for g in gts]
    try:
        ref = (release_pair_iou(pred_a, gt_a, "bbox"), release_pair_iou(pred_a, gt_a, "segmentation"))
    except ValueError:  # negative canvas: the release raises, compat too
        with pytest.raises(CompatPairError):
            compat_iou(pred_a, tuple(gt_a))
        return
    got = compat_iou(pred_a, tuple(gt_a))
    for a, b in zip(got, ref, strict=True):
        assert (math.isnan(a) and math.isnan(b)) or abs(a - b) < 1e-9
