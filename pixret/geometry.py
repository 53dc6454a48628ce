"""Boxes, polygons and masks: parsing, checking, rasterising, converting. The one place for each.

Conventions (those of labelme, of the release and of OpenCV):

- points are (x, y) in image pixels, pixel (row r, column c) centred on (x=c, y=r);
- a polygon is an (n, 2) float array; an object is a list of them (their union);
- a box is (x1, y1, x2, y2), continuous, x2 > x1 and y2 > y1;
- a mask is an (h, w) uint8 array, non-zero = object; a COCO RLE is
  ``{"size": [h, w], "counts": str}`` (pycocotools' column-major run lengths).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from .errors import PixretError, number, quoted

# ---------------------------------------------------------------- boxes


class Box(NamedTuple):
    """A box (x1, y1, x2, y2) in image pixels."""

    x1: float
    y1: float
    x2: float
    y2: float

    @classmethod
    def parse(cls, box) -> Box:
        """A box from "x1,y1,x2,y2" text or a sequence of 4 numbers (the one parser: CLI, API,
        engine, study). Raises PixretError naming what was given."""
        parts = box.split(",") if isinstance(box, str) else box
        try:
            vals = tuple(float(v) for v in parts)
        except (TypeError, ValueError):
            raise PixretError(None, f"box must be 4 numbers x1,y1,x2,y2, got {quoted(box)}") from None
        if len(vals) != 4:
            raise PixretError(None, f"box must be 4 numbers x1,y1,x2,y2, got {len(vals)}: {quoted(box)}")
        return cls(*vals)

    def format(self) -> str:
        """As a person reads it: "60, 220, 300, 410" (whole pixels, as the page shows it); a value
        beyond a million pixels, or not finite, as ``errors.number`` writes it (1e308 is
        ``1e+308``, not 309 digits)."""
        return ", ".join(f"{round(float(v)):d}" if abs(float(v)) < 1e6 else number(v) for v in self)

    def check(self, w: int, h: int) -> Box:
        """This box clipped to a ``w`` x ``h`` image; PixretError when it has a non-finite value,
        is empty, or lies wholly outside the image."""
        x1, y1, x2, y2 = self
        if not all(math.isfinite(v) for v in self):
            raise PixretError(None, f"box {self.format()} has a non-finite value")
        if x2 <= x1 or y2 <= y1:
            raise PixretError(None, f"box {self.format()} is empty (needs x2 > x1 and y2 > y1)")
        if x2 <= 0 or y2 <= 0 or x1 >= w or y1 >= h:
            raise PixretError(None, f"box {self.format()} lies outside the {w}x{h} image")
        return Box(max(0.0, x1), max(0.0, y1), min(float(w), x2), min(float(h), y2))

    def scaled(self, s: float) -> Box:
        return Box(*(float(v) * s for v in self))

    def polygon(self) -> np.ndarray:
        """The box as a 4-point polygon (4, 2), clockwise from the top left."""
        x1, y1, x2, y2 = self
        return np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], np.float64)


def box_polygon(box) -> np.ndarray:
    """A 4-point polygon (4, 2) of any (x1, y1, x2, y2)."""
    return Box(*box).polygon()


def points_box(pts: np.ndarray) -> tuple[float, float, float, float]:
    """The box around (n, 2) points (n >= 1)."""
    (x0, y0), (x1, y1) = pts.min(0).tolist(), pts.max(0).tolist()
    return x0, y0, x1, y1


def box_iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """IoU of two continuous boxes (x0, y0, x1, y1); 0 when both are empty."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


# ---------------------------------------------------------------- rasterising

SHIFT = 4  # OpenCV fixed-point bits: polygons are filled with 1/16-pixel precision


def _subpixel(poly: np.ndarray, off: np.ndarray) -> np.ndarray:
    # pixel (r, c) is centred on (x=c, y=r), the convention of labelme and of the release
    return np.round((np.asarray(poly, np.float64) - off) * (1 << SHIFT)).astype(np.int32)


def fill_polygons(polys, h: int, w: int, off: tuple[int, int] = (0, 0), min_points: int = 1) -> np.ndarray:
    """Union of filled polygons as a uint8 mask of shape (h, w), whose (0, 0) is at ``off``;
    polygons with fewer than ``min_points`` points are left out.

    OpenCV's scan conversion (the rule of the release and of labelme's tools: a pixel centred
    on the boundary is in) at 1/16-pixel precision."""
    m = np.zeros((h, w), np.uint8)
    o = np.asarray(off, np.float64)
    for p in polys:  # one call per polygon: the union, not the even-odd of overlapping parts
        if len(p) >= max(1, min_points):
            cv2.fillPoly(m, [_subpixel(p, o)], 1, cv2.LINE_8, SHIFT)
    return m


def mask_outlines(mask: np.ndarray, min_area: float = 16) -> list[np.ndarray]:
    """Outer outlines (through boundary pixel centres) of a binary mask's regions, as (n, 2)
    float polygons; regions under ``min_area`` pixels are left out."""
    contours, _ = cv2.findContours((mask > 0).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return [c.reshape(-1, 2).astype(np.float64) for c in contours if cv2.contourArea(c) >= min_area]


def mask_to_polygon(mask: np.ndarray) -> np.ndarray:
    """Outline of the largest region of a binary mask as (n, 2) points; (0, 2) when empty."""
    contours, _ = cv2.findContours((mask > 0).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return np.zeros((0, 2))
    return max(contours, key=cv2.contourArea).reshape(-1, 2).astype(np.float64)


# ---------------------------------------------------------------- RLE and JSON


def rle_to_mask(rle: dict) -> np.ndarray:
    """A COCO RLE (counts as str or bytes) as an (h, w) uint8 mask."""
    return mask_utils.decode(rle)


def mask_to_rle(mask: np.ndarray) -> dict:
    """An (h, w) mask as a COCO RLE with str counts (JSON-ready)."""
    rle = mask_utils.encode(np.asfortranarray((mask > 0).astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def polygons_to_rle(polys, h: int, w: int) -> dict:
    """Union of filled polygons as a COCO RLE on an h x w canvas (str counts)."""
    return mask_to_rle(fill_polygons(polys, h, w))


def polygons_as_lists(polys, decimals: int = 1) -> list[list[list[float]]]:
    """Polygons as JSON-ready nested lists of (x, y), rounded (what the API, the CLI's --json,
    study files and pixret JSON results hold)."""
    return [np.round(np.asarray(p, float), decimals).tolist() for p in polys]
