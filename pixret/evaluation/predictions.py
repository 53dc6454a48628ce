"""A method's results: image-level rankings and pixel-level predictions, in two formats.

Release format (what the benchmark's scripts read):
  * image level: ``.npy`` int array (n_database, n_queries), column q = database indices, best first;
  * pixel level: ``.npy`` dict ``'qimlist_{q}_imlist_{i}' -> (n, 2)`` points, column 0 = x.
    The release's ``utils/iou_compute.py`` reads them so since its commit 7772cb4 "modify width
    height order" (2024-03-16): ``test_x = test_points[:, 0]``, box ``test_points[:, 0].min()``
    as x. Before that commit it read column 0 as y; ``points="yx"`` reads files made for those
    older scripts. See docs/protocols.md, "Point order".

pixret format (JSON, several polygons or a mask per pair)::

    {"format": "pixret-pixel-results", "version": 1, "method": "...",
     "pairs": [{"query": q, "image": i,
                "polygons": [[[x, y], ...], ...]       # (x, y), any number of polygons
                | "rle": {"size": [h, w], "counts": "..."}   # COCO RLE
                | "mask": "masks/q_i.png"}]}          # PNG, non-zero = object, relative path

    {"format": "pixret-ranks", "version": 1, "ranks": [[i, ...], ...]}   # one list per query
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from ..io import PixretError, load_npy, read_json, save_npy, write_json
from .ranking import check_ranks

_RELEASE_KEY = re.compile(r"^qimlist_(\d+)_imlist_(\d+)$")
# Coordinates beyond this cannot be real pixels and would overflow OpenCV's int32 fill.
_MAX_COORD = 1e7
# Column order of points in release .npy pixel files; the first is the current release's.
POINT_ORDERS = ("xy", "yx")


class PixretWarning(UserWarning):
    """Input that is scored, but probably not what the user meant."""


@dataclass
class PixelPrediction:
    """Predicted object pixels in one database image: polygons (x, y) and/or a COCO RLE mask."""

    polygons: list[np.ndarray] = field(default_factory=list)
    rle: dict | None = None

    @property
    def empty(self) -> bool:
        return not any(len(p) for p in self.polygons) and self.rle is None

    def first_polygon(self) -> np.ndarray:
        """The one polygon the release's scripts would use (from the mask if only a mask is given)."""
        for p in self.polygons:
            if len(p):
                return p
        if self.rle is not None:
            return mask_to_polygon(rle_to_mask(self.rle))
        return np.zeros((0, 2))


PixelResults = dict[tuple[int, int], PixelPrediction]


def polygons_as_lists(polys, decimals: int = 1) -> list[list[list[float]]]:
    """Polygons as JSON-ready nested lists of (x, y), rounded (what the API, the CLI's --json,
    study files and pixret JSON results hold)."""
    return [np.round(np.asarray(p, float), decimals).tolist() for p in polys]


def mask_to_polygon(mask: np.ndarray) -> np.ndarray:
    """Outline of the largest region of a binary mask as (x, y) points."""
    contours, _ = cv2.findContours((mask > 0).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return np.zeros((0, 2))
    return max(contours, key=cv2.contourArea).reshape(-1, 2).astype(np.float64)


def rle_to_mask(rle: dict) -> np.ndarray:
    """A COCO RLE (counts as str or bytes) as a uint8 mask."""
    return mask_utils.decode(rle)


def mask_to_rle(mask: np.ndarray) -> dict:
    rle = mask_utils.encode(np.asfortranarray((mask > 0).astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


# ---------------------------------------------------------------- image level


def validate_ranks(ranks: np.ndarray, n_database: int, n_queries: int, path: object) -> np.ndarray:
    """Check shape, range and uniqueness of a ranking (k, n_queries); return it without a copy
    (a memory-mapped file stays mapped), or as int64 where it was given as floats."""
    if not isinstance(ranks, np.ndarray):
        ranks = np.asarray(ranks)
    if ranks.ndim != 2:
        raise PixretError(path, f"ranks must be 2-D (n_database, n_queries), got shape {ranks.shape}")
    if ranks.shape[1] != n_queries:
        hint = " (transposed? expected (n_database, n_queries))" if ranks.shape[0] == n_queries else ""
        raise PixretError(
            path, f"ranks have {ranks.shape[1]} columns but the benchmark has {n_queries} queries{hint}"
        )
    if ranks.shape[0] > n_database:
        raise PixretError(path, f"ranks have {ranks.shape[0]} rows, more than {n_database} images")
    if ranks.dtype.kind == "f":
        if not np.isfinite(ranks).all() or (ranks != np.round(ranks)).any():
            raise PixretError(path, "ranks hold non-integer values")
        ranks = ranks.astype(np.int64)
    elif ranks.dtype.kind not in "iu":
        raise PixretError(path, f"ranks must be integers, got dtype {ranks.dtype}")
    check_ranks(ranks, n_database, path)
    if ranks.shape[0] < n_database:
        warnings.warn(
            f"{path}: ranking covers the top {ranks.shape[0]} of {n_database} images; "
            "positives beyond it count as not retrieved",
            PixretWarning,
            stacklevel=2,
        )
    return ranks


def read_ranks(path: str | os.PathLike, n_database: int, n_queries: int) -> np.ndarray:
    """Read an image-level ranking (.npy release array, or pixret JSON) and validate it."""
    path = Path(path)
    if path.suffix == ".json":
        doc = read_json(path)
        if not isinstance(doc, dict) or not isinstance(doc.get("ranks"), list):
            raise PixretError(path, "expected {'format': 'pixret-ranks', 'ranks': [[...], ...]}")
        lists = doc["ranks"]
        if not all(
            isinstance(r, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in r)
            for r in lists
        ):
            raise PixretError(path, "'ranks' must be a list of lists of integers, one list per query")
        k = min((len(r) for r in lists), default=0)
        if any(len(r) != k for r in lists):
            warnings.warn(f"{path}: rankings of unequal length; cut to {k}", PixretWarning, stacklevel=2)
        arr = np.array([r[:k] for r in lists]).T if lists else np.zeros((0, 0))
        return validate_ranks(arr.reshape(k, len(lists)), n_database, n_queries, path)
    arr = load_npy(path, mmap=True)
    if not isinstance(arr, np.ndarray):
        raise PixretError(path, f"expected an array of ranks, found {type(arr).__name__}")
    return validate_ranks(arr, n_database, n_queries, path)


def write_ranks(path: str | os.PathLike, ranks: np.ndarray) -> None:
    """Write ranks in the release format (.npy) or as pixret JSON (.json)."""
    ranks = np.asarray(ranks, dtype=np.int64)
    if str(path).endswith(".json"):
        write_json(path, {"format": "pixret-ranks", "version": 1, "ranks": ranks.T.tolist()}, None)
    else:
        save_npy(path, ranks)


# ---------------------------------------------------------------- pixel level


MAX_POLYGON_POINTS = 1_000_000  # a polygon of more points is not a prediction
MAX_MASK_PIXELS = 100_000_000  # masks (RLE, PNG) larger than this are refused before decoding


def _points(value: object, path: object, key: str) -> np.ndarray:
    """(n, 2) float points from an array or a list of pairs, refused before any large allocation:
    a pickled list can repeat one reference so that a 75 KB file expands to gigabytes."""
    if isinstance(value, np.ndarray) and value.dtype != object:
        if value.size > 2 * MAX_POLYGON_POINTS:
            raise PixretError(path, f"{key}: {value.size} values, more than a polygon can hold")
    elif isinstance(value, list | tuple | np.ndarray):
        if len(value) > MAX_POLYGON_POINTS:
            raise PixretError(path, f"{key}: {len(value)} points, more than a polygon can hold")
        for pt in value:
            if not (isinstance(pt, list | tuple | np.ndarray) and len(pt) == 2) or any(
                isinstance(v, list | tuple | dict | str | bytes | np.ndarray) for v in pt
            ):
                raise PixretError(path, f"{key}: points must be (x, y) pairs of numbers")
    else:
        raise PixretError(path, f"{key}: points are not numeric")
    try:
        pts = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise PixretError(path, f"{key}: points are not numeric") from None
    if pts.size == 0:
        return np.zeros((0, 2))
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise PixretError(path, f"{key}: points have shape {pts.shape}, expected (n, 2)")
    if not np.isfinite(pts).all():
        raise PixretError(path, f"{key}: NaN or infinite coordinates")
    if np.abs(pts).max() > _MAX_COORD:
        raise PixretError(path, f"{key}: coordinate {np.abs(pts).max():g} is out of range")
    return pts


def _index(value: object, path: object, key: str, what: str) -> int:
    """A non-negative integer (an int, or a float with no fraction: 0.9 is refused, not cut to 0)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer):
        raise PixretError(path, f"{key}: {what} must be an integer, got {value!r}")
    if isinstance(value, float) and not value.is_integer():
        raise PixretError(path, f"{key}: {what} must be an integer, got {value!r}")
    if value < 0:
        raise PixretError(path, f"{key}: {what} {int(value)} is negative")
    return int(value)


def _check_rle(rle: object, path: object, key: str) -> dict:
    """A COCO RLE with a sane size whose counts decode to exactly that many pixels."""
    if not isinstance(rle, dict) or not {"size", "counts"} <= set(rle):
        raise PixretError(path, f"{key}: 'rle' needs 'size' and 'counts'")
    size = rle["size"]
    if not (
        isinstance(size, list | tuple)
        and len(size) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)
    ):
        raise PixretError(path, f"{key}: rle 'size' must be [height, width], positive integers")
    h, w = int(size[0]), int(size[1])
    if h * w > MAX_MASK_PIXELS:
        raise PixretError(path, f"{key}: rle of {w}x{h} pixels is larger than any image here")
    counts = rle["counts"]
    if isinstance(counts, list):
        if (
            not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts)
            or sum(counts) != h * w
        ):
            raise PixretError(path, f"{key}: rle 'counts' must be run lengths adding up to {h * w}")
        rle = mask_utils.frPyObjects({"size": [h, w], "counts": counts}, h, w)
        return {"size": [h, w], "counts": rle["counts"].decode("ascii")}
    if not isinstance(counts, str) or not counts.isascii():
        raise PixretError(path, f"{key}: rle 'counts' must be a COCO string or a list of run lengths")
    out = {"size": [h, w], "counts": counts}
    try:
        if int(mask_utils.area(out)) > h * w or mask_utils.decode(out).shape[:2] != (h, w):
            raise ValueError
    except Exception:
        raise PixretError(path, f"{key}: rle 'counts' do not decode to a {w}x{h} mask") from None
    return out


def _check_pair(q: int, i: int, n_queries: int, n_database: int, path: object, key: str) -> None:
    if not 0 <= q < n_queries or not 0 <= i < n_database:
        raise PixretError(path, f"{key}: query {q} or image {i} is outside the benchmark")


def _add(
    out: PixelResults, where: dict, pair: tuple[int, int], pred: PixelPrediction, path: object, key: str
) -> None:
    if pair in out:
        raise PixretError(
            path, f"{key}: pair (query {pair[0]}, image {pair[1]}) given twice (first as {where[pair]})"
        )
    out[pair] = pred
    where[pair] = key


def _warn_short(short: list[str], path: object) -> None:
    if short:
        warnings.warn(
            f"{path}: {len(short)} polygon(s) with fewer than 3 points (first: {short[0]}); "
            "scored as drawn (a line or a point)",
            PixretWarning,
            stacklevel=3,
        )


def _check_order(points: str) -> None:
    if points not in POINT_ORDERS:
        raise PixretError(None, f"unknown point order {points!r}; choose from {', '.join(POINT_ORDERS)}")


def read_pixel_results(
    path: str | os.PathLike, n_queries: int, n_database: int, points: str = "xy"
) -> PixelResults:
    """Read pixel-level results: a release .npy dict (``points`` = its column order) or pixret JSON.

    Predictions come back as (x, y) whatever the file's order.
    """
    path = Path(path)
    if path.suffix == ".json":
        return _read_pixret_json(path, n_queries, n_database)
    _check_order(points)
    raw = load_npy(path)
    if not isinstance(raw, dict):
        raise PixretError(path, "expected a dict 'qimlist_{q}_imlist_{i}' -> (n, 2) points")
    out: PixelResults = {}
    where: dict = {}
    short: list[str] = []
    for key, value in raw.items():
        m = _RELEASE_KEY.match(str(key))
        if not m:
            raise PixretError(path, f"unknown key {key!r}, expected 'qimlist_{{q}}_imlist_{{i}}'")
        q, i = int(m[1]), int(m[2])
        _check_pair(q, i, n_queries, n_database, path, str(key))
        pts = _points(value, path, str(key))
        if points == "yx":
            pts = pts[:, ::-1].copy()
        if 0 < len(pts) < 3:
            short.append(str(key))
        _add(out, where, (q, i), PixelPrediction([pts] if len(pts) else []), path, str(key))
    _warn_short(short, path)
    return out


def _read_pixret_json(path: Path, n_queries: int, n_database: int) -> PixelResults:
    doc = read_json(path)
    if not isinstance(doc, dict) or doc.get("format") != "pixret-pixel-results":
        raise PixretError(path, "not a pixret pixel-results file (format 'pixret-pixel-results')")
    out: PixelResults = {}
    where: dict = {}
    short: list[str] = []
    pairs = doc.get("pairs", [])
    if not isinstance(pairs, list):
        raise PixretError(path, "'pairs' must be a list")
    for n, pair in enumerate(pairs):
        key = f"pairs[{n}]"
        if not isinstance(pair, dict) or "query" not in pair or "image" not in pair:
            raise PixretError(path, f"{key}: needs integer 'query' and 'image'")
        q, i = _index(pair["query"], path, key, "query"), _index(pair["image"], path, key, "image")
        _check_pair(q, i, n_queries, n_database, path, key)
        unknown = set(pair) - {"query", "image", "polygons", "rle", "mask", "score"}
        if unknown:
            raise PixretError(path, f"{key}: unknown field(s) {sorted(unknown)}")
        raw_polys = pair.get("polygons", [])
        if not isinstance(raw_polys, list):
            raise PixretError(path, f"{key}: 'polygons' must be a list of polygons")
        polys = [_points(p, path, key) for p in raw_polys]
        short += [key for p in polys if 0 < len(p) < 3]
        rle = pair.get("rle")
        if rle is not None:
            rle = _check_rle(rle, path, key)
        if pair.get("mask") is not None:
            rle = _read_png_mask(path.parent, str(pair["mask"]), path, key)
        _add(out, where, (q, i), PixelPrediction([p for p in polys if len(p)], rle), path, key)
    _warn_short(short, path)
    return out


def _read_png_mask(base: Path, rel: str, path: Path, key: str) -> dict:
    mpath = (base / rel).resolve()
    if base.resolve() not in mpath.parents:
        raise PixretError(path, f"{key}: mask path {rel!r} leaves the results folder")
    try:
        with Image.open(mpath) as im:  # the header only: refuse a huge mask before decoding it
            w, h = im.size
    except FileNotFoundError:
        raise PixretError(mpath, "mask image not found") from None
    except Image.DecompressionBombError:
        raise PixretError(mpath, "mask larger than any image here") from None
    except Exception:
        raise PixretError(mpath, "unreadable mask image") from None
    if w * h > MAX_MASK_PIXELS:
        raise PixretError(mpath, f"mask of {w}x{h} pixels: larger than any image here")
    img = cv2.imread(str(mpath), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise PixretError(mpath, "unreadable mask image")
    return mask_to_rle(img)


def write_pixel_results(
    path: str | os.PathLike, results: PixelResults, method: str = "", points: str = "xy"
) -> None:
    """Write pixel results: ``.npy`` in the release format (first polygon, column order
    ``points``, (x, y) as the current release reads it), ``.json`` in ours."""
    _check_order(points)
    if str(path).endswith(".json"):
        pairs = []
        for (q, i), pred in sorted(results.items()):
            entry: dict = {"query": q, "image": i}
            entry["polygons"] = polygons_as_lists(pred.polygons, 2)
            if pred.rle is not None:
                entry["rle"] = pred.rle
            pairs.append(entry)
        doc = {"format": "pixret-pixel-results", "version": 1, "method": method, "pairs": pairs}
        write_json(path, doc, None)
        return
    out = {}
    for (q, i), pred in sorted(results.items()):
        pts = pred.first_polygon()
        out[f"qimlist_{q}_imlist_{i}"] = pts[:, ::-1].copy() if points == "yx" else pts
    save_npy(path, out)
