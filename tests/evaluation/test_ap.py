"""revisitop average precision (evaluation/ap.py) on hand-computed rankings."""

import numpy as np
import pytest

from pixret.evaluation.ap import average_precision, precision_at


def test_average_precision_by_the_trapezoid_rule():
    # relevant at 0-based positions 0 and 2 of 2: ((1 + 1) / 2 + (1/2 + 2/3) / 2) / 2
    assert average_precision(np.array([0, 2]), 2) == pytest.approx((1 + (0.5 + 2 / 3) / 2) / 2)
    assert average_precision(np.array([0, 1, 2]), 3) == 1.0
    assert average_precision(np.array([0]), 2) == 0.5  # the other relevant one was not retrieved
    assert average_precision(np.array([], int), 3) == 0.0 and average_precision(np.array([0]), 0) == 0.0


def test_precision_at_k_stops_at_the_last_relevant():
    pos = np.array([0, 3])
    assert precision_at(pos, (1, 5, 10)).tolist() == [1.0, 0.5, 0.5]  # k capped at rank 4
    assert precision_at(np.array([], int), (1, 5)).tolist() == [0.0, 0.0]
