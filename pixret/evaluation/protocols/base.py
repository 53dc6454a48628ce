"""The interface every protocol implements, and what they share (result record, means, thresholds).

A protocol turns the IoU of each (query, positive) pair into mIoU and pixel mAP:

    value = protocol.pair(ev, (q, i))         # per pair, in forked workers (must pickle back)
    result = protocol.accumulate(ev, values, image)   # per query, then over queries

``ev`` is the ``PixelEval`` (benchmark, ranking, predictions, ``positions``); ``image`` is the
image-level part both protocols share (per-query AP and mP@k, their means, per subset).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ..evaluator import PixelEval

THRESHOLDS = tuple(t / 100 for t in range(50, 100, 5))
KAPPAS = (1, 5, 10)
MIOU_KEYS = ("medium_box", "medium_mask", "hard_box", "hard_mask")


@dataclass
class ProtocolResult:
    """Everything one protocol measured; ``as_dict`` gives the JSON schema of `pixret evaluate`."""

    protocol: str
    miou: dict[str, float]
    pixel_map: dict[str, float]
    pixel_map_box: dict[str, float]
    pixel_map_at: dict[str, list[float]]
    image_map: dict[str, float]
    image_mp: dict[str, dict[str, float]]
    per_query: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return clean(
            {
                "mIoU": self.miou,
                "pixel_mAP": self.pixel_map,
                "pixel_mAP_box": self.pixel_map_box,
                "pixel_mAP_at": self.pixel_map_at,
                "image_mAP": self.image_map,
                "image_mP": self.image_mp,
                "per_query": self.per_query,
            }
        )


class Protocol(ABC):
    """A way of scoring pair IoUs: ``pair`` per (query, positive), ``accumulate`` over them."""

    name: str

    @abstractmethod
    def pair(self, ev: PixelEval, pair: tuple[int, int]) -> tuple[Any, bool]:
        """(this protocol's value for the pair, whether the image size had to be guessed)."""

    @abstractmethod
    def accumulate(self, ev: PixelEval, pairs: dict[tuple[int, int], Any], image: dict) -> ProtocolResult:
        """Per-query and overall metrics from every pair's value (``pairs``) and the image level."""


def clean(obj: object) -> object:
    """JSON-ready: numpy scalars to float, NaN to None."""
    if isinstance(obj, dict):
        return {k: clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [clean(v) for v in obj]
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return None if math.isnan(obj) else float(obj)
    return obj


def mean(values: list[float]) -> float:
    """np.mean as the release uses it: nan for an empty list (without numpy's warning)."""
    return float(np.mean(values)) if values else math.nan


def nanmean_row(row: np.ndarray) -> float:
    """Mean over the defined values; nan when none is (compat: a threshold where the query had
    nothing above it counts as "dropped", not 0)."""
    row = np.asarray(row, dtype=np.float64)
    return float(np.nanmean(row)) if (~np.isnan(row)).any() else math.nan


def per_query_records(
    ev: PixelEval, miou: list[dict[str, float]], ap_mask: dict, ap_box: dict, image: dict, compat: bool
) -> list[dict]:
    """One record per query: mIoUs, pixel AP (mask and box IoU), image AP, whether ignored."""
    out = []
    for q in ev.bench.queries:
        ignored = compat and q.index in ev.bench.compat_ignored_queries
        out.append(
            {
                "query": q.index,
                "name": q.name,
                "n_easy": len(q.easy),
                "n_hard": len(q.hard),
                "ignored_in_pixel_mAP": ignored,
                "mIoU": miou[q.index],
                "pixel_AP": {s: nanmean_row(ap_mask[s][q.index]) for s in ap_mask},
                "pixel_AP_box": {s: nanmean_row(ap_box[s][q.index]) for s in ap_box},
                "image_AP": {s: image["ap"][s][q.index] for s in image["ap"]},
            }
        )
    return out
