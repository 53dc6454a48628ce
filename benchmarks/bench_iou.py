"""IoU step speed: pixret's compat/strict pair IoUs vs the release's full-canvas rasterisation.

Generates a PROxford-sized set (70 queries, 4,993 database images, ~5.5k labelled pairs,
1024x768 images) and a PRParis-sized one (~17k pairs) in the release layout, with irregular
GT polygons and perturbed predictions, then times, in the same process:
  * baseline: the release's compute_iou (a float canvas per pair, box + mask), on a sample;
  * pixret: PixelEval.evaluate for compat and strict (threads = --workers), on every pair.

    python benchmarks/bench_iou.py [--workers 2] [--baseline-sample 300]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pixret.datasets import load_benchmark  # noqa: E402
from pixret.escape import one_line_warnings  # noqa: E402
from pixret.evaluation import PixelEval, PixelPrediction  # noqa: E402
from tests.helpers import write_release  # noqa: E402
from tests.reference.release_scripts import release_pair_iou  # noqa: E402

W, H = 1024, 768


def blob(rng: np.random.Generator, n: int = 32) -> np.ndarray:
    """An irregular star-shaped polygon, like a hand-drawn building outline."""
    cx, cy = rng.uniform(200, W - 200), rng.uniform(150, H - 150)
    r = rng.uniform(60, 260) * np.exp(rng.normal(0, 0.15, n))
    a = np.sort(rng.uniform(0, 2 * np.pi, n))
    return np.stack([cx + r * np.cos(a), cy + 0.8 * r * np.sin(a)], 1)


def make_set(root: Path, name: str, n_q: int, n_db: int, pairs_per_q: int, seed: int):
    rng = np.random.default_rng(seed)
    queries, labels, preds = [], {}, {}
    for q in range(n_q):
        pos = rng.choice(n_db, pairs_per_q, replace=False)
        nh = pairs_per_q // 3
        queries.append({"easy": pos[nh:].tolist(), "hard": pos[:nh].tolist(), "junk": []})
        for i in pos:
            gt = [blob(rng)] + ([blob(rng, 12)] if rng.random() < 0.1 else [])
            labels[(q, int(i))] = gt
            if rng.random() < 0.9:
                p = gt[0] + rng.normal(0, 20, gt[0].shape) + rng.normal(0, 30, 2)
                preds[(q, int(i))] = PixelPrediction([p])
    write_release(root, name, queries, n_db, labels, size=(W, H))
    bench = load_benchmark(root, name)
    ranks = np.array([rng.permutation(n_db) for _ in range(n_q)]).T
    return bench, ranks, preds


def time_pixret(bench, ranks, preds, workers: int, protocols) -> tuple[float, float, float]:
    """Seconds for (IoU step reading labels, IoU step with labels in memory, evaluate+accumulate)."""
    bench.gt.cache_clear()
    t0 = time.perf_counter()
    ev = PixelEval(bench, ranks, preds, protocols, workers=workers)
    ev.evaluate()
    cold = time.perf_counter() - t0
    ev.accumulate()
    total = time.perf_counter() - t0
    for p in bench.pairs():  # parse every label in this process; forked workers inherit them
        bench.gt(*p)
    t1 = time.perf_counter()
    PixelEval(bench, ranks, preds, protocols, workers=workers).evaluate()
    return cold, time.perf_counter() - t1, total


def main() -> None:
    one_line_warnings()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--baseline-sample", type=int, default=300)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for label, n_q, n_db, per_q in (("PROxford-sized", 70, 4993, 79), ("PRParis-sized", 70, 6322, 243)):
            t0 = time.perf_counter()
            bench, ranks, preds = make_set(Path(tmp) / label, "synth", n_q, n_db, per_q, 0)
            pairs = bench.pairs()
            print(f"\n== {label}: {len(pairs)} pairs, generated in {time.perf_counter() - t0:.1f} s")
            rng = np.random.default_rng(1)
            sample = [pairs[k] for k in rng.choice(len(pairs), args.baseline_sample, replace=False)]
            t0 = time.perf_counter()
            n = 0
            for q, i in sample:
                if (q, i) in preds:
                    gt = list(bench.gt(q, i).polygons)
                    p = preds[(q, i)].polygons[0]
                    release_pair_iou(p, gt, "bbox")
                    release_pair_iou(p, gt, "segmentation")
                    n += 1
            base_per_pair = (time.perf_counter() - t0) / n
            for protocols in (("compat",), ("compat", "strict")):
                cold, warm, total = time_pixret(bench, ranks, preds, args.workers, protocols)
                print(
                    f"  pixret {'+'.join(protocols):14s} IoU step {warm:5.2f} s ({warm / len(pairs) * 1e6:4.0f} us/pair)"
                    f"; reading the labels too {cold:5.2f} s; + accumulate {total:5.2f} s"
                )
                if protocols == ("compat",):
                    compat_warm = warm
            print(f"  release full canvas: {base_per_pair * 1e3:.2f} ms/pair (sample of {n}), "
                  f"all pairs ~{base_per_pair * len(pairs):.0f} s")  # fmt: skip
            print(
                f"  ratio, release full canvas / pixret compat IoU step: {base_per_pair * len(pairs) / compat_warm:.0f}x"
            )


if __name__ == "__main__":
    main()
