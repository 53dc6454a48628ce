"""Is a release pixel file (x, y) or (y, x)? Evidence from the labels, never a silent switch.

The release's scripts changed their reading of pixel files on 2024-03-16 (commit 7772cb4,
"modify width height order": column 0 became x). Files written for the earlier scripts are
(y, x). The label files give each database image's size and the object's place, so a file
read the wrong way round shows it: its points leave the canvas, and its boxes miss the
objects that the swapped reading hits. pixret warns, naming the option to pass; it never
changes the reading by itself (a guess would make scores depend on the data).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..datasets.model import Benchmark
from ..io import PixretError
from .iou import box_iou
from .predictions import PixelResults, PixretWarning, read_pixel_results

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


def _box(pts: np.ndarray) -> tuple[float, float, float, float]:
    (x0, y0), (x1, y1) = pts.min(0).tolist(), pts.max(0).tolist()
    return x0, y0, x1, y1


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
        gt_box = _box(gt.all_points)
        for k, p in enumerate((pts, pts[:, ::-1])):
            outside[k] += _outside(p, gt.width, gt.height)
            iou[k] += box_iou(_box(p), gt_box)
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
            PixretWarning,
            stacklevel=2,
        )
    return ev


def load_pixel_results(bench: Benchmark, path: str | os.PathLike, points: str = "xy") -> PixelResults:
    """Read a method's pixel results for ``bench``; a release ``.npy`` file that fits the labels
    better read the other way round gets one warning (see ``warn_if_swapped``)."""
    pixels = read_pixel_results(path, bench.n_queries, bench.n_database, points)
    if Path(path).suffix != ".json":
        warn_if_swapped(bench, pixels, points, path)
    for (q, i), pred in sorted(pixels.items()):
        gt = bench.gt(q, i) if pred.rle is not None and (q, i) in bench.pair_labels else None
        if gt is not None and gt.width and gt.height and list(pred.rle["size"]) != [gt.height, gt.width]:
            raise PixretError(
                path, f"pair (query {q}, image {i}): mask of {pred.rle['size'][1]}x{pred.rle['size'][0]} pixels "
                f"on a {gt.width}x{gt.height} image",
            )  # fmt: skip
    return pixels
