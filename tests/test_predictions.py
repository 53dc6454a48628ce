"""Result files: both formats round-trip; bad input is a one-line error naming the file."""

import json
import pickle

import numpy as np
import pytest

from pixret.datasets import load_benchmark
from pixret.errors import PixretError, PixretWarning
from pixret.evaluation import (
    PixelPrediction,
    read_pixel_results,
    read_ranks,
    write_pixel_results,
    write_ranks,
)
from pixret.geometry import mask_to_rle
from pixret.io import load_npy
from tests.helpers import square, write_release


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


def test_pickles_cannot_run_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    f = tmp_path / "evil.npy"
    np.save(f, {"qimlist_0_imlist_0": Evil()}, allow_pickle=True)
    with pytest.raises(PixretError, match="refusing to load builtins.print"):
        load_npy(f)


def test_benchmark_errors(tmp_path):
    with pytest.raises(PixretError, match="ground truth of 'proxford' not found"):
        load_benchmark(tmp_path, "proxford")
    base = write_release(tmp_path, "x", [{"easy": [0], "hard": [7]}], 3, {(0, 0): [square(0, 0, 5)]})
    with pytest.raises(PixretError, match=r"gnd\[0\]\['hard'\] holds an index outside 0..2"):
        load_benchmark(tmp_path, "x")
    gnd = base / "revisitop/data/x/gnd_x.pkl"
    with open(gnd, "wb") as fh:
        pickle.dump({"imlist": []}, fh)
    with pytest.raises(PixretError, match="needs qimlist"):
        load_benchmark(tmp_path, "x")


def test_r1m_and_lazy_labels(tmp_path):
    write_release(
        tmp_path, "proxford", [{"easy": [0], "hard": [1]}], 2,
        {(0, 0): [square(0, 0, 5), square(9, 9, 2)], (0, 1): [square(1, 1, 3)]},
        r1m=["ab/cdef", "ab/ghij"],
    )  # fmt: skip
    b = load_benchmark(tmp_path, "r1m-proxford")
    assert b.n_database == 4 and b.n_labelled_database == 2 and b.database[2] == "ab/cdef"
    assert len(b.gt(0, 0).polygons) == 2 and b.gt(0, 0).width == 200
    assert b.pairs() == [(0, 1), (0, 0)]  # hard first, as the release loops
