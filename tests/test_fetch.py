"""HTTP downloads (pixret/fetch.py) from a server on 127.0.0.1: resume, refusals, hashes."""

import hashlib

import pytest

from pixret.errors import PixretError
from pixret.fetch import fetch_url, sha256_of, verify
from tests.httpserver import serve


def test_a_download_resumes_where_a_part_file_stopped(tmp_path):
    data = bytes(range(256)) * 400
    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / "f.bin").write_bytes(data)
    target = tmp_path / "out" / "f.bin"
    target.parent.mkdir()
    target.with_name("f.bin.part").write_bytes(data[:1000])  # an earlier, interrupted try
    with serve(tmp_path / "srv") as (url, log):
        fetch_url(f"{url}/f.bin", target, timeout=10, progress=False)
        assert target.read_bytes() == data and not target.with_name("f.bin.part").exists()
        assert log == [("f.bin", "bytes=1000-")]  # only the rest was asked for
        with pytest.raises(PixretError, match="HTTP 404"):
            fetch_url(f"{url}/missing.bin", tmp_path / "out" / "m.bin", timeout=10, progress=False)
    assert sha256_of(target) == hashlib.sha256(data).hexdigest()
    verify(target, hashlib.sha256(data).hexdigest())
    with pytest.raises(PixretError, match="sha256 mismatch"):
        verify(target, "0" * 64)
