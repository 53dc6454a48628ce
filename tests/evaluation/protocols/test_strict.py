"""The strict protocol's pair IoU (evaluation/protocols/strict.py) on a hand-made release: every
positive counts, the canvas is the image's own."""

import numpy as np

from pixret.evaluation import PixelPrediction
from pixret.evaluation.protocols.strict import canvas, pair_iou
from tests.helpers import SQ, square


def test_a_pair_scores_against_its_label_on_the_images_canvas(tiny_release):
    bench, _ = tiny_release
    assert canvas(bench, (0, 0)) == (150, 200, False)  # (h, w) of the 200 x 150 image
    exact = PixelPrediction([np.array(SQ, float)])
    assert pair_iou(bench, exact, (0, 0)) == ((1.0, 1.0), False)
    half = PixelPrediction([np.array(square(40, 20, 40), float)])  # shifted by half its width
    (box, mask), _ = pair_iou(bench, half, (0, 0))
    assert abs(box - 1 / 3) < 0.02 and abs(mask - 1 / 3) < 0.02  # 800 of 2400 pixels
    assert pair_iou(bench, None, (0, 0)) == ((0.0, 0.0), False)  # a positive without a prediction: 0
    assert pair_iou(bench, exact, (0, 3)) == ((0.0, 0.0), False)  # a pair without a label
