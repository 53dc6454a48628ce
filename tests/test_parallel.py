"""Spreading work over processes (pixret/parallel.py): results in order, small inputs in-process."""

import os
import threading

import faiss  # noqa: F401 - loaded, so that its OpenMP and BLAS pools are among those checked
import numpy as np  # noqa: F401
from threadpoolctl import threadpool_info, threadpool_limits

from pixret.parallel import NUMERIC_THREADS, fixed_threads, fork_map, pool_imap


def _square(x: int) -> int:
    return x * x


def _pid(_: int) -> int:
    return os.getpid()


def test_fork_map_keeps_the_order_and_uses_workers():
    items = list(range(1200))
    assert fork_map(_square, items, workers=2) == [x * x for x in items]
    assert set(fork_map(_pid, items, workers=2)) - {os.getpid()}  # other processes did the work
    assert set(fork_map(_pid, list(range(10)), workers=2)) == {os.getpid()}  # too few: in-process


def test_pool_imap_keeps_the_order():
    assert list(pool_imap(_square, list(range(9)), workers=2, chunksize=2)) == [x * x for x in range(9)]
    assert list(pool_imap(_square, [3], workers=2)) == [9]


def _pools() -> dict[str, int]:
    return {lib["filepath"]: lib["num_threads"] for lib in threadpool_info()}


def test_fixed_threads_sets_every_pool_and_restores_it():
    with threadpool_limits(3):
        before = _pools()
        assert set(before.values()) == {3} and len(before) >= 2  # numpy's BLAS, faiss's OpenMP and BLAS
        with fixed_threads():
            assert set(_pools().values()) == {NUMERIC_THREADS}
        assert _pools() == before


def test_fixed_threads_holds_while_any_thread_is_inside():
    """Two threads inside at once (the server searches in threads): the first one out does
    not give the other its pools back; the last one out restores them."""
    inside, first_out, seen = threading.Barrier(2), threading.Event(), {}

    def leaves_first():
        with fixed_threads():
            inside.wait()
        first_out.set()

    def stays():
        with fixed_threads():
            inside.wait()
            first_out.wait()
            seen["after the other left"] = set(_pools().values())

    with threadpool_limits(3):
        before = _pools()
        threads = [threading.Thread(target=leaves_first), threading.Thread(target=stays)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert seen["after the other left"] == {NUMERIC_THREADS}
        assert _pools() == before
