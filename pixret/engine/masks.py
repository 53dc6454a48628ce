"""Pixel output: the query box mapped into each result, and a mask that follows the object.

The tighter mask comes from consensus: query keypoints that are inliers in several verified
results lie on the object (background in the query box rarely verifies twice). Their
support, discs sized by the keypoints' scales, gives the object in the query, either as the
convex hull of the discs ("hull": objects have uniform parts where no feature fires) or as
the discs closed morphologically ("discs"); each result's homography carries it into that
image, clipped to the image.
"""

from __future__ import annotations

import cv2
import numpy as np
import shapely
from shapely.geometry import Polygon
from shapely.geometry import box as shapely_box

from .config import MaskConfig


def box_polygon(box: tuple[float, float, float, float]) -> np.ndarray:
    x1, y1, x2, y2 = box
    return np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], np.float64)


def warp_points(pts: np.ndarray, h: np.ndarray) -> np.ndarray:
    return cv2.perspectiveTransform(pts.reshape(-1, 1, 2).astype(np.float64), h).reshape(-1, 2)


def clip_polygon(pts: np.ndarray, w: int, h: int) -> list[np.ndarray]:
    """Intersect a polygon with the image rectangle; the pieces, largest first."""
    if len(pts) < 3:
        return []
    poly = shapely.make_valid(Polygon(pts))
    inter = poly.intersection(shapely_box(0, 0, w, h))
    parts = [g for g in getattr(inter, "geoms", [inter]) if isinstance(g, Polygon) and g.area > 1]
    parts.sort(key=lambda g: -g.area)
    return [np.asarray(g.exterior.coords)[:-1] for g in parts]


def support_polygons(
    q_kpts: np.ndarray,
    votes: np.ndarray,
    box: tuple[float, float, float, float],
    n_verified: int,
    cfg: MaskConfig,
) -> list[np.ndarray]:
    """Object outline(s) in the query, from keypoints with enough inlier votes; [] if too few."""
    need = cfg.min_votes if n_verified >= 3 else 1
    sel = votes >= need
    if sel.sum() < 6:
        return []
    x1, y1, x2, y2 = box
    bw, bh = int(np.ceil(x2 - x1)) + 1, int(np.ceil(y2 - y1)) + 1
    diag = float(np.hypot(bw, bh))
    radii = np.clip(q_kpts[sel, 2] * cfg.disc, 0.01 * diag, 0.08 * diag)
    if cfg.shape == "hull":
        ang = np.linspace(0, 2 * np.pi, 12, endpoint=False)
        ring = np.stack([np.cos(ang), np.sin(ang)], 1)
        pts = (q_kpts[sel, None, :2] + radii[:, None, None] * ring[None]).reshape(-1, 2)
        hull = cv2.convexHull(pts.astype(np.float32)).reshape(-1, 2).astype(np.float64)
        return [p + [x1, y1] for p in clip_polygon(hull - [x1, y1], x2 - x1, y2 - y1)]
    m = np.zeros((bh, bw), np.uint8)
    for (x, y), r in zip(q_kpts[sel, :2], radii, strict=True):
        cv2.circle(m, (round(x - x1), round(y - y1)), round(r), 1, -1)
    k = max(3, int(cfg.close * diag) | 1)
    m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return []
    total = sum(cv2.contourArea(c) for c in contours)
    polys = []
    for c in sorted(contours, key=cv2.contourArea, reverse=True):
        if cv2.contourArea(c) < 0.1 * total:
            continue
        c = cv2.approxPolyDP(c, 0.004 * diag, True)
        polys.append(c.reshape(-1, 2).astype(np.float64) + [x1, y1])
    return polys


def project(polys: list[np.ndarray], h: np.ndarray, w: int, hh: int) -> list[np.ndarray]:
    """Warp query-side polygons into a result image and clip them to it."""
    out = []
    for p in polys:
        out += clip_polygon(warp_points(p, h), w, hh)
    return out
