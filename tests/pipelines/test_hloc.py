"""hloc's files (pipelines/hloc.py) on h5 files the tests write in hloc's documented layout
(h5py; no hloc install): pair names, either stored order, the old '_' names, the pairs file
read against a benchmark, and the homography carried into each verified image."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest

from pixret.datasets import load_benchmark, write_labelme
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


def object_outline() -> np.ndarray:
    """A hexagon inside BOX: the object, where it does not fill its box."""
    x1, y1, x2, y2 = BOX
    cx, cy, rx, ry = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2 - 6, (y2 - y1) / 2 - 6
    a = np.radians(np.arange(0, 360, 60))
    return np.c_[cx + rx * np.cos(a), cy + ry * np.sin(a)]


class Scene:
    """A benchmark "hl" (3 queries, 12 database images) and hloc files for it: every positive is
    its query's box under a known homography (its label is the warped box); hloc's names hold
    folders ('query/query_000.jpg', 'db/db_0003.jpg'). ``images``: the benchmark's images are
    written too (320 x 240); ``masks``: the object is a hexagon inside the box, labelled in each
    positive and in each query's mask (queries/hl/q.json)."""

    def __init__(self, root: Path, seed: int = 0, images: bool = False, masks: bool = False):
        rng = np.random.default_rng(seed)
        self.root = root
        self.queries = [{"easy": [3 * q, 3 * q + 1], "hard": [3 * q + 2], "junk": [], "bbx": list(BOX)} for q in range(3)]
        self.h = {(q, i): homography(rng) for q, spec in enumerate(self.queries) for i in (*spec["easy"], *spec["hard"])}
        shape = object_outline() if masks else box_corners()
        labels = {pair: [warp(shape, h)] for pair, h in self.h.items()}
        base = write_release(root, "hl", self.queries, 12, labels, size=SIZE, images=images)
        for q in range(3) if masks else ():
            write_labelme(base / "queries" / "hl" / f"{q}.json", [shape], *SIZE)
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
    assert read.skipped == {"first image is not a query": 1, "pair given twice (the first kept)": 1,
                            "a comment (starts with '#', and is no pair of the benchmark's images)": 1}  # fmt: skip
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


def _edit(path: Path, change) -> Path:
    """A copy of an h5 file beside it (a new name each time), changed by ``change(h5py.File)``."""
    out = path.with_name(f"edited{len(list(path.parent.glob('edited*')))}-{path.name}")
    shutil.copyfile(path, out)
    with h5py.File(out, "r+") as f:
        change(f)
    return out


def _replace(f, name: str, data) -> None:
    del f[name]
    f[name] = data


def _run(scene: Scene, pairs: Path, feats: Path, matches: Path, carry: str = "box"):
    return hloc.main(scene.bench, pairs, feats, matches, scene.root / "run", "sp+lg", "fast", carry=carry)


def test_declared_image_sizes_are_checked_against_the_images(tmp_path):
    """Issue 32 item 4: an image_size of 1e6 x 1e6 made the inlier threshold huge (12 pairs
    verified instead of 5); (1.5, 1.9) became 1 x 1 and lost every mask; keypoints far outside
    the image were taken. Each is one line naming the file, checked against the image."""
    scene = Scene(tmp_path, images=True)
    pairs, feats, matches = scene.write()
    sizes = {"huge": np.array([1_000_000, 1_000_000]), "fraction": np.array([1.5, 1.9]),
             "swapped": np.array(SIZE[::-1]), "half": np.array([160, 120])}  # fmt: skip
    for why, message in (("huge", r"query/query_000.jpg/image_size says 1000000x1000000, but the image is 320x240"),
                         ("fraction", r"image_size: expected \(width, height\) in whole pixels, .* got \(1.5, 1.9\)"),
                         ("swapped", r"image_size says 240x320, but the image is 320x240"),
                         ("half", r"image_size says 160x120, but the image is 320x240")):  # fmt: skip
        bad = _edit(feats, lambda f, why=why: [_replace(f, f"{n}/image_size", sizes[why]) for n in scene.kpts])
        with pytest.raises(PixretError, match=message) as err:
            _run(scene, pairs, bad, matches)
        assert str(bad) in str(err.value) and "\n" not in str(err.value)
    # the size of the database image alone
    bad = _edit(feats, lambda f: _replace(f, "db/db_0004.jpg/image_size", np.array([1_000_000, 1_000_000])))
    with pytest.raises(PixretError, match="db/db_0004.jpg/image_size says 1000000x1000000"):
        _run(scene, pairs, bad, matches)
    # keypoints of another image: far outside the one declared
    far = scene.kpts["db/db_0005.jpg"] + [5000, 0]
    bad = _edit(feats, lambda f: _replace(f, "db/db_0005.jpg/keypoints", far.astype(np.float32)))
    with pytest.raises(PixretError, match=r"db/db_0005.jpg/keypoints: 120 of 120 lie outside the image its "
                                          r"image_size declares \(320x240; first: \(5"):  # fmt: skip
        _run(scene, pairs, bad, matches)
    folder, _ = _run(scene, pairs, feats, matches)  # the files as written: accepted, every size checked
    assert not any("could not be checked" in n for n in folder.read_scores()["notes"])


def test_sizes_nothing_gives_are_said_in_a_note(scene):
    """Without the images, a label gives a positive's size; the others are counted in a note."""
    pairs, feats, matches = scene.write()
    folder, _ = _run(scene, pairs, feats, matches)
    note = next(n for n in folder.read_scores()["notes"] if "could not be checked" in n)
    assert "of 6 of 15 images could not be checked" in note and str(feats) in note  # 3 queries, 3 negatives
    bad = _edit(feats, lambda f: _replace(f, "db/db_0001.jpg/image_size", np.array([640, 480])))  # a positive: labelled
    with pytest.raises(PixretError, match=r"db/db_0001.jpg/image_size says 640x480, but the image is 320x240 \(.*its label"):
        _run(scene, pairs, bad, matches)
    # keypoints in the top-left corner of a huge declared image: no image's keypoints look so
    bad = _edit(feats, lambda f: _replace(f, "db/db_0010.jpg/image_size", np.array([20_000, 20_000])))
    with pytest.raises(PixretError, match=r"db/db_0010.jpg: every keypoint lies in the top-left .* of the 20000x20000"):
        _run(scene, pairs, bad, matches)
    bad = _edit(feats, lambda f: _replace(f, "db/db_0010.jpg/image_size", np.array([1_000_000, 1_000_000])))
    with pytest.raises(PixretError, match=r"db/db_0010.jpg/image_size says 1000000x1000000: larger than any image"):
        _run(scene, pairs, bad, matches)


def test_a_pairs_name_that_is_a_folder_or_a_dot_is_one_line(scene, tmp_path):
    """Issue 32 item 9: a name '/' or '.' raised ValueError (PurePosixPath has an empty name)."""
    scene.write()
    for n, line in enumerate(("/ db/db_0000.jpg", ". db/db_0000.jpg", "query/query_000.jpg /",
                              "query/query_000.jpg .", "query/query_000.jpg ..", "// .")):  # fmt: skip
        bad = tmp_path / f"bad{n}.txt"
        bad.write_text(f"query/query_000.jpg db/db_0000.jpg\n{line}\n")
        with pytest.raises(PixretError, match=rf"bad{n}.txt:2: '.*' is not (a|an) (database )?image of benchmark 'hl'"):
            hloc.read_pairs(bad, scene.bench)


def _h5_damage(scene: Scene, feats: Path, matches: Path) -> dict[str, tuple[Path, Path, str]]:
    """Damaged hloc files: name -> (features, matches, the problem the line must name)."""
    q0, d0 = "query/query_000.jpg", "db/db_0000.jpg"
    pair = hloc.names_to_pair(q0, d0)
    n0 = len(scene.kpts[q0])
    feats_cases = {
        "keypoints as text": (lambda f: _replace(f, f"{d0}/keypoints", np.array([b"a", b"b"])), "keypoints: expected (N, 2)"),
        "keypoints (N, 3)": (lambda f: _replace(f, f"{d0}/keypoints", np.zeros((5, 3))), "keypoints: expected (N, 2)"),
        "keypoints complex": (lambda f: _replace(f, f"{d0}/keypoints", np.zeros((5, 2), complex)), "keypoints: expected"),
        "keypoints NaN": (lambda f: _replace(f, f"{d0}/keypoints", np.full((5, 2), np.nan)), "NaN or infinite"),
        "keypoints inf": (lambda f: _replace(f, f"{d0}/keypoints", np.full((5, 2), np.inf)), "NaN or infinite"),
        "keypoints a scalar": (lambda f: _replace(f, f"{d0}/keypoints", 3.0), "keypoints: expected (N, 2)"),
        "keypoints a group": (lambda f: (f.__delitem__(f"{d0}/keypoints"), f.create_group(f"{d0}/keypoints")),
                              "a group where hloc writes a dataset"),
        "keypoints empty": (lambda f: (f.__delitem__(f"{d0}/keypoints"),
                                       f.create_dataset(f"{d0}/keypoints", data=h5py.Empty("f"))), "null"),
        "keypoints dangling": (lambda f: (f.__delitem__(f"{d0}/keypoints"),
                                          f.__setitem__(f"{d0}/keypoints", h5py.SoftLink("/nowhere"))), "leads nowhere"),
        "keypoints external": (lambda f: (f.__delitem__(f"{d0}/keypoints"),
                                          f.__setitem__(f"{d0}/keypoints", h5py.ExternalLink("gone.h5", "/k"))),
                               "db/db_0000.jpg/keypoints"),
        "image a dataset": (lambda f: (f.__delitem__(d0), f.create_dataset(d0, data=np.zeros(3))),
                            "a dataset where hloc writes a group"),
        "image_size of 3": (lambda f: _replace(f, f"{d0}/image_size", np.array([320, 240, 3])), "image_size: expected"),
        "image_size text": (lambda f: _replace(f, f"{d0}/image_size", np.array([b"320", b"240"])), "image_size: expected"),
        "image_size 0": (lambda f: _replace(f, f"{d0}/image_size", np.array([0, 240])), "image_size: expected"),
        "image_size NaN": (lambda f: _replace(f, f"{d0}/image_size", np.array([np.nan, 240])), "image_size: expected"),
        "image_size missing": (lambda f: f.__delitem__(f"{d0}/image_size"), "no 'image_size' dataset"),
    }
    matches_cases = {
        "matches0 float": (lambda f: _replace(f, f"{pair}/matches0", np.zeros(n0)), "matches0: expected (100,) integers"),
        "matches0 2-D": (lambda f: _replace(f, f"{pair}/matches0", np.zeros((n0, 1), int)), "matches0: expected (100,)"),
        "matches0 too short": (lambda f: _replace(f, f"{pair}/matches0", np.zeros(3, int)), "matches0: expected (100,)"),
        "matches0 past the end": (lambda f: _replace(f, f"{pair}/matches0", np.full(n0, 120)), "indices outside -1..119"),
        "matches0 below -1": (lambda f: _replace(f, f"{pair}/matches0", np.full(n0, -7)), "indices outside -1..119"),
        "matches0 uint64 max": (lambda f: _replace(f, f"{pair}/matches0", np.full(n0, 2**64 - 1, np.uint64)),
                                "indices outside -1..119"),
        "matches0 a group": (lambda f: (f.__delitem__(f"{pair}/matches0"), f.create_group(f"{pair}/matches0")),
                             "a group where hloc writes a dataset"),
        "pair a dataset": (lambda f: (f.__delitem__(pair), f.create_dataset(pair, data=np.zeros(3))),
                           "a dataset where hloc writes a group"),
        "matches0 missing": (lambda f: f.__delitem__(f"{pair}/matches0"), "no 'matches0' dataset"),
    }
    out = {name: (_edit(feats, change), matches, why) for name, (change, why) in feats_cases.items()}
    out |= {name: (feats, _edit(matches, change), why) for name, (change, why) in matches_cases.items()}
    for name, src in (("features truncated", feats), ("matches truncated", matches)):
        cut = src.with_name(f"cut-{src.name}")
        cut.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
        out[name] = (cut, matches, "not an HDF5 file") if src == feats else (feats, cut, "not an HDF5 file")
    return out


def test_damaged_hdf5_content_is_one_line_naming_the_file(scene):
    """Issue 32 item 9: damaged HDF5 content (wrong dtypes and shapes, NaN / inf keypoints, a
    group where a dataset belongs, indices out of range, a truncated file, links to nothing) is
    one PixretError naming the file and the problem, never a traceback."""
    pairs, feats, matches = scene.write()
    cases = _h5_damage(scene, feats, matches)
    for name, (f, m, why) in cases.items():
        try:
            _run(scene, pairs, f, m)
        except PixretError as exc:
            text = str(exc)
            assert why in text and "\n" not in text, (name, text)
            assert str(f if f != feats else m) in text, (name, text)  # the damaged file is the one named
        else:
            raise AssertionError(f"{name}: accepted")


def _compressed(src: Path) -> Path:
    """The same hloc file with its arrays in gzip-compressed chunks (h5py's ``compression``)."""
    out = src.with_name(f"gzip-{src.name}")
    with h5py.File(src) as a, h5py.File(out, "w") as b:
        names = []
        a.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
        for name in names:
            b.create_dataset(name, data=a[name][()], compression="gzip", chunks=True)
    return out


def test_corrupted_bytes_in_hloc_files_never_raise_anything_else(scene):
    """Bytes overwritten anywhere in features.h5 or matches.h5 (a damaged disk, a half-copied
    file), plain or with compressed datasets (a chunk that no longer inflates was an OSError
    traceback): the import ends well or with one PixretError naming the file."""
    pairs, feats, matches = scene.write()
    feats, matches = _compressed(feats), _compressed(matches)
    read, conf = hloc.read_pairs(pairs, scene.bench), hloc.get_config("fast")
    assert len(hloc.verify_pairs(scene.bench, read, feats, matches, conf)) == 9  # whole, they read as they are
    rng = np.random.default_rng(7)
    for src in (feats, matches):
        data = src.read_bytes()
        for k in range(32):
            at = int(len(data) * (k + 0.5) / 32)
            broken = bytearray(data)
            broken[at : at + 48] = rng.integers(0, 256, 48, dtype=np.uint8).tobytes()
            bad = src.with_name(f"broken{k}-{src.name}")
            bad.write_bytes(bytes(broken))
            f, m = (bad, matches) if src == feats else (feats, bad)
            try:
                hloc.verify_pairs(scene.bench, read, f, m, conf)
            except PixretError as exc:
                assert "\n" not in str(exc) and str(bad) in str(exc), str(exc)
