"""Building an index, stage by stage (engine/build.py): images skipped and listed, caches reused or described again."""

import json
import os
import shutil

import cv2
import numpy as np
import pytest

from pixret.engine import Index, IndexWarning, get_config
from pixret.errors import PixretError
from tests.helpers import run_cli, same_features


def test_bad_images_are_skipped_and_listed(bench, feature_cache, tmp_path):
    good = [bench.database_image(i) for i in range(4)]
    trunc = tmp_path / "truncated.jpg"
    data = good[0].read_bytes()
    trunc.write_bytes(data[: len(data) * 4 // 5])  # decodes, with the bottom missing
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    with pytest.warns(IndexWarning) as caught:
        idx = Index.build([*good, trunc, text], get_config("fast"), tmp_path / "idx", progress=False,
                          features_dir=feature_cache)  # fmt: skip
    messages = sorted(str(w.message) for w in caught)
    assert "notes.jpg: skipped (unreadable image)" in messages[0]
    assert "truncated.jpg: skipped (truncated JPEG (no end-of-image marker))" in messages[1]
    assert len(idx) == 4 and {s["path"] for s in idx.skipped} == {str(trunc), str(text)}
    grown = idx.add([bench.database_image(i) for i in range(4, 7)], progress=False)
    assert len(grown) == 7


def test_tiny_thin_and_flat_images_are_skipped_and_listed(bench, tmp_path):

    odd = []
    for name, shape in (("dot", (1, 1, 3)), ("strip", (1, 20000, 3)), ("column", (15000, 1, 3))):
        p = tmp_path / f"{name}.png"
        cv2.imwrite(str(p), np.full(shape, 128, np.uint8))
        odd.append(p)
    good = [bench.database_image(i) for i in range(4)]
    with pytest.warns(IndexWarning, match="too small or too thin"):
        idx = Index.build([*good, *odd], get_config("fast"), tmp_path / "idx", progress=False)
    assert len(idx) == 4 and {s["path"] for s in idx.skipped} == {str(p) for p in odd}
    flat = []
    for k in range(3):
        p = tmp_path / f"flat{k}.png"
        cv2.imwrite(str(p), np.full((300, 400, 3), 40 * k, np.uint8))
        flat.append(p)
    with pytest.raises(PixretError, match="too few for a vocabulary .* the index is unchanged"):
        Index.build(flat, get_config("fast"), tmp_path / "idx", progress=False)
    assert len(Index.open(tmp_path / "idx")) == 4


def test_a_truncated_feature_cache_file_is_described_again(small, bench):
    idx, paths = small
    cache = sorted((idx.root / "features").glob("*.npz"))
    cache[0].write_bytes(cache[0].read_bytes()[:100])
    cache[1].write_bytes(b"")
    again = Index.build(paths, get_config("fast"), idx.root, progress=False)
    assert len(again) == 6 and same_features(again, idx)


def test_features_cached_by_another_extractor_are_not_read(small, monkeypatch):
    """The feature cache is keyed by what extracts the features too: files written under another
    OpenCV release (whose SIFT differs) are not read, every image is described again beside them."""
    from pixret.engine import build
    from pixret.engine.features import extractor_identity

    idx, paths = small
    cache = idx.root / "features"
    before = {p.name for p in cache.glob("*.npz")}
    monkeypatch.setattr(build, "extractor_identity", lambda f, device: "opencv 9.9.9 (another release)")
    again = Index.build(paths, get_config("fast"), idx.root, progress=False)
    after = {p.name for p in cache.glob("*.npz")}
    assert len(before) == len(paths) and before < after and len(after - before) == len(paths)
    assert same_features(again, idx)  # the same OpenCV underneath: the same features
    # the identity names the release that describes the features
    assert f"opencv {cv2.__version__}" in extractor_identity.__wrapped__(get_config("fast").features)
    monkeypatch.setattr(cv2, "__version__", "9.9.9")
    assert "opencv 9.9.9" in extractor_identity.__wrapped__(get_config("fast").features)


def test_task_order_does_not_change_the_index(bench, sharded, tmp_path, monkeypatch):
    """Every stage's tasks run in a shuffled order (as on a cluster, where they finish in any
    order): the same bytes as the build that ran them in order, features described afresh."""
    import random

    from pixret.engine.distributed import Runner
    from tests.conftest import SHARDED_CFG
    from tests.helpers import assert_same_index

    rng, ran = random.Random(7), []

    def shuffled(self, fn, items, desc, unit):
        order = list(range(len(items)))
        rng.shuffle(order)
        ran.append(order)
        out = [None] * len(items)
        for k in order:
            out[k] = fn(items[k])
        return out

    monkeypatch.setattr(Runner, "map", shuffled)
    paths = [bench.database_image(i) for i in range(bench.n_database)]
    other = Index.build(paths, SHARDED_CFG, tmp_path / "idx", workers=1, progress=False)
    assert any(o != sorted(o) for o in ran)  # some stage really ran out of order
    assert_same_index(sharded, other)


def test_a_file_name_that_is_not_utf8_is_indexed_searched_and_written(bench, tmp_path):
    """Issue 32 (I1): ``caf\\xe9.jpg`` (bytes that are not UTF-8: Python holds a surrogate escape)
    is hashed by its bytes, printed escaped, and written to JSON so that it resolves to the file."""
    photos = tmp_path / "photos"
    photos.mkdir()
    odd = photos / os.fsdecode(b"caf\xe9.jpg")
    shutil.copy(bench.query_image(0), odd)
    for i in bench.queries[0].positives[:3]:
        shutil.copy(bench.database_image(int(i)), photos / f"p{int(i)}.jpg")
    idx, out = tmp_path / "idx", tmp_path / "out"
    r = run_cli(["index", photos, "--index", idx, "--workers", "1"])
    assert r.returncode == 0 and "indexed 4 images" in r.stdout, r.stderr
    box = ",".join(f"{v:.0f}" for v in bench.queries[0].box)
    r = run_cli(["search", odd, "--index", idx, "--box", box, "--out", out, "--format", "coco", "--format", "labelme"])
    assert r.returncode == 0, r.stderr
    assert "caf\\xe9" in r.stdout  # the table shows the byte, escaped
    (r.stdout + r.stderr).encode("utf-8")  # nothing a terminal cannot print (no lone surrogate)
    coco = json.loads((out / "coco.json").read_text())
    assert odd.resolve() in {(out / im["file_name"]).resolve() for im in coco["images"]}
    labelme = [json.loads(f.read_text()) for f in out.glob("*.json") if f.name != "coco.json"]
    assert odd.resolve() in {(out / doc["imagePath"]).resolve() for doc in labelme}
    r = run_cli(["search", odd, "--index", idx, "--box", box, "--json"])
    assert r.returncode == 0 and json.loads(r.stdout)["query"] == str(odd)
    r = run_cli(["search", odd, "--index", idx, "--box", box, "--pairs-out", tmp_path / "pairs.txt"])
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.splitlines()) == 1
    assert "caf\\xe9.jpg: its name is not UTF-8: hloc's pairs file" in r.stderr
