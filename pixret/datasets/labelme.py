"""Reading and writing labelme JSON (the release's label format), every shape type labelme saves.

A label file's ``shapes`` each have ``points`` ([[x, y], ...], image pixels) and a
``shape_type`` (labelme 5; files without one are polygons). pixret reads each shape that has an
area as polygons in (x, y), following labelme's own ``shape_to_mask``:

- ``polygon`` (and ``oriented_rectangle``, 4 corners): the points;
- ``rectangle``: 2 opposite corners, read as its 4 corners;
- ``circle``: the centre and a point on the rim, read as a polygon on the circle, its vertices
  at most 2 px apart (at least 64), inscribed: its area is within 0.1% of the disc's;
- ``mask``: 2 corners and ``mask``, a base64 PNG placed with its top-left pixel at the first
  corner (rounded); read as the outlines of its regions through boundary pixel centres, which
  fill back to the same pixels (a hole in it is filled, with a warning).

``line``, ``linestrip`` and ``point`` have no area: a file holding one is refused with one line
naming the shape and the file (a pixel label of no area would score IoU 0 without a word).
"""

from __future__ import annotations

import base64
import binascii
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import BenchmarkWarning, PixretError, quoted
from ..imageio import decode_mask
from ..io import read_json, write_json

AREA_SHAPES = ("polygon", "rectangle", "circle", "mask", "oriented_rectangle")
NO_AREA_SHAPES = ("line", "linestrip", "point")
CIRCLE_STEP = 2.0  # pixels between a circle's vertices (at most)


@dataclass(frozen=True)
class LabelmeShapes:
    """Polygons of one label file, each an (n, 2) float array of (x, y); size when known."""

    polygons: tuple[np.ndarray, ...]
    width: int | None = None
    height: int | None = None

    @property
    def all_points(self) -> np.ndarray:
        if not self.polygons:
            return np.zeros((0, 2))
        return np.concatenate(self.polygons, axis=0)


def circle_polygon(cx: float, cy: float, r: float) -> np.ndarray:
    """A polygon (n, 2) on the circle of centre (cx, cy) and radius r, vertices at most
    CIRCLE_STEP px apart (at least 64)."""
    n = max(64, math.ceil(2 * math.pi * r / CIRCLE_STEP))
    a = np.linspace(0, 2 * math.pi, n, endpoint=False)
    return np.stack([cx + r * np.cos(a), cy + r * np.sin(a)], 1)


def _points(shape: dict, k: int, path: object) -> np.ndarray:
    try:
        pts = np.asarray(shape["points"], dtype=np.float64)
    except (KeyError, TypeError, ValueError):
        raise PixretError(path, f"shape {k} has no numeric 'points'") from None
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) == 0:
        raise PixretError(path, f"shape {k} points have shape {pts.shape}, expected (n, 2)")
    if not np.isfinite(pts).all():
        raise PixretError(path, f"shape {k} has NaN or infinite coordinates")
    return pts


def _mask_polygons(shape: dict, pts: np.ndarray, k: int, path: object) -> list[np.ndarray]:
    data = shape.get("mask")
    if not isinstance(data, str):
        raise PixretError(path, f"shape {k} is a mask without its 'mask' (a base64 PNG)")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise PixretError(path, f"shape {k}: 'mask' is not base64") from None
    mask = decode_mask(raw, f"{path}: shape {k}")
    x0, y0 = np.round(pts[0]).astype(int)
    contours, hierarchy = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    if hierarchy is not None and (hierarchy[0][:, 3] >= 0).any():
        warnings.warn(f"{path}: mask shape {k} has holes; pixret's labels are outlines, so they are filled",
                      BenchmarkWarning, stacklevel=4)  # fmt: skip
    outer = [c for c, h in zip(contours, hierarchy[0] if hierarchy is not None else [], strict=True) if h[3] < 0]
    return [c.reshape(-1, 2).astype(np.float64) + [x0, y0] for c in outer]


def shape_polygons(shape: object, k: int, path: object) -> list[np.ndarray]:
    """The polygons (x, y) of labelme shape number ``k`` (module docstring); PixretError for a
    shape without area or of an unknown type."""
    if not isinstance(shape, dict):
        raise PixretError(path, f"shape {k} is not an object")
    kind = shape.get("shape_type") or "polygon"
    if kind in NO_AREA_SHAPES:
        raise PixretError(path, f"shape {k} is a {kind}, which has no area: a pixel label needs "
                          f"{', '.join(AREA_SHAPES[:-1])} or {AREA_SHAPES[-1]} shapes")  # fmt: skip
    if kind not in AREA_SHAPES:
        raise PixretError(path, f"shape {k} has an unknown shape_type {quoted(kind)}; "
                          f"known: {', '.join(AREA_SHAPES + NO_AREA_SHAPES)}")  # fmt: skip
    pts = _points(shape, k, path)
    if kind in ("rectangle", "circle", "mask") and len(pts) != 2:
        raise PixretError(path, f"shape {k} is a {kind} of {len(pts)} points (labelme saves 2)")
    if kind == "rectangle":
        (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
        return [np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])]
    if kind == "circle":
        return [circle_polygon(*pts[0], float(np.hypot(*(pts[1] - pts[0]))))]
    if kind == "mask":
        return _mask_polygons(shape, pts, k, path)
    return [pts]


def read_labelme(path: str | os.PathLike) -> LabelmeShapes:
    """Read every shape as polygons (module docstring); a malformed file, or a shape without an
    area, gives a one-line PixretError naming the file."""
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("shapes"), list):
        raise PixretError(path, "not a labelme file (no 'shapes' list)")
    polys = [p for k, shape in enumerate(data["shapes"]) for p in shape_polygons(shape, k, path)]
    w, h = (
        _side(data.get("imageWidth"), path, "imageWidth"),
        _side(data.get("imageHeight"), path, "imageHeight"),
    )
    return LabelmeShapes(tuple(polys), w, h)


MAX_SIDE = 100_000  # pixels: no photograph of these benchmarks comes near


def _side(value: object, path: object, key: str) -> int | None:
    """An image side from the label: None when absent (or 0, as some tools write); a negative,
    fractional or absurd one is refused (it would change strict scores without a word)."""
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool) and value == 0):
        return None
    ok = isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= MAX_SIDE
    if not ok or value != int(value):
        raise PixretError(path, f"{key} must be a whole number of pixels in 1..{MAX_SIDE}, got {quoted(value)}")
    return int(value)


def write_labelme(
    path: str | os.PathLike,
    polygons: list[np.ndarray],
    width: int,
    height: int,
    image_path: str = "",
    label: str = "object",
) -> None:
    """Write polygons as a labelme file (atomically)."""
    shapes = [
        {
            "label": label,
            "points": np.asarray(p, dtype=float).round(2).tolist(),
            "group_id": None,
            "shape_type": "polygon",
            "flags": {},
        }
        for p in polygons
    ]
    doc = {
        "version": "5.0.1",
        "flags": {},
        "shapes": shapes,
        "imagePath": image_path or Path(path).with_suffix(".jpg").name,
        "imageData": None,
        "imageHeight": int(height),
        "imageWidth": int(width),
    }
    write_json(path, doc, indent=None)
