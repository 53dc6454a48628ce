"""`pixret import-hloc` as an hloc user runs it: their pairs, features.h5 and matches.h5 (written
here with h5py in hloc's layout) to pixel scores in one command, then into compare."""

import json
import shutil
import subprocess
import sys

import h5py
from typer.testing import CliRunner

from pixret.cli import app
from tests.pipelines.test_hloc import Scene

MAIN = [sys.executable, "-c", "from pixret.cli import main; main()"]


def test_an_hloc_pipeline_gets_pixel_scores_in_one_command(tmp_path):
    scene = Scene(tmp_path)
    pairs, feats, matches = scene.write(reverse=set(scene.pairs[::3]), old=set(scene.pairs[1::5]))
    out = tmp_path / "run-hloc"
    args = ["import-hloc", "--root", str(tmp_path), "--dataset", "hl", "--pairs", str(pairs), "--features", str(feats),
            "--matches", str(matches), "--out", str(out), "--method", "sp+lg"]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "9 of 36 pairs verified" in res.output and "--run sp+lg=" in res.output
    scores = json.loads((out / "scores.json").read_text())
    assert scores["dataset"] == "hl" and scores["method"] == "sp+lg" and scores["source"]["format"] == "hloc"
    strict = scores["strict"]
    assert strict["image_mAP"]["medium"] == 1.0  # verified positives first
    assert strict["mIoU"]["medium_mask"] > 0.97 and strict["pixel_mAP"]["medium"] > 0.9, strict["pixel_mAP"]
    # the retrieval order kept: the negatives hloc ranked first stay first
    res = CliRunner().invoke(app, [*args[:-4], "--out", str(tmp_path / "kept"), "--order", "retrieval"])
    assert res.exit_code == 0, res.output
    kept = json.loads((tmp_path / "kept" / "scores.json").read_text())["strict"]
    assert kept["image_mAP"]["medium"] < 0.5 and kept["mIoU"]["medium_mask"] == strict["mIoU"]["medium_mask"]
    # a run folder like any other: compare reads it
    res = CliRunner().invoke(app, ["compare", "--root", str(tmp_path), "--run", str(out), "--run",
                                   f"kept={tmp_path / 'kept'}", "--no-cache", "--json", str(tmp_path / "c.json")])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "c.json").read_text())["methods"] == ["sp+lg", "kept"]


def test_bad_hloc_files_are_one_line(tmp_path):
    scene = Scene(tmp_path)
    pairs, feats, matches = scene.write()
    (tmp_path / "bad.txt").write_text("query/query_000.jpg db/db_0000.jpg extra\n")
    (tmp_path / "not.h5").write_bytes(b"not hdf5")
    (tmp_path / "few.txt").write_text(pairs.read_text() + "query/query_001.jpg db/db_0099.jpg\n")
    lacking = {"feats": tmp_path / "lacking-feats.h5", "matches": tmp_path / "lacking-matches.h5"}
    for src, key in ((feats, "feats"), (matches, "matches")):  # the same files, one image / one pair less
        shutil.copyfile(src, lacking[key])
        with h5py.File(lacking[key], "r+") as h:
            del h["query/query_000.jpg" if key == "feats" else "query-query_000.jpg/db-db_0003.jpg"]
    common = ["import-hloc", "--root", str(tmp_path), "--dataset", "hl", "--out", str(tmp_path / "o")]
    for files, message in (
        ((tmp_path / "bad.txt", feats, matches), "bad.txt:1: expected 'name0 name1'"),
        ((tmp_path / "few.txt", feats, matches), "'db/db_0099.jpg' is not a database image of benchmark 'hl'"),
        ((pairs, tmp_path / "not.h5", matches), "not an HDF5 file hloc wrote"),
        ((pairs, feats, lacking["matches"]), "no matches for the pair query/query_000.jpg db/db_0003.jpg"),
        ((pairs, lacking["feats"], matches), "no features of image 'query/query_000.jpg'"),
        ((feats, feats, matches), "an HDF5 file (features.h5 or matches.h5?): a pairs file is text"),
        ((pairs, feats, feats), "hloc's features file, given as its matches file (--features and --matches swapped?)"),
        ((pairs, matches, matches), "hloc's matches file, given as its features file (--matches and --features"),
    ):
        args = [*common, "--pairs", str(files[0]), "--features", str(files[1]), "--matches", str(files[2])]
        res = CliRunner().invoke(app, args)
        assert res.exit_code != 0 and message in str(res.exception), (message, res.output)
        assert not (tmp_path / "o").exists()
    p = subprocess.run([*MAIN, *args], capture_output=True, text=True)  # as a user runs it: one line
    assert p.returncode == 2 and "given as its features file" in p.stderr and "Traceback" not in p.stderr, p.stderr


def test_pixret_rankings_become_hloc_pairs(tmp_path):
    from pixret.pipelines.hloc import read_pairs

    scene = Scene(tmp_path)
    pairs, feats, matches = scene.write()
    out = tmp_path / "run"
    args = ["--root", str(tmp_path), "--dataset", "hl"]
    res = CliRunner().invoke(app, ["import-hloc", *args, "--pairs", str(pairs), "--features", str(feats),
                                   "--matches", str(matches), "--out", str(out)])  # fmt: skip
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(app, ["export-hloc-pairs", *args, "--run", str(out), "--top", "3", "--out",
                                   str(tmp_path / "top3.txt")])  # fmt: skip
    assert res.exit_code == 0, res.output
    lines = (tmp_path / "top3.txt").read_text().splitlines()
    # each query's three verified images (their order is by inliers)
    assert sorted(lines[:3]) == ["query_000.jpg db_0000.jpg", "query_000.jpg db_0001.jpg", "query_000.jpg db_0002.jpg"]
    assert len(lines) == 9
    read = read_pairs(tmp_path / "top3.txt", scene.bench)  # hloc's format, read back
    assert {q: sorted(v) for q, v in read.ranked.items()} == {q: [3 * q, 3 * q + 1, 3 * q + 2] for q in range(3)}
