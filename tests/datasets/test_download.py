"""Downloads against a loopback server: resume, sha256, mirrors, --from-file, extraction."""

import hashlib
import json

import pytest

from pixret.datasets.download import install
from pixret.datasets.sources import Source
from pixret.errors import PixretError
from tests.helpers import RELEASE_FILES, run_cli
from tests.httpserver import serve
from tests.rar5 import write_rar5


def _rar(tmp_path):
    return write_rar5(tmp_path / "srv" / "pixel_retrieval_benchmarks.rar", RELEASE_FILES)


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
    assert got == RELEASE_FILES["pixel_retrieval_benchmarks/oxford_pair2labelpath.npy"]
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


def _labels_zip(path, label: bytes):
    import zipfile

    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("pixel_retrieval_benchmarks/queries/oxford/0.json", label)
        zf.writestr("pixel_retrieval_benchmarks/oxford_pair2labelpath.npy", b"x" * 5000)
    return path


def test_an_install_replaces_only_files_it_put_there(tmp_path):
    root = tmp_path / "bench-root"
    label = root / "pixel_retrieval_benchmarks" / "queries" / "oxford" / "0.json"

    def install_cli(version: bytes):
        z = _labels_zip(tmp_path / f"labels-{len(version)}.zip", version)
        return run_cli(["download", "labels", "--root", root, "--from-file", z])

    assert install_cli(b'{"shapes": []}').returncode == 0
    assert install_cli(b'{"shapes": []}').returncode == 0  # the same bytes again: nothing to replace
    assert install_cli(b'{"shapes": [], "v": 2}').returncode == 0  # a newer release over pixret's own copy
    assert label.read_bytes() == b'{"shapes": [], "v": 2}'
    label.write_bytes(b'{"shapes": [], "fixed": "by hand"}')  # the user's correction
    r = install_cli(b'{"shapes": [], "v": 3}')
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "0.json is there already with other bytes, and pixret did not put it there" in r.stderr
    assert label.read_bytes() == b'{"shapes": [], "fixed": "by hand"}'
    # a file of the user's there before any install (the non-archive path too)
    gt = root / "pixel_retrieval_benchmarks" / "revisitop" / "data" / "revisitop1m.txt"
    gt.parent.mkdir(parents=True)
    gt.write_text("my own list\n")
    (tmp_path / "revisitop1m.txt").write_text("img1\nimg2\n")
    r = run_cli(["download", "r1m-list", "--root", root, "--from-file", tmp_path / "revisitop1m.txt"])
    assert r.returncode == 2 and "revisitop1m.txt: is there already with other bytes" in r.stderr
    assert gt.read_text() == "my own list\n"


def _error(stderr: str) -> str:
    """The one error line of a command's stderr (the other lines are its progress)."""
    import re

    errors = [ln for ln in re.split(r"[\r\n]+", stderr) if ln.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in stderr, stderr
    return errors[0]


def _oxford_tgz(path):
    """A small archive laid out as oxbuild_images-v1.tgz is (a folder of JPEGs)."""
    import io
    import tarfile

    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for n in range(3):
            data = bytes(range(256)) * (20 + n) + bytes([n])  # incompressible enough to be cut
            info = tarfile.TarInfo(f"oxbuild_images/all_souls_00000{n}.jpg")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_the_oxford_images_resume_across_the_redirect_to_their_new_home(tmp_path, srv_dir):
    """`pixret download roxford5k-images` where the old address redirects to the new one and
    the connection drops at the new one: run again, it resumes there (Range), checks the size
    and extracts."""
    from tests.helpers import run_cli

    archive = _oxford_tgz(srv_dir / "oxbuildings" / "oxbuild_images-v1.tgz")
    size = archive.stat().st_size
    sources = tmp_path / "sources.json"
    root = tmp_path / "data"
    moved = {"~vgg/data/oxbuildings/oxbuild_images-v1.tgz": "/oxbuildings/oxbuild_images-v1.tgz"}
    with serve(srv_dir, cut_after={"oxbuildings/oxbuild_images-v1.tgz": size // 2}, redirects=moved) as (url, log):
        sources.write_text(json.dumps({"roxford5k-images": {
            "urls": [f"{url}/~vgg/data/oxbuildings/oxbuild_images-v1.tgz"], "size": size}}))  # fmt: skip
        first = run_cli(["download", "roxford5k-images", "--root", root, "--sources", sources])
        assert first.returncode == 2 and "run again to resume" in _error(first.stderr), first.stderr
        again = run_cli(["download", "roxford5k-images", "--root", root, "--sources", sources])
    assert again.returncode == 0, again.stderr
    assert log[-2:] == [("~vgg/data/oxbuildings/oxbuild_images-v1.tgz", f"bytes={size // 2}-"),
                        ("oxbuildings/oxbuild_images-v1.tgz", f"bytes={size // 2}-")]  # fmt: skip
    jpg = root / "pixel_retrieval_benchmarks/revisitop/data/roxford5k/jpg"
    assert sorted(p.name for p in jpg.iterdir()) == [f"all_souls_00000{n}.jpg" for n in range(3)]


def test_an_archive_of_another_size_than_known_is_one_line(tmp_path, srv_dir):
    """The table knows oxbuild_images-v1.tgz is 1,938,238,004 bytes: a server (or a file fetched
    by hand) with another size is refused in one line, before it is extracted."""
    from tests.helpers import run_cli

    archive = _oxford_tgz(srv_dir / "oxbuildings" / "oxbuild_images-v1.tgz")
    sources = tmp_path / "sources.json"
    root = tmp_path / "data"
    with serve(srv_dir) as (url, log):
        sources.write_text(json.dumps({"roxford5k-images": {"urls": [f"{url}/oxbuildings/oxbuild_images-v1.tgz"]}}))
        r = run_cli(["download", "roxford5k-images", "--root", root, "--sources", sources])
    assert r.returncode == 2 and "expected 1,938,238,004 bytes" in _error(r.stderr), r.stderr
    assert log == [("oxbuildings/oxbuild_images-v1.tgz", None)]  # refused from its headers, nothing kept
    assert not (root / "pixel_retrieval_benchmarks").exists() and not list((root / ".downloads").glob("*.part"))
    r = run_cli(["download", "roxford5k-images", "--root", root, "--from-file", archive])
    assert r.returncode == 2 and f"{archive.stat().st_size:,} bytes, expected 1,938,238,004" in _error(r.stderr), r.stderr
