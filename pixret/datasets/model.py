"""Typed data model of a pixel retrieval benchmark (revisitop ground truth + pixel labels)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .labelme import LabelmeShapes, read_labelme


@dataclass(frozen=True)
class Query:
    """One query: its image, its box (x1, y1, x2, y2) and its database positives."""

    index: int
    name: str
    box: tuple[float, float, float, float]
    easy: np.ndarray
    hard: np.ndarray
    junk: np.ndarray
    mask_path: Path | None = None

    @property
    def positives(self) -> np.ndarray:
        """Medium positives: easy then hard (the order the release concatenates them in)."""
        return np.concatenate([self.easy, self.hard]).astype(np.int64)

    def protocol(self, subset: str) -> tuple[np.ndarray, np.ndarray]:
        """(ok, junk) index arrays of the revisitop protocol ``easy``, ``medium`` or ``hard``."""
        cat = np.concatenate
        if subset == "easy":
            return self.easy, cat([self.junk, self.hard]).astype(np.int64)
        if subset == "medium":
            return self.positives, self.junk
        if subset == "hard":
            return self.hard, cat([self.junk, self.easy]).astype(np.int64)
        raise ValueError(f"unknown subset {subset!r}")

    def query_mask(self) -> LabelmeShapes | None:
        return read_labelme(self.mask_path) if self.mask_path and self.mask_path.exists() else None


@dataclass
class Benchmark:
    """A benchmark read from the release layout: queries, database, pixel labels, images."""

    name: str
    root: Path
    queries: list[Query]
    database: list[str]
    pair_labels: dict[tuple[int, int], Path]
    image_dirs: list[Path] = field(default_factory=list)
    n_labelled_database: int = 0
    compat_ignored_queries: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        if not self.n_labelled_database:
            self.n_labelled_database = len(self.database)
        # per-instance cache of parsed labels (read lazily, once)
        self.gt = functools.lru_cache(maxsize=None)(self._read_gt)

    @property
    def n_queries(self) -> int:
        return len(self.queries)

    @property
    def n_database(self) -> int:
        return len(self.database)

    def pairs(self) -> list[tuple[int, int]]:
        """Every (query, positive) pair, hard then easy per query (the release's loop order)."""
        return [(q.index, int(i)) for q in self.queries for i in (*q.hard, *q.easy)]

    def _read_gt(self, q: int, i: int) -> LabelmeShapes | None:
        path = self.pair_labels.get((q, i))
        return None if path is None else read_labelme(path)

    def image_path(self, name: str) -> Path | None:
        """Path of a database or query image (``name`` without or with .jpg), if present."""
        fname = name if Path(name).suffix.lower() in {".jpg", ".jpeg", ".png"} else f"{name}.jpg"
        for d in self.image_dirs:
            p = d / fname
            if p.exists():
                return p
        return None

    def database_image(self, i: int) -> Path | None:
        return self.image_path(self.database[i])

    def query_image(self, q: int) -> Path | None:
        return self.image_path(self.queries[q].name)

    @property
    def has_images(self) -> bool:
        return bool(self.queries) and self.query_image(0) is not None
