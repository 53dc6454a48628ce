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


def test_four_queries_cannot_reach_significance_and_say_so():
    # every query better: the smallest p 4 queries allow is 2 / 2^4, counted exactly
    t = paired_test([0.6, 0.7, 0.8, 0.9], [0.5, 0.5, 0.5, 0.5])
    assert t.p_value == 0.125 and t.min_p == 0.125 and not t.significant()
    assert t.ci_low is None and t.ci_high is None  # no shift is rejected: the interval is unbounded
    from pixret.evaluation.significance import min_p, queries_needed

    assert queries_needed() == 6 and min_p(5) == 0.0625 and min_p(6) == 0.03125


@pytest.mark.parametrize("n", [3, 6, 9, 12, 13, 24, 70])
def test_the_interval_never_contradicts_the_p_value(n):
    rng = np.random.default_rng(n)
    for _ in range(40):
        a = rng.uniform(0, 1, n)
        b = np.clip(a - rng.normal(rng.uniform(-0.1, 0.1), 0.1, n), 0, 1)
        t = paired_test(a, b)
        lo = -np.inf if t.ci_low is None else t.ci_low
        hi = np.inf if t.ci_high is None else t.ci_high
        assert lo <= t.mean_diff <= hi
        assert (lo > 0 or hi < 0) == t.significant(), (n, t)
