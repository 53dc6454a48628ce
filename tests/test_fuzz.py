"""Property-based fuzzing of every reader: for any input, a result or a PixretError (an HTTP
4xx for uploads), within bounded memory, with nothing already written changed."""

import hashlib
import io
import json
import pickle
import shutil
import tracemalloc
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from fastapi import HTTPException
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from pixret.datasets import load_benchmark, read_labelme
from pixret.datasets.sources import load_sources
from pixret.engine import Index
from pixret.errors import PixretError
from pixret.evaluation import read_pixel_results, read_ranks
from pixret.server.state import check_upload
from tests.helpers import square, write_release

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
MEMORY = 200e6  # bytes any one input may make a reader allocate

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=True)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=12), inner, max_size=6),
    max_leaves=40,
)
points = st.lists(
    st.lists(st.floats(-1e4, 1e4) | st.integers(-(10**9), 10**9), min_size=0, max_size=3), max_size=12
)


@contextmanager
def bounded():
    tracemalloc.start()
    try:
        yield
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < MEMORY, f"{peak / 1e6:.0f} MB"


def _digest(folder: Path) -> dict:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def _accepts_or_refuses(fn, *args):
    with bounded():
        try:
            return fn(*args)
        except PixretError as exc:
            assert str(exc) and "\n" not in str(exc)
            return None


@FUZZ
@given(arr=hnp.arrays(hnp.scalar_dtypes(), hnp.array_shapes(min_dims=0, max_dims=3, max_side=8)))
def test_ranks_npy(tmp_path_factory, arr):
    f = tmp_path_factory.mktemp("r") / "r.npy"
    np.save(f, arr)
    _accepts_or_refuses(read_ranks, f, 8, 3)


@FUZZ
@given(data=st.binary(max_size=400), cut=st.integers(0, 200))
def test_ranks_npy_bytes(tmp_path_factory, data, cut):
    f = tmp_path_factory.mktemp("r") / "r.npy"
    good = io.BytesIO()
    np.save(good, np.arange(24).reshape(8, 3))
    f.write_bytes(good.getvalue()[:cut] + data)  # headers cut, forged, or followed by junk
    _accepts_or_refuses(read_ranks, f, 8, 3)


@FUZZ
@given(doc=json_values)
def test_ranks_json(tmp_path_factory, doc):
    f = tmp_path_factory.mktemp("r") / "r.json"
    f.write_text(json.dumps({"format": "pixret-ranks", "ranks": doc}))
    _accepts_or_refuses(read_ranks, f, 8, 3)


@FUZZ
@given(entries=st.dictionaries(st.text(max_size=20) | st.from_regex(r"qimlist_\d{1,3}_imlist_\d{1,3}", fullmatch=True),
                               points | json_values, max_size=5))  # fmt: skip
def test_pixel_results_npy(tmp_path_factory, entries):
    f = tmp_path_factory.mktemp("p") / "p.npy"
    np.save(f, entries, allow_pickle=True)
    _accepts_or_refuses(read_pixel_results, f, 4, 50)


@FUZZ
@given(pairs=st.lists(st.fixed_dictionaries({"query": json_values, "image": json_values},
                                            optional={"polygons": st.lists(points, max_size=2) | json_values,
                                                      "rle": json_values, "mask": st.text(max_size=10)}),
                      max_size=4) | json_values)  # fmt: skip
def test_pixel_results_json(tmp_path_factory, pairs):
    d = tmp_path_factory.mktemp("p")
    f = d / "p.json"
    f.write_text(json.dumps({"format": "pixret-pixel-results", "pairs": pairs}))
    _accepts_or_refuses(read_pixel_results, f, 4, 50)


@FUZZ
@given(doc=json_values, shapes=st.lists(st.fixed_dictionaries({"points": points | json_values}), max_size=3))
def test_labelme(tmp_path_factory, doc, shapes):
    f = tmp_path_factory.mktemp("l") / "l.json"
    body = (
        {"shapes": shapes, "imageWidth": doc, "imageHeight": 100}
        if isinstance(doc, int | float | None)
        else doc
    )
    f.write_text(json.dumps(body))
    _accepts_or_refuses(read_labelme, f)


@FUZZ
@given(
    gnd=json_values
    | st.fixed_dictionaries({"qimlist": json_values, "imlist": json_values, "gnd": json_values})
)
def test_gnd_pickle(tmp_path_factory, gnd):
    root = tmp_path_factory.mktemp("g")
    write_release(root, "fz", [{"easy": [0], "hard": [1], "junk": []}], 3, {(0, 0): [square(1, 1, 5)]})
    pkl = next(root.rglob("gnd_fz.pkl"))
    pkl.write_bytes(pickle.dumps(gnd))
    _accepts_or_refuses(load_benchmark, root, "fz")


@FUZZ
@given(doc=json_values)
def test_sources_json(tmp_path_factory, doc):
    f = tmp_path_factory.mktemp("s") / "s.json"
    f.write_text(json.dumps(doc if not isinstance(doc, dict) else {"labels": doc}))
    _accepts_or_refuses(load_sources, f)


@FUZZ
@given(data=st.binary(max_size=2000), cut=st.integers(0, 3000))
def test_uploads(data, cut):
    good = io.BytesIO()
    from PIL import Image

    Image.new("RGB", (64, 48), (120, 30, 200)).save(good, "JPEG")
    for body in (data, good.getvalue()[:cut] + data):
        with bounded():
            try:
                img = check_upload(body)
                assert img.ndim == 3
            except HTTPException as exc:
                assert 400 <= exc.status_code < 500


SHARD_FILES = ["offsets.npy", "kpts.npy", "words.npy", "sigs.npy", "desc.npy", "post_words.npy", "post_ptr.npy",
               "post_ids.npy", "post_df.npy", "rows.npy", "sums.json"]  # fmt: skip
INDEX_FILES = ["index.json", "images.jsonl", "images-offsets.npy", "quantizer.npz", "idf.npy", "norms.npy",
               "shards.json", *(f"shard/{f}" for f in SHARD_FILES)]  # fmt: skip


@pytest.fixture(scope="module")
def small_index(small_template):
    return Index.open(small_template[0])


@FUZZ
@given(which=st.sampled_from(INDEX_FILES), cut=st.integers(0, 4000), junk=st.binary(max_size=300))
def test_index_files(small_index, tmp_path_factory, which, cut, junk):
    copy = tmp_path_factory.mktemp("fz") / "i"
    shutil.copytree(small_index.root, copy)
    if which.startswith("shard/"):
        target = small_index.shards.shards[0].folder.name + which[len("shard") :]
        target = copy / "shards" / target
    else:
        target = copy / which if which == "index.json" else copy / small_index.data.name / which
    target.write_bytes(target.read_bytes()[:cut] + junk)
    before = _digest(copy)
    _accepts_or_refuses(Index.open, copy)
    assert _digest(copy) == before  # opening never writes


def _target(index, copy, which):
    if which.startswith("shard/"):
        return copy / "shards" / index.shards.shards[0].folder.name / which[len("shard/") :]
    return copy / which if which == "index.json" else copy / index.data.name / which


def _answer(root, image, box):
    """What a search reads and returns: every image's features, then the hits."""
    idx = Index.open(root)
    for i in range(len(idx)):
        idx.side(i)
    return [(h.index, h.inliers, h.mask_kind) for h in idx.search(image, box)]


@pytest.fixture(scope="module")
def small_answer(small_index, bench):
    return _answer(small_index.root, bench.query_image(0), bench.queries[0].box)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.sampled_from(INDEX_FILES), at=st.floats(0, 1), junk=st.binary(min_size=1, max_size=64))
@example(which="shard/post_words.npy", at=0.001, junk=b"a")  # a header's dtype made bytes: one line
def test_index_same_size_overwrites(small_index, small_answer, bench, tmp_path_factory, which, at, junk):
    # issue 26: any overwrite that keeps every file's size gives the same answer or one line
    q = bench.queries[0]
    want = small_answer
    copy = tmp_path_factory.mktemp("fz") / "i"
    shutil.copytree(small_index.root, copy)
    target = _target(small_index, copy, which)
    data = bytearray(target.read_bytes())
    k = min(int(at * len(data)), max(0, len(data) - len(junk)))
    data[k : k + len(junk)] = junk[: len(data) - k]
    target.write_bytes(bytes(data))
    got = _accepts_or_refuses(_answer, copy, bench.query_image(0), q.box)
    assert got is None or got == want
