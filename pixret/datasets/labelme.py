"""Reading and writing labelme JSON polygons (the release's label format)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import PixretError
from ..io import read_json, write_json


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


def read_labelme(path: str | os.PathLike) -> LabelmeShapes:
    """Read every shape's points; a malformed file gives a one-line PixretError."""
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("shapes"), list):
        raise PixretError(path, "not a labelme file (no 'shapes' list)")
    polys = []
    for k, shape in enumerate(data["shapes"]):
        try:
            pts = np.asarray(shape["points"], dtype=np.float64)
        except (KeyError, TypeError, ValueError):
            raise PixretError(path, f"shape {k} has no numeric 'points'") from None
        if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) == 0:
            raise PixretError(path, f"shape {k} points have shape {pts.shape}, expected (n, 2)")
        if not np.isfinite(pts).all():
            raise PixretError(path, f"shape {k} has NaN or infinite coordinates")
        polys.append(pts)
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
        raise PixretError(path, f"{key} must be a whole number of pixels in 1..{MAX_SIDE}, got {value!r}")
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
