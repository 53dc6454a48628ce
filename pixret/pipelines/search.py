"""Searching an index with many queries and writing what other tools read, as stage calls::

    queries = read_queries("queries.txt")                 # (image, box) per line
    result = index.search_full(q.image, q.box)            # per query (engine)
    write_coco(out / "coco.json", result, top)            # COCO: images + RLE masks (pycocotools reads it)
    write_labelme(out, result, top)                       # a labelme file per found image
    lines = index.pairs(name, result, top, image_dir)     # hloc's retrieval pairs

Formats:

- the queries file: one query per line, ``IMAGE x1,y1,x2,y2`` (the box in the image's pixels;
  spaces after the commas allowed); the image path is relative to the file; blank lines and
  lines starting with ``#`` are skipped;
- COCO (``cocodataset.org/#format-data``): ``images`` (id, file_name, width, height),
  ``annotations`` (id, image_id, category_id 1, ``segmentation`` an RLE with str counts,
  ``area`` in pixels, ``bbox`` [x, y, w, h], ``iscrowd`` 0, and pixret's ``score``,
  ``inliers``, ``rank``), ``categories`` [{id 1, name "object"}];
- labelme: one JSON per found image, its polygons as ``polygon`` shapes, ``imagePath``
  relative to the file, the image's size.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._version import __version__
from ..datasets.labelme import write_labelme as _write_labelme
from ..engine.hits import Hit, SearchResult
from ..errors import PixretError
from ..geometry import Box
from ..io import write_json


@dataclass(frozen=True)
class QueryLine:
    """One query of a queries file: its image, its box and where it was written."""

    image: Path
    box: Box
    line: int


def read_queries(path: str | os.PathLike) -> list[QueryLine]:
    """The queries of a file (module docstring); PixretError naming the file and line of a line
    that is not ``IMAGE x1,y1,x2,y2``, or of an image that does not exist."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PixretError(path, "queries file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PixretError(path, f"unreadable queries file ({exc})") from None
    out = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.replace(", ", ",").rsplit(None, 1)
        if len(parts) != 2:
            raise PixretError(path, f"line {n}: expected IMAGE x1,y1,x2,y2, got {line!r}")
        try:
            box = Box.parse(parts[1])
        except PixretError as exc:
            raise PixretError(path, f"line {n}: {exc.problem}") from None
        image = (path.parent / parts[0]).resolve() if not Path(parts[0]).is_absolute() else Path(parts[0])
        if not image.is_file():
            raise PixretError(path, f"line {n}: image {parts[0]} not found")
        out.append(QueryLine(image, box, n))
    if not out:
        raise PixretError(path, "no queries in the file (one per line: IMAGE x1,y1,x2,y2)")
    return out


def chosen(result: SearchResult, top: int, unverified: bool = False) -> list[tuple[int, Hit]]:
    """(rank from 1, hit) of the first ``top`` hits, the verified ones only unless ``unverified``."""
    return [(k + 1, h) for k, h in enumerate(result.hits[:top]) if h.verified or unverified]


def _file_name(hit: Hit, folder: Path) -> str:
    try:
        return os.path.relpath(hit.path, folder.resolve())
    except ValueError:  # another drive
        return hit.path


def write_coco(path: str | os.PathLike, result: SearchResult, top: int, query: str = "") -> Path:
    """The found objects of a search as a COCO file (module docstring); returns its path."""
    path = Path(path)
    images, annotations = [], []
    for rank, h in chosen(result, top):
        doc = h.to_json(rank, rle=True)
        if doc["mask"] is None:
            continue
        w, h_ = doc["size"]
        image_id = len(images) + 1
        images.append({"id": image_id, "file_name": _file_name(h, path.parent), "width": w, "height": h_})
        pts = np.concatenate([np.asarray(p) for p in h.polygons if len(p) >= 3])
        x0, y0 = pts.min(0)
        x1, y1 = pts.max(0)
        annotations.append({"id": image_id, "image_id": image_id, "category_id": 1, "segmentation": doc["mask"],
                            "area": int(h.mask.sum()), "bbox": [round(float(v), 2) for v in (x0, y0, x1 - x0, y1 - y0)],
                            "iscrowd": 0, "score": doc["score"], "inliers": doc["inliers"], "rank": rank})  # fmt: skip
    write_json(path, {"info": {"description": f"pixret search results for {query}".strip(), "version": __version__},
                      "images": images, "annotations": annotations,
                      "categories": [{"id": 1, "name": "object"}]}, indent=None)  # fmt: skip
    return path


def write_labelme(folder: str | os.PathLike, result: SearchResult, top: int) -> list[Path]:
    """One labelme file per found object (``RANK_NAME.json``), readable by labelme and by pixret."""
    folder = Path(folder)
    written = []
    for rank, h in chosen(result, top):
        polys = [np.asarray(p) for p in h.polygons if len(p) >= 3]
        if not polys:
            continue
        target = folder / f"{rank:03d}_{Path(h.name).name}.json"
        _write_labelme(target, polys, *h.size, image_path=_file_name(h, folder))
        written.append(target)
    return written
