"""Paired tests over queries (evaluation/significance.py) on hand-made values."""

import numpy as np
import pytest

from pixret.evaluation.significance import paired_test


def test_paired_test_on_hand_made_values():
    # every query better by exactly 0.1: the smallest p 24 queries allow, a zero-width interval
    t = paired_test(np.full(24, 0.6), np.full(24, 0.5))
    assert t.mean_diff == pytest.approx(0.1) and t.ci_low == pytest.approx(0.1) and t.p_value < 0.001
    same = paired_test([0.2, 0.5, np.nan], [0.2, 0.5, 0.9])  # NaN pairs are left out
    assert same.n == 2 and same.mean_diff == 0 and same.p_value == 1.0
