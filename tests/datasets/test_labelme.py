"""labelme files (datasets/labelme.py): every shape type with an area, sizes that must be real."""

import json

import pytest

from pixret.datasets import load_benchmark
from pixret.errors import PixretError


def test_label_sizes_must_be_real(tiny_release):
    bench, d = tiny_release
    label = next(iter(bench.pair_labels.values()))
    doc = json.loads(label.read_text())
    doc["imageWidth"] = -200
    label.write_text(json.dumps(doc))
    with pytest.raises(PixretError, match="imageWidth must be a whole number of pixels"):
        load_benchmark(d, "tiny").gt(*next(iter(bench.pair_labels)))
