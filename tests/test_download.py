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
from pixret.errors import PixretError
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
    f.write_text(json.dumps({"labels": {"urls": ["http://127.0.0.1:1/x.rar"], "sha256": "ab" * 32}}))
    monkeypatch.setenv("PIXRET_SOURCES", str(f))
    table = load_sources()
    assert table["labels"].urls == ("http://127.0.0.1:1/x.rar",) and table["labels"].sha256 == "ab" * 32
    assert [s.name for s in resolve(["prparis"], table)] == [
        "labels",
        "rparis6k-images-1",
        "rparis6k-images-2",
    ]
    f.write_text(json.dumps({"labels": {"url": "typo"}}))
    with pytest.raises(PixretError, match="unknown field"):
        load_sources()
    for bad, message in (
        ({"urls": "http://127.0.0.1:1/x.rar"}, "'urls' must be a list of addresses"),
        ({"sha256": 12345}, "'sha256' must be a str"),
        ({"sha256": "ab"}, "'sha256' must be 64 hex digits"),
        ({"dest": "../../etc"}, "'dest' must stay inside"),
    ):
        f.write_text(json.dumps({"labels": bad}))
        with pytest.raises(PixretError, match=message):
            load_sources()
    with pytest.raises(PixretError, match="unknown download"):
        resolve(["nope"], table)


def test_a_file_member_never_replaces_a_dataset_folder(tmp_path):
    root = tmp_path / "d"
    good = root / "pixel_retrieval_benchmarks"
    for k in range(5):
        (good / "queries" / f"{k}.json").parent.mkdir(parents=True, exist_ok=True)
        (good / "queries" / f"{k}.json").write_text("{}")
    z = tmp_path / "evil.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("pixel_retrieval_benchmarks", b"one file")
        zf.writestr("other/new.txt", b"x")
    with pytest.raises(PixretError, match="is a file where .* is a folder; nothing was changed"):
        install(Source("labels", (), "evil.zip", "."), root, from_file=z, progress=False)
    assert len(list(good.rglob("*.json"))) == 5 and not (root / "other").exists()


def _gnd_bytes():
    import pickle

    return pickle.dumps({"imlist": ["a"], "qimlist": ["q"], "gnd": [{"easy": [0], "hard": [], "junk": []}]})


def test_an_html_page_never_replaces_a_good_file_and_the_next_mirror_is_tried(tmp_path, srv_dir):
    (srv_dir / "good").mkdir()
    (srv_dir / "good" / "gnd_roxford5k.pkl").write_bytes(_gnd_bytes())
    (srv_dir / "html").mkdir()
    (srv_dir / "html" / "gnd_roxford5k.pkl").write_bytes(b"<!DOCTYPE html><html><body>Moved</body></html>")
    root = tmp_path / "d"
    dest = root / "gt"
    with serve(srv_dir) as (url, _):
        only_html = Source(
            "gnd", (f"{url}/html/gnd_roxford5k.pkl",), "gnd_roxford5k.pkl", "gt", extract=False
        )
        (dest).mkdir(parents=True)
        (dest / "gnd_roxford5k.pkl").write_bytes(_gnd_bytes())
        with pytest.raises(PixretError, match="an HTML page, not gnd_roxford5k.pkl"):
            install(only_html, root, progress=False)
        assert (dest / "gnd_roxford5k.pkl").read_bytes() == _gnd_bytes()  # the good one stays
        assert (root / ".downloads" / "gnd_roxford5k.pkl.bad").exists()
        assert not (root / ".downloads" / "gnd_roxford5k.pkl").exists()
        mirrors = Source("gnd", (f"{url}/gone.pkl", f"{url}/html/gnd_roxford5k.pkl", f"{url}/good/gnd_roxford5k.pkl"),
                         "gnd_roxford5k.pkl", "gt", extract=False)  # fmt: skip
        install(mirrors, root, progress=False)  # 404, wrong, good: the good one is used
    assert (dest / "gnd_roxford5k.pkl").read_bytes() == _gnd_bytes()


def test_what_arrives_must_be_what_it_claims(tmp_path):
    page = tmp_path / "pixel_retrieval_benchmarks.rar"
    page.write_bytes(b"\n  <html><body>404</body></html>")
    with pytest.raises(PixretError, match="an HTML page"):
        install(Source("labels", (), page.name, "."), tmp_path / "d", from_file=page, progress=False)
    junk = tmp_path / "x.rar"
    junk.write_bytes(b"\x00\x01 not an archive at all")
    with pytest.raises(PixretError, match="not an archive"):
        install(Source("labels", (), "x.rar", "."), tmp_path / "d", from_file=junk, progress=False)
    txt = tmp_path / "revisitop1m.txt"
    txt.write_bytes(b"a\x00b")
    with pytest.raises(PixretError, match="not a text file"):
        install(
            Source("r1m-list", (), txt.name, "data", extract=False),
            tmp_path / "d",
            from_file=txt,
            progress=False,
        )
    pkl = tmp_path / "gnd.pkl"
    pkl.write_bytes(__import__("pickle").dumps({"something": "else"}))
    with pytest.raises(PixretError, match="not a revisitop ground-truth pickle"):
        install(
            Source("gnd", (), "gnd.pkl", "gt", extract=False), tmp_path / "d", from_file=pkl, progress=False
        )
    assert not (tmp_path / "d").exists()


def test_a_changed_file_is_flagged_against_its_first_hash(tmp_path, srv_dir):
    from pixret.errors import DownloadWarning

    f = srv_dir / "revisitop1m.txt"
    f.write_text("a\nb\n")
    root = tmp_path / "d"
    with serve(srv_dir) as (url, _):
        src = Source("r1m-list", (f"{url}/revisitop1m.txt",), "revisitop1m.txt", "data", extract=False)
        install(src, root, progress=False)
        book = json.loads((root / ".downloads" / "hashes.json").read_text())
        assert book["revisitop1m.txt"]["sha256"] == hashlib.sha256(b"a\nb\n").hexdigest()
        f.write_text("a\nb\nc\n")
        (root / ".downloads" / "revisitop1m.txt").unlink()
        with pytest.warns(DownloadWarning, match="differs from the copy first seen"):
            install(src, root, progress=False)
