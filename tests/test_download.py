"""Downloads against a loopback server: resume, sha256, mirrors, --from-file, extraction."""

import hashlib
import io
import json
import shutil
import tarfile
import zipfile

import pytest
from typer.testing import CliRunner

from pixret.cli import app
from pixret.datasets.archives import extract
from pixret.datasets.download import install
from pixret.datasets.sources import Source, load_sources, resolve
from pixret.io import PixretError
from tests.httpserver import serve
from tests.rar5 import write_rar5

FILES = {
    "pixel_retrieval_benchmarks/oxford_pair2labelpath.npy": b"x" * 5000,
    "pixel_retrieval_benchmarks/queries/oxford/0.json": b'{"shapes": []}',
}


def _rar(tmp_path):
    return write_rar5(tmp_path / "srv" / "pixel_retrieval_benchmarks.rar", FILES)


@pytest.fixture
def srv_dir(tmp_path):
    d = tmp_path / "srv"
    d.mkdir()
    return d


def test_resumes_after_a_dropped_connection_and_checks_sha256(tmp_path, srv_dir):
    archive = _rar(tmp_path)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    root = tmp_path / "data"
    with serve(srv_dir, cut_after={archive.name: 3000}) as (url, log):
        src = Source("labels", (f"{url}/{archive.name}",), archive.name, ".", sha256=digest)
        with pytest.raises(PixretError, match="run again to resume"):
            install(src, root, progress=False)
        part = root / ".downloads" / f"{archive.name}.part"
        assert part.stat().st_size == 3000
        placed = install(src, root, progress=False)
    assert log[-1] == (archive.name, "bytes=3000-")  # the second try asked for the rest only
    got = (root / "pixel_retrieval_benchmarks/oxford_pair2labelpath.npy").read_bytes()
    assert got == FILES["pixel_retrieval_benchmarks/oxford_pair2labelpath.npy"]
    assert len(placed) == 2


def test_sha256_mismatch_and_mirror_fallback(tmp_path, srv_dir):
    archive = _rar(tmp_path)
    with serve(srv_dir) as (url, _):
        src = Source(
            "labels", (f"{url}/gone.rar", f"{url}/{archive.name}"), archive.name, ".", sha256="0" * 64
        )
        with pytest.raises(PixretError, match="sha256 mismatch"):
            install(src, tmp_path / "d1", progress=False)
        ok = Source("labels", src.urls, archive.name, ".")
        assert install(ok, tmp_path / "d2", progress=False)  # first address 404, second serves
        bad = Source("labels", (f"{url}/gone.rar",), "gone.rar", ".")
        with pytest.raises(PixretError, match="HTTP 404.*--from-file"):
            install(bad, tmp_path / "d3", progress=False)


def test_from_file_and_cli(tmp_path):
    archive = write_rar5(tmp_path / "by-hand.rar", FILES)
    res = CliRunner().invoke(
        app, ["download", "labels", "--root", str(tmp_path / "d"), "--from-file", str(archive)]
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "d/pixel_retrieval_benchmarks/queries/oxford/0.json").exists()


def test_rar_falls_back_to_unar_and_explains_when_neither_exists(tmp_path, monkeypatch):
    archive = write_rar5(tmp_path / "a.rar", FILES)
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda n: None if n == "bsdtar" else real_which(n))
    assert len(extract(archive, tmp_path / "u")) == 2  # unar did it
    monkeypatch.setattr(shutil, "which", lambda n: None)
    with pytest.raises(PixretError, match="libarchive-tools"):
        extract(archive, tmp_path / "none")


def test_zip_tar_flatten_and_corrupt(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name in ("paris/defense/paris_defense_000000.jpg", "paris/eiffel/paris_eiffel_000001.jpg"):
            info = tarfile.TarInfo(name)
            info.size = 3
            tf.addfile(info, io.BytesIO(b"jpg"))
    tgz = tmp_path / "paris_1-v1.tgz"
    tgz.write_bytes(buf.getvalue())
    placed = extract(tgz, tmp_path / "jpg", flatten=True)
    assert sorted(p.name for p in placed) == ["paris_defense_000000.jpg", "paris_eiffel_000001.jpg"]
    z = tmp_path / "r.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("results/image-level/m/roxford.npy", b"1")
    assert extract(z, tmp_path / "z")[0].name == "roxford.npy"
    whole = write_rar5(tmp_path / "whole.rar", FILES).read_bytes()
    bad = tmp_path / "bad.rar"
    bad.write_bytes(whole[: len(whole) // 2])  # truncated mid-file
    with pytest.raises(PixretError, match="could not extract RAR"):
        extract(bad, tmp_path / "b")
    assert not any((tmp_path / "b").iterdir())  # nothing half-extracted left behind


def test_sources_override_file(tmp_path, monkeypatch):
    f = tmp_path / "mirrors.json"
    f.write_text(json.dumps({"labels": {"urls": ["http://127.0.0.1:1/x.rar"], "sha256": "ab"}}))
    monkeypatch.setenv("PIXRET_SOURCES", str(f))
    table = load_sources()
    assert table["labels"].urls == ("http://127.0.0.1:1/x.rar",) and table["labels"].sha256 == "ab"
    assert [s.name for s in resolve(["prparis"], table)] == [
        "labels",
        "rparis6k-images-1",
        "rparis6k-images-2",
    ]
    f.write_text(json.dumps({"labels": {"url": "typo"}}))
    with pytest.raises(PixretError, match="unknown field"):
        load_sources()
    with pytest.raises(PixretError, match="unknown download"):
        resolve(["nope"], table)
