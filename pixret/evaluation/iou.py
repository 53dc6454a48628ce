"""Per-pair IoU: the release's computation (compat) and a corrected one (strict).

compat reproduces ``utils/iou_compute.py`` of the release to the pixel, without its cost: the
release fills a float canvas whose side is the largest coordinate for every pair; we fill only
the window that holds both shapes (OpenCV's scan conversion is translation invariant for
integer offsets, and clipping happens at the same canvas edges), and the box IoU is computed
in closed form from Python's slice semantics, which is how the release's negative-coordinate
quirk arises.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from .predictions import PixelPrediction


class CompatPairError(Exception):
    """The release's compute_iou would raise on this pair (it then reuses the previous IoU)."""


def _slice_len_range(lo: int, hi_excl: int, size: int) -> tuple[int, int]:
    start, stop, _ = slice(lo, hi_excl).indices(size)
    return start, max(start, stop)


def _box_area_and_ranges(pts: np.ndarray, size: int) -> tuple[tuple[int, int], tuple[int, int]]:
    rows = _slice_len_range(int(pts[:, 1].min()), int(pts[:, 1].max()) + 1, size)
    cols = _slice_len_range(int(pts[:, 0].min()), int(pts[:, 0].max()) + 1, size)
    return rows, cols


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> int:
    return max(0, min(a[1], b[1]) - max(a[0], b[0]))


def _ratio(inter: float, union: float) -> float:
    # the release divides numpy floats: 0/0 gives nan (with a RuntimeWarning), not an exception
    return inter / union if union else math.nan


def compat_iou(pred_xy: np.ndarray, gt_polys: tuple[np.ndarray, ...]) -> tuple[float, float]:
    """(box IoU, mask IoU) exactly as the release computes them, for one predicted polygon."""
    if not gt_polys or not sum(len(g) for g in gt_polys):
        raise CompatPairError("no ground-truth points")
    if pred_xy.ndim != 2 or pred_xy.shape[1] != 2 or not len(pred_xy):
        raise CompatPairError("prediction is not an (n, 2) array")
    # astype(int) truncates toward zero, as the release does
    p = pred_xy.astype(np.int64)
    gs = [g.astype(np.int64) for g in gt_polys]
    g = np.concatenate(gs)
    size = int(max(p.max(), g.max()))
    if size < 0:
        raise CompatPairError("negative canvas size")

    # box: test_mask[ymin:ymax+1, xmin:xmax+1] = 1 on a size x size canvas
    pr, pc = _box_area_and_ranges(p, size)
    gr, gc = _box_area_and_ranges(g, size)
    area_p = (pr[1] - pr[0]) * (pc[1] - pc[0])
    area_g = (gr[1] - gr[0]) * (gc[1] - gc[0])
    inter = _overlap(pr, gr) * _overlap(pc, gc)
    box = _ratio(inter, area_p + area_g - inter)

    # mask: fillPoly of the prediction and of each GT polygon, in the window holding both
    x0, y0 = max(0, int(min(p[:, 0].min(), g[:, 0].min()))), max(0, int(min(p[:, 1].min(), g[:, 1].min())))
    x1 = min(size, int(max(p[:, 0].max(), g[:, 0].max())) + 1)
    y1 = min(size, int(max(p[:, 1].max(), g[:, 1].max())) + 1)
    if x1 <= x0 or y1 <= y0:
        return box, math.nan
    off = np.array([x0, y0])
    pm = np.zeros((y1 - y0, x1 - x0), np.uint8)
    gm = np.zeros_like(pm)
    cv2.fillPoly(pm, [(p - off).astype(np.int32)], 1)
    for poly in gs:
        cv2.fillPoly(gm, [(poly - off).astype(np.int32)], 1)
    n_p, n_g = cv2.countNonZero(pm), cv2.countNonZero(gm)
    n_i = cv2.countNonZero(cv2.bitwise_and(pm, gm))
    return box, _ratio(n_i, n_p + n_g - n_i)


# ---------------------------------------------------------------- strict


def polygons_to_rle(polys: list[np.ndarray] | tuple[np.ndarray, ...], h: int, w: int) -> dict:
    """Union of filled polygons as one COCO RLE on an h x w canvas (outside points clipped)."""
    flat = []
    for poly in polys:
        if not len(poly):
            continue
        if len(poly) < 3:  # pycocotools takes 4 numbers for a box: pad to a degenerate polygon
            poly = np.concatenate([poly, poly[-1:].repeat(3 - len(poly), axis=0)])
        flat.append(np.asarray(poly, dtype=np.float64).reshape(-1).tolist())
    if not flat:
        return mask_utils.encode(np.zeros((h, w), np.uint8, order="F"))
    return mask_utils.merge(mask_utils.frPyObjects(flat, h, w))


def _clipped_box(pts: np.ndarray, h: int, w: int) -> tuple[float, float, float, float]:
    x = np.clip(pts[:, 0], 0, w)
    y = np.clip(pts[:, 1], 0, h)
    return float(x.min()), float(y.min()), float(x.max()), float(y.max())


def _box_iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def strict_iou(
    pred: PixelPrediction | None, gt_polys: tuple[np.ndarray, ...], h: int, w: int
) -> tuple[float, float]:
    """(box IoU, mask IoU) on the image's own canvas: every polygon counts, outside clipped.

    Masks use COCO's polygon rasterisation; boxes are continuous boxes around the points
    (or the mask), clipped to the image. No prediction, or no ground truth, scores 0.
    """
    if pred is None or pred.empty or not gt_polys:
        return 0.0, 0.0
    gt_rle = polygons_to_rle(gt_polys, h, w)
    gt_box = _clipped_box(np.concatenate(gt_polys), h, w)
    if pred.rle is not None:
        if list(pred.rle["size"]) != [h, w]:
            raise ValueError(f"mask size {pred.rle['size']} differs from the image's {[h, w]}")
        rle = dict(pred.rle)
        if isinstance(rle["counts"], str):
            rle["counts"] = rle["counts"].encode("ascii")
        x, y, bw, bh = mask_utils.toBbox(rle)
        pbox = (float(x), float(y), float(x + bw), float(y + bh))
    else:
        rle = polygons_to_rle(pred.polygons, h, w)
        pbox = _clipped_box(np.concatenate([p for p in pred.polygons if len(p)]), h, w)
    mask = float(mask_utils.iou([rle], [gt_rle], [0])[0, 0])
    return _box_iou(pbox, gt_box), mask
