"""Drawing masks, polygons and boxes on images (OpenCV, BGR; images come from pixret.imageio)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import shapely
from shapely.geometry import box as shapely_box

from ..geometry import fill_polygons

GT_COLOR = (80, 200, 60)  # green
PRED_COLOR = (60, 60, 240)  # red
BOX_COLOR = (240, 160, 30)  # blue-ish
STATUS_COLORS = {"true": (80, 200, 60), "false": (60, 60, 240), "junk": (150, 150, 150)}


def tint(img: np.ndarray, mask: np.ndarray, color: tuple[int, int, int], alpha: float = 0.45) -> np.ndarray:
    """Blend ``color`` into ``img`` where ``mask`` is set, and outline the region. ``mask`` is in
    the image's pixels from its top left: one of another size (a prediction's RLE made for
    another canvas) is drawn where it overlaps the image."""
    out = img.copy()
    h, w = img.shape[:2]
    m = np.zeros((h, w), bool)
    mh, mw = min(h, mask.shape[0]), min(w, mask.shape[1])
    m[:mh, :mw] = mask[:mh, :mw].astype(bool)
    if m.any():
        out[m] = (out[m] * (1 - alpha) + np.array(color) * alpha).astype(np.uint8)
        contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, color, max(1, round(max(img.shape[:2]) / 400)))
    return out


def _on_canvas(polys, w: int, h: int, margin: int) -> list[np.ndarray]:
    """``polys`` as OpenCV can draw them on a ``w`` x ``h`` image: a polygon that reaches past
    the image by more than ``margin`` pixels is clipped to that frame (shapely), since OpenCV
    draws in int32 fixed point and a vertex at 1e10 (a box typed as 0,0,1e10,1e10, a homography
    that sends a corner to infinity) overflows it; one with a non-finite vertex is left out.
    What lies in the image is drawn the same: the frame's own edges fall in the margin."""
    lo, hi = -margin, max(w, h) + margin
    frame_ = shapely_box(lo, lo, w + margin, h + margin)
    out = []
    for p in polys:
        p = np.asarray(p, np.float64).reshape(-1, 2)
        if not len(p) or not np.isfinite(p).all():
            continue
        if p.min() >= lo and p.max() <= hi:
            out.append(p)
            continue
        line = shapely.LineString(np.vstack([p, p[:1]]))
        geom = shapely.make_valid(shapely.Polygon(p)) if len(p) >= 3 else line
        for part in getattr(geom.intersection(frame_), "geoms", [geom.intersection(frame_)]):
            ring = part.exterior if isinstance(part, shapely.Polygon) else part
            if isinstance(ring, shapely.LineString | shapely.LinearRing) and not ring.is_empty:
                out.append(np.asarray(ring.coords, np.float64)[:, :2])
    return out


def draw_polygons(img: np.ndarray, polys, color, fill: bool = True) -> np.ndarray:
    """``img`` with ``polys`` ((n, 2) arrays, image pixels) tinted (``fill``) and outlined."""
    h, w = img.shape[:2]
    thick = max(1, round(max(h, w) / 400))
    polys = _on_canvas(polys, w, h, 4 * thick + 4)
    out = tint(img, fill_polygons(polys, h, w, min_points=3), color) if fill else img.copy()
    for p in polys:
        if len(p):
            pts = np.round(np.asarray(p)).astype(np.int32).reshape(-1, 1, 2)
            cv2.polylines(out, [pts], True, color, thick, cv2.LINE_AA)
    return out


def draw_box(img: np.ndarray, box, color=BOX_COLOR) -> np.ndarray:
    """``img`` with the box (x1, y1, x2, y2) drawn; a side past the image is drawn just outside it
    (so a box of 0,0,1e10,1e10 outlines the top and left edges only), a box with a non-finite
    value not at all."""
    out = img.copy()
    if not all(math.isfinite(float(v)) for v in box):
        return out
    h, w = img.shape[:2]
    thick = max(2, round(max(h, w) / 300))
    x1, y1, x2, y2 = (round(min(max(float(v), -2.0 * thick), lim + 2.0 * thick))
                      for v, lim in zip(box, (w, h, w, h), strict=True))  # fmt: skip
    cv2.rectangle(out, (x1, y1), (x2, y2), color, thick)
    return out


def frame(img: np.ndarray, color, width: int = 6) -> np.ndarray:
    return cv2.copyMakeBorder(img, width, width, width, width, cv2.BORDER_CONSTANT, value=color)


def label(img: np.ndarray, text: str) -> np.ndarray:
    out = img.copy()
    scale = max(0.5, img.shape[1] / 700)
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
    cv2.rectangle(out, (0, 0), (tw + 10, th + 14), (0, 0, 0), -1)
    cv2.putText(out, text, (5, th + 6), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 2, cv2.LINE_AA)
    return out
