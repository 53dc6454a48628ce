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


# ---------------------------------------------------------------- compare's cache (issue 26)


@pytest.fixture(scope="module")
def cache_entry(tmp_path_factory):
    """A scored (method, dataset) and its cache entry: (cache, key, true summary, n_queries)."""
    from pixret.evaluation import cache as score_cache
    from pixret.evaluation.compare import compare
    from tests.helpers import METHODS, write_method

    root = tmp_path_factory.mktemp("fzc")
    queries = [{"easy": [0, 1], "hard": [2], "junk": [3]}, {"easy": [4], "hard": [5], "junk": []}]
    write_release(root, "proxford", queries, 8, {(q, i): [square(20, 20, 40)] for q, i in
                                                 [(0, 0), (0, 1), (0, 2), (1, 4), (1, 5)]})  # fmt: skip
    write_method(root / "results", load_benchmark(root, "proxford"), "m", *METHODS["fair"])
    cmp = compare(root, root / "results")
    entry = next((root / "results" / ".pixret-cache").glob("*.json"))
    store = score_cache.ScoreCache(entry.parent)
    return store, entry, json.loads(entry.read_text()), cmp.scores[("m", "proxford")]


def _mutations(doc: dict):
    """The valid entry with one value, at any depth, replaced by any JSON value."""
    paths = []

    def walk(v, path):
        paths.append(path)
        if isinstance(v, dict):
            for k, x in v.items():
                walk(x, (*path, k))
        elif isinstance(v, list):
            for k, x in enumerate(v[:3]):
                walk(x, (*path, k))

    walk(doc, ())
    return st.tuples(st.sampled_from(paths), json_values)


def _replace(doc, path, value):
    if not path:
        return value
    out = json.loads(json.dumps(doc))
    inner = out
    for k in path[:-1]:
        inner = inner[k]
    inner[path[-1]] = value
    return out


@FUZZ
@given(data=st.data())
def test_compare_cache_entries(cache_entry, data):
    store, entry, doc, truth = cache_entry
    kind = data.draw(st.sampled_from(["value", "mutated", "bytes", "nested"]))
    if kind == "value":
        body = json.dumps(data.draw(json_values)).encode()
    elif kind == "mutated":
        path, value = data.draw(_mutations(doc))
        body = json.dumps(_replace(doc, path, value)).encode()
    elif kind == "nested":
        depth = data.draw(st.integers(1, 200_000))
        body = b"[" * depth + b"]" * depth
    else:
        valid = json.dumps(doc).encode()
        cut = data.draw(st.integers(0, len(valid)))
        body = valid[:cut] + data.draw(st.binary(max_size=200))
    entry.write_bytes(body)
    with bounded():
        hit = store.get(doc["key"], ("strict",), 2, "m on PROxf")
    if hit is not None:  # used only when it is the entry written for this key: never a changed score
        assert json.loads(body) == doc and hit[0] == truth
    entry.write_text(json.dumps(doc))


# ---------------------------------------------------------------- the study database (study/store.py)
STUDY_TABLES = ["meta", "trials", "participants", "assignments", "responses"]
study_text = st.text(max_size=30) | st.sampled_from(["", "x", "-1", "1e9", "99999999999999999999", "image,box",
                                                     "image,image", "0", "2", " 3", "nan"])  # fmt: skip


@pytest.fixture(scope="module")
def study_template(bench, tmp_path_factory):
    from pixret.study.service import create_study

    return create_study(tmp_path_factory.mktemp("fzs") / "s.db", bench.root, "eng", pairs=4, seed=2)


def _side_files(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir())


def _study_opens_or_refuses_untouched(path: Path) -> None:
    from pixret.study.service import Study

    before, beside = _digest(path.parent), _side_files(path)
    for readonly in (True, False):
        with bounded():
            try:
                s = Study(path, readonly=readonly)
            except PixretError as exc:
                assert str(exc) and "\n" not in str(exc)
                assert _digest(path.parent) == before and _side_files(path) == beside  # refused: untouched
                return
            try:
                s.rows(), s.progress(), s.settings()
            except PixretError as exc:  # a table that reads, then fails: one line too
                assert "\n" not in str(exc)
            finally:
                s.close()


@FUZZ
@given(cut=st.integers(0, 60000), junk=st.binary(max_size=300), at=st.integers(0, 60000))
@example(cut=0, junk=b"\x00", at=8192)  # a page's first byte zeroed: refused, but -shm and -wal were left
def test_study_file_bytes(study_template, tmp_path_factory, cut, junk, at):
    path = tmp_path_factory.mktemp("fzb") / "s.db"
    data = study_template.read_bytes()
    path.write_bytes(data[:at] + junk + data[at + len(junk) :] if at < len(data) else data[:cut] + junk)
    _study_opens_or_refuses_untouched(path)


@FUZZ
@given(
    key=st.sampled_from(["schema_version", "conditions", "seed", "pairs", "dataset", "root", "cap", "open", "mix",
                         "label", "zzz"]),  # fmt: skip
    value=study_text | st.none(),
    drop=st.sampled_from([None, *STUDY_TABLES]),
)
def test_study_file_settings_and_tables(study_template, tmp_path_factory, key, value, drop):
    import sqlite3

    path = tmp_path_factory.mktemp("fzm") / "s.db"
    shutil.copy(study_template, path)
    db = sqlite3.connect(path)
    if value is None:
        db.execute("DELETE FROM meta WHERE key = ?", (key,))
    else:
        db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))
    if drop:
        db.execute(f"DROP TABLE {drop}")
    db.commit()
    db.execute("PRAGMA journal_mode=DELETE")
    db.close()
    _study_opens_or_refuses_untouched(path)


answer_values = json_values | st.integers(-(2**70), 2**70) | st.just(10**400)


@FUZZ
@given(bodies=st.lists(st.fixed_dictionaries({}, optional={
    "position": answer_values, "answer": answer_values, "click": answer_values | st.lists(answer_values, max_size=3),
    "rt_ms": answer_values, "viewport": answer_values | st.lists(answer_values, max_size=3),
    "pointer": answer_values | st.sampled_from(["mouse", "touch", "pen", ""])}), min_size=1, max_size=6))  # fmt: skip
def test_study_answers(study_template, tmp_path_factory, bodies):
    from pixret.study.service import Study, StudyError

    path = tmp_path_factory.mktemp("fza") / "s.db"
    shutil.copy(study_template, path)
    s = Study(path)
    pid = s.new_participant()
    recorded = 0
    for body in bodies:
        with bounded():
            try:
                s.record(pid, *(body.get(k) for k in ("position", "answer", "click", "rt_ms", "viewport", "pointer")))
                recorded += 1
            except StudyError as exc:  # Invalid, NotFound or Conflict: a 4xx, one line
                assert str(exc) and "\n" not in str(exc)
    rows = s.rows()
    assert len(rows) == recorded and [r["position"] for r in rows] == list(range(recorded))
    s.close()
