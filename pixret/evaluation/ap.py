"""revisitop average precision (trapezoid rule, junk removed from the ranking)."""

from __future__ import annotations

import numpy as np


def average_precision(pos: np.ndarray, n_relevant: int) -> float:
    """AP of relevant items found at sorted 0-based ``pos``, recall over ``n_relevant``."""
    if n_relevant <= 0 or not len(pos):
        return 0.0
    j = np.arange(len(pos), dtype=np.float64)
    r = pos.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        p0 = np.where(r == 0, 1.0, j / np.where(r == 0, 1.0, r))
    p1 = (j + 1) / (r + 1)
    return float(np.sum((p0 + p1) / 2.0) / n_relevant)


def precision_at(pos: np.ndarray, kappas: tuple[int, ...]) -> np.ndarray:
    """revisitop mP@k: precision at min(k, rank of the last relevant item)."""
    if not len(pos):
        return np.zeros(len(kappas))
    p1 = pos + 1
    out = []
    for k in kappas:
        kq = min(int(p1.max()), k)
        out.append((p1 <= kq).sum() / kq)
    return np.array(out, dtype=np.float64)
