"""revisitop's positions of relevant images in a ranking, computed plainly over one column
(np.isin on the whole ranking): the oracle for the evaluator's one-pass RankLookup."""

from __future__ import annotations

import numpy as np


def positions(ranking: np.ndarray, ok: np.ndarray, junk: np.ndarray) -> np.ndarray:
    """0-based positions of ``ok`` items in ``ranking`` after junk items before them are removed."""
    is_ok = np.isin(ranking, ok)
    is_junk = np.isin(ranking, junk)
    pos = np.flatnonzero(is_ok)
    junk_before = np.cumsum(is_junk) - is_junk  # junk strictly before each position
    return pos - junk_before[pos]
