"""`pixret evaluate` and `pixret show` as a user runs them: tables, plots, one-line errors."""

import json
import subprocess
import sys

import cv2
import numpy as np
from typer.testing import CliRunner

from pixret.cli import app
from tests.helpers import SQ, write_release


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
