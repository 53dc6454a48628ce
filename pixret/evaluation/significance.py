"""Is method A better than method B on this benchmark, or is the gap the queries' luck?

Both methods are scored on the same queries, so the test is paired over queries: the
per-query differences d_q = a_q - b_q (AP or mIoU) are what varies.

- Randomization (sign-flip) test: under "no difference", each d_q is as likely positive as
  negative; the p-value is the share of sign assignments whose |mean| reaches the observed
  |mean d| (two-sided). Up to ``EXACT_UP_TO`` queries every one of the 2^n assignments is
  counted (the exact p); beyond, 10,000 random ones, the observed one counted in
  (Phipson & Smyth 2010, "Permutation p-values should never be zero").
- 95% interval on the mean difference: the shifts delta that the same test does not reject
  when applied to d - delta (inverting the test, as in Garthwaite 1996, "Confidence intervals
  from randomization tests", Biometrics 52). So the interval excludes 0 exactly when p < 0.05:
  the two can never disagree, as a bootstrap interval beside a randomization p can. Where no
  shift is rejected the interval is unbounded on that side (None).
- The smallest p n queries allow is 2 / 2^n (all differences of one sign): with 5 queries or
  fewer no test can reach p < 0.05, whatever the gap (``min_p``).

Assumes the queries are independent draws from the queries one cares about, and that the
methods were not tuned on them. 70 queries is few: a gap of a few points is often not
significant, which is the point of reporting it. Queries where either value is undefined
(NaN: no positives in that subset, or dropped by the compat protocol) are left out.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

DRAWS = 10_000
EXACT_UP_TO = 12  # 2^12 = 4,096 sign assignments: exact below, DRAWS random ones above
ALPHA = 0.05
_TIE = 1e-12  # ties (e.g. all d = 0) count as "at least as extreme"


def min_p(n: int) -> float:
    """The smallest two-sided p a sign-flip test over ``n`` non-zero differences can give."""
    return 1.0 if n < 1 else min(1.0, 2.0 ** (1 - n))


def queries_needed(alpha: float = ALPHA) -> int:
    """The fewest queries with which a paired test can reach p < ``alpha`` at all (6 for 0.05)."""
    n = 1
    while min_p(n) >= alpha:
        n += 1
    return n


@dataclass(frozen=True)
class PairedTest:
    """Result of comparing per-query values of A against B (A - B)."""

    mean_diff: float  # mean over queries of a_q - b_q
    ci_low: float | None  # 95% interval of the mean difference (test inversion); None: unbounded
    ci_high: float | None
    p_value: float  # two-sided randomization test
    n: int  # queries compared (both values defined)
    min_p: float = 0.0  # the smallest p these queries allow (2 / 2^n_nonzero)

    def significant(self, alpha: float = ALPHA) -> bool:
        return self.n > 1 and self.p_value < alpha

    def as_dict(self) -> dict:
        return {
            "mean_diff": self.mean_diff,
            "ci95": [self.ci_low, self.ci_high],
            "p_value": self.p_value,
            "n_queries": self.n,
            "min_p": self.min_p,
        }


@functools.lru_cache(maxsize=64)
def _signs(n: int, draws: int, seed: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """(rows of +-1, their row means, exact): every sign assignment of n values, or ``draws``
    random ones (the same for every test of n values: one draw per process)."""
    if n <= EXACT_UP_TO:
        codes = np.arange(2**n, dtype=np.int64)[:, None] >> np.arange(n, dtype=np.int64)[None, :]
        signs, exact = (codes & 1) * 2.0 - 1.0, True
    else:
        signs, exact = np.random.default_rng(seed).integers(0, 2, size=(draws, n)) * 2.0 - 1.0, False
    return signs, signs.mean(axis=1), exact


class _Flips:
    """p(delta): the test applied to d - delta, for any shift delta, at O(draws) per call."""

    def __init__(self, d: np.ndarray, draws: int, seed: int):
        signs, self.s1, self.exact = _signs(len(d), draws, seed)  # s1: the shift's share per assignment
        self.n, self.mean = len(d), float(d.mean())
        self.sd = np.einsum("ij,j->i", signs, d) / self.n  # mean of the flipped d, per assignment

    def p(self, delta: float) -> float:
        observed = abs(self.mean - delta)
        hits = np.count_nonzero(np.abs(self.sd - delta * self.s1) >= observed - _TIE)
        return hits / len(self.sd) if self.exact else (1 + hits) / (len(self.sd) + 1)


def _bound(flips: _Flips, accepted: float, rejected: float, tol: float) -> float:
    """Bisection between a shift the test accepts and one it rejects: the interval's end."""
    for _ in range(80):
        if abs(accepted - rejected) <= tol:
            break
        mid = (accepted + rejected) / 2
        if flips.p(mid) >= ALPHA:
            accepted = mid
        else:
            rejected = mid
    return accepted


def _interval(flips: _Flips, d: np.ndarray, p0: float) -> tuple[float | None, float | None]:
    """The shifts the test does not reject, with 0 inside exactly when ``p0`` >= ALPHA."""
    mean = flips.mean
    span = float(d.max() - d.min()) + 1.0
    tol = 1e-9 * span
    out: list[float | None] = []
    for side in (-1, 1):  # lower end, then upper end
        outside = (d.min() if side < 0 else d.max()) + side * span  # every d - delta of one sign
        if flips.p(outside) >= ALPHA:  # not even all-one-sign differences are rejected
            out.append(None)
            continue
        zero_this_side = (0.0 - mean) * side >= 0
        if zero_this_side and p0 < ALPHA:  # 0 is rejected: the end lies between the mean and 0
            out.append(_bound(flips, mean, 0.0, tol))
        elif zero_this_side:  # 0 is accepted: the end lies beyond 0
            out.append(_bound(flips, 0.0, outside, tol))
        else:
            out.append(_bound(flips, mean, outside, tol))
    return out[0], out[1]


def paired_test(a, b, draws: int = DRAWS, seed: int = 0) -> PairedTest:
    """Randomization test and the interval it implies for the per-query values ``a`` vs ``b``
    (1-D, same length; NaN where undefined). ValueError when their lengths differ."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"per-query values differ in length: {a.shape} vs {b.shape}")
    d = (a - b)[np.isfinite(a) & np.isfinite(b)]
    n = len(d)
    if n == 0:
        return PairedTest(float("nan"), None, None, float("nan"), 0, 1.0)
    flips = _Flips(d, draws, seed)
    p = flips.p(0.0)
    lo, hi = _interval(flips, d, p)
    return PairedTest(float(d.mean()), lo, hi, float(p), n, min_p(int(np.count_nonzero(d))))
