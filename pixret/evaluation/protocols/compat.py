"""compat: the release's ``mious.py`` and ``mAP@k.py`` number for number (docs/protocols.md,
differences 1-9).

Easy positives without a prediction are skipped in Medium mIoU; pixel mAP uses the box IoU,
drops at-or-below-threshold positives from the recall denominator and drops queries with none
left; the dataset's ignored queries count as AP 0; a pair whose IoU cannot be computed reuses
the previous pair's value. Missing pairs are empty predictions (the release crashes on them).
"""

from __future__ import annotations

import enum
import math
import warnings
from typing import TYPE_CHECKING

import numpy as np

from ...errors import ResultsWarning
from ..iou import CompatPairError, compat_iou
from .base import MIOU_KEYS, THRESHOLDS, Protocol, ProtocolResult, mean, per_query_records

if TYPE_CHECKING:
    from ..evaluator import PixelEval


class PairOutcome(enum.Enum):
    """A compat pair without an IoU: no prediction (the release's ``len(found_points) == 0``
    branch), or a pair its ``compute_iou`` raises on (caught by its bare ``except``)."""

    NO_PREDICTION = "no prediction"
    FAILED = "failed"


CompatPair = tuple[float, float] | PairOutcome  # (box IoU, mask IoU), or why there is none


class Compat(Protocol):
    name = "compat"

    def pair(self, ev: PixelEval, pair: tuple[int, int]) -> tuple[CompatPair, bool]:
        pred = ev.pixels.get(pair)
        if pred is None or pred.empty:
            return PairOutcome.NO_PREDICTION, False
        gt = ev.bench.gt(*pair)
        try:
            if gt is None:
                raise CompatPairError("no label file for this pair")
            with np.errstate(all="ignore"):
                return compat_iou(pred.first_polygon(), gt.polygons), False
        except CompatPairError:
            return PairOutcome.FAILED, False

    def accumulate(self, ev: PixelEval, pairs: dict[tuple[int, int], CompatPair], image: dict) -> ProtocolResult:
        table, per_q = _miou(ev, pairs)
        miou = {key: mean([v[key] for v in per_q]) for key in MIOU_KEYS}
        nan = [key.replace("_", " ") for key, v in miou.items() if math.isnan(v)]
        if nan:
            warnings.warn(
                f"compat mIoU is NaN for {', '.join(nan)} (shown as '-'): a query has no positives in that "
                "subset, or an IoU was 0/0 (the release's np.mean propagates it)",
                ResultsWarning,
                stacklevel=4,
            )
        pixel_at, pixel_ap_q = {}, {}
        for subset in ("medium", "hard"):
            pixel_at[subset], pixel_ap_q[subset] = _pixel_map(ev, table, subset)
        pixel_map = {s: float(np.mean(v)) for s, v in pixel_at.items()}
        per_query = per_query_records(ev, per_q, pixel_ap_q, pixel_ap_q, image, compat=True)
        return ProtocolResult(
            "compat", miou, pixel_map, dict(pixel_map), pixel_at,
            image["map"], image["mpk"], per_query,
        )  # fmt: skip


def _miou(
    ev: PixelEval, pairs: dict[tuple[int, int], CompatPair]
) -> tuple[dict[tuple[int, int], tuple[float, float]], list[dict[str, float]]]:
    """``mious.py``: per-query mIoUs, and the IoU table (its ``IOU_dict``) pixel mAP reads.

    The release's loop, hard positives then easy, with its carried-over ``bbox_iou`` /
    ``segmentation_iou``: a failed pair reuses the previous pair's values and gets no table
    entry (difference 9); an easy positive without a prediction is skipped (difference 1).
    """
    table: dict[tuple[int, int], tuple[float, float]] = {}
    per_q = []
    prev = (0.0, 0.0)  # the release would crash with NameError if its first pair failed
    for q in ev.bench.queries:
        medium: list[tuple[float, float]] = []
        hard: list[tuple[float, float]] = []
        for i in q.hard:
            r = pairs[(q.index, int(i))]
            if r is PairOutcome.NO_PREDICTION:
                prev = table[(q.index, int(i))] = (0.0, 0.0)
            elif r is not PairOutcome.FAILED:
                prev = table[(q.index, int(i))] = r
            medium.append(prev)
            hard.append(prev)
        for i in q.easy:
            r = pairs[(q.index, int(i))]
            if r is PairOutcome.NO_PREDICTION:
                prev = (0.0, 0.0)  # set, then `continue`: skipped in the mean
                continue
            if r is not PairOutcome.FAILED:
                prev = table[(q.index, int(i))] = r
            medium.append(prev)
        per_q.append(
            {
                "medium_box": mean([b for b, _ in medium]),
                "medium_mask": mean([m for _, m in medium]),
                "hard_box": mean([b for b, _ in hard]),
                "hard_mask": mean([m for _, m in hard]),
            }
        )
    return table, per_q


def _pixel_map(
    ev: PixelEval, table: dict[tuple[int, int], tuple[float, float]], subset: str
) -> tuple[list[float], np.ndarray]:
    """``compute_maps`` of ``evaluate_pixel.py`` for one subset: mAP per threshold, and the
    per-query AP (n_queries, n_thresholds; NaN where the release drops the query).

    Box IoU (difference 4); a positive counts only above the threshold and otherwise leaves
    the recall denominator; a query with none left is dropped from the mean (difference 2);
    the ignored queries stay in its denominator (difference 3)."""
    maps, zero_at = [], []
    per_query_ap = np.full((len(ev.bench.queries), len(THRESHOLDS)), math.nan)
    if ev.ranks is None:  # pixel mAP ranks images: without a ranking it is not measured
        return [math.nan] * len(THRESHOLDS), per_query_ap
    for n, t in enumerate(THRESHOLDS):
        total, nempty = 0.0, 0
        for q in ev.bench.queries:
            if q.index in ev.bench.compat_ignored_queries:
                continue
            ok, junk = q.protocol(subset)
            keep = [j for j in ok if (q.index, int(j)) in table and table[(q.index, int(j))][0] > t]
            if not keep:
                nempty += 1
                continue
            ap = ev.ap(q.index, np.array(keep), junk, len(keep))
            per_query_ap[q.index, n] = ap
            total += ap
        denom = len(ev.bench.queries) - nempty
        if not denom:  # the release divides by zero here; nothing was found: 0
            zero_at.append(f"{t:.2f}")
        maps.append(total / denom if denom else 0.0)
    if zero_at:
        warnings.warn(
            f"compat {subset}: no query keeps a positive above IoU {', '.join(zero_at)}, so those "
            "thresholds score 0 (the release's script has no value there: it divides by zero; "
            "docs/protocols.md, difference 10)",
            ResultsWarning,
            stacklevel=5,
        )
    return maps, per_query_ap
