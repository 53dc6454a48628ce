"""Shared fixtures: one small generated collection and its index, built once per session."""

import os
import time
from pathlib import Path

import pytest

from pixret.datasets import load_benchmark
from pixret.datasets.generate.synthetic import SyntheticConfig, make_benchmark
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


ARTIFACTS = Path(os.environ.get("PIXRET_ARTIFACTS", Path(__file__).resolve().parents[1] / "artifacts"))
_STARTED = time.time()


def pytest_terminal_summary(terminalreporter):
    """List the screenshots the browser tests took in this run (kept under artifacts/)."""
    for png in sorted(ARTIFACTS.glob("*.png")) if ARTIFACTS.is_dir() else []:
        if png.stat().st_mtime >= _STARTED:
            terminalreporter.write_line(f"screenshot: {png}")
