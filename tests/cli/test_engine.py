"""`pixret index / search / run / serve` as people use them: from any folder, output for scripts."""

import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from pixret import __version__
from pixret.cli import app
from pixret.engine import Index
from pixret.errors import PixretError
from pixret.geometry import fill_polygons
from pixret.imageio import load_image
from pixret.viz.overlay import BOX_COLOR
from tests.helpers import run_cli


def test_run_cli_writes_results_and_scores(bench, index_copy, tmp_path):
    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["run", "--root", str(bench.root), "--dataset", "eng", "--out", str(out),
                                   "--index", str(index_copy.root)])  # fmt: skip
    assert res.exit_code == 0, res.output
    for f in ("ranks.npy", "pixels.npy", "pixels.json", "scores.json"):
        assert (out / f).exists()
    scores = json.loads((out / "scores.json").read_text())
    assert scores["dataset"] == "eng" and scores["method"] == "fast"
    assert scores["strict"]["image_mAP"]["easy"] > 0.6
    tm = scores["timing"]
    assert tm["images"] == bench.n_database and 0 < tm["query_seconds_p50"] <= tm["query_seconds_p95"] < 60
    # the table printed is the scores written (strict image mAP Easy, in %)
    row = next(ln for ln in res.output.splitlines() if "image mAP Easy" in ln)
    assert f"{100 * scores['strict']['image_mAP']['easy']:.2f}" in row


def test_search_cli_draws_overlays(bench, index, tmp_path):
    q = bench.queries[1]
    box = ",".join(f"{v:.1f}" for v in q.box)
    res = CliRunner().invoke(app, ["search", str(bench.query_image(1)), "--index", str(index.root), "--box", box,
                                   "--top", "3", "--out", str(tmp_path / "o")])  # fmt: skip
    assert res.exit_code == 0, res.output
    query, original = load_image(tmp_path / "o" / "query.png"), load_image(bench.query_image(1))
    x1, y1, x2, y2 = (round(v) for v in q.box)
    assert (query[y1, x1 + 5 : x2 - 5] == BOX_COLOR).all()  # the box is drawn along its top edge
    assert (query[y1 + 10 : y2 - 10, x1 + 10 : x2 - 10] == original[y1 + 10 : y2 - 10, x1 + 10 : x2 - 10]).all()
    hits = index.search(bench.query_image(1), q.box, top=3)
    drawn = sorted((tmp_path / "o").glob("0*.png"))
    assert [p.name for p in drawn] == [f"{k + 1:03d}_{h.name}.png" for k, h in enumerate(hits)]
    first, h = load_image(drawn[0]), hits[0]
    assert h.verified
    inside = fill_polygons(h.polygons, h.size[1], h.size[0], min_points=3).astype(bool)
    inside[:60] = False  # the label's band at the top
    plain = load_image(h.path)
    # the object's pixels are tinted red (BGR: more red, less blue), the rest left as they were
    assert (first[inside][:, 2].astype(int) - plain[inside][:, 2]).mean() > 20
    drawn_on = fill_polygons(h.polygons + h.box_polygons, h.size[1], h.size[0])
    outside = ~cv2.dilate(drawn_on, np.ones((9, 9), np.uint8)).astype(bool)
    outside[:60] = False
    assert (first[outside] == plain[outside]).mean() > 0.99


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
    def cells(sep: str) -> list[list[str]]:  # rich's table: header cells between \u2503, rows between \u2502
        return [[c.strip() for c in ln.split(sep)[1:-1]] for ln in r.stdout.splitlines() if ln.count(sep) >= 6]

    assert cells("\u2503") == [["rank", "image", "inliers", "tf-idf", "verified"]]  # the table is on stdout
    rows = cells("\u2502")
    assert [int(row[0]) for row in rows] == list(range(1, len(rows) + 1)) and rows[0][4] == "yes"
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
    # the table printed the same ranking: names and inliers of the JSON's hits, in order
    assert [(row[1], int(row[2])) for row in rows[:3]] == [(h["name"], h["inliers"]) for h in doc["hits"]]


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
    r = run_cli(["index", str(tmp_path / "empty"), "--index", str(tmp_path / "idx")])
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
    assert run_cli(["index", "photos", "--index", "my-index", "--workers", "1"], cwd=tmp_path).returncode == 0
    before = Index.open(tmp_path / "my-index")
    for i in range(6, 9):
        shutil.copy(bench.database_image(i), tmp_path / "photos" / f"p{i}.jpg")
    r = run_cli(["index", "photos", "--index", "my-index", "--add", "--workers", "1"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "added 3 new images (9 in the folder)" in r.stdout
    after = Index.open(tmp_path / "my-index")
    assert [im["name"] for im in after.images] == [im["name"] for im in before.images] + ["p6", "p7", "p8"]
    assert (after.quantizer.centroids == before.quantizer.centroids).all()  # no new vocabulary
    q = bench.queries[0]
    hits = after.search(bench.query_image(q.index), q.box)
    assert hits and all(h.index < len(after) for h in hits)
    r = run_cli(["index", "photos", "--index", "nothing-here", "--add"], cwd=tmp_path)
    assert r.returncode == 2 and "no index.json" in r.stderr and "Traceback" not in r.stderr


def test_index_names_every_file_it_does_not_take(bench, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        shutil.copy(bench.database_image(i), photos / f"p{i}.jpg")
    (photos / "notes.txt").write_text("not a photo")
    (photos / "anim.gif").write_bytes(b"GIF89a")
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    from PIL import Image

    if importlib.util.find_spec("pillow_heif"):  # a phone's HEIC photo is read (pixret[heic])
        import pillow_heif

        pillow_heif.register_heif_opener()
        Image.open(bench.database_image(3)).save(photos / "IMG_0001.HEIC")
    r = run_cli(["index", str(photos), "--index", str(tmp_path / "idx")])
    assert r.returncode == 0, r.stderr
    assert "ignored 2 file(s) that are not images pixret reads (.gif, .txt" in r.stderr
    # each skipped image is said once, with its reason (a warning); the note after names none again
    assert r.stderr.count("broken.jpg") == 1 and "broken.jpg: skipped (unreadable image)" in r.stderr
    assert "index.json lists the file(s) skipped, with the reason for each" in r.stderr
    heic = importlib.util.find_spec("pillow_heif") is not None
    # what it indexed is the result (stdout, one line: the index's "vocabulary" narration is not); the rest, notes
    assert f"indexed {4 if heic else 3} images" in r.stdout and r.stdout.count("\n") == 1 and "indexed" not in r.stderr
    assert "vocabulary: " in r.stderr and "\r" not in r.stderr


def _positive_in(bench, q: int, photos_made: int = 8) -> int:
    return next(int(i) for i in bench.queries[q].positives if int(i) < photos_made)


def test_search_writes_what_other_tools_read(photos, bench, tmp_path):
    from pycocotools.coco import COCO

    from pixret.datasets import read_labelme
    from pixret.geometry import rle_to_mask

    q = bench.queries[0]
    box = ",".join(str(round(v)) for v in q.box)
    idx = str(photos / "my-index")
    r = run_cli(["search", str(bench.query_image(0)), "--index", idx, "--box", box, "--top", "5", "--json",
              "--matches", "--out", str(tmp_path / "o"), "--format", "coco", "--format", "labelme",
              "--format", "png"])  # fmt: skip
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    found = [h for h in doc["hits"] if h["verified"]]
    assert found and len(doc["hits"]) == 5 and [h["rank"] for h in doc["hits"]] == [1, 2, 3, 4, 5]
    h = found[0]
    assert np.asarray(h["homography"]).shape == (3, 3) and len(h["matches"]) == h["inliers"]
    assert rle_to_mask(h["mask"]).shape == (h["size"][1], h["size"][0]) and rle_to_mask(h["mask"]).any()
    # COCO: pycocotools reads it, one annotation per found image, the RLE is the hit's mask
    coco = COCO(str(tmp_path / "o" / "coco.json"))
    assert len(coco.getAnnIds()) == len(found)
    ann = coco.loadAnns(coco.getAnnIds())[0]
    assert (coco.annToMask(ann) == rle_to_mask(found[0]["mask"])).all()
    assert (tmp_path / "o" / coco.loadImgs(ann["image_id"])[0]["file_name"]).resolve() == Path(h["path"]).resolve()
    # labelme: a label file per found image, read back by pixret with the same polygons
    labels = sorted((tmp_path / "o").glob("*.json"))
    labels.remove(tmp_path / "o" / "coco.json")
    assert len(labels) == len(found)
    back = read_labelme(labels[0])
    assert (back.width, back.height) == tuple(h["size"]) and len(back.polygons) == len(h["polygons"])
    # overlays of the found images only (--unverified draws the others too)
    assert len(list((tmp_path / "o").glob("0*.png"))) == len(found)


def test_search_many_queries_pairs_and_itself(photos, bench, tmp_path):
    (tmp_path / "q").mkdir()
    lines = []
    for q in (0, 1):
        shutil.copy(bench.query_image(q), tmp_path / "q" / f"query {q}.jpg")  # a space in the name
        lines.append(f"q/query {q}.jpg " + ", ".join(str(round(v)) for v in bench.queries[q].box))
    (tmp_path / "queries.txt").write_text("# image x1,y1,x2,y2\n\n" + "\n".join(lines) + "\n")
    idx = str(photos / "my-index")
    r = run_cli(["search", "--queries", str(tmp_path / "queries.txt"), "--index", idx, "--top", "3", "--json",
              "--out", str(tmp_path / "o")])  # fmt: skip
    assert r.returncode == 0, r.stderr
    docs = [json.loads(line) for line in r.stdout.splitlines()]
    assert [Path(d["query"]).name for d in docs] == ["query 0.jpg", "query 1.jpg"]
    assert sorted(p.name for p in (tmp_path / "o").iterdir() if not p.name.startswith(".")) == ["000_query 0",
                                                                                              "001_query 1"]  # fmt: skip
    # hloc's pairs cannot hold a name with a space: said before any search, nothing written
    r = run_cli(["search", "--queries", str(tmp_path / "queries.txt"), "--index", idx, "--pairs-out",
                 str(tmp_path / "pairs.txt")])  # fmt: skip
    assert r.returncode == 2 and "holds white space" in r.stderr and not (tmp_path / "pairs.txt").exists(), r.stderr
    # a database image used as the query finds itself first, unless told not to
    i = _positive_in(bench, 0)
    me = str(photos / "photos" / f"p{i}.jpg")
    box = ",".join(str(round(v)) for v in bench.queries[0].box)
    gt = bench.gt(0, i)
    box = ",".join(str(round(v)) for v in (*gt.all_points.min(0), *gt.all_points.max(0)))
    first = json.loads(run_cli(["search", me, "--index", idx, "--box", box, "--json"]).stdout)["hits"][0]
    assert first["name"] == f"p{i}"
    doc = json.loads(run_cli(["search", me, "--index", idx, "--box", box, "--json", "--exclude-query"]).stdout)
    assert all(h["name"] != f"p{i}" for h in doc["hits"]) and doc["excluded"] == [first["index"]]
    bad = run_cli(["search", me, "--index", idx, "--box", box, "--top", "0"])
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "'--top': Input should be greater than or equal to 1" in bad.stderr
    for args, message in ((["--queries", str(tmp_path / "none.txt")], "queries file not found"),
                          ([me], "--box x1,y1,x2,y2 is needed")):  # fmt: skip
        bad = run_cli(["search", *args, "--index", idx])
        assert bad.returncode == 2 and message in bad.stderr, bad.stderr


def test_search_pairs_name_the_query_not_a_database_image_of_its_name(photos, bench, tmp_path):
    """Issue 32 item 5: a query outside the indexed folder named like a database image (p0.jpg)
    was written by its bare name, so hloc's pairs pointed at the database image. Every name now
    resolves, relative to the folder the command names, to the file it means."""
    (tmp_path / "q").mkdir()
    shutil.copy(bench.query_image(1), tmp_path / "q" / "p0.jpg")  # another image than photos/p0.jpg
    box = ",".join(str(round(v)) for v in bench.queries[1].box)
    (tmp_path / "queries.txt").write_text(f"q/p0.jpg {box}\n")
    pairs = tmp_path / "pairs.txt"
    r = run_cli(["search", "--queries", str(tmp_path / "queries.txt"), "--index", str(photos / "my-index"), "--top",
                 "3", "--pairs-out", str(pairs)])  # fmt: skip
    assert r.returncode == 0, r.stderr
    root = Path(re.search(r"names relative to (.+)\)", r.stderr).group(1))
    assert root.resolve() == (photos / "photos").resolve()
    lines = pairs.read_text().splitlines()
    assert len(lines) == 3
    for line in lines:
        query, db = line.split(" ")
        assert (root / query).resolve() == (tmp_path / "q" / "p0.jpg").resolve(), line  # not photos/p0.jpg
        assert (root / db).resolve().parent == (photos / "photos").resolve() and db.endswith(".jpg")
    # --image-dir: the names are relative to that folder, and still resolve to the same files
    r = run_cli(["search", "--queries", str(tmp_path / "queries.txt"), "--index", str(photos / "my-index"), "--top",
                 "3", "--pairs-out", str(pairs), "--image-dir", str(tmp_path)])  # fmt: skip
    assert r.returncode == 0, r.stderr
    for line, before in zip(pairs.read_text().splitlines(), lines, strict=True):
        assert [(tmp_path / n).resolve() for n in line.split(" ")] == [(root / n).resolve() for n in before.split(" ")]


def test_a_second_search_into_the_same_folder_leaves_no_stale_results(photos, bench, tmp_path):
    """Issue 32 item 6: reusing a `search --out` folder kept the earlier run's overlays and
    labelme files beside the new ones, with no note. pixret removes what it wrote before and did
    not write again, says so, and never touches a file of the user's (or one they changed)."""
    idx = str(photos / "my-index")
    query = str(bench.query_image(0))
    box = ",".join(str(round(v)) for v in bench.queries[0].box)
    out = tmp_path / "o"

    def search(top: int, *formats: str, folder: Path = out):
        fmts = [a for f in formats for a in ("--format", f)]
        return run_cli(["search", query, "--index", idx, "--box", box, "--top", str(top), "--unverified", "--out",
                        str(folder), *fmts])  # fmt: skip

    def listing() -> set[str]:
        files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
        return {f for f in files if not f.startswith(".pixret-search")}  # pixret's list, a stage kept aside

    assert search(6, "png", "labelme").returncode == 0
    first = listing()
    pngs = sorted(n for n in first if n.endswith(".png") and n != "query.png")
    labels = sorted(n for n in first if n.endswith(".json"))
    assert len(pngs) == 6 and len(labels) >= 1 and labels[0].startswith("001_")
    (out / "notes.txt").write_text("mine")  # the user's own file
    r = search(2, "png", "labelme")
    assert r.returncode == 0, r.stderr
    assert listing() == {"query.png", *pngs[:2], *labels[:1], "notes.txt"}  # the overlays of ranks 3-6 are gone
    assert "removed 4 file(s) an earlier search wrote" in r.stderr and "first: 003_" in r.stderr, r.stderr
    assert (out / "notes.txt").read_text() == "mine"
    # a label file the user corrected is theirs now: kept when no longer written, never overwritten
    (out / labels[0]).write_text((out / labels[0]).read_text().replace('"object"', '"my label"'))
    r = search(2, "png")
    assert r.returncode == 0 and "kept 1 file(s) an earlier search wrote" in r.stderr and "changed since" in r.stderr
    assert "my label" in (out / labels[0]).read_text()
    r = search(2, "png", "labelme")
    assert r.returncode == 2 and "exists and pixret did not write it" in r.stderr and "Traceback" not in r.stderr
    assert "my label" in (out / labels[0]).read_text() and listing() == {"query.png", *pngs[:2], labels[0], "notes.txt"}
    # a name taken by a file pixret did not write: nothing replaced, the results kept aside, one line
    other = tmp_path / "mine"
    other.mkdir()
    (other / "query.png").write_bytes(b"my picture")
    r = search(3, "png", folder=other)
    assert r.returncode == 2 and "exists and pixret did not write it" in r.stderr and "Traceback" not in r.stderr
    assert (other / "query.png").read_bytes() == b"my picture" and not list(other.glob("0*.png"))
    kept = Path(re.search(r"this search's results are in (\S+)", " ".join(r.stderr.split())).group(1))
    assert (kept / "query.png").is_file() and len(list(kept.glob("0*.png"))) == 3


def test_a_search_of_fewer_queries_removes_the_folders_it_wrote_before(photos, bench, tmp_path):
    """The per-query sub-folders of an earlier, longer --queries search go too (only if nothing
    else is in them)."""
    lines = [f"{bench.query_image(q)} " + ",".join(str(round(v)) for v in bench.queries[q].box) for q in (0, 1)]
    (tmp_path / "two.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "one.txt").write_text(lines[0] + "\n")
    out = tmp_path / "o"
    args = ["--index", str(photos / "my-index"), "--top", "2", "--out", str(out), "--format", "coco"]
    assert run_cli(["search", "--queries", str(tmp_path / "two.txt"), *args]).returncode == 0
    subs = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert len(subs) == 2 and all((out / s / "coco.json").is_file() for s in subs)
    r = run_cli(["search", "--queries", str(tmp_path / "one.txt"), "--top", "2", "--out", str(out), "--format",
                 "png", "--index", str(photos / "my-index")])  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert [p.name for p in out.iterdir() if not p.name.startswith(".")] == [subs[0]]  # a queries file: sub-folders
    assert "query.png" in {p.name for p in (out / subs[0]).iterdir()}
    assert "removed 2 file(s)" in r.stderr


def test_a_queries_file_says_what_it_skips_and_always_gives_sub_folders(photos, bench, tmp_path):
    """The breaker's examples: a line `#q.jpg 913,114,1712,1366` was taken for a comment without
    a word (2 of 3 queries searched); a one-line queries file wrote flat into --out, where the
    README promises each query of a queries file a sub-folder."""
    box = ",".join(str(round(v)) for v in bench.queries[0].box)
    shutil.copy(bench.query_image(0), tmp_path / "#q.jpg")
    shutil.copy(bench.query_image(0), tmp_path / "a.jpg")
    (tmp_path / "three.txt").write_text(f"a.jpg {box}\n#q.jpg {box}\n./#q.jpg {box}\n")
    r = run_cli(["search", "--queries", tmp_path / "three.txt", "--index", photos / "my-index", "--top", "2",
                 "--json"])  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 2
    assert "skipped 1 line(s) starting with '#' as comments (line 2)" in r.stderr and "./#NAME" in r.stderr
    (tmp_path / "one.txt").write_text(f"a.jpg {box}\n")
    out = tmp_path / "o"
    r = run_cli(["search", "--queries", tmp_path / "one.txt", "--index", photos / "my-index", "--top", "2", "--out",
                 out])  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert [p.name for p in out.iterdir() if not p.name.startswith(".")] == ["000_a"]
    assert (out / "000_a" / "query.png").is_file() and "comments" not in r.stderr


def test_pairs_need_a_real_image_folder_and_can_go_to_stdout(photos, bench, tmp_path):
    """The breaker's examples: --image-dir naming a file wrote the names '.' and '../#front.jpg';
    one that does not exist was taken without a word."""
    query = str(bench.query_image(0))
    box = ",".join(str(round(v)) for v in bench.queries[0].box)
    base = ["search", query, "--box", box, "--index", photos / "my-index", "--top", "2"]
    for image_dir, why in ((photos / "photos" / "p0.jpg", "a file, not folder"), (tmp_path / "nonexistent" / "dir",
                                                                                  "no such folder")):  # fmt: skip
        r = run_cli([*base, "--pairs-out", tmp_path / "pairs.txt", "--image-dir", image_dir])
        assert r.returncode == 2 and f"--image-dir: {why}" in r.stderr and r.stderr.count("\n") == 1, r.stderr
        assert not (tmp_path / "pairs.txt").exists()
    r = run_cli([*base, "--pairs-out", "-"], cwd=tmp_path)  # '-': the pairs are stdout, the table stderr
    assert r.returncode == 0 and not (tmp_path / "-").exists(), r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 2 and all(len(line.split(" ")) == 2 for line in lines) and "rank" in r.stderr, r.stdout


def test_demo_and_run_check_their_folders_before_any_work(bench, tmp_path):
    """The breaker's example: with a file of the user's at pixret-demo/results/pixels.json, the
    demo ran five minutes, made pixret-demo/data and pixret-demo/index, then said "nothing was
    written". Its folders are checked first; the line says what is true."""
    demo = tmp_path / "pixret-demo"
    (demo / "results").mkdir(parents=True)
    (demo / "results" / "pixels.json").write_text('{"mine": 1}')
    r = run_cli(["demo", "--workers", "1"], cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith("error: pixret-demo/results/pixels.json: not written by a pixret run")
    assert "nothing was written" in r.stderr and sorted(p.name for p in demo.iterdir()) == ["results"]
    (demo / "results" / "pixels.json").unlink()
    for mine, says in (("report.html", "pixret-demo/report.html: not written by a pixret run"),
                       ("index/thesis.txt", "pixret-demo/index: not a pixret index")):  # fmt: skip
        (demo / mine).parent.mkdir(exist_ok=True)
        (demo / mine).write_text("mine")
        r = run_cli(["demo", "--workers", "1"], cwd=tmp_path)
        assert r.returncode == 2 and r.stderr.startswith(f"error: {says}") and r.stderr.count("\n") == 1, r.stderr
        assert not (demo / "data").exists() and (demo / mine).read_text() == "mine"
        (demo / mine).unlink()
    # run: its index folder too, before any work (the benchmark's images are not even read)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("mine")
    r = run_cli(["run", "--root", bench.root, "--dataset", "eng", "--out", tmp_path / "run", "--index",
                 tmp_path / "notes", "--workers", "1"])  # fmt: skip
    assert r.returncode == 2 and "notes: not a pixret index" in r.stderr and not (tmp_path / "run").exists()


def test_a_search_table_into_a_pipe_holds_long_names_whole(bench, tmp_path):
    """Issue 32 (W2): tables printed to a pipe are as wide as their cells, not cut at 80 columns."""
    photos = tmp_path / "photos"
    photos.mkdir()
    q = bench.queries[0]
    long_name = "a_very_long_photo_name_" + "of_the_same_object_" * 6 + "seen_again"
    shutil.copy(bench.query_image(0), photos / "query.jpg")
    shutil.copy(bench.database_image(int(q.positives[0])), photos / f"{long_name}.jpg")
    assert run_cli(["index", photos, "--index", tmp_path / "idx", "--workers", "1"]).returncode == 0
    box = ",".join(f"{v:.0f}" for v in q.box)
    r = run_cli(["search", photos / "query.jpg", "--index", tmp_path / "idx", "--box", box])
    assert r.returncode == 0, r.stderr
    assert any(f"│ {long_name} │" in line for line in r.stdout.splitlines()), r.stdout
