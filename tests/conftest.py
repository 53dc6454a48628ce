"""Shared fixtures: one small generated collection and its index, built once per session."""

import pytest

from pixret.datasets import load_benchmark
from pixret.datasets.synthetic import SyntheticConfig, make_benchmark
from pixret.engine import Index, get_config

ENG_CFG = SyntheticConfig(name="eng", queries=3, positives=5, distractors=8, seed=11)


@pytest.fixture(scope="session")
def bench(tmp_path_factory):
    root = tmp_path_factory.mktemp("eng")
    make_benchmark(root, ENG_CFG, workers=2, progress=False)
    return load_benchmark(root, "eng")


@pytest.fixture(scope="session")
def index(bench, tmp_path_factory):
    paths = [bench.database_image(i) for i in range(bench.n_database)]
    return Index.build(paths, get_config("fast"), tmp_path_factory.mktemp("idx"), progress=False)
