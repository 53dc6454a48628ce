"""Spreading CPU-bound Python work over cores (fork-based, so nothing needs pickling in), and
the progress bar every long loop shows."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

_TASK: Callable[[Any], Any] | None = None


def _run_chunk(chunk: Sequence[Any]) -> list[Any]:
    assert _TASK is not None
    return [_TASK(x) for x in chunk]


# Threads of the BLAS and OpenMP pools while a numeric step whose result is stored or printed
# runs (``fixed_threads``). One: the only count every machine, Dask worker and CI runner has.
NUMERIC_THREADS = 1
_POOLS_LOCK = threading.Lock()
_POOLS_USERS = 0
_POOLS_SAVED: Any = None


def _set_shared(lib: Any, n: int) -> None:
    """Set a process-wide (pthreads) BLAS pool from whichever thread holds _POOLS_LOCK:
    threadpoolctl lets only one "controlling" thread change such a pool and silently ignores
    the others, so take control for the call and give it up after."""
    release = getattr(type(lib), "clear_controlling_thread", None)
    if release is not None:
        release(force=True)
    lib.set_num_threads(n)
    if release is not None:
        release(force=True)


@contextlib.contextmanager
def fixed_threads(n: int = NUMERIC_THREADS) -> Iterator[None]:
    """Run the block (or, as a decorator, the function) with every BLAS and OpenMP thread pool
    loaded in this process at ``n`` threads: numpy's OpenBLAS, faiss's OpenMP runtime and its
    OpenBLAS, OpenCV's OpenBLAS (threadpoolctl finds them by the libraries loaded), and torch's
    intra-op pool when torch is imported (learned features: XFeat's descriptors on a 1024-px
    photo differ between 1 and 2 torch threads).

    Why: a BLAS product or faiss's k-means splits its work over the pool's threads, and how it
    splits decides the order of floating-point sums, so the last bits of a distance depend on
    the thread count. A tie between two visual words then breaks the other way and the
    vocabulary, the words and the signatures, hence the index's bytes and a search's scores,
    change with the machine's cores, with OMP_NUM_THREADS, and with where a task ran (a Dask
    worker has one thread, the calling process every core). Seen on a 2-core AMD EPYC:
    k-means centroids up to 0.02 apart between a 1-thread worker and the 2-thread caller.

    Thread safety: OpenMP pools (and a BLAS threaded by OpenMP) are set per calling thread and
    restored on leaving; pools of a pthreads BLAS are process-wide, so the first of concurrent
    users sets them and the last one out restores them. The libraries must be loaded
    (imported) before the block starts. OpenCV's own thread pool is left alone: its parallel
    loops (SIFT) reduce in a fixed order.
    """
    from threadpoolctl import ThreadpoolController

    global _POOLS_USERS, _POOLS_SAVED
    libs = ThreadpoolController().lib_controllers
    per_thread = [lib for lib in libs if lib.user_api == "openmp" or getattr(lib, "threading_layer", "") == "openmp"]
    shared = [lib for lib in libs if lib.user_api == "blas" and lib not in per_thread]
    torch = sys.modules.get("torch")  # its intra-op pool is process-wide too (learned features)
    with _POOLS_LOCK:
        if _POOLS_USERS == 0:
            _POOLS_SAVED = [(lib, lib.get_num_threads()) for lib in shared]
            for lib in shared:
                _set_shared(lib, n)
            if torch is not None and hasattr(torch, "set_num_threads"):
                _POOLS_SAVED.append((torch, torch.get_num_threads()))
                torch.set_num_threads(n)
        _POOLS_USERS += 1
    local = [(lib, lib.get_num_threads()) for lib in per_thread]
    try:
        for lib, _ in local:
            lib.set_num_threads(n)
        yield
    finally:
        for lib, before in local:
            lib.set_num_threads(before)
        with _POOLS_LOCK:
            _POOLS_USERS -= 1
            if _POOLS_USERS == 0:
                for lib, before in _POOLS_SAVED:
                    if lib is torch:
                        torch.set_num_threads(before)
                    else:
                        _set_shared(lib, before)
                _POOLS_SAVED = None


def progress_bar(iterable: Any = None, *, enabled: bool = True, **kwargs: Any) -> Any:
    """tqdm over ``iterable`` (or a manual bar: ``total=``), the one progress bar of pixret: on
    stderr, and drawn only when stderr is a terminal (tqdm's ``disable=None``), so a log that
    captures the output holds no ``\\r`` frames. ``enabled=False`` hides it anywhere; ``kwargs``
    go to tqdm (desc, unit, total, ...). tqdm is imported here, not at the top: `pixret --help`.

    On a terminal a bar is removed when it ends (``leave=False``): what stays on the screen are
    the results and notes, not a finished bar or an empty line per stage. A terminal that gives
    no size (0 x 0: a pty under ``script``, some CI runners) gets 80 x 24: tqdm 4.70 takes its
    rows as -1 there and draws nothing, then ends each bar with a newline (``pixret index`` left
    four empty lines)."""
    from tqdm import tqdm

    kwargs.setdefault("leave", False)
    if enabled:
        try:
            cols, rows = os.get_terminal_size(sys.stderr.fileno())
        except (OSError, ValueError):  # not a terminal (tqdm draws nothing), or a stream with no file
            cols = rows = 1
        if cols < 1 or rows < 1:
            kwargs.setdefault("ncols", 80)
            kwargs.setdefault("nrows", 24)
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
