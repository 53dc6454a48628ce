"""Spreading work over processes (pixret/parallel.py): results in order, small inputs in-process."""

import os

from pixret.parallel import fork_map, pool_imap


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
