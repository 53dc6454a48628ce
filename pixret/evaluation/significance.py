"""Is method A better than method B on this benchmark, or is the gap the queries' luck?

Both methods are scored on the same queries, so the test is paired over queries: the
per-query differences d_q = a_q - b_q (AP or mIoU) are what varies.

- Randomization (sign-flip) test: under "no difference", each d_q is as likely positive as
  negative; the p-value is the share of random sign assignments whose |mean| reaches the
  observed |mean d| (two-sided; 10,000 draws, the observed one counted in).
- 95% interval on the mean difference: percentile bootstrap over queries (10,000 resamples).

Assumes the queries are independent draws from the queries one cares about, and that the
methods were not tuned on them. 70 queries is few: a gap of a few points is often not
significant, which is the point of reporting it. Queries where either value is undefined
(NaN: no positives in that subset, or dropped by the compat protocol) are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DRAWS = 10_000


@dataclass(frozen=True)
class PairedTest:
    """Result of comparing per-query values of A against B (A - B)."""

    mean_diff: float  # mean over queries of a_q - b_q
    ci_low: float  # 95% bootstrap interval of the mean difference
    ci_high: float
    p_value: float  # two-sided randomization test
    n: int  # queries compared (both values defined)

    def significant(self, alpha: float = 0.05) -> bool:
        return self.n > 1 and self.p_value < alpha

    def as_dict(self) -> dict:
        return {
            "mean_diff": self.mean_diff,
            "ci95": [self.ci_low, self.ci_high],
            "p_value": self.p_value,
            "n_queries": self.n,
        }


def paired_test(a, b, draws: int = DRAWS, seed: int = 0) -> PairedTest:
    """Randomization test and bootstrap interval for the per-query values ``a`` vs ``b``."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"per-query values differ in length: {a.shape} vs {b.shape}")
    d = (a - b)[np.isfinite(a) & np.isfinite(b)]
    n = len(d)
    if n == 0:
        return PairedTest(float("nan"), float("nan"), float("nan"), float("nan"), 0)
    rng = np.random.default_rng(seed)
    observed = abs(d.mean())
    signs = rng.integers(0, 2, size=(draws, n), dtype=np.int8) * 2 - 1
    flipped = np.abs((signs * d).mean(axis=1))
    # a tolerance so that ties (e.g. all d = 0) count as "at least as extreme"
    p = (1 + np.count_nonzero(flipped >= observed - 1e-12)) / (draws + 1)
    boots = d[rng.integers(0, n, size=(draws, n))].mean(axis=1)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return PairedTest(float(d.mean()), float(lo), float(hi), float(p), n)
