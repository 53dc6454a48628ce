"""The list of indexed images, kept on disk: one JSON object per line plus a table of offsets.

Why not one JSON list: at a million images, json.load builds a million dicts (about 1 KB of
RAM each, seconds to parse) to show twenty names. Here the file is memory-mapped and a record
is parsed when asked for; RAM holds 8 bytes per image (its line's offset).

Record: ``{"path", "name", "size": [w, h], "cache", "rel"}`` (``rel``: the path relative to
the index folder, so a collection moved with its index is still found).
"""

from __future__ import annotations

import json
import mmap
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from ..errors import PixretError
from ..io import atomic_open, save_npy

LINES, OFFSETS = "images.jsonl", "images-offsets.npy"


def write_catalog(folder: Path, records: Iterable[dict]) -> None:
    """Write the records (atomically) as ``images.jsonl`` and its offsets."""
    offsets = [0]
    with atomic_open(folder / LINES, "wb") as fh:
        for rec in records:
            line = json.dumps(rec, separators=(",", ":")).encode() + b"\n"
            fh.write(line)
            offsets.append(offsets[-1] + len(line))
    save_npy(folder / OFFSETS, np.array(offsets, np.int64))


class Catalog(Sequence):
    """Read-only, lazily parsed image records: ``catalog[i]`` is a dict; slices give lists."""

    def __init__(self, folder: Path):
        self.offsets = np.load(folder / OFFSETS)
        size = os.path.getsize(folder / LINES)
        if self.offsets.ndim != 1 or not len(self.offsets) or self.offsets[0] != 0 or self.offsets[-1] != size:
            raise ValueError(f"{LINES} and {OFFSETS} disagree")
        self.path = folder / LINES
        with open(self.path, "rb") as fh:
            self._buf = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if size else b""

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def _record(self, i: int) -> dict:
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        try:
            rec = json.loads(self._buf[a:b])
        except (ValueError, RecursionError):
            rec = None
        if not _valid(rec):
            raise PixretError(self.path, f"damaged index (record {i} is not an image): build it again")
        return rec

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self._record(k) for k in range(*i.indices(len(self)))]
        n = len(self)
        if not -n <= i < n:
            raise IndexError(i)
        return self._record(i % n)

    def __iter__(self) -> Iterator[dict]:
        return (self._record(k) for k in range(len(self)))

    def nbytes(self) -> int:
        """RAM the catalog keeps (its offsets; the records stay in the mapped file)."""
        return int(self.offsets.nbytes)


def _valid(rec) -> bool:
    """A record of the right shape: text path and name, a size of two positive integers (a
    damaged line must be refused here, not fail later as a TypeError in the middle of a search)."""
    if not isinstance(rec, dict) or not {"path", "name", "size"} <= set(rec):
        return False
    size = rec["size"]
    return (isinstance(rec["path"], str) and isinstance(rec["name"], str) and isinstance(size, list)
            and len(size) == 2 and all(type(v) is int and 0 < v < 1 << 31 for v in size)
            and all(isinstance(rec.get(k, ""), str) for k in ("rel", "cache"))
            and type(rec.get("bytes", 0)) is int)  # fmt: skip


def as_records(images: Sequence[dict], root: Path) -> Iterator[dict]:
    """Records to write, with ``rel`` recomputed for the index folder ``root``."""
    for im in images:
        rec = {k: im[k] for k in ("path", "name", "size", "cache")}
        rec["rel"] = os.path.relpath(im["path"], root.resolve())
        if im.get("bytes") is not None:
            rec["bytes"] = int(im["bytes"])
        yield rec

