"""strict: what the metric is meant to measure (docs/protocols.md, "Differences").

Every positive counts (no prediction = IoU 0); pixel AP has recall over all positives,
positives at or below the threshold stay in the ranking as wrong results, a query with none
above the threshold scores 0; pixel mAP uses the mask IoU (box beside it); no query is
ignored; masks are drawn on the image's own canvas, all polygons count, coordinates outside
the image are clipped.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING

import numpy as np

from ...datasets.model import Benchmark
from ...errors import ResultsWarning
from ...imageio import image_size
from ..iou import strict_iou
from ..results import PixelPrediction
from .base import MIOU_KEYS, THRESHOLDS, Protocol, ProtocolResult, mean, nanmean_row, per_query_records

if TYPE_CHECKING:
    from ..evaluator import PixelEval


def canvas(bench: Benchmark, pair: tuple[int, int]) -> tuple[int, int, bool]:
    """(h, w, guessed) of a pair's database image: from the label, else the image file, else
    the label's extent (guessed)."""
    gt = bench.gt(*pair)
    if gt is not None and gt.width and gt.height:
        return gt.height, gt.width, False
    path = bench.database_image(pair[1])
    if path is not None:
        w, h = image_size(path)
        return h, w, False
    pts = gt.all_points if gt is not None else np.zeros((1, 2))
    return int(pts[:, 1].max()) + 1, int(pts[:, 0].max()) + 1, True


def pair_iou(bench: Benchmark, pred: PixelPrediction | None, pair: tuple[int, int]) -> tuple[tuple[float, float], bool]:
    """((box IoU, mask IoU), canvas guessed) of one prediction for a labelled pair, as strict
    scores it; (0, 0) for a pair without a label."""
    gt = bench.gt(*pair)
    if gt is None or not gt.polygons:
        return (0.0, 0.0), False
    h, w, guessed = canvas(bench, pair)
    return strict_iou(pred, gt.polygons, h, w), guessed


class Strict(Protocol):
    name = "strict"

    def pair(self, ev: PixelEval, pair: tuple[int, int]) -> tuple[tuple[float, float], bool]:
        return pair_iou(ev.bench, ev.pixels.get(pair), pair)

    def accumulate(
        self, ev: PixelEval, pairs: dict[tuple[int, int], tuple[float, float]], image: dict
    ) -> ProtocolResult:
        per_q, skipped = [], []
        for q in ev.bench.queries:
            vals = {}
            for subset in ("medium", "hard"):
                ok, _ = q.protocol(subset)
                ious = [pairs[(q.index, int(i))] for i in ok]
                vals[f"{subset}_box"] = mean([b for b, _ in ious])
                vals[f"{subset}_mask"] = mean([m for _, m in ious])
                if not ious:
                    skipped.append(f"{q.index}/{subset}")
            per_q.append(vals)
        miou = {key: nanmean_row(np.array([v[key] for v in per_q])) for key in MIOU_KEYS}
        if skipped:
            warnings.warn(
                f"strict: {len(skipped)} query subset(s) without positives left out of the "
                f"mIoU means: {', '.join(skipped[:8])}{' ...' if len(skipped) > 8 else ''}",
                ResultsWarning,
                stacklevel=4,
            )
        res: dict[str, dict] = {"mask": {}, "box": {}}
        per_q_ap: dict[str, dict] = {"mask": {}, "box": {}}
        for kind, col in (("box", 0), ("mask", 1)):
            for subset in ("medium", "hard"):
                ap = np.full((len(ev.bench.queries), len(THRESHOLDS)), math.nan)
                for q in ev.bench.queries:
                    ok, junk = q.protocol(subset)
                    if not len(ok):
                        continue
                    ious = np.array([pairs[(q.index, int(i))][col] for i in ok])
                    for n, t in enumerate(THRESHOLDS):
                        ap[q.index, n] = ev.ap(q.index, ok[ious > t], junk, len(ok))
                res[kind][subset] = [
                    float(np.nanmean(ap[:, n])) if (~np.isnan(ap[:, n])).any() else math.nan
                    for n in range(len(THRESHOLDS))
                ]
                per_q_ap[kind][subset] = ap
        pixel_map = {s: float(np.mean(v)) for s, v in res["mask"].items()}
        pixel_map_box = {s: float(np.mean(v)) for s, v in res["box"].items()}
        per_query = per_query_records(ev, per_q, per_q_ap["mask"], per_q_ap["box"], image, compat=False)
        return ProtocolResult(
            "strict", miou, pixel_map, pixel_map_box, res["mask"],
            image["map"], image["mpk"], per_query,
        )  # fmt: skip
