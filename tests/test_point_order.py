"""Release pixel files are (x, y) as the current release reads them; the other order is detected."""

import warnings

import numpy as np
import pytest

from pixret.datasets import load_benchmark
from pixret.errors import PixretWarning
from pixret.evaluation import evaluate_files, load_pixel_results, order_evidence
from tests.helpers import write_release
from tests.reference.release_scripts import release_pair_iou

W, H = 400, 200  # landscape: objects on the right half leave the canvas when x and y swap


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
