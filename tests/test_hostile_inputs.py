"""Careless or hostile result files: a clear line naming the file, or a warning; never a
traceback, a silent wrong score, or gigabytes allocated."""

import json
import subprocess
import sys
import tracemalloc

import cv2
import numpy as np
import pytest

from pixret.datasets import load_benchmark
from pixret.errors import BenchmarkWarning, PixretError
from pixret.evaluation import (
    PixelEval,
    PixelPrediction,
    compat_iou,
    evaluate_files,
    read_pixel_results,
    read_ranks,
)
from tests.helpers import square, write_release

SQ = square(20, 20, 40)


@pytest.fixture
def tiny(tmp_path):
    queries = [{"easy": [0, 1], "hard": [2], "junk": [3]}, {"easy": [4], "hard": [5], "junk": []}]
    labels = {(q, i): [SQ] for q, i in [(0, 0), (0, 1), (0, 2), (1, 4), (1, 5)]}
    write_release(tmp_path, "tiny", queries, 6, labels)
    return load_benchmark(tmp_path, "tiny"), tmp_path


def _json(path, pairs):
    path.write_text(json.dumps({"format": "pixret-pixel-results", "pairs": pairs}))
    return path


@pytest.mark.parametrize(
    "pairs, message",
    [
        ([{"query": -1, "image": 0, "polygons": [SQ]}], "query -1 is negative"),
        ([{"query": 0.9, "image": 0, "polygons": [SQ]}], "query must be an integer, got 0.9"),
        (
            [{"query": 0, "image": 1, "polygons": [SQ]}, {"query": 0, "image": 1, "polygons": []}],
            "given twice",
        ),
        ([{"query": 0, "image": 0, "rle": {"size": ["a", 3], "counts": "x"}}], "'size' must be"),
        ([{"query": 0, "image": 0, "rle": {"size": [5, 5], "counts": 7}}], "'counts' must be"),
        ([{"query": 0, "image": 0, "rle": {"size": [5, 5], "counts": [1, 2]}}], "adding up to 25"),
        ([{"query": 0, "image": 0, "polygons": "nope"}], "'polygons' must be a list"),
        ([{"query": 0, "image": 0, "polygons": [[[1, [2]]]]}], "pairs of numbers"),
    ],
)
def test_pixret_json_is_refused_not_guessed(tmp_path, pairs, message):
    with pytest.raises(PixretError, match=message):
        read_pixel_results(_json(tmp_path / "p.json", pairs), 2, 6)


def test_release_keys_naming_one_pair_twice(tmp_path):
    f = tmp_path / "p.npy"
    np.save(f, {"qimlist_0_imlist_1": np.array(SQ), "qimlist_00_imlist_1": np.array(SQ)}, allow_pickle=True)
    with pytest.raises(PixretError, match="given twice"):
        read_pixel_results(f, 2, 6)


def test_a_mask_of_the_wrong_size_and_a_huge_one(tiny):
    bench, d = tiny
    m = np.zeros((40, 50), np.uint8)
    cv2.imwrite(str(d / "m.png"), m)
    with pytest.raises(PixretError, match="mask of 50x40 pixels on a 200x150 image"):
        evaluate_files(bench, None, _json(d / "p.json", [{"query": 0, "image": 0, "mask": "m.png"}]))
    from PIL import Image

    Image.new("1", (30000, 30000)).save(d / "big.png")  # 110 KB file, 900 MP decoded
    tracemalloc.start()
    with pytest.raises(PixretError, match="larger than any image"):
        read_pixel_results(_json(d / "q.json", [{"query": 0, "image": 0, "mask": "big.png"}]), 2, 6)
    assert tracemalloc.get_traced_memory()[1] < 50e6
    tracemalloc.stop()


def test_shared_reference_lists_do_not_expand(tmp_path):
    row = [[1.0, 2.0]] * 1000
    big = [row] * 1000  # pickled once, a million points when expanded
    f = tmp_path / "p.npy"
    np.save(f, {"qimlist_0_imlist_0": big}, allow_pickle=True)
    assert f.stat().st_size < 100_000
    tracemalloc.start()
    with pytest.raises(PixretError, match="pairs of numbers"):
        read_pixel_results(f, 1, 1)
    assert tracemalloc.get_traced_memory()[1] < 100e6
    tracemalloc.stop()


def test_wild_coordinates_fail_the_pair_in_bounded_memory():
    tracemalloc.start()
    box, mask = (
        compat_iou(np.array([[0, 0], [5e6, 0], [5e6, 5e6]]), (np.array(SQ, float),)) if False else (0, 0)
    )
    from pixret.evaluation.iou import CompatPairError

    with pytest.raises(CompatPairError, match="too large"):
        compat_iou(np.array([[0.0, 0.0], [5e6, 0.0], [5e6, 5e6]]), (np.array(SQ, float),))
    assert tracemalloc.get_traced_memory()[1] < 50e6
    tracemalloc.stop()
    del box, mask


def test_label_sizes_must_be_real(tiny):
    bench, d = tiny
    label = next(iter(bench.pair_labels.values()))
    doc = json.loads(label.read_text())
    doc["imageWidth"] = -200
    label.write_text(json.dumps(doc))
    with pytest.raises(PixretError, match="imageWidth must be a whole number of pixels"):
        load_benchmark(d, "tiny").gt(*next(iter(bench.pair_labels)))


def test_missing_labels_warn_and_no_ranking_is_no_pixel_map(tiny):
    bench, d = tiny
    (d / "pixel_retrieval_benchmarks" / "tiny_pair2labelpath.npy").unlink()
    with pytest.warns(BenchmarkWarning, match="no pixel labels"):
        load_benchmark(d, "tiny")
    ev = PixelEval(bench, None, {(0, 0): PixelPrediction([np.array(SQ, float)])})
    s = ev.run()
    for proto in ("compat", "strict"):
        assert s[proto]["pixel_mAP"] == {"medium": None, "hard": None}  # "-" in the table, not 0.00


def test_nested_json_and_bad_ranks_json(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(PixretError, match="nested too deeply"):
        read_ranks(deep, 6, 2)
    bad = tmp_path / "r.json"
    bad.write_text(json.dumps({"format": "pixret-ranks", "ranks": [1, 2]}))
    with pytest.raises(PixretError, match="list of lists of integers"):
        read_ranks(bad, 6, 2)


def test_cli_outputs_and_queries_that_do_not_exist(tiny):
    bench, d = tiny
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
