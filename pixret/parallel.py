"""Spreading CPU-bound Python work over cores (fork-based, so nothing needs pickling in), and
the progress bar every long loop shows."""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

_TASK: Callable[[Any], Any] | None = None


def _run_chunk(chunk: Sequence[Any]) -> list[Any]:
    assert _TASK is not None
    return [_TASK(x) for x in chunk]


def progress_bar(iterable: Any = None, *, enabled: bool = True, **kwargs: Any) -> Any:
    """tqdm over ``iterable`` (or a manual bar: ``total=``), the one progress bar of pixret: on
    stderr, and drawn only when stderr is a terminal (tqdm's ``disable=None``), so a log that
    captures the output holds no ``\\r`` frames. ``enabled=False`` hides it anywhere; ``kwargs``
    go to tqdm (desc, unit, total, ...). tqdm is imported here, not at the top: `pixret --help`."""
    from tqdm import tqdm

    return tqdm(iterable, disable=None if enabled else True, file=sys.stderr, **kwargs)


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def fork_map(fn: Callable[[Any], Any], items: Sequence[Any], workers: int, min_items: int = 500) -> list[Any]:
    """``[fn(x) for x in items]`` over ``workers`` forked processes, in order.

    Children inherit ``fn`` and everything it refers to by forking, so closures and bound
    methods of large objects cost nothing to send; only the results travel back. Falls back
    to a plain loop for small inputs, one worker, or platforms without fork. ``fn`` must not
    call into OpenMP code (faiss) once the parent has: GNU libgomp hangs in forked children.
    """
    global _TASK
    if workers <= 1 or len(items) < min_items or "fork" not in mp.get_all_start_methods():
        return [fn(x) for x in items]
    n_chunks = min(len(items), workers * 4)
    bounds = [round(k * len(items) / n_chunks) for k in range(n_chunks + 1)]
    chunks = [items[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    _TASK = fn
    try:
        with mp.get_context("fork").Pool(workers) as pool:
            parts = pool.map(_run_chunk, chunks, chunksize=1)
    finally:
        _TASK = None
    return [r for part in parts for r in part]


def _call(job: tuple[Callable[[Any], Any], Sequence[Any]]) -> list[Any]:
    fn, chunk = job
    return [fn(x) for x in chunk]


def pool_imap(fn: Callable[[Any], Any], items: Sequence[Any], workers: int, chunksize: int = 4):
    """Results of ``fn`` over ``items`` in order, from fresh worker processes (forkserver).

    For work that runs OpenCV's or faiss's thread pools: those hang in children forked from a
    parent that already started them, so the workers here never inherit them. ``fn`` and the
    items must pickle (a module-level function or a small callable object).
    """
    if workers <= 1 or len(items) < 2:
        yield from (fn(x) for x in items)
        return
    method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
    ctx = mp.get_context(method)
    chunks = [(fn, items[k : k + chunksize]) for k in range(0, len(items), chunksize)]
    with ctx.Pool(workers) as pool:
        for part in pool.imap(_call, chunks):
            yield from part
