"""Several methods on several datasets, the way papers compare them: the release's results tree.

The tree (the release's "testing your own method" layout)::

    RESULTS/image-level/METHOD/{roxford,rparis,R1Moxford,R1Mparis}.npy
    RESULTS/pixel-level/METHOD/matching_result/{proxford,prparis}.npy
                                              (pR1Moxford.npy, pR1Mparis.npy: per-R1M pixels,
                                               as the release's unified.py reads them)

Each (method, dataset) is scored once by the one evaluator (``evaluate_files``) and the result,
per-query values included, is cached under ``RESULTS/.pixret-cache`` by the hash of its files:
a second compare after adding a method scores only that method.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._version import __version__
from ..datasets import load_benchmark
from ..datasets.model import Benchmark
from ..errors import PixretError
from ..fetch import sha256_of
from ..io import write_json
from .evaluator import evaluate_files
from .significance import PairedTest, paired_test

# dataset -> (image-level file stem, pixel-level file stems, first found wins), release names
DATASETS: dict[str, tuple[str, tuple[str, ...]]] = {
    "proxford": ("roxford", ("proxford",)),
    "prparis": ("rparis", ("prparis",)),
    "r1m-proxford": ("R1Moxford", ("pR1Moxford", "proxford")),
    "r1m-prparis": ("R1Mparis", ("pR1Mparis", "prparis")),
}
LABELS = {"proxford": "PROxf", "prparis": "PRPar", "r1m-proxford": "PROxf+R1M", "r1m-prparis": "PRPar+R1M"}
SUBSETS = ("medium", "hard")
# metric -> (key of the summary, key of per_query); subset fills {s}
METRICS: dict[str, tuple[str, str]] = {
    "pixel_mAP": ("pixel_mAP.{s}", "pixel_AP.{s}"),
    "mIoU_box": ("mIoU.{s}_box", "mIoU.{s}_box"),
    "mIoU_mask": ("mIoU.{s}_mask", "mIoU.{s}_mask"),
    "image_mAP": ("image_mAP.{s}", "image_AP.{s}"),
}
CACHE = ".pixret-cache"


def _get(doc: dict, dotted: str) -> float | None:
    for k in dotted.split("."):
        doc = doc.get(k) if isinstance(doc, dict) else None
    return doc  # type: ignore[return-value]


@dataclass(frozen=True)
class MethodFiles:
    """The files one method has for one dataset (None where missing)."""

    method: str
    dataset: str
    image: Path | None
    pixel: Path | None


def find_methods(results: Path) -> list[str]:
    """Every method with a folder under image-level/ or pixel-level/, sorted."""
    names = set()
    for level in ("image-level", "pixel-level"):
        d = results / level
        if d.is_dir():
            names |= {p.name for p in d.iterdir() if p.is_dir() and not p.name.startswith(".")}
    return sorted(names)


def method_files(results: Path, method: str, dataset: str) -> MethodFiles:
    image_stem, pixel_stems = DATASETS[dataset]
    image = results / "image-level" / method / f"{image_stem}.npy"
    pixel = None
    for stem in pixel_stems:
        for ext in (".npy", ".json"):
            p = results / "pixel-level" / method / "matching_result" / f"{stem}{ext}"
            if p.is_file():
                pixel = p
                break
        if pixel:
            break
    image = image if image.is_file() else None
    if image is None and pixel is not None and pixel.stem != pixel_stems[0]:
        pixel = None  # R1M differs from its base set by the ranking alone: without it, nothing to score
    return MethodFiles(method, dataset, image, pixel)


def _digest(path: Path | None) -> str:
    return "-" if path is None else sha256_of(path)


@dataclass
class Comparison:
    """Scores of every (method, dataset): ``scores[(m, d)]`` = evaluate's summary (per protocol,
    per-query values included), or absent with a line in ``notes``."""

    methods: list[str]
    datasets: list[str]
    protocols: tuple[str, ...]
    scores: dict[tuple[str, str], dict] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    evaluated: list[tuple[str, str]] = field(default_factory=list)  # not from the cache

    def value(self, method: str, dataset: str, protocol: str, metric: str, subset: str) -> float | None:
        s = self.scores.get((method, dataset))
        if s is None or protocol not in s:
            return None
        v = _get(s[protocol], METRICS[metric][0].format(s=subset))
        return None if v is None else float(v)

    def per_query(
        self, method: str, dataset: str, protocol: str, metric: str, subset: str
    ) -> np.ndarray | None:
        s = self.scores.get((method, dataset))
        if s is None or protocol not in s:
            return None
        key = METRICS[metric][1].format(s=subset)
        vals = [_get(r, key) for r in s[protocol]["per_query"]]
        return np.array([np.nan if v is None else v for v in vals], dtype=np.float64)

    def test(
        self, a: str, b: str, dataset: str, protocol: str, metric: str, subset: str
    ) -> PairedTest | None:
        """Paired test of method ``a`` against ``b`` on one cell (None if either is missing)."""
        qa = self.per_query(a, dataset, protocol, metric, subset)
        qb = self.per_query(b, dataset, protocol, metric, subset)
        if qa is None or qb is None or self.value(a, dataset, protocol, metric, subset) is None:
            return None
        return paired_test(qa, qb)

    def as_dict(self, baseline: str | None = None) -> dict:
        """JSON-ready: every score (per-query values included), notes, and paired tests of every
        method against the baseline (or of every pair, without one)."""
        tests = []
        pairs = (
            [(m, baseline) for m in self.methods if m != baseline]
            if baseline
            else [(a, b) for n, a in enumerate(self.methods) for b in self.methods[n + 1 :]]
        )
        for a, b in pairs:
            for d in self.datasets:
                for p in self.protocols:
                    for metric in METRICS:
                        for s in SUBSETS:
                            t = self.test(a, b, d, p, metric, s)
                            if t is not None:
                                tests.append({"a": a, "b": b, "dataset": d, "protocol": p,
                                              "metric": metric, "subset": s, **t.as_dict()})  # fmt: skip
        return {
            "methods": self.methods,
            "datasets": self.datasets,
            "protocols": list(self.protocols),
            "scores": {m: {d: self.scores.get((m, d)) for d in self.datasets} for m in self.methods},
            "paired_tests": tests,
            "notes": self.notes,
        }


def _score(bench: Benchmark, files: MethodFiles, protocols: tuple[str, ...], points: str, cache: Path | None):
    """evaluate_files' summary for one (method, dataset), through the cache. Returns
    (summary, from_cache, warnings seen)."""
    key = hashlib.sha256(
        json.dumps(
            [__version__, files.dataset, _digest(files.image), _digest(files.pixel), protocols, points]
        ).encode()
    ).hexdigest()[:24]
    path = cache / f"{files.method}--{files.dataset}--{key}.json" if cache else None
    if path is not None and path.is_file():
        try:
            doc = json.loads(path.read_text())
            return doc["summary"], True, doc.get("warnings", [])
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache entry is scored again
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ev = evaluate_files(bench, files.image, files.pixel, protocols, points)
    summary = ev.summarize()
    seen = list(dict.fromkeys(str(w.message) for w in caught))
    if path is not None:
        with contextlib.suppress(OSError):  # a read-only results tree: scored again next time
            write_json(path, {"method": files.method, "dataset": files.dataset, "summary": summary,
                              "warnings": seen}, None)  # fmt: skip
    return summary, False, seen


def compare(
    root: str | Path,
    results: str | Path,
    methods: list[str] | None = None,
    datasets: list[str] | None = None,
    protocols: tuple[str, ...] = ("strict",),
    points: str = "xy",
    cache: bool = True,
) -> Comparison:
    """Score every method found under ``results`` (or those named) on every dataset it has files
    for, whose benchmark is present under ``root``."""
    results = Path(results)
    if not results.is_dir():
        raise PixretError(results, "results folder not found (expected image-level/ and pixel-level/ inside)")
    found = find_methods(results)
    if not found:
        raise PixretError(
            results, "no methods found: expected image-level/METHOD/ or pixel-level/METHOD/ folders"
        )
    if methods:
        unknown = [m for m in methods if m not in found]
        if unknown:
            raise PixretError(
                results, f"no results for method(s) {', '.join(unknown)}; found: {', '.join(found)}"
            )
    methods = list(methods) if methods else found
    unknown = [d for d in datasets or () if d not in DATASETS]
    if unknown:
        raise PixretError(None, f"unknown dataset(s) {', '.join(unknown)}; choose from {', '.join(DATASETS)}")
    cmp = Comparison(methods, [], tuple(protocols))
    cache_dir = results / CACHE if cache else None
    for d in datasets or DATASETS:
        files = [method_files(results, m, d) for m in methods]
        if not any(f.image or f.pixel for f in files):
            continue
        try:
            bench = load_benchmark(root, d)
        except PixretError as exc:
            cmp.notes.append(f"{LABELS[d]}: benchmark not available ({exc}); its columns are left out")
            continue
        cmp.datasets.append(d)
        for f in files:
            if f.pixel is None:
                what = "pixel-level file" + ("" if f.image else " and image-level file")
                cmp.notes.append(f"{f.method} on {LABELS[d]}: no {what}; shown as -")
                continue
            if f.image is None:
                cmp.notes.append(
                    f"{f.method} on {LABELS[d]}: no image-level ranks; pixel and image mAP shown as -"
                )
            try:
                summary, cached, seen = _score(bench, f, cmp.protocols, points, cache_dir)
            except PixretError as exc:
                cmp.notes.append(f"{f.method} on {LABELS[d]}: {exc}; shown as -")
                continue
            if f.image is None:  # without ranks pixel/image mAP are not measured: blank, not 0
                for p in summary.values():
                    for k in ("pixel_mAP", "pixel_mAP_box", "image_mAP"):
                        p[k] = {s: None for s in p[k]}
            cmp.scores[(f.method, d)] = summary
            if not cached:
                cmp.evaluated.append((f.method, d))
            cmp.notes += [f"{f.method} on {LABELS[d]}: {w}" for w in seen]
    if not cmp.datasets:
        raise PixretError(results, "no dataset has both results and a benchmark under the root")
    return cmp
