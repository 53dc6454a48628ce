"""Running the engine over a benchmark: index its database, search every query, write results."""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..datasets.model import Benchmark
from ..evaluation import PixelEval, PixelPrediction, PixretWarning, write_pixel_results, write_ranks
from ..io import PixretError, write_json
from ..parallel import default_workers
from .config import EngineConfig
from .index import Index


@dataclass
class RunOutput:
    ranks: np.ndarray  # (n_database, n_queries)
    pixels: dict[tuple[int, int], PixelPrediction]
    query_seconds: list[float]
    index_seconds: float
    index: Index


def database_paths(bench: Benchmark) -> list[Path]:
    paths = [bench.database_image(i) for i in range(bench.n_database)]
    missing = [bench.database[i] for i, p in enumerate(paths) if p is None]
    if missing:
        raise PixretError(bench.root, f"{len(missing)} database images are missing (first: {missing[0]}); "
                          "download the images first")  # fmt: skip
    return paths


def run_engine(
    bench: Benchmark, cfg: EngineConfig, index_dir: str | os.PathLike, workers: int | None = None,
    progress: bool = True, queries: list[int] | None = None, features_dir: str | os.PathLike | None = None,
    device: str | None = None, scheduler: str | None = None,
) -> RunOutput:  # fmt: skip
    """Index the benchmark's database (reusing cached features) and run every query."""
    workers = default_workers() if workers is None else workers
    paths = database_paths(bench)
    t0 = time.perf_counter()
    index = Index.build(paths, cfg, index_dir, workers=workers, progress=progress, features_dir=features_dir,
                        device=device, scheduler=scheduler)  # fmt: skip
    index_seconds = time.perf_counter() - t0
    # index position -> benchmark database index (unreadable images were skipped)
    pos = {str(Path(p).resolve()): i for i, p in enumerate(paths)}
    to_db = np.array([pos[im["path"]] for im in index.images], np.int64)
    qlist = list(range(bench.n_queries)) if queries is None else queries

    def one(q: int):
        query = bench.queries[q]
        try:
            r = index.search_full(bench.query_image(q), query.box)
        except PixretError as exc:  # one bad query must not end the run: it scores nothing
            warnings.warn(f"query {q} ({query.name}): {exc}", PixretWarning, stacklevel=2)
            return q, to_db, [], None
        return (
            q,
            to_db[r.ranking],
            [(int(to_db[h.index]), h.polygons) for h in r.hits if h.verified],
            r.timings["total"],
        )

    ranks = np.zeros((bench.n_database, bench.n_queries), np.int64)
    pixels: dict[tuple[int, int], PixelPrediction] = {}
    seconds = []
    bar = tqdm(total=len(qlist), desc="queries", unit="q", disable=not progress)
    # queries run in this process: faiss's OpenMP runtime is not safe to use in forked children
    for q, ranking, hits, sec in map(one, qlist):
        missing = np.setdiff1d(np.arange(bench.n_database), ranking)
        ranks[:, q] = np.concatenate([ranking, missing])
        for i, polys in hits:
            pixels[(q, i)] = PixelPrediction([np.asarray(p) for p in polys])
        if sec is not None:  # a failed query has no latency to report
            seconds.append(sec)
        bar.update()
    bar.close()
    return RunOutput(ranks, pixels, seconds, index_seconds, index)


def write_run(out: str | os.PathLike, bench: Benchmark, res: RunOutput, method: str) -> dict:
    """Write ranks/pixels in both formats, evaluate with both protocols, write scores.json."""
    out = Path(out)
    write_ranks(out / "ranks.npy", res.ranks)
    write_pixel_results(out / "pixels.npy", res.pixels)
    write_pixel_results(out / "pixels.json", res.pixels, method=method)
    ev = PixelEval(bench, res.ranks, res.pixels)
    summary = ev.run()
    qs = np.array(res.query_seconds)
    timing = {"index_seconds": res.index_seconds, "images": len(res.index),
              "query_seconds_p50": float(np.percentile(qs, 50)) if len(qs) else None,
              "query_seconds_p95": float(np.percentile(qs, 95)) if len(qs) else None}  # fmt: skip
    write_json(out / "scores.json", {"dataset": bench.name, "method": method, "timing": timing, **summary})
    return {"eval": ev, "summary": summary, "timing": timing}
