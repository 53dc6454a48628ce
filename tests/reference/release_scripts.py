"""The release's evaluation, transcribed step by step (full canvas per pair, Python loops).

Slow on purpose: it is the oracle the fast ``compat`` protocol is tested against, and the
baseline that ``benchmarks/bench_iou.py`` times. It follows the release as it is today:
``evaluation_code/utils/iou_compute.py`` after commit 7772cb4 "modify width height order"
(2024-03-16), which reads a prediction's column 0 as x (``test_x = test_points[:, 0]``, box
``test_points[:, 0].min()``); ``mious.py`` and ``unified.py`` import that file. So the points
given here are the arrays exactly as stored in a release ``.npy`` pixel file.
"""

from __future__ import annotations

import cv2
import numpy as np


def release_pair_iou(pred_xy: np.ndarray, gt_polys: list[np.ndarray], kind: str) -> float:
    """``compute_iou`` of the current release: a size x size float canvas, size = largest
    coordinate; ``pred_xy`` as stored in the file, column 0 = x."""
    test = np.asarray(pred_xy).astype(int)
    every_gt = np.concatenate([np.asarray(g) for g in gt_polys]).astype(int)
    size = max(test[:, 0].max(), test[:, 1].max(), every_gt[:, 0].max(), every_gt[:, 1].max())
    test_mask, gt_mask = np.zeros((size, size)), np.zeros((size, size))
    if kind == "bbox":
        test_mask[test[:, 1].min() : test[:, 1].max() + 1, test[:, 0].min() : test[:, 0].max() + 1] = 1.0
        gt_mask[
            every_gt[:, 1].min() : every_gt[:, 1].max() + 1,
            every_gt[:, 0].min() : every_gt[:, 0].max() + 1,
        ] = 1.0
    else:
        cv2.fillPoly(test_mask, pts=[test.astype(np.int32)], color=(255, 255, 255))
        test_mask /= 255.0
        for g in gt_polys:
            cv2.fillPoly(gt_mask, pts=[np.asarray(g).astype(int).astype(np.int32)], color=(255, 255, 255))
        gt_mask /= 255.0
    inter = np.sum(np.logical_and(test_mask, gt_mask))
    union = np.sum(gt_mask) + np.sum(test_mask) - inter
    with np.errstate(all="ignore"):
        return inter / union


def release_mious(queries, preds, gts):
    """``mious.py``: returns ([mb, mm, hb, hm] per query, IOU_dict) for (easy, hard) lists.

    ``queries``: list of (easy, hard); ``preds``: dict (q, i) -> (n,2) points or missing;
    ``gts``: dict (q, i) -> list of polygons. A pair the release fails on raises inside its
    try-block; here that is a prediction with fewer than one point or no GT polygon.
    """
    table = {}
    per_q = []
    bbox_iou = seg_iou = None
    for q, (easy, hard) in enumerate(queries):
        mb, mm, hb, hm = [], [], [], []
        for subset in ("hard", "easy"):
            for i in hard if subset == "hard" else easy:
                found = preds.get((q, i), np.zeros((0, 2)))
                if len(found) == 0:
                    bbox_iou = seg_iou = 0
                    if subset == "hard":
                        table[f"{q}_{i}"] = [0, 0]
                        for lst in (mb, hb):
                            lst.append(0)
                        for lst in (mm, hm):
                            lst.append(0)
                    continue
                try:
                    gt = gts[(q, i)]
                    if not gt:
                        raise ValueError("no gt")
                    b = release_pair_iou(found, gt, "bbox")
                    s = release_pair_iou(found, gt, "segmentation")
                    bbox_iou, seg_iou = b, s
                    table[f"{q}_{i}"] = [b, s]
                except (ValueError, IndexError, KeyError):
                    if bbox_iou is None:
                        bbox_iou = seg_iou = 0.0
                mb.append(bbox_iou)
                mm.append(seg_iou)
                if subset == "hard":
                    hb.append(bbox_iou)
                    hm.append(seg_iou)
        per_q.append([np.mean(v) if v else np.nan for v in (mb, mm, hb, hm)])
    return per_q, table


def _release_ap(ranks, nres):
    ap = 0.0
    step = 1.0 / nres
    for j, rank in enumerate(ranks):
        p0 = 1.0 if rank == 0 else float(j) / rank
        p1 = float(j + 1) / (rank + 1)
        ap += (p0 + p1) * step / 2.0
    return ap


def release_pixel_map(ranks, gnd, table, ignore=(), zero_division=None):
    """``compute_maps`` of ``evaluate_pixel.py`` (box IoU, thresholds 50..95).

    Where no query keeps a positive the release raises ZeroDivisionError; pass
    ``zero_division`` to score such a threshold with that value instead (as pixret does).
    """
    maps = []
    nq = len(gnd)
    for t in range(50, 100, 5):
        total, nempty = 0.0, 0
        for i in range(nq):
            if i in ignore:
                continue
            qgnd = []
            for j in gnd[i]["ok"]:
                key = f"{i}_{int(j)}"
                if key in table and table[key][0] > t / 100:
                    qgnd.append(j)
            if not qgnd:
                nempty += 1
                continue
            col = list(ranks[:, i])
            pos = [r for r, v in enumerate(col) if v in set(qgnd)]
            junk = [r for r, v in enumerate(col) if v in set(gnd[i]["junk"])]
            k = ij = 0
            for ip in range(len(pos)):
                while ij < len(junk) and pos[ip] > junk[ij]:
                    k += 1
                    ij += 1
                pos[ip] -= k
            total += _release_ap(pos, len(qgnd))
        if nq == nempty and zero_division is not None:
            maps.append(zero_division)
            continue
        maps.append(total / (nq - nempty))
    return float(np.mean(maps))
