"""PixelEval: evaluate (per-pair IoUs) -> accumulate (per-query metrics) -> summarize.

The protocols (``compat``: the release's numbers; ``strict``: corrected) are modules of
``evaluation/protocols/`` behind one interface: each scores a pair, then accumulates its pairs
into mIoU and pixel mAP. What both share, the image-level ranking metrics, is computed here once.
"""

from __future__ import annotations

import functools
import math
import warnings
from pathlib import Path

import numpy as np

from ..datasets.model import Benchmark
from ..errors import PixretWarning, ResultsWarning
from ..parallel import default_workers, fork_map
from . import protocols as _protocols
from .ap import average_precision, precision_at
from .protocols import KAPPAS, THRESHOLDS, PairOutcome, ProtocolResult
from .protocols.compat import CompatPair
from .ranking import RankLookup
from .results import PixelResults, load_pixel_results, load_ranks

PROTOCOLS = _protocols.NAMES

__all__ = ["KAPPAS", "PROTOCOLS", "THRESHOLDS", "CompatPair", "PairOutcome", "PixelEval", "ProtocolResult",
           "evaluate_files"]  # fmt: skip


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
        self.scorers = [_protocols.get(p) for p in protocols]  # ValueError naming the valid ones
        self.bench, self.ranks, self.pixels = bench, ranks, pixels
        self.protocols = tuple(protocols)
        self.workers = default_workers() if workers is None else workers
        # protocol -> (query, image) -> that protocol's value for the pair
        self.pair_values: dict[str, dict[tuple[int, int], object]] = {}
        self.results: dict[str, ProtocolResult] = {}
        self.sizes_guessed: list[tuple[int, int]] = []  # pairs whose image size strict had to guess
        self.read_notes: list[str] = []  # what reading and scoring the files warned about (evaluate_files)

    @property
    def compat_pairs(self) -> dict[tuple[int, int], CompatPair]:
        """compat's value per pair: (box IoU, mask IoU) or a PairOutcome ({} if not scored)."""
        return self.pair_values.get("compat", {})  # type: ignore[return-value]

    @property
    def strict_pairs(self) -> dict[tuple[int, int], tuple[float, float]]:
        """strict's (box IoU, mask IoU) per pair ({} if not scored)."""
        return self.pair_values.get("strict", {})  # type: ignore[return-value]

    # ------------------------------------------------------------ evaluate
    def evaluate(self) -> None:
        """Compute every protocol's value of every (query, positive) pair."""
        pairs = self.bench.pairs()
        out = fork_map(self._pair, pairs, self.workers)
        for k, scorer in enumerate(self.scorers):
            self.pair_values[scorer.name] = {p: r[k][0] for p, r in zip(pairs, out, strict=True)}
        self.sizes_guessed = [p for p, r in zip(pairs, out, strict=True) if any(g for _, g in r)]
        if self.sizes_guessed:
            warnings.warn(
                f"{len(self.sizes_guessed)} pair(s) without a known image size: strict used the "
                "largest ground-truth coordinate as the canvas",
                ResultsWarning,
                stacklevel=2,
            )

    def _pair(self, pair: tuple[int, int]) -> list[tuple[object, bool]]:
        """Each protocol's (value, image size guessed) of one pair (runs in forked workers)."""
        return [scorer.pair(self, pair) for scorer in self.scorers]

    # ------------------------------------------------------------ accumulate
    def accumulate(self) -> None:
        """Turn pair values into per-query and overall metrics, protocol by protocol."""
        image = self._image_level()
        for scorer in self.scorers:
            self.results[scorer.name] = scorer.accumulate(self, self.pair_values[scorer.name], image)

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

    def ap(self, q: int, relevant: np.ndarray, junk: np.ndarray, n_relevant: int) -> float:
        """revisitop AP of query q's ``relevant`` images among ``n_relevant`` (junk removed);
        NaN without a ranking (pixel mAP ranks images: without one it is not measured)."""
        if self.ranks is None:
            return math.nan
        return average_precision(self.positions(q, relevant, junk), n_relevant)

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
        junk = {(q.index, int(i)) for q in self.bench.queries for i in q.junk}
        on_junk = [p for p in unscored if p in junk]  # junk: the object is there, too little of it to count
        missing = sorted(positives - set(given))
        unlabelled = sorted(p for p in positives if p not in self.bench.pair_labels)
        empty = sorted(p for p in positives if p in self.bench.pair_labels and not self.bench.gt(*p).polygons)
        failed = sorted(p for p, r in self.compat_pairs.items() if r is PairOutcome.FAILED)
        given_empty = sorted(p for p, pred in self.pixels.items() if pred.empty)
        named = {
            "predictions_not_for_a_positive": unscored, "positives_without_prediction": missing,
            "positives_without_label": unlabelled, "positives_with_an_empty_label": empty,
            "compat_failed_pairs": failed, "sizes_guessed": sorted(self.sizes_guessed),
            "empty_predictions": given_empty,
        }  # fmt: skip
        report: dict = {"predictions": len(given), "positive_pairs": len(positives), "ranking": self.ranks is not None}
        report |= {k: len(v) for k, v in named.items()}
        report["predictions_for_junk"] = len(on_junk)  # of predictions_not_for_a_positive
        report["pairs"] = {k: [list(p) for p in v] for k, v in named.items()}  # every one named: [query, image]
        notes = []

        def first(pairs: list[tuple[int, int]]) -> str:
            return f"first: query {pairs[0][0]}, image {pairs[0][1]} ({self.bench.database[pairs[0][1]]})"

        if unscored:
            notes.append(f"{len(unscored)} of {len(given)} predictions are for images that are not their query's "
                         f"positives ({len(on_junk)} junk, {len(unscored) - len(on_junk)} neither positive nor junk) "
                         f"and are not scored: pixel metrics score positives only ({first(unscored)})")  # fmt: skip
        if missing:
            notes.append(f"{len(missing)} of {len(positives)} positives have no prediction (IoU 0; compat skips the "
                         f"easy ones) ({first(missing)})")  # fmt: skip
        if unlabelled:
            notes.append(f"{len(unlabelled)} positives have no label file and score 0 ({first(unlabelled)})")
        if empty:
            notes.append(f"{len(empty)} positives have a label file without shapes and score 0 ({first(empty)})")
        if given_empty:
            notes.append(f"{len(given_empty)} predictions hold no polygon and no mask: they count as none "
                         f"({first(given_empty)})")  # fmt: skip
        if failed:
            notes.append(f"compat: the release's IoU fails on {len(failed)} pair(s), which reuse the previous pair's "
                         f"IoU as its scripts do ({first(failed)})")  # fmt: skip
        if self.sizes_guessed:
            notes.append(f"{len(self.sizes_guessed)} pair(s) without a known image size: strict used the largest "
                         f"ground-truth coordinate as the canvas ({first(sorted(self.sizes_guessed))})")  # fmt: skip
        if self.ranks is None:
            notes.append("no ranking given: pixel and image mAP are not measured")
        exact = self.equal_to_labels()
        report["equal_to_labels"] = exact
        if exact:
            notes.append(f"each of the {exact} labelled positives has a prediction that is its label exactly (mask IoU 1.0): "
                         "these look like the benchmark's labels (an oracle), not a method's predictions. A release "
                         ".npy file has no place for the oracle mark that a run's pixels.json and its folder carry "
                         "(reference-results, import-hloc --carry mask): score those, and tables mark it")  # fmt: skip
        notes += [n for n in self.read_notes if n not in notes]
        report["notes"] = notes
        return report

    def equal_to_labels(self, least: int = 3) -> int:
        """The number of positives with a non-empty label (at least ``least``) when every one of
        them has a prediction that is its label exactly (mask IoU 1.0); else 0. Results built
        from the labels (an oracle) look like this, and no method's do: a release ``.npy`` file
        cannot say it is an oracle, so this is how one copied out of its run folder shows (a
        heuristic: an oracle that carries the query's mask into each image is not exact). Uses
        strict's mask IoU, else compat's (after ``evaluate``)."""
        values = self.strict_pairs or self.compat_pairs
        labelled = [p for p in self.bench.pairs() if p in self.bench.pair_labels and self.bench.gt(*p).polygons]
        exact = all(isinstance(v := values.get(p), tuple) and v[1] >= 1 - 1e-9 and p in self.pixels
                    and not self.pixels[p].empty for p in labelled)  # fmt: skip
        return len(labelled) if len(labelled) >= least and exact else 0

    def run(self) -> dict[str, dict]:
        self.evaluate()
        self.accumulate()
        return self.summarize()


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
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ranks = load_ranks(bench, image_results, one_based) if image_results else None
        pixels = load_pixel_results(bench, pixel_results, points)
        ev = PixelEval(bench, ranks, pixels, protocols)
        ev.run()
    for w in caught:  # shown as they would have been, and kept for the input report
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    said = f"{len(ev.sizes_guessed)} pair(s) without a known image size"  # a note of its own already
    ev.read_notes = list(dict.fromkeys(str(w.message) for w in caught
                                       if issubclass(w.category, PixretWarning) and not str(w.message).startswith(said)))  # fmt: skip
    return ev
