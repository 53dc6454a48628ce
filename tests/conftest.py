"""Shared fixtures: one small generated collection, its feature cache and template indexes, built
once per session and copied by the tests that change them; a hand-made release; a results tree."""

import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

from pixret.datasets import load_benchmark
from pixret.datasets.generate.synthetic import SyntheticConfig, make_benchmark
from pixret.engine import Index, get_config
from pixret.study.service import create_study
from tests.helpers import METHODS, MINI_CFG, SQ, blob, write_method, write_release

# The fuzz suite (tests/test_fuzz.py) explores new examples on each run while working; CI
# (.ci/run sets PIXRET_HYPOTHESIS=ci) replays the same ones, so a landing never hangs on luck.
# A failure found while working becomes an @example there.
settings.register_profile("ci", derandomize=True)
settings.load_profile(os.environ.get("PIXRET_HYPOTHESIS", "default"))

ENG_CFG = SyntheticConfig(name="eng", queries=3, positives=5, distractors=8, seed=11)


@pytest.fixture(scope="session", autouse=True)
def user_files(tmp_path_factory):
    """The user's secret cache key and pixret's caches, in a folder of the session's own: no test
    writes into the real home directory (tests that need another key set PIXRET_KEY_FILE)."""
    home = tmp_path_factory.mktemp("user")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PIXRET_KEY_FILE", str(home / "config" / "pixret" / "cache.key"))
        mp.setenv("PIXRET_CACHE", str(home / "cache"))
        yield home


@pytest.fixture(scope="session")
def bench(tmp_path_factory):
    """The session's generated benchmark "eng": 3 queries, 23 database images (read-only)."""
    root = tmp_path_factory.mktemp("eng")
    make_benchmark(root, ENG_CFG, workers=2, progress=False)
    return load_benchmark(root, "eng")


@pytest.fixture(scope="session")
def mini(tmp_path_factory) -> Path:
    """The root of the generated benchmark "mini" (MINI_CFG: 3 queries, built with 2 workers);
    read-only, shared by the generator's and the perturbed results' tests."""
    root = tmp_path_factory.mktemp("mini")
    make_benchmark(root, MINI_CFG, workers=2, progress=False)
    return root


def database(bench) -> list[Path]:
    return [bench.database_image(i) for i in range(bench.n_database)]


@pytest.fixture(scope="session")
def index(bench, tmp_path_factory):
    """The template index of ``bench`` (config fast, built in this process). Its features folder
    is the session's feature cache (``feature_cache``). Read-only: tests that change an index
    change a copy (``index_copy``, ``small``)."""
    return Index.build(database(bench), get_config("fast"), tmp_path_factory.mktemp("idx"), workers=1,
                       progress=False)  # fmt: skip


@pytest.fixture(scope="session")
def feature_cache(index) -> Path:
    """Every ``bench`` image's SIFT features, extracted once: pass as ``features_dir`` to builds of
    its images (any config with SIFT's default features)."""
    return index.root / "features"


# small shards, so that ``bench``'s 23 images span several (8 shards: a build has several tasks
# per stage, and a killed build can stop between them)
SHARDED_CFG = replace(get_config("fast"), shortlist=replace(get_config("fast").shortlist, shard_size=3))
CALLER_THREADS = 3  # the BLAS / OpenMP pools of the process that builds ``sharded``


@pytest.fixture(scope="session")
def sharded(bench, feature_cache, tmp_path_factory) -> Index:
    """``bench`` indexed with SHARDED_CFG in this process, whose BLAS and OpenMP pools run
    CALLER_THREADS threads (a Dask worker runs one, another machine has other cores): the
    reference bytes every other way of building must give (read-only)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(CALLER_THREADS):
        return Index.build(database(bench), SHARDED_CFG, tmp_path_factory.mktemp("sharded"), workers=1,
                           progress=False, features_dir=feature_cache)  # fmt: skip


@pytest.fixture
def index_copy(index, tmp_path) -> Index:
    """A copy of the template index that a test may change (its feature files copied too)."""
    shutil.copytree(index.root, tmp_path / "idx")
    return Index.open(tmp_path / "idx")


@pytest.fixture(scope="session")
def small_template(bench, tmp_path_factory) -> tuple[Path, list[Path]]:
    """A 6-image index of ``bench``'s first images, built once; tests get copies (``small``)."""
    root = tmp_path_factory.mktemp("small") / "idx"
    paths = database(bench)[:6]
    Index.build(paths, get_config("fast"), root, workers=1, progress=False)
    return root, paths


@pytest.fixture
def small(small_template, tmp_path) -> tuple[Index, list[Path]]:
    """A working 6-image index of its own (a copy of ``small_template``) and its images."""
    root, paths = small_template
    shutil.copytree(root, tmp_path / "idx")
    return Index.open(tmp_path / "idx"), paths


@pytest.fixture
def study_file(bench, tmp_path):
    """A study of ``bench``: 6 trials (3 easy, 1 hard, 2 negatives), the oracle's masks."""
    return create_study(tmp_path / "s.db", bench.root, "eng", pairs=6, mix=(0.5, 0.17, 0.33), seed=3)


ARTIFACTS = Path(os.environ.get("PIXRET_ARTIFACTS", Path(__file__).resolve().parents[1] / "artifacts"))
_STARTED = time.time()


def pytest_collection_modifyitems(items):
    """Tests marked dask, browser or learned are slow too: ``-m "not slow"`` leaves them out."""
    for item in items:
        if any(item.get_closest_marker(m) for m in ("dask", "browser", "learned")):
            item.add_marker(pytest.mark.slow)


def pytest_terminal_summary(terminalreporter):
    """List the screenshots the browser tests took in this run (kept under artifacts/)."""
    for png in sorted(ARTIFACTS.glob("*.png")) if ARTIFACTS.is_dir() else []:
        if png.stat().st_mtime >= _STARTED:
            terminalreporter.write_line(f"screenshot: {png}")


@pytest.fixture
def tiny_release(tmp_path):
    """A hand-made release "tiny": 2 queries, 6 database images, one 40 px square per labelled
    pair; returns (benchmark, root). Function-scoped: tests may damage its files."""
    queries = [{"easy": [0, 1], "hard": [2], "junk": [3]}, {"easy": [4], "hard": [5], "junk": []}]
    labels = {(q, i): [SQ] for q, i in [(0, 0), (0, 1), (0, 2), (1, 4), (1, 5)]}
    write_release(tmp_path, "tiny", queries, 6, labels)
    return load_benchmark(tmp_path, "tiny"), tmp_path


@pytest.fixture(scope="session")
def tree(tmp_path_factory):
    """A release-style results tree: the METHODS perturbed from two hand-made benchmarks
    (proxford 60 images, prparis 50, 24 queries each); returns (root, results). Tests copy what
    they change."""
    root = tmp_path_factory.mktemp("cmp")
    rng = np.random.default_rng(0)
    for name, n_db in (("proxford", 60), ("prparis", 50)):
        queries, labels = [], {}
        for q in range(24):
            perm = rng.permutation(n_db)
            queries.append(
                {"easy": perm[:4].tolist(), "hard": perm[4:7].tolist(), "junk": perm[7:9].tolist()}
            )
            for i in perm[:7]:
                labels[(q, int(i))] = [blob(rng, 320, 240)]
        write_release(root, name, queries, n_db, labels, size=(320, 240))
    results = root / "results"
    for dataset in ("proxford", "prparis"):
        bench = load_benchmark(root, dataset)
        for name, args in METHODS.items():
            write_method(results, bench, name, *args, dataset=dataset)
    return root, results
