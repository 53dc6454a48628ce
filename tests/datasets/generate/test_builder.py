"""The builder skeleton (datasets/generate/builder.py): exact labels of pasted objects, nothing half-built."""

import cv2
import numpy as np
import pytest

from pixret.datasets import load_benchmark
from pixret.datasets.generate.builder import label_iou, paste, random_homography
from pixret.datasets.generate.synthetic import SyntheticConfig, make_benchmark
from pixret.geometry import mask_outlines as mask_polygons
from tests.helpers import run_cli


def test_label_matches_the_pasted_pixels():
    rng = np.random.default_rng(0)
    canvas = np.zeros((600, 800, 3), np.uint8)
    canvas[:] = (40, 90, 20)
    patch = np.full((120, 160, 3), (255, 0, 255), np.uint8)  # magenta object
    m = np.zeros((120, 160), np.float32)
    cv2.ellipse(m, (80, 60), (70, 50), 0, 0, 360, 1, -1)
    for _ in range(5):
        hm = random_homography(rng, 160, 120, 800, 600, 0.5, rng.uniform(-40, 40), 0.1)
        img, mask = paste(canvas, patch, m, hm)
        polys = mask_polygons(mask)
        seen = (img[..., 0].astype(int) > 150) & (img[..., 1] < 100)  # magenta pixels of the composite
        assert label_iou(polys, seen) > 0.99


def test_an_object_reaching_the_photo_edge_and_a_failed_run(tmp_path, monkeypatch):
    import pixret.datasets.generate.synthetic as synth

    # seed 1 selects an outline that starts left of its photo (x = -4.2): it used to crash
    base = make_benchmark(tmp_path, SyntheticConfig(name="edge", queries=3, positives=4, distractors=10, seed=1),
                          workers=2, progress=False)  # fmt: skip
    assert load_benchmark(tmp_path, "edge").n_database == 22 and base.name == "pixel_retrieval_benchmarks"

    def boom(self, task, out):
        raise RuntimeError("killed")

    monkeypatch.setattr(synth.SyntheticBuilder, "write", boom)
    with pytest.raises(RuntimeError):
        make_benchmark(tmp_path, SyntheticConfig(name="half", queries=2, positives=2, distractors=2, seed=3),
                       workers=1, progress=False)  # fmt: skip
    assert not list(tmp_path.rglob("*half*")) and not list(tmp_path.glob(".building-*"))
    assert load_benchmark(tmp_path, "edge").n_database == 22  # the other benchmark is untouched


def test_make_benchmark_never_replaces_a_benchmark_of_that_name(tmp_path):
    small = ["--queries", "1", "--positives", "2", "--distractors", "2", "--workers", "1"]
    r = run_cli(["make-benchmark", tmp_path / "out", "--name", "mine", *small])
    assert r.returncode == 0, r.stderr
    base = tmp_path / "out" / "pixel_retrieval_benchmarks"
    label = sorted((base / "labels" / "mine").glob("*.json"))[0]
    label.write_text(label.read_text().replace('"shapes"', '"corrected_by_hand": true, "shapes"'))
    before = {p: p.read_bytes() for p in base.rglob("*") if p.is_file()}
    r = run_cli(["make-benchmark", tmp_path / "out", "--name", "mine", "--seed", "7", *small])
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "revisitop/data/mine: a benchmark named mine is there already" in r.stderr
    assert {p: p.read_bytes() for p in base.rglob("*") if p.is_file()} == before  # the hand edit is kept
    assert not list((tmp_path / "out").glob(".building-*"))
    # a folder of the user's where the benchmark's would go, with no benchmark in it
    photos = tmp_path / "other" / "pixel_retrieval_benchmarks" / "queries" / "holiday"
    photos.mkdir(parents=True)
    (photos / "beach.jpg").write_bytes(b"a photo")
    r = run_cli(["make-benchmark", tmp_path / "other", "--name", "holiday", *small])
    assert r.returncode == 2 and "queries/holiday: a benchmark named holiday is there already" in r.stderr
    assert [p.name for p in photos.iterdir()] == ["beach.jpg"] and (photos / "beach.jpg").read_bytes() == b"a photo"
