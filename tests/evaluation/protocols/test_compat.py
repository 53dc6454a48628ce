"""The compat protocol's pairs (evaluation/protocols/compat.py): the release's IoU of the first
polygon, and the two ways a pair has none."""

import numpy as np

from pixret.evaluation import PixelEval, PixelPrediction
from pixret.evaluation.protocols.compat import Compat, PairOutcome
from tests.helpers import SQ


def test_a_pair_gets_the_release_iou_or_says_why_not(tiny_release):
    bench, _ = tiny_release
    exact = PixelPrediction([np.array(SQ, float)])
    ev = PixelEval(bench, None, {(0, 0): exact, (0, 3): exact})
    compat = Compat()
    (box, mask), guessed = compat.pair(ev, (0, 0))
    assert box == 1.0 and mask > 0.95 and not guessed  # the release draws polygons on its own grid
    assert compat.pair(ev, (0, 1)) == (PairOutcome.NO_PREDICTION, False)
    assert compat.pair(ev, (0, 3)) == (PairOutcome.FAILED, False)  # no label file: the release's except
