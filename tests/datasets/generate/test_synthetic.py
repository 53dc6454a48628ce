"""The benchmark generator, the reference result writer and the HTML report."""

import hashlib

import cv2
import numpy as np

from pixret.datasets import load_benchmark
from pixret.datasets.generate.synthetic import make_benchmark
from tests.helpers import MINI_CFG


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
    make_benchmark(tmp_path, MINI_CFG, workers=1, progress=False)  # other worker count, same bytes
    assert _digest(tmp_path / "pixel_retrieval_benchmarks") == _digest(mini / "pixel_retrieval_benchmarks")


