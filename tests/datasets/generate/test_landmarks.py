"""The real-landmark benchmark (pixret.datasets.generate.landmarks): its hand-drawn labels, its
build from a folder of the photos and from a download, and its refusals.

The photos are public research photos (Strecha's scenes, MAGSAC's pairs) that users download from
their upstream addresses; tests read a shared copy: $PIXRET_PHOTOS, else ../shared/photos beside
the checkout. CI sets PIXRET_TEST_LANDMARKS=1 where it found a copy, which turns photos missing
from it into a failure.
"""

import hashlib
import json
import os
import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest

from pixret.datasets import load_benchmark
from pixret.datasets.generate import landmarks as L
from tests.helpers import run_cli
from tests.httpserver import serve

PHOTOS = Path(os.environ.get("PIXRET_PHOTOS") or Path(__file__).resolve().parents[3].parent / "shared" / "photos")
if not (PHOTOS / "strecha").is_dir():
    if os.environ.get("PIXRET_TEST_LANDMARKS"):
        raise FileNotFoundError(f"the landmark photos are not at {PHOTOS} (set PIXRET_PHOTOS)")
    pytest.skip(f"the landmark photos are not at {PHOTOS} (set PIXRET_PHOTOS)", allow_module_level=True)


def _error_line(res) -> str:
    """The one line a refused command printed (exit status 2; progress lines aside)."""
    lines = [x for x in res.stderr.replace("\r", "\n").splitlines() if x.startswith("error:")]
    assert res.returncode == 2 and len(lines) == 1, res.stderr
    return lines[0]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The benchmark "lmk" built through the CLI from the photo folder."""
    out = tmp_path_factory.mktemp("lmk")
    res = run_cli(["make-benchmark", out, "--landmarks", "--name", "lmk", "--photos", PHOTOS, "--workers", "2"])
    assert res.returncode == 0, res.stderr
    return out


def test_every_decision_has_its_label_and_every_label_a_decision():
    named = set()
    for lm in L.landmarks():
        for ref, role in [(lm.query, "query"), *lm.roles.items()]:
            path = L.label_path(lm.name, ref)
            drawn = role in ("query", "easy", "hard")
            assert path.is_file() == drawn, (lm.name, ref, role)
            if drawn:
                named.add(path.name)
    assert {p.name for p in L.LABELS_DIR.glob("*.json")} == named
    assert len(L.landmarks()) >= 8


def test_the_benchmark_is_labelled_as_proxford(built):
    bench = load_benchmark(built, "lmk")
    base = built / "pixel_retrieval_benchmarks"
    gnd = pickle.loads((base / "revisitop/data/lmk/gnd_lmk.pkl").read_bytes())["gnd"]
    assert bench.n_queries == len(L.landmarks()) >= 8
    positives = sum(len(g["easy"]) + len(g["hard"]) for g in gnd)
    assert positives >= 60 and positives == len(bench.pairs())
    # a query's photo is not in the database; a photo published twice upstream is there once
    queries = {lm.query for lm in L.landmarks()}
    meta = json.loads((base / "lmk_meta.json").read_text())
    photos = [m["photo"] for m in meta["images"]]
    assert not queries & set(photos) and len(photos) == len(set(photos))
    assert set(L.duplicates()) and not set(L.duplicates()) & set(photos)
    assert len({L.photos()[p].sha256 for p in photos}) == len(photos)
    for q, i in bench.pairs():  # every outline lies on its photo
        gt = bench.gt(q, i)
        pts = np.concatenate(gt.polygons)
        assert (pts >= -1).all() and (pts[:, 0] <= gt.width + 1).all() and (pts[:, 1] <= gt.height + 1).all()
    assert all(b[2] > b[0] and b[3] > b[1] for b in (bench.queries[q].box for q in range(bench.n_queries)))


def test_downloaded_photos_give_the_same_benchmark(built, tmp_path, monkeypatch):
    """Photos fetched from a mirror into the download cache (resumable, sha256-checked) give the
    same benchmark as the folder; a photo whose bytes differ is refused in one line, naming it."""
    monkeypatch.setenv("PIXRET_CACHE", str(tmp_path / "cache"))
    L.photo_bytes.cache_clear()
    with serve(PHOTOS) as (url, log):
        res = run_cli(["make-benchmark", tmp_path / "out", "--landmarks", "--name", "lmk", "--mirror", url,
                       "--workers", "1"])  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert len({name for name, _ in log}) == len(L.unique_photos())
    for rel in ("revisitop/data/lmk/gnd_lmk.pkl", "lmk_pair2labelpath.npy"):
        a, b = built / "pixel_retrieval_benchmarks" / rel, tmp_path / "out" / "pixel_retrieval_benchmarks" / rel
        assert a.read_bytes() == b.read_bytes(), rel
    # a damaged copy in the cache: one line naming it, and how to get it again
    ref = L.unique_photos()[0]
    cached = tmp_path / "cache" / "photos" / ref
    cached.write_bytes(cached.read_bytes()[:-10] + b"0123456789")
    L.photo_bytes.cache_clear()
    res = run_cli(["make-benchmark", tmp_path / "again", "--landmarks", "--name", "lmk2"])
    err = _error_line(res)
    assert str(cached) in err and "is not the photo the labels were drawn on" in err and "download it again" in err
    assert not (tmp_path / "again" / "pixel_retrieval_benchmarks").exists()
    L.photo_bytes.cache_clear()


def test_an_upstream_original_is_resized_to_the_labels_frame(tmp_path, monkeypatch):
    """A Strecha photo arrives at 3072x2048 and is used at 1024 px on its long side; its sha256
    is the upstream file's, and a copy made that way is accepted by its own."""
    big = np.random.default_rng(0).integers(0, 255, (600, 900, 3), np.uint8)
    (tmp_path / "scene").mkdir()
    data = cv2.imencode(".jpg", big)[1].tobytes()
    (tmp_path / "scene" / "a.jpg").write_bytes(data)
    fake = {"scene/a.jpg": L.Photo("scene/a.jpg", "http://127.0.0.1:9/a.jpg", hashlib.sha256(data).hexdigest(), "", 300)}
    monkeypatch.setattr(L, "photos", lambda: fake)
    L.photo_bytes.cache_clear()
    small = L.photo("scene/a.jpg", str(tmp_path), None)
    assert small.shape == (200, 300, 3)
    L.photo_bytes.cache_clear()


def test_landmark_options_are_checked(tmp_path):
    res = run_cli(["make-benchmark", tmp_path, "--landmarks", "--photos", tmp_path / "none"])
    assert "not found" in _error_line(res)
    res = run_cli(["make-benchmark", tmp_path, "--real", "--landmarks"])
    assert res.returncode == 2 and "give one" in res.stderr
    res = run_cli(["make-benchmark", tmp_path, "--photos", tmp_path])
    assert res.returncode == 2 and "--landmarks" in res.stderr
    assert not (tmp_path / "pixel_retrieval_benchmarks").exists()


@pytest.mark.slow
def test_the_engine_on_real_landmarks(built, tmp_path):
    """`fast` on the landmark benchmark: masks segmented in each result image beat the query's
    outline carried by one homography (strict mask mIoU and pixel mAP, Medium), most positives
    get a mask, and the photos of the courtyard's other wings are not taken for the query's
    (margins kept: SIFT and RANSAC differ between CPUs; bench_engine.py prints the figures)."""
    from dataclasses import replace

    from pixret.engine import get_config
    from pixret.evaluation import PixelEval
    from pixret.pipelines.benchmark import run_engine, search_queries

    bench = load_benchmark(built, "lmk")
    fast = run_engine(bench, get_config("fast"), tmp_path / "idx", workers=1, progress=False)
    idx = fast.index
    idx.cfg = replace(get_config("fast"), mask=replace(get_config("fast").mask, refine=0))
    mapped = search_queries(bench, idx, progress=False)

    def scores(res):
        s = PixelEval(bench, res.ranks, res.pixels, ("strict",)).run()["strict"]
        return s["mIoU"]["medium_mask"], s["pixel_mAP"]["medium"]

    (m_fast, p_fast), (m_mapped, p_mapped) = scores(fast), scores(mapped)
    assert m_fast > m_mapped and p_fast > p_mapped + 0.02
    assert m_fast > 0.5
    positives = {(q.index, int(i)) for q in bench.queries for i in (*q.easy, *q.hard)}
    assert len(positives & set(fast.pixels)) >= 0.65 * len(positives)
    unrelated = [p for p in fast.pixels if p not in positives and p[1] not in set(bench.queries[p[0]].junk.tolist())]
    assert len(unrelated) <= 0.03 * len(fast.pixels)
