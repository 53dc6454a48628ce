"""Feature extraction throughput: on a Dask LocalCluster against one process, same images.

Prints images/s for one process (the baseline) and for a local Dask cluster of --workers
processes, the ratio, the rate per worker, and what 1,001,001 images (R1M) would take on
clusters of 8 to 256 such workers. Images: the first --images of a generated collection (longest
side 1024 px, as R1M's), made if missing.

    python benchmarks/bench_extract.py [--images 400] [--workers 2] [--work DIR]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_engine import generated  # noqa: E402

from pixret.engine import get_config  # noqa: E402
from pixret.engine.build import extract_all  # noqa: E402
from pixret.engine.distributed import Runner  # noqa: E402
from pixret.pipelines.benchmark import database_paths  # noqa: E402

R1M = 1_001_001


def timed(paths, cache: Path, workers: int) -> float:
    shutil.rmtree(cache, ignore_errors=True)
    t = time.perf_counter()
    with Runner(workers=workers, progress=False) as runner:
        images, skipped = extract_all(paths, get_config("fast"), cache, runner, "cpu")
    assert len(images) == len(paths) and not skipped
    return len(paths) / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=400)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--work", type=Path, default=Path("bench-work"))
    args = ap.parse_args()
    name = f"x{args.images}"
    bench = generated(args.work, name, 4, 4, args.images, progress=False)
    paths = database_paths(bench)[: args.images]
    one = timed(paths, args.work / "extract-cache", 1)
    many = timed(paths, args.work / "extract-cache", args.workers)
    per = many / args.workers
    print(f"one process:                    {one:6.1f} images/s")
    print(f"Dask LocalCluster, {args.workers} workers:   {many:6.1f} images/s  ratio {many / one:.2f}x "
          f"(cluster start included), {per:.1f} images/s per worker")  # fmt: skip
    print(f"R1M ({R1M:,} images) at {per:.1f} images/s per worker:")
    for n in (8, 32, 64, 256):
        print(f"   {n:4d} workers: {R1M / (per * n) / 3600:6.1f} h")


if __name__ == "__main__":
    main()
