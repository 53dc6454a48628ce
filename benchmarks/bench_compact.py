"""The compact index (`fast-compact`) against the default (`fast`), same collection, same run.

Prints per config: disk per image (the index data, without the feature cache), RAM per image
of the loaded index, query p50/p95, strict pixel mAP M/H and image mAP M over all queries; and
the disk ratio. Uses bench_engine.py's generated collection and feature cache when present.

    python benchmarks/bench_compact.py [--images 5000] [--queries 24] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_engine import generated, subset_scores  # noqa: E402

from pixret.engine import Index, get_config  # noqa: E402
from pixret.escape import one_line_warnings  # noqa: E402
from pixret.pipelines.benchmark import run_engine  # noqa: E402


def main() -> None:
    one_line_warnings()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--queries", type=int, default=24)
    ap.add_argument("--positives", type=int, default=8)
    ap.add_argument("--work", type=Path, default=Path("bench-work"))
    args = ap.parse_args()
    name = f"b{args.images}"
    bench = generated(args.work, name, args.queries, args.positives, args.images)
    feats = args.work / f"index-{name}" / "features"
    qs = list(range(bench.n_queries))
    rows = {}
    for cfg_name in ("fast", "fast-compact"):
        res = run_engine(bench, get_config(cfg_name), args.work / f"index-{name}-{cfg_name}", progress=True,
                         features_dir=feats)  # fmt: skip
        idx = Index.open(res.index.root)
        n = len(idx)
        t = np.array(res.query_seconds)
        rows[cfg_name] = {"disk_kb": idx.disk_bytes() / n / 1024, "ram_kb": idx.memory_bytes() / n / 1024,
                          "features_per_image": idx.n_features / n,
                          "shortlist_kb": idx.shortlist_bytes() / n / 1024,
                          "p50": float(np.percentile(t, 50)), "p95": float(np.percentile(t, 95)),
                          **subset_scores(bench, res, qs)}  # fmt: skip
    print(f"\n{bench.n_database} images, {rows['fast']['features_per_image']:.0f} features per image, {len(qs)} queries")
    print(f"   {'config':14s} {'disk KB/img':>12s} {'RAM KB/img':>11s} {'p50 s':>7s} {'p95 s':>7s} "
          f"{'pix mAP M':>10s} {'pix mAP H':>10s} {'img mAP M':>10s}")  # fmt: skip
    for k, r in rows.items():
        print(f"   {k:14s} {r['disk_kb']:12.1f} {r['ram_kb']:11.1f} {r['p50']:7.3f} {r['p95']:7.3f} "
              f"{100 * r['pixel_mAP_M']:10.2f} {100 * r['pixel_mAP_H']:10.2f} {100 * r['image_mAP_M']:10.2f}")  # fmt: skip
    print(f"   disk ratio fast / fast-compact: {rows['fast']['disk_kb'] / rows['fast-compact']['disk_kb']:.1f}x")
    print(json.dumps({"bench_compact": rows}))


if __name__ == "__main__":
    main()
