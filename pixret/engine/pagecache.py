"""An index's files in the page cache: how much of them is in memory, reading them in ahead of
the first searches (``Index.warm``), and dropping them (benchmarks measure a cold cache so).

A search reads its index through memory-mapped files: what is not in the page cache comes from
the disk while the query waits (README "Scaling out": a million images are 15 GB on disk).
Linux only where it matters (mincore, posix_fadvise, /proc/meminfo); elsewhere ``resident``
reports nothing and ``evict`` does nothing.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

CHUNK = 8 << 20  # bytes per read while warming: large enough for the disk, small enough to stop soon


def resident(paths: Iterable[Path]) -> tuple[int, int]:
    """(bytes of the files in the page cache, bytes of the files), by mincore(2) on a mapping
    of each (which reads nothing); (0, total) where mincore is missing."""
    mincore = _libc_mincore()
    have = total = 0
    for p in paths:
        try:
            size = os.path.getsize(p)
        except OSError:
            continue
        total += size
        if not size or mincore is None:
            continue
        pages = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE
        vec = (ctypes.c_ubyte * pages)()
        with open(p, "rb") as fh, mmap.mmap(fh.fileno(), size, access=mmap.ACCESS_READ) as mm:
            view = np.frombuffer(mm, np.uint8)
            ok = mincore(ctypes.c_void_p(view.ctypes.data), ctypes.c_size_t(size), vec) == 0
            del view  # the mapping cannot close while an array holds it
        if ok:
            have += min(size, int((np.frombuffer(vec, np.uint8) & 1).sum()) * mmap.PAGESIZE)
    return have, total


def _libc_mincore():
    try:
        fn = ctypes.CDLL(None, use_errno=True).mincore
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    fn.restype = ctypes.c_int
    return fn


def evict(paths: Iterable[Path]) -> int:
    """Drop the files from the page cache (written back first, then posix_fadvise DONTNEED);
    returns their bytes. Pages that a process maps stay: open the index afresh, in a new process,
    to measure a cold cache."""
    total = 0
    for p in paths:
        try:
            fd = os.open(p, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.fsync(fd)  # a page not yet written back cannot be dropped
            if hasattr(os, "posix_fadvise"):
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            total += os.fstat(fd).st_size
        finally:
            os.close(fd)
    return total


def available_memory() -> int | None:
    """Bytes the kernel could give without swapping (MemAvailable of /proc/meminfo); None where
    it does not say."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def read_in(path: Path, done: Callable[[int], None] | None = None, stop: threading.Event | None = None) -> int:
    """Read a file from start to end (into one reused buffer: the page cache keeps it), calling
    ``done(bytes)`` after each chunk; returns the bytes read, fewer when ``stop`` was set."""
    buf = bytearray(CHUNK)
    got = 0
    with open(path, "rb", buffering=0) as fh:
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fh.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
        while not (stop is not None and stop.is_set()):
            n = fh.readinto(buf)
            if not n:
                break
            got += n
            if done is not None:
                done(n)
    return got
