"""Drawing masks, polygons and boxes on images (OpenCV, BGR; images come from pixret.imageio)."""

from __future__ import annotations

import cv2
import numpy as np

from ..geometry import fill_polygons

GT_COLOR = (80, 200, 60)  # green
PRED_COLOR = (60, 60, 240)  # red
BOX_COLOR = (240, 160, 30)  # blue-ish
STATUS_COLORS = {"true": (80, 200, 60), "false": (60, 60, 240), "junk": (150, 150, 150)}


def tint(img: np.ndarray, mask: np.ndarray, color: tuple[int, int, int], alpha: float = 0.45) -> np.ndarray:
    """Blend ``color`` into ``img`` where ``mask`` is set, and outline the region."""
    out = img.copy()
    m = mask.astype(bool)
    if m.any():
        out[m] = (out[m] * (1 - alpha) + np.array(color) * alpha).astype(np.uint8)
        contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, color, max(1, round(max(img.shape[:2]) / 400)))
    return out


def draw_polygons(img: np.ndarray, polys, color, fill: bool = True) -> np.ndarray:
    h, w = img.shape[:2]
    out = tint(img, fill_polygons(polys, h, w, min_points=3), color) if fill else img.copy()
    thick = max(1, round(max(h, w) / 400))
    for p in polys:
        if len(p):
            pts = np.round(np.asarray(p)).astype(np.int32).reshape(-1, 1, 2)
            cv2.polylines(out, [pts], True, color, thick, cv2.LINE_AA)
    return out


def draw_box(img: np.ndarray, box, color=BOX_COLOR) -> np.ndarray:
    out = img.copy()
    x1, y1, x2, y2 = (round(v) for v in box)
    cv2.rectangle(out, (x1, y1), (x2, y2), color, max(2, round(max(img.shape[:2]) / 300)))
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
