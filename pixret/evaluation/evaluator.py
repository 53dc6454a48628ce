"""PixelEval: evaluate (per-pair IoUs) -> accumulate (per-query metrics) -> summarize.

Two protocols:

compat  the release's ``mious.py`` and ``mAP@k.py`` number for number (docs/protocols.md,
        differences 1-9): easy positives without a prediction are skipped in Medium mIoU; pixel mAP
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

import enum
import functools
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..datasets.model import Benchmark
from ..errors import ResultsWarning
from ..imageio import image_size
from ..parallel import default_workers, fork_map
from .ap import average_precision, precision_at
from .iou import CompatPairError, compat_iou, strict_iou
from .ranking import RankLookup
from .results import PixelResults, load_pixel_results, load_ranks

THRESHOLDS = tuple(t / 100 for t in range(50, 100, 5))
KAPPAS = (1, 5, 10)
PROTOCOLS = ("compat", "strict")


class PairOutcome(enum.Enum):
    """A compat pair without an IoU: no prediction (the release's ``len(found_points) == 0``
    branch), or a pair its ``compute_iou`` raises on (caught by its bare ``except``)."""

    NO_PREDICTION = "no prediction"
    FAILED = "failed"


CompatPair = tuple[float, float] | PairOutcome  # (box IoU, mask IoU), or why there is none


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
        self.compat_pairs: dict[tuple[int, int], CompatPair] = {}
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
                ResultsWarning,
                stacklevel=2,
            )

    def _pair(self, pair: tuple[int, int]) -> tuple[CompatPair | None, tuple[float, float] | None, bool]:
        """(compat result, strict IoUs, whether the image size was guessed) of one pair."""
        compat = self._compat_pair(pair) if "compat" in self.protocols else None
        strict, guessed = self._strict_pair(pair) if "strict" in self.protocols else (None, False)
        return compat, strict, guessed

    def _compat_pair(self, pair: tuple[int, int]) -> CompatPair:
        pred = self.pixels.get(pair)
        if pred is None or pred.empty:
            return PairOutcome.NO_PREDICTION
        gt = self.bench.gt(*pair)
        try:
            if gt is None:
                raise CompatPairError("no label file for this pair")
            with np.errstate(all="ignore"):
                return compat_iou(pred.first_polygon(), gt.polygons)
        except CompatPairError:
            return PairOutcome.FAILED

    def _image_size(self, pair: tuple[int, int]) -> tuple[int, int, bool]:
        """(h, w, guessed): from the label, else the image file, else the label's extent."""
        gt = self.bench.gt(*pair)
        if gt is not None and gt.width and gt.height:
            return gt.height, gt.width, False
        path = self.bench.database_image(pair[1])
        if path is not None:
            w, h = image_size(path)
            return h, w, False
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

    @functools.cached_property
    def lookup(self) -> RankLookup | None:
        """Where each query's easy, hard and junk images sit in its ranking (one pass over it)."""
        if self.ranks is None:
            return None
        items = [np.concatenate([q.easy, q.hard, q.junk]) for q in self.bench.queries]
        return RankLookup(self.ranks, items, self.bench.n_database)

    def positions(self, q: int, ok: np.ndarray, junk: np.ndarray) -> np.ndarray:
        """revisitop positions of query q's ``ok`` images in its ranking (junk removed);
        ``ok`` and ``junk`` are drawn from the query's easy, hard and junk images."""
        if self.lookup is None:
            raise ValueError("positions need a ranking: PixelEval was given ranks=None")
        return self.lookup.positions(q, ok, junk)

    def _image_level(self) -> dict:
        """Per-query AP and mP@k, and their means, for easy / medium / hard."""
        out: dict = {"ap": {}, "map": {}, "mpk": {}}
        for subset in ("easy", "medium", "hard"):
            aps, mps = [], []
            for q in self.bench.queries:
                ok, junk = q.protocol(subset)
                if not len(ok) or self.ranks is None:
                    aps.append(math.nan)
                    mps.append(np.full(len(KAPPAS), math.nan))
                    continue
                pos = self.positions(q.index, ok, junk)
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
        table, per_q = self._compat_miou()
        miou = {key: _mean([v[key] for v in per_q]) for key in _MIOU_KEYS}
        if any(math.isnan(v) for v in miou.values()):
            warnings.warn(
                "compat mIoU is NaN: a query has no positives in a subset, or an IoU was 0/0 "
                "(the release's np.mean propagates it)",
                ResultsWarning,
                stacklevel=3,
            )
        pixel_at, pixel_ap_q = {}, {}
        for subset in ("medium", "hard"):
            pixel_at[subset], pixel_ap_q[subset] = self._compat_pixel_map(table, subset)
        pixel_map = {s: float(np.mean(v)) for s, v in pixel_at.items()}
        per_query = self._per_query(per_q, pixel_ap_q, pixel_ap_q, image, compat=True)
        return ProtocolResult(
            "compat", miou, pixel_map, dict(pixel_map), pixel_at,
            image["map"], image["mpk"], per_query,
        )  # fmt: skip

    def _compat_miou(self) -> tuple[dict[tuple[int, int], tuple[float, float]], list[dict[str, float]]]:
        """``mious.py``: per-query mIoUs, and the IoU table (its ``IOU_dict``) pixel mAP reads.

        The release's loop, hard positives then easy, with its carried-over ``bbox_iou`` /
        ``segmentation_iou``: a failed pair reuses the previous pair's values and gets no table
        entry (difference 9); an easy positive without a prediction is skipped (difference 1).
        """
        table: dict[tuple[int, int], tuple[float, float]] = {}
        per_q = []
        prev = (0.0, 0.0)  # the release would crash with NameError if its first pair failed
        for q in self.bench.queries:
            medium: list[tuple[float, float]] = []
            hard: list[tuple[float, float]] = []
            for i in q.hard:
                r = self.compat_pairs[(q.index, int(i))]
                if r is PairOutcome.NO_PREDICTION:
                    prev = table[(q.index, int(i))] = (0.0, 0.0)
                elif r is not PairOutcome.FAILED:
                    prev = table[(q.index, int(i))] = r
                medium.append(prev)
                hard.append(prev)
            for i in q.easy:
                r = self.compat_pairs[(q.index, int(i))]
                if r is PairOutcome.NO_PREDICTION:
                    prev = (0.0, 0.0)  # set, then `continue`: skipped in the mean
                    continue
                if r is not PairOutcome.FAILED:
                    prev = table[(q.index, int(i))] = r
                medium.append(prev)
            per_q.append(
                {
                    "medium_box": _mean([b for b, _ in medium]),
                    "medium_mask": _mean([m for _, m in medium]),
                    "hard_box": _mean([b for b, _ in hard]),
                    "hard_mask": _mean([m for _, m in hard]),
                }
            )
        return table, per_q

    def _compat_pixel_map(
        self, table: dict[tuple[int, int], tuple[float, float]], subset: str
    ) -> tuple[list[float], np.ndarray]:
        """``compute_maps`` of ``evaluate_pixel.py`` for one subset: mAP per threshold, and the
        per-query AP (n_queries, n_thresholds; NaN where the release drops the query).

        Box IoU (difference 4); a positive counts only above the threshold and otherwise leaves
        the recall denominator; a query with none left is dropped from the mean (difference 2);
        the ignored queries stay in its denominator (difference 3)."""
        maps, zero_at = [], []
        per_query_ap = np.full((len(self.bench.queries), len(THRESHOLDS)), math.nan)
        if self.ranks is None:  # pixel mAP ranks images: without a ranking it is not measured
            return [math.nan] * len(THRESHOLDS), per_query_ap
        for n, t in enumerate(THRESHOLDS):
            total, nempty = 0.0, 0
            for q in self.bench.queries:
                if q.index in self.bench.compat_ignored_queries:
                    continue
                ok, junk = q.protocol(subset)
                keep = [j for j in ok if (q.index, int(j)) in table and table[(q.index, int(j))][0] > t]
                if not keep:
                    nempty += 1
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
                ResultsWarning,
                stacklevel=4,
            )
        return maps, per_query_ap

    def _ap(self, q: int, relevant: np.ndarray, junk: np.ndarray, n_relevant: int) -> float:
        if self.ranks is None:  # pixel mAP ranks images: without a ranking it is not measured
            return math.nan
        return average_precision(self.positions(q, relevant, junk), n_relevant)

    def _accumulate_strict(self, image: dict) -> ProtocolResult:
        per_q, skipped = [], []
        for q in self.bench.queries:
            vals = {}
            for subset in ("medium", "hard"):
                ok, _ = q.protocol(subset)
                ious = [self.strict_pairs[(q.index, int(i))] for i in ok]
                vals[f"{subset}_box"] = _mean([b for b, _ in ious])
                vals[f"{subset}_mask"] = _mean([m for _, m in ious])
                if not ious:
                    skipped.append(f"{q.index}/{subset}")
            per_q.append(vals)
        miou = {key: _nanmean_row(np.array([v[key] for v in per_q])) for key in _MIOU_KEYS}
        if skipped:
            warnings.warn(
                f"strict: {len(skipped)} query subset(s) without positives left out of the "
                f"mIoU means: {', '.join(skipped[:8])}{' ...' if len(skipped) > 8 else ''}",
                ResultsWarning,
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

    def _per_query(
        self, miou: list[dict[str, float]], ap_mask: dict, ap_box: dict, image: dict, compat: bool
    ) -> list[dict]:
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
                    "mIoU": miou[q.index],
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

    def input_report(self) -> dict:
        """What of the input was scored and what was not, counted and named (after ``evaluate``):
        nothing a user gave is left out without a word. JSON-ready; ``notes`` are sentences."""
        positives = set(self.bench.pairs())
        given = [p for p, pred in self.pixels.items() if not pred.empty]
        unscored = sorted(set(given) - positives)
        missing = sorted(positives - set(given))
        unlabelled = sorted(p for p in positives if p not in self.bench.pair_labels)
        failed = sorted(p for p, r in self.compat_pairs.items() if r is PairOutcome.FAILED)
        report = {
            "predictions": len(given), "positive_pairs": len(positives),
            "predictions_not_for_a_positive": len(unscored), "positives_without_prediction": len(missing),
            "positives_without_label": len(unlabelled), "compat_failed_pairs": len(failed),
            "sizes_guessed": self._sizes_guessed, "ranking": self.ranks is not None,
        }  # fmt: skip
        notes = []

        def first(pairs: list[tuple[int, int]]) -> str:
            return f"first: query {pairs[0][0]}, image {pairs[0][1]} ({self.bench.database[pairs[0][1]]})"

        if unscored:
            notes.append(f"{len(unscored)} of {len(given)} predictions are for images that are not their query's "
                         f"positives and are not scored: pixel metrics score positives only ({first(unscored)})")  # fmt: skip
        if missing:
            notes.append(f"{len(missing)} of {len(positives)} positives have no prediction (IoU 0; compat skips the "
                         f"easy ones) ({first(missing)})")  # fmt: skip
        if unlabelled:
            notes.append(f"{len(unlabelled)} positives have no label file and score 0 ({first(unlabelled)})")
        if failed:
            notes.append(f"compat: the release's IoU fails on {len(failed)} pair(s), which reuse the previous pair's "
                         f"IoU as its scripts do ({first(failed)})")  # fmt: skip
        if self._sizes_guessed:
            notes.append(f"{self._sizes_guessed} pair(s) without a known image size: strict used the largest "
                         "ground-truth coordinate as the canvas")  # fmt: skip
        if self.ranks is None:
            notes.append("no ranking given: pixel and image mAP are not measured")
        report["notes"] = notes
        return report

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
    points: str = "xy",
    one_based: bool = False,
) -> PixelEval:
    """Read result files, validate them against ``bench`` and run every protocol.

    ``points``: column order of a release ``.npy`` pixel file ("xy", the current release's);
    ``one_based``: the ranking holds indices 1..n (MATLAB's revisitop code writes them so).
    """
    ranks = load_ranks(bench, image_results, one_based) if image_results else None
    pixels = load_pixel_results(bench, pixel_results, points)
    ev = PixelEval(bench, ranks, pixels, protocols)
    ev.run()
    return ev
