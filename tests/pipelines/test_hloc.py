"""hloc's files (pipelines/hloc.py) on h5 files the tests write in hloc's documented layout
(h5py; no hloc install): pair names, either stored order, the old '_' names, the pairs file
read against a benchmark, and the homography carried into each verified image."""

from __future__ import annotations

from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest

from pixret.datasets import load_benchmark
from pixret.errors import PixretError
from pixret.pipelines import hloc
from tests.helpers import write_release

BOX = (60.0, 50.0, 180.0, 150.0)
SIZE = (320, 240)


def homography(rng) -> np.ndarray:
    """A moderate similarity-plus-perspective that keeps BOX inside a 320 x 240 image."""
    a = np.radians(rng.uniform(-20, 20))
    s = rng.uniform(0.8, 1.2)
    h = np.array([[s * np.cos(a), -s * np.sin(a), rng.uniform(20, 60)],
                  [s * np.sin(a), s * np.cos(a), rng.uniform(10, 40)],
                  [rng.uniform(-2e-4, 2e-4), rng.uniform(-2e-4, 2e-4), 1.0]])  # fmt: skip
    return h


def warp(pts: np.ndarray, h: np.ndarray) -> np.ndarray:
    return cv2.perspectiveTransform(pts.reshape(-1, 1, 2).astype(np.float64), h).reshape(-1, 2)


def box_corners() -> np.ndarray:
    x1, y1, x2, y2 = BOX
    return np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]])


class Scene:
    """A benchmark "hl" (3 queries, 12 database images) and hloc files for it: every positive is
    its query's box under a known homography (its label is the warped box); hloc's names hold
    folders ('query/query_000.jpg', 'db/db_0003.jpg')."""

    def __init__(self, root: Path, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.root = root
        self.queries = [{"easy": [3 * q, 3 * q + 1], "hard": [3 * q + 2], "junk": [], "bbx": list(BOX)} for q in range(3)]
        self.h = {(q, i): homography(rng) for q, spec in enumerate(self.queries) for i in (*spec["easy"], *spec["hard"])}
        labels = {pair: [warp(box_corners(), h)] for pair, h in self.h.items()}
        write_release(root, "hl", self.queries, 12, labels, size=SIZE)
        self.bench = load_benchmark(root, "hl")
        self.kpts: dict[str, np.ndarray] = {}
        self.matches: dict[tuple[str, str], np.ndarray] = {}  # (name0, name1) -> (k, 2)
        self.rng = rng
        self.pairs = []
        for q in range(3):
            qn = self.qname(q)
            inside = np.c_[rng.uniform(BOX[0] + 2, BOX[2] - 2, 60), rng.uniform(BOX[1] + 2, BOX[3] - 2, 60)]
            outside = np.c_[rng.uniform(200, 310, 40), rng.uniform(160, 230, 40)]
            self.kpts[qn] = np.concatenate([inside, outside])
            order = [i for i in range(12) if (q, i) not in self.h] + [i for i in range(12) if (q, i) in self.h]
            for i in order:  # retrieval order: negatives first, so re-ranking by inliers shows
                self.pairs.append((qn, self.dname(i)))
        for i in range(12):
            dn = self.dname(i)
            self.kpts[dn] = np.c_[rng.uniform(0, SIZE[0], 120), rng.uniform(0, SIZE[1], 120)]
        for qn, dn in self.pairs:
            q, i = int(qn[-7:-4]), int(dn[-8:-4])
            k = self.kpts[dn]
            if (q, i) in self.h:  # 50 true matches (their database keypoints placed by H), 10 wrong ones
                k[:50] = warp(self.kpts[qn][:50], self.h[(q, i)])
                true = np.c_[np.arange(50), np.arange(50)]
                wrong = np.c_[50 + rng.permutation(50)[:10], 60 + rng.permutation(60)[:10]]  # one match per keypoint
                self.matches[(qn, dn)] = np.concatenate([true, wrong])
            else:
                self.matches[(qn, dn)] = np.c_[rng.permutation(100)[:30], rng.permutation(120)[:30]]

    @staticmethod
    def qname(q: int) -> str:
        return f"query/query_{q:03d}.jpg"

    @staticmethod
    def dname(i: int) -> str:
        return f"db/db_{i:04d}.jpg"

    def write(self, reverse: set | None = None, old: set | None = None) -> tuple[Path, Path, Path]:
        """pairs.txt, features.h5, matches.h5; pairs in ``reverse`` stored the other way round,
        in ``old`` under the older '_' names."""
        pairs = self.root / "pairs.txt"
        pairs.write_text("".join(f"{a} {b}\n" for a, b in self.pairs))
        feats = self.root / "features.h5"
        with h5py.File(feats, "w") as f:
            for name, k in self.kpts.items():
                g = f.create_group(name)  # '/' in a name: nested groups, as hloc writes them
                g.create_dataset("keypoints", data=k.astype(np.float32))
                g.create_dataset("descriptors", data=self.rng.normal(size=(8, len(k))).astype(np.float32))
                g.create_dataset("image_size", data=np.array(SIZE))
        matches = self.root / "matches.h5"
        with h5py.File(matches, "w") as f:
            for (a, b), m in self.matches.items():
                rev = reverse is not None and (a, b) in reverse
                n0, n1 = (b, a) if rev else (a, b)
                mm = m[:, ::-1] if rev else m
                m0 = np.full(len(self.kpts[n0]), -1, np.int32)
                m0[mm[:, 0]] = mm[:, 1]
                sep = "_" if old is not None and (a, b) in old else "/"
                g = f.create_group(hloc.names_to_pair(n0, n1, sep))
                g.create_dataset("matches0", data=m0)
                g.create_dataset("matching_scores0", data=(m0 >= 0).astype(np.float16))
        return pairs, feats, matches


@pytest.fixture
def scene(tmp_path):
    return Scene(tmp_path)


def test_pair_names_as_hloc_writes_them():
    assert hloc.names_to_pair("query/q.jpg", "db/sub/x.jpg") == "query-q.jpg/db-sub-x.jpg"
    assert hloc.names_to_pair("a", "b", "_") == "a_b"


def test_matches_are_read_in_either_stored_order_and_old_names(scene):
    pairs = set(scene.pairs)
    some = sorted(pairs)[:8]
    _, _, matches = scene.write(reverse=set(some[:4]), old=set(some[2:6]))
    with h5py.File(matches) as f:
        for a, b in some:
            got = hloc.read_matches(f, matches, a, b, len(scene.kpts[a]), len(scene.kpts[b]))
            want = scene.matches[(a, b)]
            assert sorted(map(tuple, got)) == sorted(map(tuple, want)), (a, b)
        assert hloc.find_pair(f, some[0][0], some[0][1])[1] is True  # stored reversed
        with pytest.raises(PixretError, match="no matches for the pair query/query_000.jpg nope.jpg"):
            hloc.read_matches(f, matches, "query/query_000.jpg", "nope.jpg", 100, 120)


def test_the_pairs_file_is_read_against_the_benchmark(scene, tmp_path):
    pairs, _, _ = scene.write()
    with open(pairs, "a") as fh:  # hloc's SfM pairs hold database-to-database lines: skipped, counted
        fh.write("db/db_0001.jpg db/db_0002.jpg\n# a comment\n\nquery/query_000.jpg db/db_0000.jpg\n")
    read = hloc.read_pairs(pairs, scene.bench)
    assert read.ranked[0][-3:] == [0, 1, 2] and len(read.ranked[0]) == 12
    assert read.skipped == {"first image is not a query": 1, "pair given twice (the first kept)": 1}
    bad = tmp_path / "bad.txt"
    bad.write_text("query/query_000.jpg db/db_0000.jpg\nquery/query_000.jpg elsewhere/x.jpg\n")
    with pytest.raises(PixretError, match=r"bad.txt:2: 'elsewhere/x.jpg' is not a database image of benchmark 'hl'"):
        hloc.read_pairs(bad, scene.bench)


def test_each_verified_image_gets_the_box_under_its_homography(scene, tmp_path):
    pairs, feats, matches = scene.write(reverse={scene.pairs[-1]})
    read = hloc.read_pairs(pairs, scene.bench)
    fits = hloc.verify_pairs(scene.bench, read, feats, matches, hloc.get_config("fast"))
    assert set(fits) == set(scene.h)  # every positive, no negative
    for pair, fit in fits.items():
        assert fit.inliers >= 40
        np.testing.assert_allclose(warp(box_corners(), fit.homography), warp(box_corners(), scene.h[pair]), atol=0.5)
    run = hloc.to_results(scene.bench, read, fits, "inliers", "box")
    for q in range(3):  # verified first
        assert set(run.ranks[:3, q].tolist()) == {3 * q, 3 * q + 1, 3 * q + 2}
    kept = hloc.to_results(scene.bench, read, fits, "retrieval", "box")
    assert kept.ranks[:9, 0].tolist() == [i for i in range(12) if i > 2]
    pred = run.pixels[(1, 4)].polygons[0]  # the warped box (its corners, in the order shapely gives)
    want = warp(box_corners(), scene.h[(1, 4)])
    assert len(pred) == 4 and all(np.abs(want - p).sum(1).min() < 0.5 for p in pred)
