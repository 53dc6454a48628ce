"""Spreading work over processes (pixret/parallel.py): results in order, small inputs in-process;
and the progress bar: drawn on a terminal, silent in a log."""

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import threading

import faiss  # noqa: F401 - loaded, so that its OpenMP and BLAS pools are among those checked
import numpy as np  # noqa: F401
from threadpoolctl import threadpool_info, threadpool_limits

from pixret.parallel import NUMERIC_THREADS, fixed_threads, fork_map, pool_imap, progress_bar


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


BAR = "from pixret.parallel import progress_bar\nfor _ in progress_bar(range(50), desc='work', mininterval=0): pass\n"


def _bar_output(stderr_tty: bool) -> bytes:
    """What a 50-step bar writes to stderr, a pipe (a log) or a terminal (a pty)."""
    if not stderr_tty:
        return subprocess.run([sys.executable, "-c", BAR], capture_output=True, timeout=60, check=True).stderr
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal 100 columns wide
    proc = subprocess.Popen([sys.executable, "-c", BAR], stderr=child, stdout=subprocess.DEVNULL)
    os.close(child)
    out = b""
    try:
        while block := _read(main):  # read as it comes: a full terminal would stop the bar
            out += block
    finally:
        os.close(main)
        assert proc.wait(60) == 0
    return out


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError:  # the terminal's other side is closed: all read
        return b""


def test_the_progress_bar_draws_on_a_terminal_only():
    drawn = _bar_output(stderr_tty=True)
    assert drawn.count(b"\r") > 10 and b"work" in drawn and b"50/50" in drawn
    assert _bar_output(stderr_tty=False) == b""  # a log gets no frames (issue 32: hundreds of \r)
    assert list(progress_bar(range(3), enabled=False)) == [0, 1, 2]
