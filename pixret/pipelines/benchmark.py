"""A benchmark run, as a list of stage calls passing named results (hloc's pipelines)::

    index = build_index(bench, conf, index_dir)        # the engine's index of the database
    run = search_queries(bench, index)                 # every query with its box
    folder = write_run(out, bench, run, conf.name)     # ranks.npy, pixels.json, pixels.npy
    ev = score(folder, bench, run)                     # scores.json (both protocols)

``main(conf, bench, out) -> Path`` does all four and returns the run folder
(``evaluation.results.RunFolder``), which `pixret evaluate`, `compare`, `report` and `serve` read.

A run replaces only files it can prove a run wrote: each time it writes the run's files it
records their sha256 in ``OUT/.pixret-run.json``, and a run into a folder holding a run file
that is not recorded there with its current content (another tool's results, the user's own,
a file edited since) is refused with one line naming the file, before anything runs.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..datasets.model import Benchmark
from ..engine import EngineConfig, Index, get_config
from ..engine.store import check_index_folder
from ..errors import PixretError, ResultsWarning
from ..evaluation import PixelEval, PixelPrediction
from ..evaluation.results import RunFolder
from ..fetch import sha256_of
from ..io import read_json, write_json
from ..keys import seal, sealed
from ..parallel import progress_bar

LEDGER, LEDGER_FORMAT = ".pixret-run.json", "pixret-run"  # the run files written here, with their sha256
RUN_FILES = (RunFolder.RANKS, RunFolder.PIXELS, RunFolder.RELEASE_PIXELS, RunFolder.SCORES)


@dataclass
class RunOutput:
    """What a run found: ranks (n_database, n_queries) in benchmark indices, the verified
    hits' pixels by (query, database index), each query's seconds, and the index."""

    ranks: np.ndarray
    pixels: dict[tuple[int, int], PixelPrediction]
    query_seconds: list[float]
    index_seconds: float
    index: Index
    # per query searched: seconds per stage, the mask decision and its evidence, chained hits
    searches: dict[int, dict] = field(default_factory=dict)


def database_paths(bench: Benchmark) -> list[Path]:
    """Every database image's file; PixretError naming the first missing one."""
    paths = [bench.database_image(i) for i in range(bench.n_database)]
    missing = [bench.database[i] for i, p in enumerate(paths) if p is None]
    if missing:
        raise PixretError(bench.root, f"{len(missing)} database images are missing (first: {missing[0]}); "
                          "download the images first")  # fmt: skip
    return paths


def build_index(
    bench: Benchmark, conf: EngineConfig, index_dir: str | os.PathLike, workers: int | None = None,
    progress: bool = True, features_dir: str | os.PathLike | None = None, device: str | None = None,
    scheduler: str | None = None,
) -> tuple[Index, float]:  # fmt: skip
    """Stage 1: index the benchmark's database (cached features reused); (index, seconds)."""
    t0 = time.perf_counter()
    index = Index.build(database_paths(bench), conf, index_dir, workers=workers, progress=progress,
                        features_dir=features_dir, device=device, scheduler=scheduler)  # fmt: skip
    return index, time.perf_counter() - t0


def search_queries(
    bench: Benchmark, index: Index, index_seconds: float = 0.0, queries: list[int] | None = None,
    progress: bool = True,
) -> RunOutput:  # fmt: skip
    """Stage 2: every query (or those listed) searched with its box. A query the engine refuses
    (a box without features) scores nothing and is named in a warning; the run goes on."""
    paths = database_paths(bench)
    # index position -> benchmark database index (unreadable images were skipped)
    pos = {str(Path(p).resolve()): i for i, p in enumerate(paths)}
    to_db = np.array([pos[im["path"]] for im in index.images], np.int64)
    qlist = list(range(bench.n_queries)) if queries is None else queries
    ranks = np.zeros((bench.n_database, bench.n_queries), np.int64)
    pixels: dict[tuple[int, int], PixelPrediction] = {}
    seconds = []
    searches: dict[int, dict] = {}
    # queries run in this process: faiss's OpenMP runtime is not safe to use in forked children
    for q in progress_bar(qlist, desc="queries", unit="q", enabled=progress):
        query = bench.queries[q]
        try:
            r = index.search_full(bench.query_image(q), query.box)
        except PixretError as exc:  # one bad query must not end the run: it scores nothing
            warnings.warn(f"query {q} ({query.name}): {exc}", ResultsWarning, stacklevel=2)
            ranking = to_db
        else:
            ranking = to_db[r.ranking]
            for h in r.hits:
                if h.verified:
                    pixels[(q, int(to_db[h.index]))] = PixelPrediction([np.asarray(p) for p in h.polygons])
            seconds.append(r.timings["total"])
            searches[q] = {"timings": r.timings, "fills_box": r.fills_box, "mask_stats": r.mask_stats,
                           "chained": [int(to_db[h.index]) for h in r.hits if h.via is not None]}  # fmt: skip
        missing = np.setdiff1d(np.arange(bench.n_database), ranking)
        ranks[:, q] = np.concatenate([ranking, missing])
    return RunOutput(ranks, pixels, seconds, index_seconds, index, searches)


def run_engine(
    bench: Benchmark, conf: EngineConfig, index_dir: str | os.PathLike, workers: int | None = None,
    progress: bool = True, queries: list[int] | None = None, features_dir: str | os.PathLike | None = None,
    device: str | None = None, scheduler: str | None = None,
) -> RunOutput:  # fmt: skip
    """Stages 1 and 2: index the benchmark's database and run every query."""
    index, seconds = build_index(bench, conf, index_dir, workers, progress, features_dir, device, scheduler)
    return search_queries(bench, index, seconds, queries, progress)


def write_run(out: str | os.PathLike, bench: Benchmark, run: RunOutput, method: str) -> RunFolder:
    """Stage 3: the run folder's result files (ranks.npy, pixels.json, pixels.npy). PixretError
    (nothing written) when the folder holds a run file no pixret run wrote (``check_out``)."""
    check_out(out, before=False)
    folder = RunFolder(out)
    folder.write_results(run.ranks, run.pixels, method)
    record_run(Path(out), RUN_FILES[:3])
    return folder


def _written(out: Path) -> dict[str, str]:
    """The run files recorded in OUT's ledger, with their sha256 ({} without a readable one)."""
    try:
        doc = read_json(out / LEDGER) if (out / LEDGER).is_file() else None
    except PixretError:
        return {}
    if not (isinstance(doc, dict) and doc.get("format") == LEDGER_FORMAT and sealed(doc, LEDGER_FORMAT)):
        return {}  # none, another program's, or not sealed with this user's key: planted, another user's
    files = doc.get("files")
    return {k: v for k, v in files.items() if isinstance(v, str)} if isinstance(files, dict) else {}


def _write_ledger(out: Path, written: dict[str, str]) -> None:
    write_json(out / LEDGER, seal({"format": LEDGER_FORMAT, "files": written}, LEDGER_FORMAT))


def _ours(f: Path, recorded: str | None) -> bool:
    """Whether ``f`` is a regular file (not a link) whose sha256 is the one the ledger recorded."""
    try:
        return f.is_file() and not f.is_symlink() and recorded == sha256_of(f)
    except OSError:
        return False


def check_out(out: str | os.PathLike, files=RUN_FILES, before: bool = True) -> None:
    """Refuse a run folder holding a run file (``files``: ranks.npy, pixels.json, pixels.npy,
    scores.json) that no pixret run wrote there, or that changed since: one line naming it (that
    nothing was written, when ``before``: called before any work, as every command does). A new
    or empty folder, or one holding other files only, is fine (those are never touched)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise PixretError(out, "is a file, not a folder: give a folder for the run" + ("; nothing was written"
                                                                                         if before else ""))  # fmt: skip
    written = _written(out)
    for name in files:
        _check_file(out / name, written.get(name), "; nothing was written" if before else "")


def _check_file(f: Path, recorded: str | None, tail: str = "") -> None:
    if (f.exists() or f.is_symlink()) and not _ours(f, recorded):
        raise PixretError(f, "not written by a pixret run in this folder, or changed since: give a new --out "
                          f"folder, or move the file away{tail}")  # fmt: skip


def record_run(out: Path, names) -> None:
    """Add the run files ``names`` to OUT's ledger, each with its sha256."""
    written = _written(out)
    written.update({n: sha256_of(out / n) for n in names if (out / n).is_file()})
    _write_ledger(out, written)


def drop_stale(out: Path, keep) -> list[str]:
    """After writing the run files ``keep`` into OUT: remove the other run files an earlier
    pixret run wrote there (recorded in the ledger, unchanged since), which would stand beside
    these results as if they were theirs (an earlier run's scores.json); returns their names.
    A run file not recorded, or changed, is never removed (``check_out`` refused it before)."""
    written = _written(out)
    removed = [name for name in RUN_FILES if name not in keep and _ours(out / name, written.get(name))]
    for name in removed:
        (out / name).unlink()
    if removed:
        _write_ledger(out, {k: v for k, v in written.items() if k not in removed})
    return removed


def score(folder: RunFolder, bench: Benchmark, run: RunOutput) -> PixelEval:
    """Stage 4: both protocols on the run's results, with its timings, into scores.json."""
    ev = PixelEval(bench, run.ranks, run.pixels)
    summary = ev.run()
    qs = np.array(run.query_seconds)
    timing = {"index_seconds": run.index_seconds, "images": len(run.index),
              "query_seconds_p50": float(np.percentile(qs, 50)) if len(qs) else None,
              "query_seconds_p95": float(np.percentile(qs, 95)) if len(qs) else None}  # fmt: skip
    report = ev.input_report()
    _check_file(folder.scores, _written(folder.path).get(RunFolder.SCORES))
    folder.write_scores({"dataset": bench.name, "method": folder.method(), "timing": timing,
                         "notes": folder.notes() + report["notes"], **summary, "input": report})  # fmt: skip
    record_run(folder.path, [RunFolder.SCORES])
    return ev


def main(
    conf: EngineConfig | str, bench: Benchmark, out: str | os.PathLike, index_dir: str | os.PathLike | None = None,
    **kwargs,
) -> Path:  # fmt: skip
    """Run the engine config ``conf`` on ``bench`` into the run folder ``out`` (index in
    OUT/index unless ``index_dir``); returns ``out``. ``kwargs``: as ``run_engine``."""
    conf = get_config(conf) if isinstance(conf, str) else conf
    out = Path(out)
    check_out(out)  # before the run's minutes, not after
    check_index_folder(Path(index_dir or out / "index"))
    run = run_engine(bench, conf, index_dir or out / "index", **kwargs)
    score(write_run(out, bench, run, conf.name), bench, run)
    return out
