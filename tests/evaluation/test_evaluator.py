"""mIoU and pixel mAP under compat and strict (evaluation/evaluator.py), against hand-computed values and the release."""

import math
import warnings

import numpy as np
import pytest

from pixret.datasets import load_benchmark
from pixret.errors import BenchmarkWarning, PixretWarning
from pixret.evaluation import (
    PixelEval,
    PixelPrediction,
    evaluate_files,
)
from tests.helpers import SQ, square, write_release
from tests.reference.release_scripts import release_mious, release_pixel_map


def test_missing_labels_warn_and_no_ranking_is_no_pixel_map(tiny_release):
    bench, d = tiny_release
    (d / "pixel_retrieval_benchmarks" / "tiny_pair2labelpath.npy").unlink()
    with pytest.warns(BenchmarkWarning, match="no pixel labels"):
        load_benchmark(d, "tiny")
    ev = PixelEval(bench, None, {(0, 0): PixelPrediction([np.array(SQ, float)])})
    s = ev.run()
    for proto in ("compat", "strict"):
        assert s[proto]["pixel_mAP"] == {"medium": None, "hard": None}  # "-" in the table, not 0.00




def pred(poly):
    return PixelPrediction([np.asarray(poly, float)])


@pytest.fixture
def tiny(tmp_path):
    queries = [
        {"easy": [0, 1], "hard": [2], "junk": [3]},
        {"easy": [4], "hard": [5], "junk": []},
    ]
    labels = {(q, i): [SQ] for q, i in [(0, 0), (0, 1), (0, 2), (1, 4), (1, 5)]}
    write_release(tmp_path, "tiny", queries, 6, labels)
    bench = load_benchmark(tmp_path, "tiny")
    pixels = {
        (0, 0): pred(SQ),  # exact
        (0, 2): pred(square(40, 20, 40)),  # shifted by half: IoU 21/60 (compat), 1/3 (strict)
        (1, 5): pred(SQ),  # exact; (0, 1) easy and (1, 4) easy have no prediction
    }
    ranks = np.array([[0, 3, 2, 1, 4, 5], [5, 4, 0, 1, 2, 3]]).T
    return bench, ranks, pixels


def test_hand_computed_compat_and_strict(tiny):
    bench, ranks, pixels = tiny
    s = PixelEval(bench, ranks, pixels).run()
    c, t = s["compat"], s["strict"]
    shifted = 21 / 60  # canvas side 80 drops column 80 of the prediction (quirk 5)
    # quirk 1: easy positives without prediction are skipped in compat Medium mIoU
    assert c["mIoU"]["medium_box"] == pytest.approx(((shifted + 1) / 2 + 1) / 2, abs=1e-12)
    assert c["mIoU"]["hard_box"] == pytest.approx((shifted + 1) / 2, abs=1e-12)
    assert c["mIoU"]["medium_mask"] == pytest.approx(((shifted + 1) / 2 + 1) / 2, abs=1e-12)
    # strict: they count as 0
    assert t["mIoU"]["medium_box"] == pytest.approx((4 / 9 + 0.5) / 2)
    assert t["mIoU"]["hard_box"] == pytest.approx((1 / 3 + 1) / 2)
    # quirk 2: compat recall only over positives above the threshold -> perfect
    assert c["pixel_mAP"]["medium"] == pytest.approx(1.0)
    assert c["pixel_mAP"]["hard"] == pytest.approx(1.0)  # q0 dropped: no hard positive above t
    # strict: recall over every positive, a query with none above t scores 0
    assert t["pixel_mAP"]["medium"] == pytest.approx((1 / 3 + 1 / 2) / 2, abs=1e-3)
    assert t["pixel_mAP"]["hard"] == pytest.approx(0.5)
    assert c["image_mAP"]["medium"] == pytest.approx(1.0)
    assert len(t["per_query"]) == 2 and t["per_query"][1]["pixel_AP"]["hard"] == pytest.approx(1.0)


def test_ignored_queries_count_as_zero_in_compat_quirk3(tmp_path):
    n = 64
    queries = [{"easy": [q], "hard": [], "junk": []} for q in range(n)]
    labels = {(q, q): [SQ] for q in range(n)}
    write_release(tmp_path, "proxford", queries, n, labels)
    bench = load_benchmark(tmp_path, "proxford")
    assert bench.compat_ignored_queries == {56, 63}
    pixels = {(q, q): pred(SQ) for q in range(n)}
    ranks = np.tile(np.arange(n)[:, None], (1, n))
    ranks = np.array([np.roll(np.arange(n), -q) for q in range(n)]).T  # positive first
    s = PixelEval(bench, ranks, pixels).run()
    assert s["compat"]["pixel_mAP"]["medium"] == pytest.approx(62 / 64)
    assert s["strict"]["pixel_mAP"]["medium"] == pytest.approx(1.0)
    assert s["compat"]["mIoU"]["medium_mask"] == pytest.approx(1.0)  # mIoU uses all queries
    assert s["compat"]["per_query"][56]["ignored_in_pixel_mAP"] is True


def test_failed_pair_reuses_previous_iou_quirk9(tmp_path):
    queries = [{"easy": [], "hard": [0, 1], "junk": []}]
    write_release(tmp_path, "q9", queries, 2, {(0, 0): [SQ], (0, 1): []})
    bench = load_benchmark(tmp_path, "q9")
    pixels = {(0, 0): pred(SQ), (0, 1): pred(SQ)}
    s = PixelEval(bench, np.array([[0], [1]]), pixels).run()
    assert s["compat"]["mIoU"]["hard_mask"] == 1.0  # (0,1) failed and reused (0,0)'s 1.0
    assert s["strict"]["mIoU"]["hard_mask"] == 0.5


def test_missing_pairs_are_empty_predictions_not_crashes(tiny):
    bench, ranks, _ = tiny
    s = PixelEval(bench, ranks, {}).run()
    assert s["compat"]["mIoU"]["hard_box"] == 0.0
    assert s["strict"]["pixel_mAP"]["medium"] == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert (
            math.isnan(s["compat"]["mIoU"]["medium_box"] or math.nan)
            or s["compat"]["mIoU"]["medium_box"] == 0
        )


def test_compat_agrees_with_the_release_transcription_on_random_inputs(tmp_path):
    rng = np.random.default_rng(7)
    for trial in range(6):
        n_db, n_q = 25, 5
        queries, labels, preds = [], {}, {}
        for q in range(n_q):
            perm = rng.permutation(n_db)
            ne, nh, nj = rng.integers(0, 5), rng.integers(1, 5), rng.integers(0, 4)
            easy, hard, junk = perm[:ne], perm[ne : ne + nh], perm[ne + nh : ne + nh + nj]
            queries.append({"easy": easy.tolist(), "hard": hard.tolist(), "junk": junk.tolist()})
            for i in [*easy, *hard]:
                x, y, s = rng.uniform(-10, 100), rng.uniform(0, 80), rng.uniform(5, 60)
                labels[(q, int(i))] = [square(x, y, s)] + (
                    [square(x + s, y, s / 2)] if rng.random() < 0.3 else []
                )
                r = rng.random()
                if r < 0.7:
                    jitter = rng.normal(0, s / 4, (4, 2))
                    preds[(q, int(i))] = np.array(square(x, y, s)) + jitter
                elif r < 0.8:
                    preds[(q, int(i))] = np.zeros((0, 2))
        d = tmp_path / f"t{trial}"
        write_release(d, "rand", queries, n_db, labels)
        bench = load_benchmark(d, "rand")
        ranks = np.array([rng.permutation(n_db) for _ in range(n_q)]).T
        # through a release file, as the release's scripts would read it (column 0 = x)
        np.save(d / "ranks.npy", ranks)
        np.save(
            d / "pix.npy", {f"qimlist_{q}_imlist_{i}": v for (q, i), v in preds.items()}, allow_pickle=True
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PixretWarning)  # jittered boxes may leave the canvas
            ev = evaluate_files(bench, d / "ranks.npy", d / "pix.npy", ("compat",))
        gts = {k: [np.asarray(p, float) for p in v] for k, v in labels.items()}
        ref_per_q, table = release_mious([(q["easy"], q["hard"]) for q in queries], preds, gts)
        got = ev.results["compat"].per_query
        for q in range(n_q):
            for k, key in enumerate(("medium_box", "medium_mask", "hard_box", "hard_mask")):
                a, b = got[q]["mIoU"][key], ref_per_q[q][k]
                assert (math.isnan(a) and math.isnan(b)) or abs(a - b) < 1e-9
        for subset, oks in (("medium", lambda q: q["easy"] + q["hard"]), ("hard", lambda q: q["hard"])):
            gnd = [
                {"ok": oks(q), "junk": q["junk"] + (q["easy"] if subset == "hard" else [])} for q in queries
            ]
            try:
                ref = release_pixel_map(ranks, gnd, table)
            except ZeroDivisionError:  # the release crashes when no query keeps a positive
                ref = release_pixel_map(ranks, gnd, table, zero_division=0.0)
            assert ev.results["compat"].pixel_map[subset] == pytest.approx(ref, abs=1e-9)
