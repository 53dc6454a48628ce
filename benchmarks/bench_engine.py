"""Engine performance on a generated collection (default 5,000 images, longest side 1024 px).

Prints, in one run: indexing speed (images/s), memory of the loaded index per image, query
latency p50/p95 (shortlist + verification of the top 100 + masks), strict pixel mAP and mask
mIoU for the default `fast` config and for the exhaustive `sift-sp` baseline on the same
queries (the baseline is slow: it runs on --baseline-queries of them), the time ratio, and
how query time grows with the collection size (--scaling).

    python benchmarks/bench_engine.py [--images 5000] [--queries 24] [--baseline-queries 4]
                                      [--scaling 1000,5000] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pixret.datasets import load_benchmark  # noqa: E402
from pixret.datasets.synthetic import SyntheticConfig, make_benchmark  # noqa: E402
from pixret.engine import Index, get_config  # noqa: E402
from pixret.engine.run import database_paths, run_engine  # noqa: E402
from pixret.evaluation import PixelEval  # noqa: E402
from pixret.io import PixretError  # noqa: E402


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def subset_scores(bench, res, queries) -> dict:
    ev = PixelEval(bench, res.ranks, res.pixels, ("strict",))
    ev.run()
    pq = [ev.results["strict"].per_query[q] for q in queries]

    def mean(key, sub):
        vals = [r[key][sub] for r in pq if r[key][sub] is not None and not np.isnan(r[key][sub])]
        return float(np.mean(vals)) if vals else float("nan")

    return {"pixel_mAP_M": mean("pixel_AP", "medium"), "pixel_mAP_H": mean("pixel_AP", "hard"),
            "mask_mIoU_M": mean("mIoU", "medium_mask"), "mask_mIoU_H": mean("mIoU", "hard_mask"),
            "image_mAP_M": mean("image_AP", "medium")}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--queries", type=int, default=24)
    ap.add_argument("--positives", type=int, default=8)
    ap.add_argument("--baseline-queries", type=int, default=4)
    ap.add_argument("--scaling", default="1000,5000")
    ap.add_argument("--work", type=Path, default=Path("bench-work"))
    args = ap.parse_args()
    work = args.work
    name = f"b{args.images}"
    n_dist = args.images - args.queries * args.positives
    t0 = time.perf_counter()
    try:
        bench = load_benchmark(work / "data", name)
    except Exception:
        make_benchmark(work / "data", SyntheticConfig(name, args.queries, args.positives, n_dist, 0))
        bench = load_benchmark(work / "data", name)
    print(
        f"collection: {bench.n_database} images, {bench.n_queries} queries ({time.perf_counter() - t0:.0f} s)"
    )

    fast = get_config("fast")
    feats = work / f"index-{name}" / "features"  # one feature cache for every index below
    res = run_engine(bench, fast, work / f"index-{name}", progress=True, features_dir=feats)
    n = len(res.index)
    before = rss_kb()
    reopened = Index.open(res.index.root)
    rss_delta = (rss_kb() - before) * 1024
    qs = np.array(res.query_seconds)
    print(
        f"\n== fast: index {res.index_seconds:.0f} s for {n} images = {n / res.index_seconds:.1f} images/s "
        "(features cached from an earlier run are not re-extracted; delete the work folder for a cold figure)"
    )
    print(
        f"   loaded index: {reopened.memory_bytes() / n / 1024:.1f} KB/image in arrays, "
        f"RSS grew {rss_delta / n / 1024:.1f} KB/image on open (descriptors stay memory-mapped)"
    )
    print(
        f"   query latency p50 {np.percentile(qs, 50):.3f} s, p95 {np.percentile(qs, 95):.3f} s over {len(qs)} queries"
    )

    sub = list(range(min(args.baseline_queries, bench.n_queries)))
    if not sub:
        print("\n(baseline skipped: --baseline-queries 0)")
    else:
        sp = run_engine(bench, get_config("sift-sp"), work / f"index-{name}-sp", progress=True, queries=sub,
                        features_dir=feats)  # fmt: skip
        f_scores = subset_scores(bench, res, sub)
        s_scores = subset_scores(bench, sp, sub)
        f_time = float(np.mean(res.query_seconds[: len(sub)]))
        s_time = float(np.mean(sp.query_seconds))
        print(f"\n== fast vs sift-sp (exhaustive), same {len(sub)} queries, strict protocol (%)")
        print(f"   {'metric':14s} {'fast':>8s} {'sift-sp':>8s}")
        for k in f_scores:
            print(f"   {k:14s} {100 * f_scores[k]:8.2f} {100 * s_scores[k]:8.2f}")
        print(f"   seconds/query  {f_time:8.3f} {s_time:8.3f}   ratio sift-sp/fast: {s_time / f_time:.0f}x")
        (work / "bench_engine.json").write_text(json.dumps({"fast": f_scores, "sift-sp": s_scores}))

    print("\n== query time vs collection size (fast)")
    print(f"   {'images':>8s} {'p50 s':>8s} {'p95 s':>8s}")
    paths = database_paths(bench)
    for size in (int(s) for s in args.scaling.split(",") if s):
        if size > len(paths):
            print(f"   {size:8d}  (skipped: the collection has {len(paths)} images)")
            continue
        idx = (
            res.index
            if size == len(paths)
            else Index.build(paths[:size], fast, work / f"index-{name}-{size}", progress=False)
        )
        times = []
        for q in bench.queries:
            t = time.perf_counter()
            try:
                idx.search_full(bench.query_image(q.index), q.box)
            except PixretError:
                continue
            times.append(time.perf_counter() - t)
        print(f"   {size:8d} {np.percentile(times, 50):8.3f} {np.percentile(times, 95):8.3f}")


if __name__ == "__main__":
    main()
