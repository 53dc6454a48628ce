"""Drawing masks, polygons and boxes on images (OpenCV, BGR)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from ..evaluation.iou import fill_polygons
from ..io import PixretError, atomic_open

GT_COLOR = (80, 200, 60)  # green
PRED_COLOR = (60, 60, 240)  # red
BOX_COLOR = (240, 160, 30)  # blue-ish
STATUS_COLORS = {"true": (80, 200, 60), "false": (60, 60, 240), "junk": (150, 150, 150)}


def read_image(path: str | os.PathLike) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise PixretError(path, "unreadable image")
    return img


def write_image(path: str | os.PathLike, img: np.ndarray, quality: int = 90) -> None:
    ext = Path(path).suffix.lower() or ".png"
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if ext in (".jpg", ".jpeg") else []
    ok, buf = cv2.imencode(ext, img, params)
    if not ok:
        raise PixretError(path, "could not encode image")
    with atomic_open(path, "wb") as fh:
        fh.write(buf.tobytes())


def encode(img: np.ndarray, ext: str = ".jpg", quality: int = 85) -> bytes:
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if ext == ".jpg" else []
    return cv2.imencode(ext, img, params)[1].tobytes()


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


def thumbnail(img: np.ndarray, longest: int = 320) -> np.ndarray:
    h, w = img.shape[:2]
    s = longest / max(h, w)
    if s >= 1:
        return img
    return cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
