"""The benchmark's data model (datasets/model.py): the revisitop protocols, pairs, image paths."""

import numpy as np

from pixret.datasets.model import Query


def test_the_three_protocols_of_revisitop():
    q = Query(0, "q", (0, 0, 1, 1), easy=np.array([1, 2]), hard=np.array([3]), junk=np.array([4]))
    ok, junk = q.protocol("easy")
    assert ok.tolist() == [1, 2] and sorted(junk.tolist()) == [3, 4]  # hard ones are junk in Easy
    ok, junk = q.protocol("medium")
    assert ok.tolist() == [1, 2, 3] and junk.tolist() == [4]
    ok, junk = q.protocol("hard")
    assert ok.tolist() == [3] and sorted(junk.tolist()) == [1, 2, 4]  # easy ones are junk in Hard


def test_pairs_come_hard_then_easy_and_images_are_found(tiny_release):
    bench, root = tiny_release
    assert bench.pairs() == [(0, 2), (0, 0), (0, 1), (1, 5), (1, 4)]  # the release's loop order
    assert bench.database_image(0) is None and not bench.has_images  # no images in this release
    jpg = root / "pixel_retrieval_benchmarks" / "revisitop" / "data" / "tiny" / "jpg"
    jpg.mkdir(parents=True)
    (jpg / "db_0000.jpg").write_bytes(b"")
    assert bench.database_image(0) == jpg / "db_0000.jpg"
    assert bench.gt(0, 0).polygons[0].shape == (4, 2) and bench.gt(0, 3) is None
