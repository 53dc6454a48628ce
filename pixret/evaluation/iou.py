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

from ..errors import PixretError
from ..geometry import box_iou, fill_polygons, rle_to_mask
from .results import PixelPrediction

MAX_COMPAT_WINDOW = 1 << 26  # pixels (64 MP, 2 x 64 MB): far beyond any benchmark image


class CompatPairError(Exception):
    """The release's compute_iou would raise on this pair (it then reuses the previous IoU)."""


def _slice_range(lo: int, hi_excl: int, size: int) -> tuple[int, int]:
    """The [start, stop) that ``canvas[lo:hi_excl]`` selects on an axis of ``size``."""
    start, stop, _ = slice(lo, hi_excl).indices(size)
    return start, max(start, stop)


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
    g = np.concatenate(gs) if len(gs) > 1 else gs[0]
    (px0, py0), (px1, py1) = p.min(0).tolist(), p.max(0).tolist()
    (gx0, gy0), (gx1, gy1) = g.min(0).tolist(), g.max(0).tolist()
    size = max(px1, py1, gx1, gy1)
    if size < 0:
        raise CompatPairError("negative canvas size")

    # box: mask[ymin:ymax+1, xmin:xmax+1] = 1 on a size x size canvas (Python slicing)
    pr, pc = _slice_range(py0, py1 + 1, size), _slice_range(px0, px1 + 1, size)
    gr, gc = _slice_range(gy0, gy1 + 1, size), _slice_range(gx0, gx1 + 1, size)
    area_p = (pr[1] - pr[0]) * (pc[1] - pc[0])
    area_g = (gr[1] - gr[0]) * (gc[1] - gc[0])
    inter = _overlap(pr, gr) * _overlap(pc, gc)
    box = _ratio(inter, area_p + area_g - inter)

    # mask: fillPoly of the prediction and of each GT polygon, in the window holding both
    x0, y0 = max(0, min(px0, gx0)), max(0, min(py0, gy0))
    x1, y1 = min(size, max(px1, gx1) + 1), min(size, max(py1, gy1) + 1)
    if x1 <= x0 or y1 <= y0:
        return box, math.nan
    if (x1 - x0) * (y1 - y0) > MAX_COMPAT_WINDOW:
        # the release would allocate two size x size float canvases here (terabytes for wild
        # coordinates) and its bare `except` would catch the MemoryError: the pair fails
        raise CompatPairError(f"a {x1 - x0}x{y1 - y0} window is too large to fill")
    off = np.array([x0, y0])
    pm = np.zeros((y1 - y0, x1 - x0), np.uint8)
    gm = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(pm, [(p - off).astype(np.int32)], 1)
    for poly in gs:
        cv2.fillPoly(gm, [(poly - off).astype(np.int32)], 1)
    n_p, n_g = cv2.countNonZero(pm), cv2.countNonZero(gm)
    n_i = cv2.countNonZero(cv2.bitwise_and(pm, gm))
    return box, _ratio(n_i, n_p + n_g - n_i)


# ---------------------------------------------------------------- strict

def _clipped_box(pts: np.ndarray, h: int, w: int) -> tuple[float, float, float, float]:
    (x0, y0), (x1, y1) = pts.min(0).tolist(), pts.max(0).tolist()
    return min(max(x0, 0), w), min(max(y0, 0), h), min(max(x1, 0), w), min(max(y1, 0), h)


def _decode(rle: dict, h: int, w: int) -> np.ndarray:
    if list(rle["size"]) != [h, w]:
        raise PixretError(None, f"a predicted mask of size {rle['size']} (h, w) on an image of {[h, w]}")
    return rle_to_mask(rle)


def strict_iou(
    pred: PixelPrediction | None, gt_polys: tuple[np.ndarray, ...], h: int, w: int
) -> tuple[float, float]:
    """(box IoU, mask IoU) on the image's own h x w canvas: every polygon counts, outside clipped.

    Masks use OpenCV's scan conversion (the rule of the release and of labelme's tools: a
    pixel centred on the boundary is in) at 1/16-pixel precision instead of truncated integers;
    pycocotools' encoder was 10x slower here. Boxes are continuous boxes around the points,
    clipped to the image; a mask's box runs through its outermost pixels' centres, as a polygon
    traced around those pixels does (so a mask of exactly a label's pixels has the label's box).
    No prediction, or no ground truth, scores 0.
    """
    if pred is None or pred.empty or not gt_polys:
        return 0.0, 0.0
    gt_box = _clipped_box(np.concatenate(gt_polys) if len(gt_polys) > 1 else gt_polys[0], h, w)
    if pred.rle is not None:
        full = _decode(pred.rle, h, w)
        ys, xs = np.nonzero(full)
        pbox = (
            (float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max()))
            if len(xs)
            else (0.0, 0.0, 0.0, 0.0)
        )
    else:
        full = None
        pbox = _clipped_box(np.concatenate([p for p in pred.polygons if len(p)]), h, w)
    # rasterise only the window holding both shapes (pixels elsewhere are 0 in both)
    x0 = max(0, math.floor(min(pbox[0], gt_box[0])) - 1)
    y0 = max(0, math.floor(min(pbox[1], gt_box[1])) - 1)
    x1 = min(w, math.ceil(max(pbox[2], gt_box[2])) + 2)
    y1 = min(h, math.ceil(max(pbox[3], gt_box[3])) + 2)
    if x1 <= x0 or y1 <= y0:
        return box_iou(pbox, gt_box), 0.0
    gm = fill_polygons(gt_polys, y1 - y0, x1 - x0, (x0, y0))
    if full is not None:
        pm = np.ascontiguousarray(full[y0:y1, x0:x1])
    else:
        pm = fill_polygons(pred.polygons, y1 - y0, x1 - x0, (x0, y0))
    n_p, n_g = cv2.countNonZero(pm), cv2.countNonZero(gm)
    n_i = cv2.countNonZero(cv2.bitwise_and(pm, gm))
    union = n_p + n_g - n_i
    return box_iou(pbox, gt_box), (n_i / union if union else 0.0)
