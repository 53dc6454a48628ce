"""The page cache and an index's files (engine/pagecache.py): what is resident, dropping it,
reading it in."""

import os

import numpy as np

from pixret.engine.pagecache import available_memory, evict, read_in, resident


def test_a_file_dropped_from_the_page_cache_is_read_in_again(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(np.random.default_rng(0).bytes(3 << 20))
    have, size = resident([path, tmp_path / "missing"])  # a missing file counts for nothing
    assert size == 3 << 20 and have == size  # just written: in memory
    assert evict([path]) == size  # written back first, then dropped
    assert resident([path]) == (0, size)
    chunks = []
    assert read_in(path, chunks.append) == size and sum(chunks) == size
    assert resident([path]) == (size, size)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert resident([empty]) == (0, 0) and read_in(empty) == 0


def test_reading_in_stops_when_asked(tmp_path):
    import threading

    path = tmp_path / "data.bin"
    path.write_bytes(bytes(40 << 20))
    stop = threading.Event()
    got = read_in(path, lambda n: stop.set(), stop)  # stopped after its first chunk
    assert 0 < got < os.path.getsize(path)


def test_the_memory_available_is_what_the_kernel_reports():
    free = available_memory()
    assert free is None or 0 < free <= os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
