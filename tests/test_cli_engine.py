"""`pixret index / search / serve` as people use them: from any folder, output for scripts."""

import json
import os
import shutil
import socket
import subprocess
import sys

import pytest

from pixret import __version__
from pixret.engine import Index
from pixret.errors import PixretError

CLI = [sys.executable, "-c", "from pixret.cli import main; main()"]


def _run(args, cwd=None, timeout=300):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd, timeout=timeout)


@pytest.fixture(scope="module")
def photos(bench, tmp_path_factory):
    """A folder of 8 photos and an index of it, built with relative paths from the folder above."""
    top = tmp_path_factory.mktemp("top")
    (top / "photos").mkdir()
    for i in range(8):
        shutil.copy(bench.database_image(i), top / "photos" / f"p{i}.jpg")
    r = _run(["index", "photos", "--index", "my-index"], cwd=top)
    assert r.returncode == 0, r.stderr
    return top


def test_version():
    r = _run(["--version"])
    assert r.returncode == 0 and r.stdout.strip() == f"pixret {__version__}"


def test_search_from_another_folder_prints_to_stdout_and_json(photos, bench, tmp_path):
    q = bench.queries[0]
    box = ",".join(str(round(v)) for v in q.box)
    idx = str(photos / "my-index")
    r = _run(
        ["search", str(bench.query_image(0)), "--index", idx, "--box", box, "--out", "overlays"], cwd=tmp_path
    )
    assert r.returncode == 0, r.stderr
    assert "matching points" in r.stdout and "rank" in r.stdout  # the table is on stdout
    assert len(list((tmp_path / "overlays").glob("*.png"))) >= 2  # images found from another folder
    r = _run(
        ["search", str(bench.query_image(0)), "--index", idx, "--box", box, "--json", "--top", "3"],
        cwd=tmp_path,
    )
    doc = json.loads(r.stdout)
    assert len(doc["hits"]) == 3 and {
        "rank",
        "name",
        "path",
        "verified",
        "inliers",
        "box",
        "polygons",
    } <= set(doc["hits"][0])
    assert os.path.isabs(doc["hits"][0]["path"])


def test_an_index_moved_with_its_photos_still_finds_them(photos, tmp_path):
    moved = tmp_path / "elsewhere"
    shutil.copytree(photos, moved)
    idx = Index.open(moved / "my-index")
    shutil.move(str(photos / "photos"), str(tmp_path / "gone"))  # the original folder is gone
    try:
        assert idx.image_path(0).is_relative_to(moved)
        (moved / "photos" / "p3.jpg").unlink()
        k = next(n for n, im in enumerate(idx.images) if im["name"] == "p3")
        with pytest.raises(PixretError, match="p3.*missing: moved or deleted since indexing"):
            idx.image_path(k)
    finally:
        shutil.move(str(tmp_path / "gone"), str(photos / "photos"))


def test_an_empty_folder_blames_the_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    r = _run(["index", str(tmp_path / "empty"), "--index", str(tmp_path / "idx")])
    assert r.returncode == 2 and "empty: no images found" in r.stderr and "Traceback" not in r.stderr


def test_serve_on_a_busy_port_fails_before_announcing(photos):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = _run(["serve", "--index", str(photos / "my-index"), "--port", str(port)], timeout=120)
    assert r.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in r.stderr
    assert "pixret on http" not in r.stderr + r.stdout


def test_help_is_plain():
    r = _run(["show", "--help"])
    assert "<list[int]>" not in r.stdout and "--query" in r.stdout
    r = _run(["index", "--help"])
    assert "default: one per core" in " ".join(r.stdout.replace("│", " ").split())


def test_index_of_relative_paths_records_where_they_are(photos):
    meta = json.loads((photos / "my-index" / "index.json").read_text())
    lines = (photos / "my-index" / meta["generation"] / "images.jsonl").read_text().splitlines()
    images = [json.loads(line) for line in lines]
    assert all(os.path.isabs(im["path"]) for im in images)
    assert all(im["rel"].startswith("../photos/") for im in images)


def test_index_add_appends_new_images_only(bench, tmp_path):
    (tmp_path / "photos").mkdir()
    for i in range(6):
        shutil.copy(bench.database_image(i), tmp_path / "photos" / f"p{i}.jpg")
    assert _run(["index", "photos", "--index", "my-index", "--workers", "1"], cwd=tmp_path).returncode == 0
    before = Index.open(tmp_path / "my-index")
    for i in range(6, 9):
        shutil.copy(bench.database_image(i), tmp_path / "photos" / f"p{i}.jpg")
    r = _run(["index", "photos", "--index", "my-index", "--add", "--workers", "1"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "added 3 new images (9 in the folder)" in r.stderr
    after = Index.open(tmp_path / "my-index")
    assert [im["name"] for im in after.images] == [im["name"] for im in before.images] + ["p6", "p7", "p8"]
    assert (after.quantizer.centroids == before.quantizer.centroids).all()  # no new vocabulary
    q = bench.queries[0]
    hits = after.search(bench.query_image(q.index), q.box)
    assert hits and all(h.index < len(after) for h in hits)
    r = _run(["index", "photos", "--index", "nothing-here", "--add"], cwd=tmp_path)
    assert r.returncode == 2 and "no index.json" in r.stderr and "Traceback" not in r.stderr
