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


OXFORD_V1 = "oxbuild_images-v1.tgz"


def test_a_download_resumes_across_a_redirect_at_the_new_address(tmp_path):
    """The Oxford and Paris archives moved to thor.robots.ox.ac.uk and the old addresses
    redirect there: a download cut short at the new address resumes there with Range, asked
    for at the old one, and what arrives is the file, byte for byte."""
    data = bytes(range(256)) * 400
    srv = tmp_path / "srv"
    (srv / "new").mkdir(parents=True)
    (srv / "new" / OXFORD_V1).write_bytes(data)
    target = tmp_path / "out" / OXFORD_V1
    moved = {f"old/{OXFORD_V1}": f"/new/{OXFORD_V1}"}
    with serve(srv, cut_after={f"new/{OXFORD_V1}": 3000}, redirects=moved) as (url, log):
        with pytest.raises(PixretError, match="run again to resume"):
            fetch_url(f"{url}/old/{OXFORD_V1}", target, timeout=10, progress=False, size=len(data))
        assert target.with_name(OXFORD_V1 + ".part").stat().st_size == 3000
        fetch_url(f"{url}/old/{OXFORD_V1}", target, timeout=10, progress=False, size=len(data))
    assert target.read_bytes() == data and not target.with_name(OXFORD_V1 + ".part").exists()
    assert log == [(f"old/{OXFORD_V1}", None), (f"new/{OXFORD_V1}", None),
                   (f"old/{OXFORD_V1}", "bytes=3000-"), (f"new/{OXFORD_V1}", "bytes=3000-")]  # fmt: skip


def test_a_file_of_another_size_is_one_line_and_never_resumed(tmp_path):
    data = bytes(range(256)) * 400
    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / OXFORD_V1).write_bytes(data)
    target = tmp_path / "out" / OXFORD_V1
    with serve(tmp_path / "srv") as (url, log):
        with pytest.raises(PixretError) as err:
            fetch_url(f"{url}/{OXFORD_V1}", target, timeout=10, progress=False, size=1_938_238_004)
        assert "102,400 bytes, expected 1,938,238,004" in str(err.value) and "\n" not in str(err.value)
        assert log == [(OXFORD_V1, None)] and not target.exists()
        assert not list(target.parent.glob("*.part"))  # nothing kept to resume from
        # a part file longer than the file is no start of it: the download starts over
        target.with_name(OXFORD_V1 + ".part").write_bytes(b"x" * (len(data) + 10))
        fetch_url(f"{url}/{OXFORD_V1}", target, timeout=10, progress=False, size=len(data))
        assert target.read_bytes() == data and log[-1] == (OXFORD_V1, None)


def test_a_part_file_of_a_changed_file_is_not_resumed(tmp_path):
    """The server's file changed since the part was fetched (its ETag differs): If-Range makes
    it send the whole new file, never its tail after the old one's head."""
    import os

    old, new = b"A" * 5000, b"B" * 6000
    f = tmp_path / "srv" / "f.bin"
    f.parent.mkdir()
    f.write_bytes(old)
    target = tmp_path / "out" / "f.bin"
    with serve(tmp_path / "srv", cut_after={"f.bin": 2000}) as (url, log):
        with pytest.raises(PixretError, match="run again to resume"):
            fetch_url(f"{url}/f.bin", target, timeout=10, progress=False)
        f.write_bytes(new)
        os.utime(f, ns=(1, 1))
        fetch_url(f"{url}/f.bin", target, timeout=10, progress=False)
    assert target.read_bytes() == new and log[-1] == ("f.bin", "bytes=2000-")


def test_an_address_urllib_cannot_ask_for_is_one_line(tmp_path):
    """Issue 32 (N): a --mirror with a space ended in http.client.InvalidURL (a traceback)."""
    from pixret.fetch import check_url
    from tests.helpers import run_cli

    r = run_cli(["make-benchmark", tmp_path / "lm", "--landmarks", "--mirror", "http://127.0.0.1:1/my photos"])
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert "address 'http://127.0.0.1:1/my photos/" in r.stderr and "holds ' ' (U+0020)" in r.stderr
    assert check_url("https://bücher.example:8080/café/x?q=é") == "https://xn--bcher-kva.example:8080/caf%C3%A9/x?q=%C3%A9"
    assert check_url("https://mirror.example/caf%C3%A9/x") == "https://mirror.example/caf%C3%A9/x"  # kept as it is
    with pytest.raises(PixretError, match="expected http:// or https://"):
        fetch_url("file:///etc/passwd", tmp_path / "x")
