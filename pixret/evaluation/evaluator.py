"""PixelEval: evaluate (per-pair IoUs) -> accumulate (per-query metrics) -> summarize.

Two protocols:

compat  the release's ``mious.py`` and ``mAP@k.py`` number for number (benchmark-facts.md,
        quirks 1-9): easy positives without a prediction are skipped in Medium mIoU; pixel mAP
        uses the box IoU, drops at-or-below-threshold positives from the recall denominator and
        drops queries with none left; the dataset's ignored queries count as AP 0; a pair whose
        IoU cannot be computed reuses the previous pair's value. Missing pairs are empty
        predictions (the release crashes on them).
strict  every positive counts (no prediction = IoU 0); pixel AP has recall over all positives,
        positives at or below the threshold stay in the ranking as wrong results, a query with
        none above the threshold scores 0; pixel mAP uses the mask IoU (box beside it); no
        query is ignored; masks are drawn on the image's own canvas, all polygons count,
        coordinates outside the image are clipped.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ..datasets.model import Benchmark
from ..parallel import default_workers, fork_map
from .ap import average_precision, positions, precision_at
from .iou import CompatPairError, compat_iou, strict_iou
from .predictions import PixelResults, PixretWarning

THRESHOLDS = tuple(t / 100 for t in range(50, 100, 5))
KAPPAS = (1, 5, 10)
PROTOCOLS = ("compat", "strict")
_NONE, _ERROR = "none", "error"


@dataclass
class ProtocolResult:
    """Everything one protocol measured; ``as_dict`` gives the JSON schema of `pixret evaluate`."""

    protocol: str
    miou: dict[str, float]
    pixel_map: dict[str, float]
    pixel_map_box: dict[str, float]
    pixel_map_at: dict[str, list[float]]
    image_map: dict[str, float]
    image_mp: dict[str, dict[str, float]]
    per_query: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return _clean(
            {
                "mIoU": self.miou,
                "pixel_mAP": self.pixel_map,
                "pixel_mAP_box": self.pixel_map_box,
                "pixel_mAP_at": self.pixel_map_at,
                "image_mAP": self.image_map,
                "image_mP": self.image_mp,
                "per_query": self.per_query,
            }
        )


def _clean(obj: object) -> object:
    """JSON-ready: numpy scalars to float, NaN to None."""
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return None if math.isnan(obj) else float(obj)
    return obj


def _mean(values: list[float]) -> float:
    # np.mean as the release uses it: nan for an empty list (without numpy's warning)
    return float(np.mean(values)) if values else math.nan


class PixelEval:
    """Score a method on a benchmark: ``PixelEval(bench, ranks, pixels).run()``."""

    def __init__(
        self,
        bench: Benchmark,
        ranks: np.ndarray | None,
        pixels: PixelResults,
        protocols: tuple[str, ...] = PROTOCOLS,
        workers: int | None = None,
    ):
        unknown = set(protocols) - set(PROTOCOLS)
        if unknown:
            raise ValueError(f"unknown protocol(s) {sorted(unknown)}; choose from {PROTOCOLS}")
        self.bench, self.ranks, self.pixels = bench, ranks, pixels
        self.protocols = tuple(protocols)
        self.workers = default_workers() if workers is None else workers
        self.compat_pairs: dict[tuple[int, int], object] = {}
        self.strict_pairs: dict[tuple[int, int], tuple[float, float]] = {}
        self.results: dict[str, ProtocolResult] = {}
        self._sizes_guessed = 0

    # ------------------------------------------------------------ evaluate
    def evaluate(self) -> None:
        """Compute the IoU of every (query, positive) pair under each protocol."""
        pairs = self.bench.pairs()
        out = fork_map(self._pair, pairs, self.workers)
        if "compat" in self.protocols:
            self.compat_pairs = {p: r[0] for p, r in zip(pairs, out, strict=True)}
        if "strict" in self.protocols:
            self.strict_pairs = {p: r[1] for p, r in zip(pairs, out, strict=True)}
        self._sizes_guessed = sum(r[2] for r in out)
        if self._sizes_guessed:
            warnings.warn(
                f"{self._sizes_guessed} pair(s) without a known image size: strict used the "
                "largest ground-truth coordinate as the canvas",
                PixretWarning,
                stacklevel=2,
            )

    def _pair(self, pair: tuple[int, int]) -> tuple[object, tuple[float, float] | None, bool]:
        """(compat result, strict IoUs, whether the image size was guessed) of one pair."""
        compat = self._compat_pair(pair) if "compat" in self.protocols else None
        strict, guessed = self._strict_pair(pair) if "strict" in self.protocols else (None, False)
        return compat, strict, guessed

    def _compat_pair(self, pair: tuple[int, int]) -> object:
        pred = self.pixels.get(pair)
        if pred is None or pred.empty:
            return _NONE
        gt = self.bench.gt(*pair)
        try:
            if gt is None:
                raise CompatPairError("no label file for this pair")
            with np.errstate(all="ignore"):
                return compat_iou(pred.first_polygon(), gt.polygons)
        except CompatPairError:
            return _ERROR

    def _image_size(self, pair: tuple[int, int]) -> tuple[int, int, bool]:
        """(h, w, guessed): from the label, else the image file, else the label's extent."""
        gt = self.bench.gt(*pair)
        if gt is not None and gt.width and gt.height:
            return gt.height, gt.width, False
        path = self.bench.database_image(pair[1])
        if path is not None:
            with Image.open(path) as im:
                return im.height, im.width, False
        pts = gt.all_points if gt is not None else np.zeros((1, 2))
        return int(pts[:, 1].max()) + 1, int(pts[:, 0].max()) + 1, True

    def _strict_pair(self, pair: tuple[int, int]) -> tuple[tuple[float, float], bool]:
        gt = self.bench.gt(*pair)
        if gt is None or not gt.polygons:
            return (0.0, 0.0), False
        h, w, guessed = self._image_size(pair)
        return strict_iou(self.pixels.get(pair), gt.polygons, h, w), guessed

    # ------------------------------------------------------------ accumulate
    def accumulate(self) -> None:
        """Turn pair IoUs into per-query and overall metrics for each protocol."""
        image = self._image_level()
        if "compat" in self.protocols:
            self.results["compat"] = self._accumulate_compat(image)
        if "strict" in self.protocols:
            self.results["strict"] = self._accumulate_strict(image)

    def _image_level(self) -> dict:
        out: dict = {"ap": {}, "mp": {}, "map": {}, "mpk": {}}
        for subset in ("easy", "medium", "hard"):
            aps, mps = [], []
            for q in self.bench.queries:
                ok, junk = q.protocol(subset)
                if not len(ok) or self.ranks is None:
                    aps.append(math.nan)
                    mps.append(np.full(len(KAPPAS), math.nan))
                    continue
                pos = positions(self.ranks[:, q.index], ok, junk)
                aps.append(average_precision(pos, len(ok)))
                mps.append(precision_at(pos, KAPPAS))
            out["ap"][subset] = aps
            valid = [a for a in aps if not math.isnan(a)]
            out["map"][subset] = float(np.mean(valid)) if valid else math.nan
            arr = np.array(mps)
            keep = ~np.isnan(arr).any(axis=1)
            out["mpk"][subset] = {
                str(k): float(arr[keep, n].mean()) if keep.any() else math.nan for n, k in enumerate(KAPPAS)
            }
        return out

    def _accumulate_compat(self, image: dict) -> ProtocolResult:
        table: dict[tuple[int, int], tuple[float, float]] = {}
        per_q = []
        prev = (0.0, 0.0)  # the release would crash with NameError if its first pair failed
        lists: dict[str, list[float]] = {k: [] for k in ("mb", "mm", "hb", "hm")}
        for q in self.bench.queries:
            mb, mm, hb, hm = [], [], [], []
            for i in q.hard:
                r = self.compat_pairs[(q.index, int(i))]
                if r == _NONE:
                    prev = table[(q.index, int(i))] = (0.0, 0.0)
                elif r == _ERROR:
                    pass  # keeps prev, no table entry (quirk 9)
                else:
                    prev = table[(q.index, int(i))] = r
                mb.append(prev[0])
                mm.append(prev[1])
                hb.append(prev[0])
                hm.append(prev[1])
            for i in q.easy:
                r = self.compat_pairs[(q.index, int(i))]
                if r == _NONE:
                    prev = (0.0, 0.0)  # set, then `continue`: skipped in the mean (quirk 1)
                    continue
                if r != _ERROR:
                    prev = table[(q.index, int(i))] = r
                mb.append(prev[0])
                mm.append(prev[1])
            vals = [_mean(v) for v in (mb, mm, hb, hm)]
            for k, v in zip(lists, vals, strict=True):
                lists[k].append(v)
            per_q.append(vals)
        miou = {
            name: float(np.mean(lists[k])) if lists[k] else math.nan
            for name, k in zip(_MIOU_KEYS, lists, strict=True)
        }
        if any(math.isnan(v) for v in miou.values()):
            warnings.warn(
                "compat mIoU is NaN: a query has no positives in a subset, or an IoU was 0/0 "
                "(the release's np.mean propagates it)",
                PixretWarning,
                stacklevel=2,
            )

        pixel_at, pixel_ap_q = {}, {}
        for subset in ("medium", "hard"):
            maps, per_query_ap = [], np.zeros((len(self.bench.queries), len(THRESHOLDS)))
            zero_at = []
            for n, t in enumerate(THRESHOLDS):
                total, nempty = 0.0, 0
                for q in self.bench.queries:
                    if q.index in self.bench.compat_ignored_queries:
                        per_query_ap[q.index, n] = math.nan
                        continue
                    ok, junk = q.protocol(subset)
                    keep = [j for j in ok if (q.index, int(j)) in table and table[(q.index, int(j))][0] > t]
                    if not keep:
                        nempty += 1
                        per_query_ap[q.index, n] = math.nan
                        continue
                    ap = self._ap(q.index, np.array(keep), junk, len(keep))
                    per_query_ap[q.index, n] = ap
                    total += ap
                denom = len(self.bench.queries) - nempty
                if not denom:  # the release divides by zero here; nothing was found: 0
                    zero_at.append(f"{t:.2f}")
                maps.append(total / denom if denom else 0.0)
            if zero_at:
                warnings.warn(
                    f"compat {subset}: no query keeps a positive above IoU {', '.join(zero_at)}; the "
                    "release crashes there (ZeroDivisionError), pixret scores those thresholds 0",
                    PixretWarning,
                    stacklevel=2,
                )
            pixel_at[subset] = maps
            pixel_ap_q[subset] = per_query_ap
        pixel_map = {s: float(np.mean(v)) for s, v in pixel_at.items()}
        per_query = self._per_query(per_q, pixel_ap_q, pixel_ap_q, image, compat=True)
        return ProtocolResult(
            "compat", miou, pixel_map, dict(pixel_map), pixel_at,
            image["map"], image["mpk"], per_query,
        )  # fmt: skip

    def _ap(self, q: int, relevant: np.ndarray, junk: np.ndarray, n_relevant: int) -> float:
        if self.ranks is None:
            return 0.0
        return average_precision(positions(self.ranks[:, q], relevant, junk), n_relevant)

    def _accumulate_strict(self, image: dict) -> ProtocolResult:
        per_q, skipped = [], []
        for q in self.bench.queries:
            vals = []
            for subset in ("medium", "hard"):
                ok, _ = q.protocol(subset)
                ious = [self.strict_pairs[(q.index, int(i))] for i in ok]
                vals += [_mean([b for b, _ in ious]), _mean([m for _, m in ious])]
                if not ious:
                    skipped.append(f"{q.index}/{subset}")
            per_q.append(vals)
        arr = np.array(per_q, dtype=np.float64).reshape(-1, 4)
        miou = {
            name: float(np.nanmean(arr[:, n])) if (~np.isnan(arr[:, n])).any() else math.nan
            for n, name in enumerate(_MIOU_KEYS)
        }
        if skipped:
            warnings.warn(
                f"strict: {len(skipped)} query subset(s) without positives left out of the "
                f"mIoU means: {', '.join(skipped[:8])}{' ...' if len(skipped) > 8 else ''}",
                PixretWarning,
                stacklevel=2,
            )
        res: dict[str, dict] = {"mask": {}, "box": {}}
        per_q_ap: dict[str, dict] = {"mask": {}, "box": {}}
        for kind, col in (("box", 0), ("mask", 1)):
            for subset in ("medium", "hard"):
                ap = np.full((len(self.bench.queries), len(THRESHOLDS)), math.nan)
                for q in self.bench.queries:
                    ok, junk = q.protocol(subset)
                    if not len(ok):
                        continue
                    ious = np.array([self.strict_pairs[(q.index, int(i))][col] for i in ok])
                    for n, t in enumerate(THRESHOLDS):
                        ap[q.index, n] = self._ap(q.index, ok[ious > t], junk, len(ok))
                res[kind][subset] = [
                    float(np.nanmean(ap[:, n])) if (~np.isnan(ap[:, n])).any() else math.nan
                    for n in range(len(THRESHOLDS))
                ]
                per_q_ap[kind][subset] = ap
        pixel_map = {s: float(np.mean(v)) for s, v in res["mask"].items()}
        pixel_map_box = {s: float(np.mean(v)) for s, v in res["box"].items()}
        per_query = self._per_query(per_q, per_q_ap["mask"], per_q_ap["box"], image, compat=False)
        return ProtocolResult(
            "strict", miou, pixel_map, pixel_map_box, res["mask"],
            image["map"], image["mpk"], per_query,
        )  # fmt: skip

    def _per_query(self, miou: list, ap_mask: dict, ap_box: dict, image: dict, compat: bool) -> list[dict]:
        out = []
        for q in self.bench.queries:
            ignored = compat and q.index in self.bench.compat_ignored_queries
            out.append(
                {
                    "query": q.index,
                    "name": q.name,
                    "n_easy": len(q.easy),
                    "n_hard": len(q.hard),
                    "ignored_in_pixel_mAP": ignored,
                    "mIoU": dict(zip(_MIOU_KEYS, miou[q.index], strict=True)),
                    "pixel_AP": {s: _nanmean_row(ap_mask[s][q.index]) for s in ap_mask},
                    "pixel_AP_box": {s: _nanmean_row(ap_box[s][q.index]) for s in ap_box},
                    "image_AP": {s: image["ap"][s][q.index] for s in image["ap"]},
                }
            )
        return out

    # ------------------------------------------------------------ summarize
    def summarize(self) -> dict[str, dict]:
        """The JSON-ready results, one entry per protocol."""
        return {p: r.as_dict() for p, r in self.results.items()}

    def run(self) -> dict[str, dict]:
        self.evaluate()
        self.accumulate()
        return self.summarize()


_MIOU_KEYS = ("medium_box", "medium_mask", "hard_box", "hard_mask")


def _nanmean_row(row: np.ndarray) -> float:
    # compat: a threshold where the query had nothing above it counts as "dropped", not 0
    row = np.asarray(row, dtype=np.float64)
    return float(np.nanmean(row)) if (~np.isnan(row)).any() else math.nan


def evaluate_files(
    bench: Benchmark,
    image_results: str | Path | None,
    pixel_results: str | Path,
    protocols: tuple[str, ...] = PROTOCOLS,
    points: str = "yx",
) -> PixelEval:
    """Read result files, validate them against ``bench`` and run every protocol."""
    from .predictions import read_pixel_results, read_ranks

    ranks = read_ranks(image_results, bench.n_database, bench.n_queries) if image_results else None
    pixels = read_pixel_results(pixel_results, bench.n_queries, bench.n_database, points)
    ev = PixelEval(bench, ranks, pixels, protocols)
    ev.run()
    return ev
