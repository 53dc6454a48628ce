"""`pixret evaluate` and `pixret show` as a user runs them: tables, plots, one-line errors."""

import json
import subprocess
import sys

import cv2
import numpy as np
from typer.testing import CliRunner

from pixret.cli import app
from tests.helpers import SQ, run_cli, write_release


def test_cli_outputs_and_queries_that_do_not_exist(tiny_release):
    bench, d = tiny_release
    np.save(d / "pix.npy", {"qimlist_0_imlist_0": np.array(SQ)}, allow_pickle=True)
    base = [sys.executable, "-c", "from pixret.cli import main; main()"]
    common = ["--root", str(d), "--dataset", "tiny", "--pixel-results", str(d / "pix.npy")]
    for extra, message in (
        (["--json", str(d)], "is a folder"),
        (["--plots", str(d / "pix.npy")], "cannot make the plots folder"),
    ):
        p = subprocess.run([*base, "evaluate", *common, *extra], capture_output=True, text=True)
        assert p.returncode == 2 and message in p.stderr and "Traceback" not in p.stderr, p.stderr
    for q in ("99", "-1"):
        p = subprocess.run(
            [*base, "show", *common, "--query", q, "--out", str(d / "s")], capture_output=True, text=True
        )
        assert p.returncode == 2 and f"--query {q}: the benchmark has queries 0..1" in p.stderr, p.stderr




def _setup(tmp_path):
    queries = [{"easy": [0, 1], "hard": [2], "junk": [3]}, {"easy": [4], "hard": [5], "junk": []}]
    labels = {(q, i): [SQ] for q, i in [(0, 0), (0, 1), (0, 2), (1, 4), (1, 5)]}
    write_release(tmp_path, "tiny", queries, 6, labels, images=True)
    pix = {f"qimlist_{q}_imlist_{i}": np.array(SQ, float) for q, i in labels}  # (x, y), as the release
    np.save(tmp_path / "pix.npy", pix, allow_pickle=True)
    np.save(tmp_path / "ranks.npy", np.array([[0, 3, 2, 1, 4, 5], [5, 4, 0, 1, 2, 3]]).T)


def test_evaluate_writes_both_protocols_and_plots(tmp_path):
    _setup(tmp_path)
    out = tmp_path / "out.json"
    args = ["evaluate", "--root", str(tmp_path), "--dataset", "tiny", "--pixel-results", str(tmp_path / "pix.npy"),
            "--image-results", str(tmp_path / "ranks.npy"), "--json", str(out), "--plots", str(tmp_path / "plots")]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    for proto in ("compat", "strict"):
        r = doc[proto]
        assert set(r["mIoU"]) == {"medium_box", "medium_mask", "hard_box", "hard_mask"}
        assert set(r["pixel_mAP"]) == set(r["pixel_mAP_box"]) == {"medium", "hard"}
        assert set(r["image_mAP"]) == {"easy", "medium", "hard"}
        assert len(r["per_query"]) == 2
        assert r["mIoU"]["hard_mask"] == 1.0 and r["image_mAP"]["medium"] == 1.0
    assert doc["strict"]["pixel_mAP"]["medium"] == 1.0
    for png in ("per_query.png", "pr_curves.png"):
        img = cv2.imread(str(tmp_path / "plots" / png))
        assert img is not None and img.shape[0] > 100


def test_show_draws_gt_and_predictions(tmp_path):
    _setup(tmp_path)
    res = CliRunner().invoke(app, ["show", "--root", str(tmp_path), "--dataset", "tiny", "--pixel-results",
                                   str(tmp_path / "pix.npy"), "--query", "0", "--out", str(tmp_path / "s")])  # fmt: skip
    assert res.exit_code == 0, res.output
    pngs = sorted((tmp_path / "s").glob("*.png"))
    assert len(pngs) == 4  # the query and its 3 positives
    img = cv2.imread(str(pngs[1]))
    # the predicted region (tinted red) is redder than the random background
    inside = img[30:60, 30:60].astype(int)
    assert (inside[..., 2] - inside[..., 1]).mean() > 30


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    _setup(tmp_path)
    np.save(tmp_path / "bad.npy", np.zeros((6, 3), int))
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", "from pixret.cli import main; main()", "evaluate", "--root", str(tmp_path),
         "--dataset", "tiny", "--pixel-results", str(tmp_path / "pix.npy"), "--image-results", str(tmp_path / "bad.npy")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "bad.npy: ranks have 3 columns but the benchmark has 2 queries" in proc.stderr.replace("\n", "")
    assert "Traceback" not in proc.stderr


def _evaluate(args: list[str], tmp_path) -> tuple[int, str, dict]:
    """`pixret evaluate ... --json` as a user runs it (``run_cli``): (exit code, stderr, JSON)."""
    out = tmp_path / "scores.json"
    p = run_cli(["evaluate", *args, "--json", str(out)])
    return p.returncode, p.stderr, json.loads(out.read_text()) if p.returncode == 0 else {}




def test_labels_drawn_with_labelme_rectangles_and_circles_score_as_drawn(tmp_path):
    # the ground truth of image 0 was drawn with labelme's rectangle tool, of image 1 with its
    # circle tool; a method predicts exactly those shapes (the circle as a 64-gon on its rim)
    write_release(tmp_path, "shapes", [{"easy": [0, 1]}], 4, {(0, 0): [SQ], (0, 1): [SQ]}, size=(320, 240))
    base = tmp_path / "pixel_retrieval_benchmarks" / "labels" / "shapes"
    for name, shape in (("0_0", {"shape_type": "rectangle", "points": [[40, 30], [200, 150]]}),
                        ("0_1", {"shape_type": "circle", "points": [[160, 120], [160, 40]]})):  # fmt: skip
        doc = json.loads((base / f"{name}.json").read_text())
        doc["shapes"] = [{**shape, "label": "object", "flags": {}, "group_id": None}]
        (base / f"{name}.json").write_text(json.dumps(doc))
    a = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    circle = np.stack([160 + 80 * np.cos(a), 120 + 80 * np.sin(a)], 1).tolist()
    pairs = [{"query": 0, "image": 0, "polygons": [[[40, 30], [200, 30], [200, 150], [40, 150]]]},
             {"query": 0, "image": 1, "polygons": [circle]}]  # fmt: skip
    (tmp_path / "pred.json").write_text(json.dumps({"format": "pixret-pixel-results", "pairs": pairs}))
    np.save(tmp_path / "ranks.npy", np.array([[0], [1], [2], [3]]))
    code, err, doc = _evaluate(["--root", str(tmp_path), "--dataset", "shapes", "--protocol", "strict",
                                "--pixel-results", str(tmp_path / "pred.json"),
                                "--image-results", str(tmp_path / "ranks.npy")], tmp_path)  # fmt: skip
    assert code == 0, err
    ious = doc["strict"]["per_query"][0]["mIoU"]["medium_mask"]
    assert 0.99 < ious < 1.0  # the mean of 1.0 (the rectangle) and ~0.99 (a 64-gon against its circle)
    assert doc["strict"]["pixel_mAP"]["medium"] == 1.0 and doc["input"]["predictions"] == 2


def test_rankings_from_matlab_get_the_one_based_hint(tmp_path):
    queries = [{"easy": [0, 1], "hard": [2]}, {"easy": [3, 4], "hard": [5]}]
    labels = {(q, i): [SQ] for q, i in [(0, 0), (0, 1), (0, 2), (1, 3), (1, 4), (1, 5)]}
    write_release(tmp_path, "mat", queries, 8, labels)
    perfect = np.array([[0, 1, 2, 3, 4, 5, 6, 7], [3, 4, 5, 0, 1, 2, 6, 7]]).T
    np.save(tmp_path / "pix.npy", {f"qimlist_{q}_imlist_{i}": np.array(SQ, float) for q, i in labels})
    common = ["--root", str(tmp_path), "--dataset", "mat", "--pixel-results", str(tmp_path / "pix.npy")]
    # a full ranking written by MATLAB: 1-based doubles
    np.save(tmp_path / "full.npy", (perfect + 1).astype(np.float64))
    code, err, _ = _evaluate([*common, "--image-results", str(tmp_path / "full.npy")], tmp_path)
    assert code == 2 and "index outside 0..7 (they run from 1 to 8: 1-based (MATLAB) indices? subtract 1" in err
    # its top 3: accepted, but read as given it finds almost nothing; the warning says why
    np.save(tmp_path / "top.npy", (perfect[:3] + 1).astype(np.float64))
    code, err, doc = _evaluate([*common, "--image-results", str(tmp_path / "top.npy")], tmp_path)
    assert code == 0 and "1-based (MATLAB) indices? subtract 1, or pass --one-based" in err
    assert err.replace("\n", " ").count("1-based (MATLAB)") == 1  # said once, as a warning, not again as a note
    assert any("1-based (MATLAB)" in n for n in doc["input"]["notes"])  # and kept in the JSON's input report
    assert doc["strict"]["image_mAP"]["medium"] < 0.9  # read as given, each query misses a positive
    code, err, doc = _evaluate([*common, "--image-results", str(tmp_path / "top.npy"), "--one-based"], tmp_path)
    assert code == 0 and "1-based" not in err, err
    assert doc["strict"]["image_mAP"] == {"easy": 1.0, "medium": 1.0, "hard": 1.0}
    assert doc["strict"]["pixel_mAP"] == {"medium": 1.0, "hard": 1.0}
    # the same from a JSON file of doubles, as MATLAB's jsonencode writes them
    (tmp_path / "top.json").write_text(json.dumps({"format": "pixret-ranks", "ranks": (perfect[:3].T + 1.0).tolist()}))
    code, err, doc = _evaluate([*common, "--image-results", str(tmp_path / "top.json"), "--one-based"], tmp_path)
    assert code == 0 and doc["strict"]["image_mAP"]["medium"] == 1.0, err
    # a 0-based ranking is never told it might be 1-based, and --one-based on it is one line
    np.save(tmp_path / "ok.npy", perfect[:3])
    code, err, _ = _evaluate([*common, "--image-results", str(tmp_path / "ok.npy")], tmp_path)
    assert code == 0 and "1-based" not in err
    code, err, _ = _evaluate([*common, "--image-results", str(tmp_path / "ok.npy"), "--one-based"], tmp_path)
    assert code == 2 and "the ranking holds index 0: it is 0-based already; drop --one-based" in err


def test_json_to_a_dash_is_stdout(tmp_path):
    """The breaker's example: `evaluate --json -` wrote a file named '-'; '-' is stdout, with the
    table on stderr, so that stdout is the JSON alone."""
    _setup(tmp_path)
    common = ["evaluate", "--root", tmp_path, "--dataset", "tiny", "--pixel-results", tmp_path / "pix.npy",
              "--image-results", tmp_path / "ranks.npy"]  # fmt: skip
    r = run_cli([*common, "--json", "-"], cwd=tmp_path)
    assert r.returncode == 0 and not (tmp_path / "-").exists() and "wrote -" not in r.stderr, r.stderr
    doc = json.loads(r.stdout)
    assert doc["dataset"] == "tiny" and doc["strict"]["pixel_mAP"]["medium"] == 1.0 and "pixel mAP" in r.stderr
    r = run_cli([*common, "--json", tmp_path / "s.json"], cwd=tmp_path)  # a file: the table on stdout, as before
    assert r.returncode == 0 and "pixel mAP" in r.stdout and json.loads((tmp_path / "s.json").read_text()) == doc


def test_show_takes_a_run_folder_and_says_what_top_leaves_out(tmp_path):
    """A new user's findings: `show` took no --run as evaluate does; drawn without ranks, the
    positives were named and labelled as if ranked (r000, "#1"); --top cut positives silently."""
    from pixret.evaluation.results import RunFolder, read_pixel_results

    _setup(tmp_path)
    run = RunFolder(tmp_path / "my run")
    pixels = read_pixel_results(tmp_path / "pix.npy", 2, 6)
    run.write_results(np.load(tmp_path / "ranks.npy"), pixels, "mine")
    common = ["show", "--root", tmp_path, "--dataset", "tiny", "--query", "0"]
    r = run_cli([*common, "--run", run.path, "--top", "3", "--out", tmp_path / "ranked"])
    assert r.returncode == 0 and "wrote 4 PNG file(s)" in r.stderr, r.stderr
    names = sorted(p.name for p in (tmp_path / "ranked").glob("*.png"))
    # query 0's ranking is images 0, 3, 2: drawn in that order, the junk one among them
    assert names == ["q000_query.png", "q000_r000_db_0000.png", "q000_r001_db_0003.png", "q000_r002_db_0002.png"]
    r = run_cli([*common, "--pixel-results", tmp_path / "pix.npy", "--top", "2", "--out", tmp_path / "positives"])
    assert r.returncode == 0 and "1 of 1 queries have more positives than --top 2 draws" in r.stderr, r.stderr
    assert "(first: query 0, 2 of 3)" in r.stderr
    names = sorted(p.name for p in (tmp_path / "positives").glob("*.png"))
    assert names[:2] == ["q000_p000_db_0000.png", "q000_p001_db_0001.png"], names
    r = run_cli([*common, "--run", run.path, "--pixel-results", tmp_path / "pix.npy"])
    assert r.returncode == 2 and "not both" in r.stderr and r.stderr.count("\n") == 1


def test_show_into_a_folder_it_wrote_before_leaves_only_this_shows_files(tmp_path):
    """The breaker's example: `show --query 0 --out show/` on the positives, then again with
    --image-results and --top 4, left 12 PNGs (two different q000_r000_*) while saying "wrote 5
    PNG file(s)". The folder is built beside and swapped in as `search --out` is."""
    _setup(tmp_path)
    out = tmp_path / "show"
    common = ["show", "--root", tmp_path, "--dataset", "tiny", "--pixel-results", tmp_path / "pix.npy", "--query", "0",
              "--out", out]  # fmt: skip
    r = run_cli(common)
    assert r.returncode == 0 and "wrote 4 PNG file(s)" in r.stderr, r.stderr
    (out / "notes.txt").write_text("mine")
    r = run_cli([*common, "--image-results", tmp_path / "ranks.npy", "--top", "4"])
    assert r.returncode == 0 and "wrote 5 PNG file(s)" in r.stderr, r.stderr
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert len(pngs) == 5 and sum(p.startswith("q000_r000_") for p in pngs) == 1, pngs
    assert "removed" in r.stderr and "an earlier show wrote" in r.stderr and (out / "notes.txt").read_text() == "mine"
    (out / "q000_query.png").write_bytes(b"my own picture now")  # changed since: never replaced
    r = run_cli(common)
    assert r.returncode == 2 and "exists and pixret did not write it" in r.stderr and r.stderr.count("\n") == 1
    assert (out / "q000_query.png").read_bytes() == b"my own picture now"


def test_an_oracle_release_file_copied_out_of_its_run_folder_gets_a_note(tiny_release, tmp_path):
    """An outside check (issue 32, item 3): the release-format pixels.npy of an oracle run,
    copied out of its run folder (`evaluate --pixel-results lone/p.npy`, or a results tree's
    pixel-level/NAME/matching_result/NAME.npy), was scored as a plain method with no word: the
    .npy format has no place for the mark. Predictions that are the labels exactly get a note."""
    import shutil

    _, root = tiny_release
    r = run_cli(["reference-results", "--root", root, "--dataset", "tiny", "--out", "ref"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    (tmp_path / "lone").mkdir()
    shutil.copy(tmp_path / "ref" / "pixels.npy", tmp_path / "lone" / "p.npy")
    said = "each of the 5 labelled positives has a prediction that is its label exactly (mask IoU 1.0)"
    r = run_cli(["evaluate", "--root", root, "--dataset", "tiny", "--image-results", "ref/ranks.npy",
                 "--pixel-results", "lone/p.npy"], cwd=tmp_path)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert said in r.stderr and "look like the benchmark's labels (an oracle)" in r.stderr
    tree = tmp_path / "results"
    (tree / "pixel-level" / "copied" / "matching_result").mkdir(parents=True)
    (tree / "image-level" / "copied").mkdir(parents=True)
    shutil.copy(tmp_path / "ref" / "pixels.npy", tree / "pixel-level" / "copied" / "matching_result" / "tiny.npy")
    shutil.copy(tmp_path / "ref" / "ranks.npy", tree / "image-level" / "copied" / "tiny.npy")
    r = run_cli(["compare", "--root", root, "--results", tree, "--dataset", "tiny", "--no-cache"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "note: copied on tiny: " + said in r.stderr
    # a method's predictions, near the labels but not them, get no such note
    r = run_cli(["reference-results", "--root", root, "--dataset", "tiny", "--out", "near", "--shift", "0.05"],
                cwd=tmp_path)  # fmt: skip
    shutil.copy(tmp_path / "near" / "pixels.npy", tmp_path / "lone" / "near.npy")
    r = run_cli(["evaluate", "--root", root, "--dataset", "tiny", "--pixel-results", "lone/near.npy"], cwd=tmp_path)
    assert r.returncode == 0 and "label exactly" not in r.stderr, r.stderr
