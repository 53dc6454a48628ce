"""The benchmark generator, the reference result writer and the HTML report."""

import hashlib
from html.parser import HTMLParser

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from pixret.cli import app
from pixret.datasets import load_benchmark
from pixret.datasets.generate.builder import label_iou, paste, random_homography
from pixret.datasets.generate.synthetic import SyntheticConfig, make_benchmark
from pixret.evaluation import PixelEval
from pixret.evaluation.perturbed import perturbed_results
from pixret.geometry import mask_outlines as mask_polygons

CFG = SyntheticConfig(name="mini", queries=3, positives=5, distractors=6, seed=3)


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    root = tmp_path_factory.mktemp("mini")
    make_benchmark(root, CFG, workers=2, progress=False)
    return root


def _digest(root):
    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(root)).encode() + f.read_bytes())
    return h.hexdigest()


def test_generated_set_loads_and_is_deterministic(mini, tmp_path):
    bench = load_benchmark(mini, "mini")
    assert bench.n_queries == 3 and bench.n_database == 3 * 5 + 6
    assert bench.has_images and all(bench.database_image(i) for i in range(bench.n_database))
    for q in bench.queries:
        assert len(q.hard) >= 1  # every query can be scored on the Hard protocol
        x1, y1, x2, y2 = q.box
        mask = q.query_mask()
        assert mask is not None and len(mask.polygons) == 1
        # the query box holds background too: the object covers well under the whole box
        obj = cv2.contourArea(mask.polygons[0].astype(np.float32))
        assert 0.3 < obj / ((x2 - x1) * (y2 - y1)) < 0.9
    for q, i in bench.pairs():
        assert bench.gt(q, i) is not None
        img = cv2.imread(str(bench.database_image(i)))
        assert max(img.shape[:2]) <= 1024
    make_benchmark(tmp_path, CFG, workers=1, progress=False)  # other worker count, same bytes
    assert _digest(tmp_path / "pixel_retrieval_benchmarks") == _digest(mini / "pixel_retrieval_benchmarks")


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


def test_reference_results_give_known_scores(mini):
    bench = load_benchmark(mini, "mini")
    ranks, pixels = perturbed_results(bench)
    s = PixelEval(bench, ranks, pixels).run()
    assert s["strict"]["mIoU"]["medium_mask"] == 1.0 and s["strict"]["image_mAP"]["hard"] == 1.0
    assert s["strict"]["pixel_mAP"]["medium"] == 1.0
    # compat scores only the first polygon of a pair: occluded objects split in two lose
    multi = [p for p in bench.pairs() if len(bench.gt(*p).polygons) > 1]
    assert (s["compat"]["mIoU"]["medium_mask"] < 1.0) == bool(multi)
    ranks, pixels = perturbed_results(bench, shift=0.2)
    s = PixelEval(bench, ranks, pixels).run()
    assert s["strict"]["mIoU"]["medium_box"] == pytest.approx(0.8 / 1.2, abs=0.01)
    ranks, pixels = perturbed_results(bench, drop=1.0)
    assert not pixels


class _Imgs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.srcs = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.srcs.append(dict(attrs)["src"])


def test_make_benchmark_and_report_cli(tmp_path):
    r = CliRunner()
    res = r.invoke(app, ["make-benchmark", str(tmp_path), "--name", "cli", "--queries", "2", "--positives", "3",
                         "--distractors", "3", "--workers", "1"])  # fmt: skip
    assert res.exit_code == 0, res.output
    res = r.invoke(app, ["reference-results", "--root", str(tmp_path), "--dataset", "cli", "--out", str(tmp_path / "ref"),
                         "--shift", "0.1"])  # fmt: skip
    assert res.exit_code == 0, res.output
    out = tmp_path / "report.html"
    res = r.invoke(app, ["report", str(out), "--root", str(tmp_path), "--dataset", "cli", "--image-results",
                         str(tmp_path / "ref/ranks.npy"), "--pixel-results", str(tmp_path / "ref/pixels.json"), "--top", "4"])  # fmt: skip
    assert res.exit_code == 0, res.output
    p = _Imgs()
    p.feed(out.read_text())
    # 2 charts + per query (query image + top 4 results)
    assert len(p.srcs) == 2 + 2 * (1 + 4)
    assert all(s.startswith("data:image/") for s in p.srcs)  # self-contained
    text = out.read_text()
    assert "strict" in text and "compat" in text
    # readable: a viewport, grouped headers over M / H with a key, a contents list linking each query
    assert "name='viewport'" in text and "<th colspan='2'>pixel mAP@50:5:95</th>" in text
    assert "<dt>E, M, H</dt>" in text and "<a href='#q1'>1</a>" in text and "<h3 id='q1'>" in text


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
