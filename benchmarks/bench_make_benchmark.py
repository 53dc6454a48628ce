"""Time to generate a 300-image benchmark (target < 60 s on 2 cores), vs one worker.

python benchmarks/bench_make_benchmark.py [--workers 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pixret.datasets.generate.synthetic import SyntheticConfig, make_benchmark  # noqa: E402
from pixret.parallel import default_workers  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=default_workers())
    args = ap.parse_args()
    cfg = SyntheticConfig(name="bench", queries=12, positives=8, distractors=204, seed=0)
    n = cfg.queries * cfg.positives + cfg.distractors + cfg.queries
    times = {}
    for workers in (1, args.workers):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            make_benchmark(tmp, cfg, workers=workers, progress=False)
            times[workers] = time.perf_counter() - t0
        print(
            f"{n} images with {workers} worker(s): {times[workers]:.1f} s ({n / times[workers]:.1f} images/s)"
        )
    print(f"ratio, 1 worker / {args.workers} workers: {times[1] / times[args.workers]:.2f}x")


if __name__ == "__main__":
    main()
