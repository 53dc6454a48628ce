"""`pixret import-hloc` as an hloc user runs it: their pairs, features.h5 and matches.h5 (written
here with h5py in hloc's layout) to pixel scores in one command, then into compare."""

import csv
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
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


def _import(tmp_path, scene, out, method, *extra):
    pairs, feats, matches = (tmp_path / "pairs.txt", tmp_path / "features.h5", tmp_path / "matches.h5")
    return CliRunner().invoke(app, ["import-hloc", "--root", str(tmp_path), "--dataset", "hl", "--pairs", str(pairs),
                                    "--features", str(feats), "--matches", str(matches), "--out", str(out),
                                    "--method", method, *extra])  # fmt: skip


def test_a_run_that_carries_the_labelled_mask_is_an_oracle_in_every_table(tmp_path):
    """Issue 32 item 3: `import-hloc --carry mask` carries the query's labelled mask, and compare
    showed it as a method (73.8 against 37.5, no marker). The run folder says it is an oracle;
    every table marks it, it is never bold, never tested, never a baseline."""
    from pixret.pipelines.hloc import ORACLE_MASK

    scene = Scene(tmp_path, masks=True)
    scene.write()
    assert _import(tmp_path, scene, tmp_path / "box", "sp+lg").exit_code == 0
    assert _import(tmp_path, scene, tmp_path / "kept", "kept", "--order", "retrieval").exit_code == 0
    res = _import(tmp_path, scene, tmp_path / "mask", "sp+lg-mask", "--carry", "mask")
    assert res.exit_code == 0, res.output
    assert "sp+lg-mask (hloc) (oracle) on hl" in res.output and "an oracle: 3 queries carry" in res.output
    assert json.loads((tmp_path / "mask" / "scores.json").read_text())["oracle"] == ORACLE_MASK
    assert json.loads((tmp_path / "mask" / "pixels.json").read_text())["oracle"] == ORACLE_MASK
    assert "oracle" not in json.loads((tmp_path / "box" / "scores.json").read_text())
    files = {k: tmp_path / f"t.{k}" for k in ("md", "tex", "html", "csv", "json")}
    args = ["compare", "--root", str(tmp_path), "--dataset", "hl", "--run", str(tmp_path / "box"), "--run",
            str(tmp_path / "kept"), "--run", str(tmp_path / "mask"), "--no-cache", "--markdown", str(files["md"]), "--latex", str(files["tex"]),
            "--html", str(files["html"]), "--csv", str(files["csv"]), "--json", str(files["json"])]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    doc = json.loads(files["json"].read_text())
    assert doc["oracles"] == {"sp+lg-mask": ORACLE_MASK}
    mask = doc["scores"]["sp+lg-mask"]["hl"]["strict"]["mIoU"]["medium_mask"]
    box = doc["scores"]["sp+lg"]["hl"]["strict"]["mIoU"]["medium_mask"]
    assert mask > box + 0.1  # the labels win: that is why it must not pass for a method
    tested = {(t["a"], t["b"]) for t in doc["paired_tests"]}  # without a baseline: against each cell's best method
    assert tested == {("kept", "sp+lg")} and any("sp+lg-mask (oracle) is built from" in n for n in doc["notes"])
    assert "sp+lg-mask (oracle)" in res.output  # the terminal's table
    md = files["md"].read_text()
    rows = [ln for ln in md.splitlines() if ln.startswith(("| sp+lg", "| kept"))]
    assert sum("| sp+lg-mask (oracle) |" in r for r in rows) == 4 and "is built from the benchmark's labels" in md
    assert all("**" not in r for r in rows if "(oracle)" in r)  # never bold, though it is best everywhere
    assert "| sp+lg | **10.0** | **10.0** |" in md  # the best of the methods is
    tex = files["tex"].read_text()
    assert all(r"\textbf" not in ln for ln in tex.splitlines() if ln.startswith("sp+lg-mask (oracle) &"))
    assert "(oracle) is built from the benchmark" in tex[tex.index(r"\caption{") :].split("\n")[0]
    html = files["html"].read_text()
    oracle_rows = re.findall(r"<tr><td>sp\+lg-mask \(oracle\)</td>(.*?)</tr>", html)
    assert len(oracle_rows) == 4 and all("class='best'" not in r for r in oracle_rows)
    cells = list(csv.DictReader(io.StringIO(files["csv"].read_text())))
    assert {c["oracle"] for c in cells if c["method"] == "sp+lg-mask"} == {ORACLE_MASK}
    assert {c["oracle"] for c in cells if c["method"] == "sp+lg"} == {""}
    # never a baseline; with a method as the baseline, the oracle gets no test and no dagger
    res = CliRunner().invoke(app, [*args[:11], "--no-cache", "--baseline", "sp+lg-mask"])
    assert res.exit_code != 0 and "is an oracle" in str(res.exception) and "needs a method" in str(res.exception)
    res = CliRunner().invoke(app, [*args, "--baseline", "sp+lg"])
    assert res.exit_code == 0, res.output
    assert {(t["a"], t["b"]) for t in json.loads(files["json"].read_text())["paired_tests"]} == {("kept", "sp+lg")}
    assert "†" not in "".join(r for r in files["md"].read_text().splitlines() if "(oracle)" in r)
    # evaluate and report say so too; hloc's pairs are not made from it
    res = CliRunner().invoke(app, ["evaluate", "--root", str(tmp_path), "--dataset", "hl", "--run",
                                   str(tmp_path / "mask"), "--json", str(tmp_path / "e.json")])  # fmt: skip
    assert res.exit_code == 0 and "(oracle)" in res.output and "is an oracle" in res.output, res.output
    assert json.loads((tmp_path / "e.json").read_text())["oracle"] == ORACLE_MASK
    res = CliRunner().invoke(app, ["report", str(tmp_path / "r.html"), "--root", str(tmp_path), "--dataset", "hl",
                                   "--run", str(tmp_path / "mask")])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "<h1>sp+lg-mask (oracle) on hl</h1>" in (tmp_path / "r.html").read_text()
    res = CliRunner().invoke(app, ["export-hloc-pairs", "--root", str(tmp_path), "--dataset", "hl", "--run",
                                   str(tmp_path / "mask"), "--out", str(tmp_path / "p.txt")])  # fmt: skip
    assert res.exit_code != 0 and "an oracle" in str(res.exception) and not (tmp_path / "p.txt").exists()


def test_hloc_files_that_contradict_the_images_are_one_line(tmp_path):
    """Issue 32 item 4 as a user meets it: every image declared 1e6 x 1e6 (the inlier threshold
    grows with it: 12 pairs verified instead of 5), and a size of (1.5, 1.9)."""
    scene = Scene(tmp_path, images=True)
    pairs, feats, matches = scene.write()
    for size, message in (([1e6, 1e6], "image_size says 1000000x1000000, but the image is 320x240"),
                          ([1.5, 1.9], "expected (width, height) in whole pixels")):  # fmt: skip
        with h5py.File(feats, "r+") as h:
            for name in scene.kpts:
                del h[f"{name}/image_size"]
                h[f"{name}/image_size"] = np.array(size)
        args = ["import-hloc", "--root", str(tmp_path), "--dataset", "hl", "--pairs", str(pairs), "--features",
                str(feats), "--matches", str(matches), "--out", str(tmp_path / "o")]  # fmt: skip
        p = subprocess.run([*MAIN, *args], capture_output=True, text=True)
        assert p.returncode == 2 and message in p.stderr and str(feats) in p.stderr, p.stderr
        assert "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
        assert not (tmp_path / "o").exists()


def test_a_pairs_line_naming_a_folder_is_one_line(tmp_path):
    """Issue 32 item 9: a pairs line whose name is '/' or '.' ended in a ValueError traceback."""
    scene = Scene(tmp_path)
    _, feats, matches = scene.write()
    for name in ("/", "."):
        bad = tmp_path / "bad.txt"
        bad.write_text(f"query/query_000.jpg db/db_0000.jpg\nquery/query_000.jpg {name}\n{name} db/db_0001.jpg\n")
        p = subprocess.run([*MAIN, "import-hloc", "--root", str(tmp_path), "--dataset", "hl", "--pairs", str(bad),
                            "--features", str(feats), "--matches", str(matches), "--out", str(tmp_path / "o")],
                           capture_output=True, text=True)  # fmt: skip
        assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
        assert f"bad.txt:2: '{name}' is not a database image of benchmark 'hl'" in p.stderr, p.stderr


def test_exported_pairs_name_files_relative_to_the_folder_they_say(tmp_path):
    """Issue 32 item 5: every name written resolves to the file it means, relative to the folder
    the command names."""
    scene = Scene(tmp_path, images=True)
    pairs, feats, matches = scene.write()
    args = ["--root", str(tmp_path), "--dataset", "hl"]
    res = CliRunner().invoke(app, ["import-hloc", *args, "--pairs", str(pairs), "--features", str(feats),
                                   "--matches", str(matches), "--out", str(tmp_path / "run")])  # fmt: skip
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(app, ["export-hloc-pairs", *args, "--run", str(tmp_path / "run"), "--top", "4", "--out",
                                   str(tmp_path / "top.txt")])  # fmt: skip
    assert res.exit_code == 0, res.output
    folder = Path(re.search(r"names relative to (.+)\)", " ".join(res.output.split())).group(1))
    lines = (tmp_path / "top.txt").read_text().splitlines()
    assert len(lines) == 12
    for line, (q, k) in zip(lines, [(q, k) for q in range(3) for k in range(4)], strict=True):
        query, db = line.split(" ")
        assert (folder / query).resolve() == scene.bench.query_image(q).resolve()
        ranks = np.load(tmp_path / "run" / "ranks.npy")
        assert (folder / db).resolve() == scene.bench.database_image(int(ranks[k, q])).resolve()


def _refused(r, name: str) -> None:
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip().count("\n") == 0 and r.stderr.startswith(f"error: {name}"), r.stderr


def test_import_hloc_never_replaces_a_run_file_it_did_not_write(tmp_path):
    """The breaker's example: import-hloc --out into a folder holding the user's own ranks.npy and
    scores.json, then a pixels.npy, replaced them all (exit 0, no note), and wrote no record of
    its files. It is refused as `run` and `reference-results` are, before anything is read."""
    from tests.helpers import run_cli

    scene = Scene(tmp_path)
    pairs, feats, matches = scene.write()
    args = ["import-hloc", "--root", tmp_path, "--dataset", "hl", "--pairs", pairs, "--features", feats,
            "--matches", matches, "--out", tmp_path / "mine"]  # fmt: skip
    (tmp_path / "mine").mkdir()
    for name, data in (("ranks.npy", b"mine"), ("scores.json", b'{"my": 1}'), ("pixels.npy", b"my pixels")):
        (tmp_path / "mine" / name).write_bytes(data)
        _refused(run_cli(args), str(tmp_path / "mine" / "ranks.npy"))
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["pixels.npy", "ranks.npy", "scores.json"]
    assert (tmp_path / "mine" / "ranks.npy").read_bytes() == b"mine"
    (tmp_path / "mine" / "ranks.npy").unlink()
    (tmp_path / "mine" / "scores.json").unlink()
    _refused(run_cli(args), str(tmp_path / "mine" / "pixels.npy"))
    assert (tmp_path / "mine" / "pixels.npy").read_bytes() == b"my pixels"
    # into its own folder: recorded, so a second import replaces the first's files, and a run may follow
    args[-1] = tmp_path / "run"
    assert run_cli(args).returncode == 0
    assert sorted(json.loads((tmp_path / "run" / ".pixret-run.json").read_text())["files"]) == [
        "pixels.json", "pixels.npy", "ranks.npy", "scores.json"]  # fmt: skip
    r = run_cli([*args, "--order", "retrieval"])
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "run" / "scores.json").read_text())["source"]["order"] == "retrieval"


def test_an_output_that_is_not_a_regular_file_is_never_replaced(tmp_path):
    """The breaker's examples: `--out` onto a FIFO (export-hloc-pairs, compare --markdown) or a
    symbolic link replaced it with a regular file (written beside, then renamed over it)."""
    import os

    from tests.helpers import run_cli

    scene = Scene(tmp_path)
    pairs, feats, matches = scene.write()
    base = ["--root", tmp_path, "--dataset", "hl"]
    assert run_cli(["import-hloc", *base, "--pairs", pairs, "--features", feats, "--matches", matches, "--out",
                    tmp_path / "run"]).returncode == 0  # fmt: skip
    os.mkfifo(tmp_path / "ff1")
    os.mkfifo(tmp_path / "ff2")
    (tmp_path / "target.txt").write_text("the user's")
    (tmp_path / "link1").symlink_to(tmp_path / "target.txt")
    (tmp_path / "folder").mkdir()
    for out, why in (("ff1", "not a regular file"), ("link1", "is a symbolic link"), ("folder", "is a folder")):
        r = run_cli(["export-hloc-pairs", *base, "--run", tmp_path / "run", "--out", tmp_path / out])
        _refused(r, str(tmp_path / out))
        assert why in r.stderr
    r = run_cli(["compare", *base, "--run", tmp_path / "run", "--no-cache", "--markdown", tmp_path / "ff2"])
    _refused(r, str(tmp_path / "ff2"))
    assert (tmp_path / "ff1").is_fifo() and (tmp_path / "ff2").is_fifo() and (tmp_path / "link1").is_symlink()
    assert (tmp_path / "target.txt").read_text() == "the user's" and not list((tmp_path / "folder").iterdir())
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temp file left


def test_names_starting_with_a_hash_round_trip_through_hloc_pairs(tmp_path):
    """The breaker's example: an image named '#q.jpg' starts a pairs line; hloc reads it (its
    ``parse_retrieval`` skips no line), pixret's import-hloc took it for a comment and found 'no
    pair of a query'. Pairs pixret writes (export-hloc-pairs) are read back by import-hloc."""
    import pickle

    from tests.helpers import run_cli

    class HashScene(Scene):  # hloc's names as pixret writes them where the images are not: the file names
        @staticmethod
        def qname(q: int) -> str:
            return f"#query_{q:03d}.jpg"

        @staticmethod
        def dname(i: int) -> str:
            return f"db_{i:04d}.jpg"

    scene = HashScene(tmp_path)
    pairs, feats, matches = scene.write()
    gnd = next(tmp_path.rglob("gnd_*.pkl"))
    doc = pickle.loads(gnd.read_bytes())
    doc["qimlist"] = [f"#{n}" for n in doc["qimlist"]]
    gnd.write_bytes(pickle.dumps(doc))
    (tmp_path / "commented.txt").write_text("# pairs from netvlad\n" + pairs.read_text())
    base = ["--root", tmp_path, "--dataset", "hl", "--features", feats, "--matches", matches]
    r = run_cli(["import-hloc", *base, "--pairs", tmp_path / "commented.txt", "--out", tmp_path / "run"])
    assert r.returncode == 0, r.stderr
    assert "9 of 36 pairs verified" in r.stderr and "1 line(s) of the pairs file skipped: a comment" in r.stderr
    r = run_cli(["export-hloc-pairs", "--root", tmp_path, "--dataset", "hl", "--run", tmp_path / "run", "--top", "3",
                 "--out", "-"], cwd=tmp_path)  # fmt: skip
    assert r.returncode == 0 and not (tmp_path / "-").exists(), r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 9 and all(line.startswith("#query_00") for line in lines), lines
    (tmp_path / "top3.txt").write_text(r.stdout)
    r = run_cli(["import-hloc", *base, "--pairs", tmp_path / "top3.txt", "--out", tmp_path / "again"])
    assert r.returncode == 0 and "9 of 9 pairs verified" in r.stderr, r.stderr
