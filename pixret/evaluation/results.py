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

Point order. Is a release pixel file (x, y) or (y, x)? Evidence from the labels, never a silent switch.

The release's scripts changed their reading of pixel files on 2024-03-16 (commit 7772cb4,
"modify width height order": column 0 became x). Files written for the earlier scripts are
(y, x). The label files give each database image's size and the object's place, so a file
read the wrong way round shows it: its points leave the canvas, and its boxes miss the
objects that the swapped reading hits. pixret warns, naming the option to pass; it never
changes the reading by itself (a guess would make scores depend on the data).
"""

from __future__ import annotations

import json
import os
import re
import stat
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

from ..datasets.model import Benchmark
from ..errors import PixretError, ResultsWarning, quoted
from ..geometry import (
    box_iou,
    mask_outlines,
    mask_to_polygon,
    mask_to_rle,
    points_box,
    rle_to_mask,
)
from ..imageio import load_mask
from ..io import _npy_header, load_npy, read_json, regular_file, save_npy, write_json
from .ranking import ONE_BASED_HINT, check_ranks

_RELEASE_KEY = re.compile(r"^qimlist_(\d+)_imlist_(\d+)$")
# Coordinates beyond this cannot be real pixels and would overflow OpenCV's int32 fill.
_MAX_COORD = 1e7
# Column order of points in release .npy pixel files; the first is the current release's.
POINT_ORDERS = ("xy", "yx")


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


# ---------------------------------------------------------------- image level


def _check_ranks_shape(shape: tuple[int, ...], n_database: int, n_queries: int, path: object) -> None:
    if len(shape) != 2:
        raise PixretError(path, f"ranks must be 2-D (n_database, n_queries), got shape {shape}")
    if shape[1] != n_queries:
        hint = " (transposed? expected (n_database, n_queries))" if shape[0] == n_queries else ""
        raise PixretError(path, f"ranks have {shape[1]} columns but the benchmark has {n_queries} queries{hint}")
    if shape[0] > n_database:
        raise PixretError(path, f"ranks have {shape[0]} rows, more than {n_database} images")


MAX_PIXEL_FILE_BYTES = 2 << 30  # pixel results larger than this are refused before they are read
_JSON_BYTES_PER_RANK = 24  # a pixret-ranks JSON file spends at most this on one index, with slack


def gib(n: int) -> str:
    """A byte count for people: "4.0 GiB", "12.3 MiB"."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


def file_size(path: str | os.PathLike) -> int:
    """The size of a result file; PixretError when it is missing or not a file."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise PixretError(path, "file not found") from None
    except OSError as exc:
        raise PixretError(path, f"unreadable ({exc.strerror or exc})") from None
    if not stat.S_ISREG(st.st_mode):
        raise PixretError(path, "is a folder, not a results file" if stat.S_ISDIR(st.st_mode) else "not a regular file")
    return st.st_size


def check_pixel_file(path: str | os.PathLike) -> int:
    """A pixel-results file's size, refused above ``MAX_PIXEL_FILE_BYTES`` before any byte is read."""
    size = file_size(path)
    if size > MAX_PIXEL_FILE_BYTES:
        raise PixretError(path, f"{gib(size)} is more than pixel results can hold here (at most "
                          f"{gib(MAX_PIXEL_FILE_BYTES)}); not read")  # fmt: skip
    return size


def check_ranks_file(path: str | os.PathLike, n_database: int, n_queries: int) -> int:
    """A ranking file's size, checked against what it can hold before any of it is read: a
    ``.npy`` file's header must give a ranking of the benchmark's shape and its size be exactly
    what the header promises; a JSON file may spend at most 24 bytes per rank."""
    size = file_size(path)
    if Path(path).suffix == ".json":
        limit = _JSON_BYTES_PER_RANK * n_database * n_queries + (1 << 20)
        if size > limit:
            raise PixretError(path, f"{gib(size)} is more than a ranking of {n_queries} queries over "
                              f"{n_database} images can hold ({gib(limit)}); not read")  # fmt: skip
        return size
    with open(path, "rb") as fh:
        shape, _, dtype = _npy_header(fh, path)
        offset = fh.tell()
    if dtype.hasobject:
        raise PixretError(path, f"ranks must be integers, got dtype {dtype}")
    _check_ranks_shape(shape, n_database, n_queries, path)
    need = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if size != need:
        raise PixretError(path, f"{gib(size)}, but its header promises {shape} {dtype} ({gib(need)}); not read")
    return size


def validate_ranks(
    ranks: np.ndarray, n_database: int, n_queries: int, path: object, one_based: bool = False
) -> np.ndarray:
    """Check shape, range and uniqueness of a ranking (k, n_queries); return it without a copy
    (a memory-mapped file stays mapped), or as int64 where it was given as floats, or with one
    subtracted (``one_based``: indices 1..n, as MATLAB's revisitop code writes them).

    A ranking out of range the way a 1-based one is gets the hint in its error."""
    if not isinstance(ranks, np.ndarray):
        ranks = np.asarray(ranks)
    _check_ranks_shape(ranks.shape, n_database, n_queries, path)
    if ranks.dtype.kind == "f":
        if not np.isfinite(ranks).all() or (ranks != np.round(ranks)).any():
            raise PixretError(path, "ranks hold non-integer values")
        ranks = ranks.astype(np.int64)
    elif ranks.dtype.kind not in "iu":
        raise PixretError(path, f"ranks must be integers, got dtype {ranks.dtype}")
    if one_based:
        ranks = np.asarray(ranks, dtype=np.int64) - 1
        if ranks.size and int(ranks.min()) < 0:
            raise PixretError(path, "--one-based was given, but the ranking holds index 0: it is 0-based "
                              "already; drop --one-based")  # fmt: skip
    check_ranks(ranks, n_database, path)
    if ranks.shape[0] < n_database:
        warnings.warn(
            f"{path}: ranking covers the top {ranks.shape[0]} of {n_database} images; "
            "positives beyond it count as not retrieved",
            ResultsWarning,
            stacklevel=2,
        )
    return ranks


def read_ranks(path: str | os.PathLike, n_database: int, n_queries: int, one_based: bool = False) -> np.ndarray:
    """Read an image-level ranking (.npy release array, or pixret JSON) and validate it
    (``validate_ranks``; ``one_based``: the file holds indices 1..n)."""
    path = Path(path)
    if path.suffix == ".json":
        check_ranks_file(path, n_database, n_queries)
        doc = read_json(path)
        if not isinstance(doc, dict) or not isinstance(doc.get("ranks"), list):
            raise PixretError(path, "expected {'format': 'pixret-ranks', 'ranks': [[...], ...]}")
        lists = doc["ranks"]
        if not all(
            isinstance(r, list) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in r)
            for r in lists
        ):
            raise PixretError(path, "'ranks' must be a list of lists of integers, one list per query")
        # whole floats (MATLAB writes doubles) are checked and read as integers by validate_ranks
        k = min((len(r) for r in lists), default=0)
        if any(len(r) != k for r in lists):
            warnings.warn(f"{path}: rankings of unequal length; cut to {k}", ResultsWarning, stacklevel=2)
        arr = np.array([r[:k] for r in lists]).T if lists else np.zeros((0, 0))
        return validate_ranks(arr.reshape(k, len(lists)), n_database, n_queries, path, one_based)
    arr = load_npy(path, mmap=True)
    if not isinstance(arr, np.ndarray):
        raise PixretError(path, f"expected an array of ranks, found {type(arr).__name__}")
    return validate_ranks(arr, n_database, n_queries, path, one_based)


def one_based_evidence(bench: Benchmark, ranks: np.ndarray, top: int = 100) -> tuple[float, float]:
    """(share of positives among each query's first ``top`` ranks as given, and read as 1-based
    indices), averaged over the queries that have positives: read as given, a 1-based ranking
    holds the image after each one it means."""
    head = np.asarray(ranks[:top], dtype=np.int64)
    given, shifted = [], []
    for q in bench.queries:
        if len(q.positives) and len(head):
            given.append(float(np.isin(head[:, q.index], q.positives).mean()))
            shifted.append(float(np.isin(head[:, q.index] - 1, q.positives).mean()))
    return (float(np.mean(given)), float(np.mean(shifted))) if given else (0.0, 0.0)


def load_ranks(bench: Benchmark, path: str | os.PathLike, one_based: bool = False) -> np.ndarray:
    """Read a method's ranking for ``bench``; one that looks 1-based (no index 0 in its first 100
    ranks, which hold clearly more positives read so) gets one warning with the hint."""
    ranks = read_ranks(path, bench.n_database, bench.n_queries, one_based)
    if not one_based and ranks.size and int(np.asarray(ranks[:100]).min()) >= 1:
        given, shifted = one_based_evidence(bench, ranks)
        if shifted >= given + 0.2 and shifted >= 1.5 * given:
            warnings.warn(
                f"{path}: no index 0 in the ranking's first 100 ranks, which hold {100 * shifted:.0f}% positives "
                f"read as 1-based against {100 * given:.0f}% as given: {ONE_BASED_HINT}",
                ResultsWarning,
                stacklevel=2,
            )
    return ranks


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
        raise PixretError(path, f"{key}: {what} must be an integer, got {quoted(value)}")
    if isinstance(value, float) and not value.is_integer():
        raise PixretError(path, f"{key}: {what} must be an integer, got {quoted(value)}")
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
            ResultsWarning,
            stacklevel=3,
        )


def _check_order(points: str) -> None:
    if points not in POINT_ORDERS:
        raise PixretError(None, f"unknown point order {quoted(points)}; choose from {', '.join(POINT_ORDERS)}")


def read_pixel_results(
    path: str | os.PathLike, n_queries: int, n_database: int, points: str = "xy"
) -> PixelResults:
    """Read pixel-level results: a release .npy dict (``points`` = its column order) or pixret JSON.

    Predictions come back as (x, y) whatever the file's order.
    """
    path = Path(path)
    check_pixel_file(path)
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
            raise PixretError(path, f"unknown key {quoted(key)}, expected 'qimlist_{{q}}_imlist_{{i}}'")
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
        raise PixretError(path, f"{key}: mask path {quoted(rel)} leaves the results folder")
    if not mpath.is_file():
        raise PixretError(mpath, "mask image not found")
    return mask_to_rle(load_mask(mpath, MAX_MASK_PIXELS))


def write_pixel_results(
    path: str | os.PathLike, results: PixelResults, method: str = "", points: str = "xy", oracle: str | None = None,
    warn: bool = True,
) -> list[tuple[int, int]]:
    """Write pixel results: ``.npy`` in the release format (one polygon per pair, column order
    ``points``, (x, y) as the current release reads it), ``.json`` in ours (everything).

    ``oracle``: what the results carry from the benchmark's labels, for results built from
    them (``oracle_of``); the JSON holds it as ``"oracle"`` before the pairs (the release
    format has no place for it: a run folder's pixels.json and scores.json keep it).

    Returns the pairs the release format could not hold whole: a prediction of several polygons
    keeps its first (the largest, for the engine's), a mask its largest region. They are named
    in a ResultsWarning too (``warn=False``: the caller says so itself, as RunFolder's note):
    nothing is dropped without a word."""
    _check_order(points)
    if str(path).endswith(".json"):
        pairs = []
        for (q, i), pred in sorted(results.items()):
            entry: dict = {"query": q, "image": i}
            # every coordinate exactly (compat truncates to whole pixels: a rounded 12.999 -> 13.0
            # would move a point by a pixel and the release's scores with it)
            entry["polygons"] = [np.asarray(p, np.float64).tolist() for p in pred.polygons]
            if pred.rle is not None:
                entry["rle"] = pred.rle
            pairs.append(entry)
        doc = {"format": "pixret-pixel-results", "version": 1, "method": method,
               **({"oracle": oracle} if oracle else {}), "pairs": pairs}  # fmt: skip
        write_json(path, doc, None)
        return []
    out, cut = {}, []
    for (q, i), pred in sorted(results.items()):
        pts = pred.first_polygon()
        regions = len(mask_outlines(rle_to_mask(pred.rle), 0)) if pred.rle is not None and not pred.polygons else 0
        if sum(len(p) > 0 for p in pred.polygons) > 1 or regions > 1:
            cut.append((q, i))
        out[f"qimlist_{q}_imlist_{i}"] = pts[:, ::-1].copy() if points == "yx" else pts
    save_npy(path, out)
    if cut and warn:
        warnings.warn(
            f"{path}: the release format holds one polygon per pair: {len(cut)} of {len(results)} "
            f"predictions had more (first: query {cut[0][0]}, image {cut[0][1]}) and keep only their "
            "first; pixret JSON keeps them whole",
            ResultsWarning,
            stacklevel=2,
        )
    return cut


_HEAD = 1 << 16  # bytes of a JSON file's head searched for a top-level string field


def _head_string(path: Path, key: str) -> str | None:
    """The string value of ``"key": "..."`` in the first _HEAD bytes of a JSON file, or None."""
    try:
        regular_file(path)
        with open(path, "rb") as fh:
            head = fh.read(_HEAD).decode("utf-8", "replace")
    except (OSError, PixretError):
        return None
    m = re.search(rf'"{re.escape(key)}"\s*:\s*("(?:[^"\\]|\\.)*")', head)
    try:
        value = json.loads(m.group(1)) if m else None
    except ValueError:
        return None
    return value if isinstance(value, str) and value else None


ORACLE = "oracle"  # the field of pixels.json / scores.json that names what a run carries from the labels


def _scores_string(path: Path, key: str) -> str | None:
    """A top-level string field of a (small) scores.json, or None."""
    try:
        doc = read_json(path) if path.is_file() else None
    except (PixretError, OSError):
        return None
    value = doc.get(key) if isinstance(doc, dict) else None
    return value if isinstance(value, str) and value else None


def oracle_of(path: str | os.PathLike | None) -> str | None:
    """What a pixel results file was built from when it was built from the benchmark's labels
    (an oracle, not a method): the ``"oracle"`` field of a pixret JSON file (written before its
    pairs), or, for a run folder's release file (pixels.npy), of the run folder's pixels.json or
    scores.json. None for a method's results, or where nothing records it."""
    if path is None:
        return None
    path = Path(path)
    if path.name in (RunFolder.PIXELS, RunFolder.RELEASE_PIXELS):
        return RunFolder(path.parent).oracle() or (_head_string(path, ORACLE) if path.suffix == ".json" else None)
    return _head_string(path, ORACLE) if path.suffix == ".json" else None


class RunFolder:
    """A method's run on one benchmark, as `pixret run` writes it and every tool reads it::

        ranks.npy     image-level ranking (n_database, n_queries), the release's format
        pixels.json   pixel results, pixret JSON: every polygon (what pixret's tools read)
        pixels.npy    pixel results, the release's format (one polygon per pair)
        scores.json   both protocols' summary, timings and notes (`pixret run`)

    ``pixels`` is the JSON when there is one, else the release file. A run built from the
    benchmark's labels (an oracle) says what it carries from them in pixels.json's and
    scores.json's ``"oracle"`` field (``oracle()``)."""

    RANKS, PIXELS, RELEASE_PIXELS, SCORES = "ranks.npy", "pixels.json", "pixels.npy", "scores.json"

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._notes: list[str] = []

    @classmethod
    def is_run(cls, path: str | os.PathLike) -> bool:
        """Whether ``path`` is a folder holding a run's ranks and pixel results."""
        p = Path(path)
        return (p / cls.RANKS).is_file() and ((p / cls.PIXELS).is_file() or (p / cls.RELEASE_PIXELS).is_file())

    @property
    def ranks(self) -> Path:
        return self.path / self.RANKS

    @property
    def pixels(self) -> Path:
        json_file = self.path / self.PIXELS
        return json_file if json_file.is_file() else self.path / self.RELEASE_PIXELS

    @property
    def scores(self) -> Path:
        return self.path / self.SCORES

    def check(self) -> RunFolder:
        """This folder, or a PixretError saying what a run folder holds."""
        if not self.is_run(self.path):
            raise PixretError(self.path, f"not a run folder (expected {self.RANKS} and {self.PIXELS} or "
                              f"{self.RELEASE_PIXELS}, as `pixret run` writes)")  # fmt: skip
        return self

    def write_results(self, ranks: np.ndarray, pixels: PixelResults, method: str, oracle: str | None = None) -> None:
        """Write ranks and pixel results in both formats; what the release format could not
        hold becomes a note (``notes``: scores.json's, which `pixret run` prints), said once.
        ``oracle``: what the run carries from the benchmark's labels (``oracle_of``), kept in
        pixels.json."""
        write_ranks(self.ranks, ranks)
        write_pixel_results(self.path / self.PIXELS, pixels, method=method, oracle=oracle)
        cut = write_pixel_results(self.path / self.RELEASE_PIXELS, pixels, warn=False)
        if cut:
            self._notes.append(
                f"{self.RELEASE_PIXELS} (the release's format, one polygon per pair) keeps the first polygon of "
                f"{len(cut)} of {len(pixels)} predictions; {self.PIXELS} keeps every polygon, and is what "
                "pixret reads when given the run folder (evaluate/report/compare --run, serve --results)"
            )

    def notes(self) -> list[str]:
        return list(self._notes)

    def method(self) -> str:
        """The method named in pixels.json (else in scores.json, else the folder's name). Only the
        head of each file is read (pixret writes "method" before the pairs): a results file of
        gigabytes is not read here, before its size is checked."""
        for f in (self.path / self.PIXELS, self.scores):
            name = _head_string(f, "method")
            if name:
                return name
        return self.path.name

    def oracle(self) -> str | None:
        """What this run carries from the benchmark's labels when it was built from them (an
        oracle: ``import-hloc --carry mask``, ``reference-results``), as pixels.json or
        scores.json records it; None for a method's run."""
        return _head_string(self.path / self.PIXELS, ORACLE) or _scores_string(self.scores, ORACLE)

    def dataset(self) -> str | None:
        """The benchmark this run was made on, as its scores.json names it (None without one)."""
        try:
            doc = read_json(self.scores) if self.scores.is_file() else None
        except PixretError:
            return None
        name = doc.get("dataset") if isinstance(doc, dict) else None
        return name if isinstance(name, str) and name else None

    def write_scores(self, doc: dict) -> None:
        write_json(self.scores, doc)

    def read_scores(self) -> dict:
        doc = read_json(self.scores)
        if not isinstance(doc, dict):
            raise PixretError(self.scores, "not a pixret scores file")
        return doc


# ---------------------------------------------------------------- point order

_SAMPLE = 2000  # pairs looked at: enough for a clear answer, bounded label reading
_MIN_PAIRS = 3


@dataclass(frozen=True)
class OrderEvidence:
    """How well predictions fit their images read as given and read swapped.

    ``outside_*``: share of pairs with a point off the image canvas (from the label's size);
    ``iou_*``: mean box IoU against the ground-truth box; ``n``: pairs with a label compared.
    """

    n: int
    outside_read: float
    outside_swapped: float
    iou_read: float
    iou_swapped: float

    @property
    def swapped_fits_better(self) -> bool:
        """The other reading fits far better: points come back inside the canvas, or boxes
        land on the objects."""
        if self.n < _MIN_PAIRS:
            return False
        canvas = self.outside_read >= 0.5 and self.outside_swapped <= 0.1
        overlap = self.iou_swapped >= 0.3 and self.iou_swapped >= 2 * self.iou_read + 0.1
        return canvas or overlap


def _outside(pts: np.ndarray, w: int, h: int) -> bool:
    tol = 2.0 + 0.01 * max(w, h)  # hull points a few pixels off the edge are not evidence
    return bool((pts.min() < -tol) or (pts[:, 0].max() > w + tol) or (pts[:, 1].max() > h + tol))


def order_evidence(bench: Benchmark, pixels: PixelResults) -> OrderEvidence:
    """Compare both readings of the predictions on (up to 2,000) labelled pairs."""
    outside = np.zeros(2)
    iou = np.zeros(2)
    n = 0
    for pair in sorted(pixels)[:_SAMPLE]:
        pred = pixels[pair]
        if pred.empty or not pred.polygons or pair not in bench.pair_labels:
            continue
        gt = bench.gt(*pair)
        if gt is None or not gt.polygons or not gt.width or not gt.height:
            continue
        pts = np.concatenate(pred.polygons)
        gt_box = points_box(gt.all_points)
        for k, p in enumerate((pts, pts[:, ::-1])):
            outside[k] += _outside(p, gt.width, gt.height)
            iou[k] += box_iou(points_box(p), gt_box)
        n += 1
    if not n:
        return OrderEvidence(0, 0.0, 0.0, 0.0, 0.0)
    return OrderEvidence(n, *(outside / n).tolist(), *(iou / n).tolist())


def warn_if_swapped(bench: Benchmark, pixels: PixelResults, points: str, path: object) -> OrderEvidence:
    """Warn (once, naming the option) when the release file fits better read the other way."""
    ev = order_evidence(bench, pixels)
    if ev.swapped_fits_better:
        other = "yx" if points == "xy" else "xy"
        why = (
            "files made for the release's scripts before 2024-03-16 are (y, x)"
            if other == "yx"
            else "the release's scripts read (x, y) since 2024-03-16"
        )
        warnings.warn(
            f"{path}: points look like ({', '.join(other)}) order, not ({', '.join(points)}) as read: "
            f"{100 * ev.outside_read:.0f}% of {ev.n} labelled pairs leave the image "
            f"({100 * ev.outside_swapped:.0f}% swapped), box IoU with the labels {ev.iou_read:.2f} "
            f"({ev.iou_swapped:.2f} swapped); {why}: pass --points {other}",
            ResultsWarning,
            stacklevel=2,
        )
    return ev


def _warn_if_cut(bench: Benchmark, path: Path) -> None:
    """A run folder's pixels.npy read while its pixels.json beside it holds more: say so."""
    whole = path.with_name(RunFolder.PIXELS)
    if path.name != RunFolder.RELEASE_PIXELS or not whole.is_file():
        return
    try:
        full = read_pixel_results(whole, bench.n_queries, bench.n_database)
    except PixretError:
        return
    cut = sum(sum(len(p) > 0 for p in pred.polygons) > 1 for pred in full.values())
    if cut:
        warnings.warn(
            f"{path}: the release format keeps one polygon per pair, and {cut} of the {len(full)} predictions "
            f"of this run have more: {whole} beside it keeps them all; evaluate it for the method's whole output",
            ResultsWarning,
            stacklevel=3,
        )


def load_pixel_results(bench: Benchmark, path: str | os.PathLike, points: str = "xy") -> PixelResults:
    """Read a method's pixel results for ``bench``; a release ``.npy`` file that fits the labels
    better read the other way round gets one warning (see ``warn_if_swapped``)."""
    pixels = read_pixel_results(path, bench.n_queries, bench.n_database, points)
    if Path(path).suffix != ".json":
        warn_if_swapped(bench, pixels, points, path)
        _warn_if_cut(bench, Path(path))
    for (q, i), pred in sorted(pixels.items()):
        gt = bench.gt(q, i) if pred.rle is not None and (q, i) in bench.pair_labels else None
        if gt is not None and gt.width and gt.height and list(pred.rle["size"]) != [gt.height, gt.width]:
            raise PixretError(
                path, f"pair (query {q}, image {i}): mask of {pred.rle['size'][1]}x{pred.rle['size'][0]} pixels "
                f"on a {gt.width}x{gt.height} image",
            )  # fmt: skip
    return pixels
