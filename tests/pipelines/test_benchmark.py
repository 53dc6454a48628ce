"""`pixret run` (pipelines/benchmark.py): end to end on a fake R1M layout (a small PROxford-shaped
benchmark plus a few thousand distractor names and images under revisitop1m/jpg), and what a run
may replace in its --out folder."""

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from pixret.datasets import load_benchmark
from pixret.datasets.generate.synthetic import SyntheticConfig, make_benchmark
from tests.helpers import run_cli

N_DISTRACTORS = 400


def _fake_r1m(root):
    base = make_benchmark(root, SyntheticConfig("roxford5k", 2, 3, 6, 5), workers=2, progress=False)
    (base / "roxford5k_pair2labelpath.npy").rename(base / "oxford_pair2labelpath.npy")
    (base / "queries" / "roxford5k").rename(base / "queries" / "oxford")
    data = base / "revisitop" / "data"
    src = [cv2.imread(str(p)) for p in sorted((data / "roxford5k" / "jpg").glob("*.jpg"))]
    rng = np.random.default_rng(0)
    names = []
    for k in range(N_DISTRACTORS):  # crops of the benchmark's scenes, 128 px, in sub-folders
        img = src[k % len(src)]
        y, x = rng.integers(0, img.shape[0] - 256), rng.integers(0, img.shape[1] - 256)
        name = f"{k % 10}/r1m_{k:06d}.jpg"
        out = data / "revisitop1m" / "jpg" / name
        out.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(out), cv2.resize(img[y : y + 256, x : x + 256], (128, 128)))
        names.append(name)
    (data / "revisitop1m.txt").write_text("\n".join(names) + "\n")
    return base


@pytest.mark.slow
def test_run_on_a_fake_r1m(tmp_path):
    _fake_r1m(tmp_path / "root")
    bench = load_benchmark(tmp_path / "root", "r1m-proxford")
    assert bench.n_database == bench.n_labelled_database + N_DISTRACTORS
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-c", "from pixret.cli import main; main()", "run", "--root",
                        str(tmp_path / "root"), "--dataset", "r1m-proxford", "--out", str(out), "--workers", "1"],
                       capture_output=True, text=True, timeout=900)  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    ranks = np.load(out / "ranks.npy")
    assert ranks.shape == (bench.n_database, bench.n_queries)
    assert all(sorted(ranks[:, q].tolist()) == list(range(bench.n_database)) for q in range(bench.n_queries))
    scores = json.loads((out / "scores.json").read_text())
    assert scores["dataset"] == "r1m-proxford" and scores["timing"]["images"] == bench.n_database
    pairs = json.loads((out / "pixels.json").read_text())["pairs"]
    positives = {(q.index, int(i)) for q in bench.queries for i in np.r_[q.easy, q.hard]}
    assert {(p["query"], p["image"]) for p in pairs} & positives  # positives are found among the distractors


def test_a_run_replaces_only_the_files_a_run_wrote(bench, index_copy, tmp_path):
    theirs = tmp_path / "their-method"  # a folder of the user's own results, given as --out by mistake
    theirs.mkdir()
    (theirs / "ranks.npy").write_bytes(b"their ranking")
    (theirs / "notes.txt").write_text("keep me")
    args = ["run", "--root", bench.root, "--dataset", "eng", "--index", index_copy.root, "--workers", "1"]
    r = run_cli([*args, "--out", theirs])
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "their-method/ranks.npy: not written by a pixret run" in r.stderr and "nothing was written" in r.stderr
    r = run_cli(["reference-results", "--root", bench.root, "--dataset", "eng", "--out", theirs])  # another writer
    assert r.returncode == 2 and "their-method/ranks.npy: not written by a pixret run" in r.stderr
    assert sorted(p.name for p in theirs.iterdir()) == ["notes.txt", "ranks.npy"]
    assert (theirs / "ranks.npy").read_bytes() == b"their ranking"
    out = tmp_path / "runs"
    for _ in range(2):  # a run's own files are replaced by the next run
        r = run_cli([*args, "--out", out])
        assert r.returncode == 0, r.stderr
    scores = (out / "scores.json").read_bytes()
    (out / "pixels.json").write_text((out / "pixels.json").read_text().replace('"fast"', '"fast, edited"'))
    r = run_cli([*args, "--out", out])  # edited by hand since: not the run's any more
    assert r.returncode == 2 and "runs/pixels.json: not written by a pixret run" in r.stderr
    assert '"fast, edited"' in (out / "pixels.json").read_text() and (out / "scores.json").read_bytes() == scores
