"""Reading the release layout (datasets/release.py): ground truth, pair labels, R1M names."""

import pickle

import pytest

from pixret.datasets import load_benchmark
from pixret.errors import PixretError
from tests.helpers import square, write_release


def test_benchmark_errors(tmp_path):
    with pytest.raises(PixretError, match=r"ground truth of 'proxford' not found \(try `pixret download`\)"):
        load_benchmark(tmp_path, "proxford")
    base = write_release(tmp_path, "x", [{"easy": [0], "hard": [7]}], 3, {(0, 0): [square(0, 0, 5)]})
    with pytest.raises(PixretError, match=r"ground truth of 'proxford' not found \(this root holds: x\)"):
        load_benchmark(tmp_path, "proxford")
    write_release(tmp_path / "top" / "data", "y", [{"easy": [0]}], 2, {(0, 0): [square(0, 0, 5)]})
    with pytest.raises(PixretError, match=f"ground truth of 'y' not found; it is under {tmp_path}/top/data: --root"):
        load_benchmark(tmp_path / "top", "y")  # a root one level too high, as pixret-demo after `pixret demo`
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
