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


def on_a_terminal(args: list, cwd, size: tuple[int, int] | None = None, timeout: float = 300) -> bytes:
    """What ``args`` writes to a terminal (a pty as stdout and stderr): ``size`` (rows, columns),
    or none given, as a pty under ``script -qc`` reports it (0 x 0)."""
    main, child = pty.openpty()
    if size is not None:
        fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", size[0], size[1], 0, 0))
    proc = subprocess.Popen([str(a) for a in args], stdout=child, stderr=child, stdin=subprocess.DEVNULL, cwd=cwd)
    os.close(child)
    out = b""
    try:
        while block := _read(main):
            out += block
    finally:
        os.close(main)
        assert proc.wait(timeout) == 0, out.decode(errors="replace")
    return out


def screen(raw: bytes) -> list[str]:
    """The lines a terminal shows after ``raw``: a carriage return goes back to the line's start
    and what follows overwrites it (tqdm's frames, and the blanks that clear a finished bar)."""
    lines, line, col = [], [], 0
    for ch in raw.decode("utf-8", "replace").replace("\r\n", "\n"):
        if ch == "\r":
            col = 0
        elif ch == "\n":
            lines.append("".join(line).rstrip())
            line, col = [], 0
        else:
            line[col : col + 1] = [ch]
            col += 1
    return [*lines, "".join(line).rstrip()] if "".join(line).strip() else lines


def _photos(bench, folder):
    import shutil

    folder.mkdir()
    for i in range(4):
        shutil.copy(bench.database_image(i), folder / f"p{i}.jpg")


def test_bars_on_a_terminal_are_drawn_then_leave_no_line_behind(bench, tmp_path):
    """Issue 32 (L): under ``script -qc`` (a terminal of 0 x 0) ``pixret index`` left 4 empty
    lines and drew no bar: tqdm took its rows as -1. Now each bar is drawn and removed when done,
    what stays being the results and notes; on a terminal of a real size too."""
    _photos(bench, tmp_path / "photos")
    pixret = [sys.executable, "-c", "from pixret.cli import main; main()"]
    for k, size in enumerate((None, (24, 100))):
        raw = on_a_terminal([*pixret, "index", "photos", "--index", f"idx{k}", "--workers", "1"], tmp_path, size)
        shown = screen(raw)
        assert b"features: 100%" in raw and b"4/4" in raw  # the bar was drawn
        assert "" not in shown and len(shown) == 2, shown  # then removed: no empty line, no finished bar
        assert shown[0].startswith("vocabulary: ") and shown[1].startswith("indexed 4 images")
