"""Careless or hostile result files: a clear line naming the file, or a warning; never a
traceback, a silent wrong score, or gigabytes allocated."""

import json
import tracemalloc
import warnings

import cv2
import numpy as np
import pytest

from pixret.datasets import load_benchmark
from pixret.errors import PixretError, PixretWarning, ResultsWarning
from pixret.evaluation import (
    PixelEval,
    PixelPrediction,
    evaluate_files,
    load_pixel_results,
    order_evidence,
    read_pixel_results,
    read_ranks,
    strict_iou,
    write_pixel_results,
    write_ranks,
)
from pixret.evaluation.results import RunFolder
from pixret.geometry import fill_polygons, mask_to_rle
from pixret.io import load_npy
from tests.helpers import SQ, square, write_release
from tests.reference.release_scripts import release_pair_iou

W, H = 400, 200  # landscape: objects on the right half leave the canvas when x and y swap


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


def test_a_mask_of_the_wrong_size_and_a_huge_one(tiny_release):
    bench, d = tiny_release
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


def test_nested_json_and_bad_ranks_json(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(PixretError, match="nested too deeply"):
        read_ranks(deep, 6, 2)
    bad = tmp_path / "r.json"
    bad.write_text(json.dumps({"format": "pixret-ranks", "ranks": [1, 2]}))
    with pytest.raises(PixretError, match="list of lists of integers"):
        read_ranks(bad, 6, 2)


def test_release_pixel_file_is_read_as_x_y_unless_told(tmp_path):
    f = tmp_path / "p.npy"
    np.save(f, {"qimlist_0_imlist_3": np.array([[10, 200], [20, 210], [30, 200]])}, allow_pickle=True)
    assert read_pixel_results(f, 1, 5)[(0, 3)].polygons[0][0].tolist() == [10, 200]  # column 0 = x
    res = read_pixel_results(f, 1, 5, points="yx")
    assert res[(0, 3)].polygons[0][0].tolist() == [200, 10]  # (y, x) in the file -> (x, y)
    with pytest.raises(PixretError, match="unknown point order 'zx'; choose from xy, yx"):
        read_pixel_results(f, 1, 5, points="zx")
    write_pixel_results(tmp_path / "w.npy", res)
    assert load_npy(tmp_path / "w.npy")["qimlist_0_imlist_3"][0].tolist() == [200, 10]  # written (x, y)


def test_round_trips(tmp_path):
    m = np.zeros((30, 40), np.uint8)
    m[5:10, 5:20] = 1
    res = {
        (0, 1): PixelPrediction([np.array(square(1, 2, 5), float), np.array(square(20, 2, 5), float)]),
        (1, 0): PixelPrediction([], mask_to_rle(m)),
    }
    write_pixel_results(tmp_path / "r.json", res, method="m")
    back = read_pixel_results(tmp_path / "r.json", 2, 2)
    assert len(back[(0, 1)].polygons) == 2 and back[(1, 0)].rle["size"] == [30, 40]
    write_pixel_results(tmp_path / "r.npy", res)
    rel = read_pixel_results(tmp_path / "r.npy", 2, 2)
    assert np.allclose(rel[(0, 1)].polygons[0], square(1, 2, 5))  # the first polygon only
    assert len(rel[(1, 0)].polygons[0]) >= 4  # mask -> its outline
    ranks = np.array([[0, 1], [1, 0]])
    for name in ("k.npy", "k.json"):
        write_ranks(tmp_path / name, ranks)
        assert (read_ranks(tmp_path / name, 2, 2) == ranks).all()


@pytest.mark.parametrize(
    "ranks, message",
    [
        (np.zeros((4, 3, 1), int), "must be 2-D"),
        (np.tile(np.arange(4)[:, None], (1, 2)).T, "transposed"),
        (np.array([[0, 1], [9, 2], [2, 3], [3, 0]]), "outside 0..3"),
        (np.array([[0, 1], [0, 2], [2, 3], [3, 0]]), "query 0's ranking repeats"),
        (np.array([[0.5, 1], [1, 2], [2, 3], [3, 0]]), "non-integer"),
    ],
)
def test_bad_ranks(tmp_path, ranks, message):
    f = tmp_path / "ranks.npy"
    np.save(f, ranks)
    with pytest.raises(PixretError, match=message) as exc:
        read_ranks(f, 4, 2)
    assert str(f) in str(exc.value) and "\n" not in str(exc.value)


def test_short_ranking_warns(tmp_path):
    f = tmp_path / "ranks.npy"
    np.save(f, np.array([[0, 1], [1, 0]]))
    with pytest.warns(PixretWarning, match="top 2 of 4"):
        read_ranks(f, 4, 2)


@pytest.mark.parametrize(
    "content, message",
    [
        ({"q_0_i_1": np.zeros((3, 2))}, "unknown key"),
        ({"qimlist_5_imlist_1": np.zeros((3, 2))}, "outside the benchmark"),
        ({"qimlist_0_imlist_1": np.array([[np.nan, 1], [2, 3], [4, 5]])}, "NaN or infinite"),
        ({"qimlist_0_imlist_1": np.zeros((3, 3))}, r"expected \(n, 2\)"),
        (np.zeros(3), "expected a dict"),
    ],
)
def test_bad_pixel_files(tmp_path, content, message):
    f = tmp_path / "pix.npy"
    np.save(f, content, allow_pickle=True)
    with pytest.raises(PixretError, match=message) as exc:
        read_pixel_results(f, 2, 4)
    assert str(f) in str(exc.value)


def test_fewer_than_three_points_warns_once(tmp_path):
    f = tmp_path / "pix.npy"
    np.save(f, {f"qimlist_0_imlist_{i}": np.zeros((2, 2)) for i in range(3)}, allow_pickle=True)
    with pytest.warns(PixretWarning, match="3 polygon"):
        read_pixel_results(f, 1, 4)


def test_bad_json_files(tmp_path):
    f = tmp_path / "pix.json"
    f.write_text("{not json")
    with pytest.raises(PixretError, match="unreadable JSON"):
        read_pixel_results(f, 1, 1)
    f.write_text(
        json.dumps({"format": "pixret-pixel-results", "pairs": [{"query": 0, "image": 0, "poly": []}]})
    )
    with pytest.raises(PixretError, match="unknown field"):
        read_pixel_results(f, 1, 1)
    f.write_text(
        json.dumps(
            {"format": "pixret-pixel-results", "pairs": [{"query": 0, "image": 0, "mask": "../x.png"}]}
        )
    )
    with pytest.raises(PixretError, match="leaves the results folder"):
        read_pixel_results(f, 1, 1)


def _blob(rng, cx, cy, r):
    a = np.sort(rng.uniform(0, 2 * np.pi, 12))
    rad = r * rng.uniform(0.7, 1.0, 12)
    return np.stack([cx + rad * np.cos(a), cy + rad * np.sin(a)], 1)


@pytest.fixture
def labelled(tmp_path):
    """A labelled set, and its own labels written as a release pixel file (labelme points as
    they are, (x, y)) with a perfect ranking."""
    rng = np.random.default_rng(3)
    n_db, queries, labels = 30, [], {}
    for q in range(4):
        perm = rng.permutation(n_db)
        queries.append({"easy": perm[:3].tolist(), "hard": perm[3:5].tolist(), "junk": perm[5:6].tolist()})
        for i in perm[:5]:
            labels[(q, int(i))] = [
                _blob(rng, rng.uniform(230, 340), rng.uniform(60, 140), rng.uniform(25, 50))
            ]
    write_release(tmp_path, "lab", queries, n_db, labels, size=(W, H))
    bench = load_benchmark(tmp_path, "lab")
    ranks = np.stack(
        [np.r_[q.positives, np.setdiff1d(np.arange(n_db), q.positives)] for q in bench.queries], 1
    )
    np.save(tmp_path / "ranks.npy", ranks)
    # the label files' own points, as read back from the labelme JSON
    own = {f"qimlist_{q}_imlist_{i}": bench.gt(q, i).polygons[0] for q, i in labels}
    np.save(tmp_path / "own.npy", own, allow_pickle=True)
    np.save(tmp_path / "own_yx.npy", {k: v[:, ::-1] for k, v in own.items()}, allow_pickle=True)
    return bench, tmp_path, labels


def test_labels_scored_against_themselves_through_the_release_format_get_one(labelled):
    bench, d, _ = labelled
    with warnings.catch_warnings():
        warnings.simplefilter("error", PixretWarning)  # nor a swap warning
        ev = evaluate_files(bench, d / "ranks.npy", d / "own.npy")
    for proto in ("compat", "strict"):
        s = ev.summarize()[proto]
        assert all(v == pytest.approx(1.0) for v in s["mIoU"].values()), (proto, s["mIoU"])
        assert s["pixel_mAP"] == {"medium": pytest.approx(1.0), "hard": pytest.approx(1.0)}


def test_the_current_release_transcription_reads_column_zero_as_x(labelled):
    bench, d, labels = labelled
    raw = np.load(d / "own.npy", allow_pickle=True).item()
    pair = next(iter(labels))
    stored = raw[f"qimlist_{pair[0]}_imlist_{pair[1]}"]
    gt = bench.gt(*pair).polygons
    assert release_pair_iou(stored, gt, "bbox") == 1.0
    assert release_pair_iou(stored, gt, "segmentation") == 1.0
    assert release_pair_iou(stored[:, ::-1], gt, "bbox") < 0.2


def test_a_yx_file_warns_once_naming_the_option_and_is_not_switched(labelled):
    bench, d, _ = labelled
    with pytest.warns(PixretWarning, match="pass --points yx") as caught:
        ev = evaluate_files(bench, d / "ranks.npy", d / "own_yx.npy")
    assert sum("--points" in str(w.message) for w in caught) == 1
    assert ev.summarize()["strict"]["mIoU"]["medium_mask"] < 0.2  # read as given: not switched
    with warnings.catch_warnings():
        warnings.simplefilter("error", PixretWarning)
        ev = evaluate_files(bench, d / "ranks.npy", d / "own_yx.npy", points="yx")
    assert ev.summarize()["compat"]["mIoU"]["medium_box"] == pytest.approx(1.0)
    # and a file in the current order read as yx warns the other way
    with pytest.warns(PixretWarning, match="pass --points xy"):
        load_pixel_results(bench, d / "own.npy", "yx")


def test_evidence_on_both_readings(labelled):
    bench, d, _ = labelled
    ev = order_evidence(bench, load_pixel_results(bench, d / "own.npy"))
    assert ev.n == 20 and ev.outside_read == 0.0 and ev.iou_read == pytest.approx(1.0)
    assert ev.outside_swapped > 0.9 and not ev.swapped_fits_better


def test_a_run_folder_says_what_the_release_format_cannot_hold(tiny_release, tmp_path):
    bench, _ = tiny_release
    two = PixelPrediction([np.array(SQ, float), np.array(SQ, float) + 100])  # the object in two pieces
    pixels = {(0, 0): two, (0, 1): PixelPrediction([np.array(SQ, float)])}
    with pytest.warns(ResultsWarning, match=r"pixels.npy: the release format holds one polygon per pair: 1 of 2 "
                      r"predictions had more \(first: query 0, image 0\)"):  # fmt: skip
        write_pixel_results(tmp_path / "alone" / "pixels.npy", pixels)
    folder = RunFolder(tmp_path / "run")
    with warnings.catch_warnings():  # a run folder says it once: in its notes (scores.json), not also as a warning
        warnings.simplefilter("error")
        folder.write_results(np.arange(6)[:, None].repeat(2, 1), pixels, "two-piece")
    assert len(folder.notes()) == 1 and "keeps the first polygon of 1 of 2 predictions" in folder.notes()[0]
    assert folder.pixels.name == "pixels.json" and RunFolder.is_run(folder.path) and folder.method() == "two-piece"
    whole = read_pixel_results(folder.pixels, 2, 6)
    assert len(whole[(0, 0)].polygons) == 2  # pixels.json keeps both pieces
    with pytest.warns(ResultsWarning, match="1 of the 2 predictions of this run have more: .*pixels.json beside it"):
        cut = load_pixel_results(bench, folder.path / "pixels.npy")
    assert len(cut[(0, 0)].polygons) == 1
    with pytest.raises(PixretError, match="not a run folder"):
        RunFolder(tmp_path).check()


def test_the_input_report_names_what_was_not_scored(tiny_release):
    bench, _ = tiny_release
    pixels = {(0, 0): PixelPrediction([np.array(SQ, float)]),  # a positive
              (0, 3): PixelPrediction([np.array(SQ, float)]),  # junk of query 0: not scored
              (1, 0): PixelPrediction([np.array(SQ, float)])}  # not a positive of query 1  # fmt: skip
    ev = PixelEval(bench, None, pixels)
    ev.run()
    report = ev.input_report()
    assert report["predictions"] == 3 and report["positive_pairs"] == 5
    assert report["predictions_not_for_a_positive"] == 2 and report["positives_without_prediction"] == 4
    assert report["predictions_for_junk"] == 1  # of the two: (0, 3) is junk, (1, 0) neither
    assert report["ranking"] is False
    assert any(n.startswith("2 of 3 predictions are for images that are not their query's positives (1 junk, 1 "
                            "neither positive nor junk)") and
               "(first: query 0, image 3 (db_0003))" in n for n in report["notes"])  # fmt: skip
    assert "no ranking given: pixel and image mAP are not measured" in report["notes"]


def test_pixret_json_keeps_every_coordinate_exactly(tmp_path):
    odd = np.array([[12.999999, 5.0000001], [40.123456789, 5.5], [30.25, 33.333333333]])
    write_pixel_results(tmp_path / "p.json", {(0, 0): PixelPrediction([odd])})
    back = read_pixel_results(tmp_path / "p.json", 1, 1)[(0, 0)].polygons[0]
    assert (back == odd).all()  # compat truncates to whole pixels: a rounded 12.999999 would be 13


def test_a_mask_of_exactly_the_labelled_pixels_scores_one(tiny_release):
    bench, _ = tiny_release
    gt = bench.gt(0, 0)
    mask = fill_polygons(gt.polygons, gt.height, gt.width)
    assert strict_iou(PixelPrediction(rle=mask_to_rle(mask)), gt.polygons, gt.height, gt.width) == (1.0, 1.0)


def test_the_input_report_names_every_pair_and_what_reading_said(tiny_release, tmp_path):
    bench, root = tiny_release
    label = bench.pair_labels[(1, 5)]
    doc = json.loads(label.read_text())
    doc["shapes"] = []
    label.write_text(json.dumps(doc))
    bench = load_benchmark(root, "tiny")
    pairs = [{"query": 0, "image": 0, "polygons": [SQ]}, {"query": 0, "image": 2, "polygons": [[[1, 1], [5, 5]]]},
             {"query": 1, "image": 5, "polygons": [SQ]}, {"query": 1, "image": 4, "polygons": []}]  # fmt: skip
    (tmp_path / "p.json").write_text(json.dumps({"format": "pixret-pixel-results", "pairs": pairs}))
    with pytest.warns(PixretWarning):
        ev = evaluate_files(bench, None, tmp_path / "p.json", ("strict",))
    report = ev.input_report()
    assert report["pairs"]["positives_with_an_empty_label"] == [[1, 5]]
    assert report["pairs"]["positives_without_prediction"] == [[0, 1], [1, 4]]
    assert report["pairs"]["empty_predictions"] == [[1, 4]]
    assert any("label file without shapes" in n for n in report["notes"])  # said under strict alone too
    assert any("polygon(s) with fewer than 3 points" in n for n in report["notes"])  # what reading warned


def test_a_run_folder_names_its_method_from_the_head_of_its_files(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    head = '{"format": "pixret-pixel-results", "version": 1, "method": "fast \\"v2\\"", "pairs": ['
    (run / "pixels.json").write_text(head + "x" * 200_000)  # a damaged or huge tail is never read here
    assert RunFolder(run).method() == 'fast "v2"'
    (run / "pixels.json").write_text("{}")
    assert RunFolder(run).method() == "run"  # nothing named: the folder's name


def test_a_results_file_or_run_folder_says_whether_it_is_an_oracle(tiny_release, tmp_path):
    """What a run carries from the labels is recorded in pixels.json (before the pairs) and
    read back from it, or from the run folder beside a release file (issue 32 item 3)."""
    from pixret.evaluation.perturbed import perturbed_results
    from pixret.evaluation.results import oracle_of

    bench, _ = tiny_release
    ranks, pixels = perturbed_results(bench)
    RunFolder(tmp_path / "gt").write_results(ranks, pixels, "gt", oracle="the labels")
    RunFolder(tmp_path / "m").write_results(ranks, pixels, "a method")
    assert RunFolder(tmp_path / "gt").oracle() == "the labels" and RunFolder(tmp_path / "m").oracle() is None
    assert oracle_of(tmp_path / "gt" / "pixels.json") == oracle_of(tmp_path / "gt" / "pixels.npy") == "the labels"
    assert oracle_of(tmp_path / "m" / "pixels.npy") is None and oracle_of(None) is None
    text = (tmp_path / "gt" / "pixels.json").read_text()
    assert text.index('"oracle"') < text.index('"pairs"')  # found in the file's head
    back = read_pixel_results(tmp_path / "gt" / "pixels.json", bench.n_queries, bench.n_database)
    assert sorted(back) == sorted(pixels)  # the pairs are read as before
