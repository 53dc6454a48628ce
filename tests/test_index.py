"""The index on disk: a failed rebuild loses nothing, writers are locked out of each other."""

import fcntl
import json
import shutil
from dataclasses import replace

import numpy as np
import pytest

import pixret.engine.index as index_module
from pixret.engine import Index, get_config
from pixret.errors import PixretError


@pytest.fixture
def small(bench, tmp_path):
    """A working 6-image index of its own (the session index is shared by other tests)."""
    paths = [bench.database_image(i) for i in range(6)]
    idx = Index.build(paths, get_config("fast"), tmp_path / "idx", progress=False)
    return idx, paths


def _same_search(a: Index, b: Index, bench) -> bool:
    q = bench.queries[0]
    ra = [(h.index, h.inliers) for h in a.search(bench.query_image(0), q.box)]
    rb = [(h.index, h.inliers) for h in b.search(bench.query_image(0), q.box)]
    return ra == rb


def test_a_failed_rebuild_leaves_the_old_index_whole(small, bench, tmp_path):
    idx, paths = small
    root = idx.root
    with pytest.raises(PixretError, match="no readable images to index in an empty list"):
        Index.build([], get_config("fast"), root, progress=False)
    junk = tmp_path / "junk.jpg"
    junk.write_text("not an image")
    with pytest.warns(UserWarning), pytest.raises(PixretError, match="the index is unchanged"):
        Index.build([junk], get_config("fast"), root, progress=False)
    again = Index.open(root)
    assert len(again) == 6 and _same_search(idx, again, bench)


def test_a_crash_while_writing_leaves_the_old_index_whole(small, bench, monkeypatch):
    idx, paths = small

    def boom(*args, **kwargs):
        raise RuntimeError("killed while writing")

    monkeypatch.setattr(index_module, "global_idf", boom)
    with pytest.raises(RuntimeError):
        Index.build(paths[:3], get_config("fast"), idx.root, progress=False)
    again = Index.open(idx.root)
    assert len(again) == 6 and _same_search(idx, again, bench)
    assert [p.name for p in idx.root.glob("gen-*")] == [idx.generation]  # the half-written one is gone


def test_a_rebuild_swaps_generations_and_readers_keep_theirs(small, bench):
    idx, paths = small
    new = Index.build(paths[:4], get_config("fast"), idx.root, progress=False)
    assert len(new) == 4 and new.generation != idx.generation
    assert [p.name for p in idx.root.glob("gen-*")] == [new.generation]
    # the old object still searches: its arrays are loaded, its descriptors stay mapped
    assert idx.search(bench.query_image(0), bench.queries[0].box)


def test_a_second_writer_is_refused_with_a_message(small):
    idx, paths = small
    with open(idx.root / ".lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fh.write("pixret process 4242")
        fh.flush()
        with pytest.raises(PixretError, match="pixret process 4242 is writing this index"):
            Index.build(paths, get_config("fast"), idx.root, progress=False)
        with pytest.raises(PixretError, match="is writing this index"):
            idx.add(paths[:1], progress=False)
    assert len(Index.open(idx.root)) == 6


def test_adds_through_two_handles_lose_nothing(small, bench):
    idx, _ = small
    other = Index.open(idx.root)
    grown = idx.add([bench.database_image(i) for i in range(6, 9)], progress=False)
    assert len(grown) == 9
    with pytest.raises(PixretError, match="changed since it was opened"):
        other.add([bench.database_image(i) for i in range(9, 11)], progress=False)
    assert len(Index.open(idx.root)) == 9  # the first add is kept
    assert len(Index.open(idx.root).add([bench.database_image(9)], progress=False)) == 10


def test_an_index_of_an_older_format_is_one_line(small, tmp_path):
    idx, _ = small
    old = tmp_path / "old"
    shutil.copytree(idx.root, old)
    meta = json.loads((old / "index.json").read_text())
    (old / "index.json").write_text(json.dumps({**meta, "version": 1}))
    with pytest.raises(PixretError, match="v1 .* this pixret reads pixret-index v2: build the index again"):
        Index.open(old)


def _same_features(a: Index, b: Index) -> bool:
    return len(a) == len(b) and all(
        all(np.array_equal(x, y) for x, y in zip(a.features(i), b.features(i), strict=True)) for i in range(len(a))
    )


def test_add_keeps_the_full_shards_and_rewrites_the_last(bench, tmp_path):
    cfg = get_config("fast")
    cfg = replace(cfg, shortlist=replace(cfg.shortlist, shard_size=4))
    paths = [bench.database_image(i) for i in range(10)]
    idx = Index.build(paths[:6], cfg, tmp_path / "idx", workers=1, progress=False)
    first = [s.folder for s in idx.shards.shards]
    assert [len(s) for s in idx.shards.shards] == [4, 2]
    stamp = first[0].stat().st_mtime_ns
    grown = idx.add(paths[6:], workers=1, progress=False)
    now = [s.folder for s in grown.shards.shards]
    assert [len(s) for s in grown.shards.shards] == [4, 4, 2]
    assert now[0] == first[0] and now[0].stat().st_mtime_ns == stamp  # kept, not written again
    assert not first[1].exists()  # the partial shard was replaced, and nothing else is left over
    assert sorted(p.name for p in (idx.root / "shards").iterdir()) == sorted(p.name for p in now)
    whole = Index.build(paths, cfg, tmp_path / "whole", workers=1, progress=False)  # its own vocabulary
    assert all(np.array_equal(grown.features(i)[0], whole.features(i)[0]) for i in range(10))
    assert len(grown.shards.idf) == len(idx.shards.idf) and not np.array_equal(grown.shards.norms[:6], idx.shards.norms)


def test_tiny_thin_and_flat_images_are_skipped_and_listed(bench, tmp_path):
    import cv2

    odd = []
    for name, shape in (("dot", (1, 1, 3)), ("strip", (1, 20000, 3)), ("column", (15000, 1, 3))):
        p = tmp_path / f"{name}.png"
        cv2.imwrite(str(p), np.full(shape, 128, np.uint8))
        odd.append(p)
    good = [bench.database_image(i) for i in range(4)]
    with pytest.warns(UserWarning, match="too small or too thin"):
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
    assert len(again) == 6 and _same_features(again, idx)


def _shard_file(name: str):
    def path(d, r):
        shard = json.loads((d / "shards.json").read_text())[0]
        return r / "shards" / shard / f"{name}.npy"

    return path


OFFSETS, WORDS, PTR = _shard_file("offsets"), _shard_file("words"), _shard_file("post_ptr")


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d, r: (d / "quantizer.npz").write_bytes((d / "quantizer.npz").read_bytes()[:200]), "damaged index"),
        (lambda d, r: (r / "index.json").write_text("[1, 2]"), "index format None"),
        (lambda d, r: (r / "index.json").write_text('{"format": "pixret-index", "version": 2}'), "damaged index"),
        (lambda d, r: np.save(OFFSETS(d, r), np.load(OFFSETS(d, r))[::-1]), "offsets"),
        (lambda d, r: np.save(PTR(d, r), np.load(PTR(d, r))[:-1]), "inverted file"),
        (lambda d, r: (d / "images.jsonl").write_text('{"a": 1}'), "images"),
        (lambda d, r: (d / "shards.json").write_text('["s-missing"]'), "damaged index"),
    ],
)
def test_damaged_index_files_are_one_line(small, tmp_path, damage, message):
    idx, _ = small
    copy = tmp_path / "copy"
    shutil.copytree(idx.root, copy)
    damage(copy / idx.data.name, copy)
    with pytest.raises(PixretError, match=message):
        Index.open(copy)


def test_a_damaged_word_is_one_line_when_its_image_is_read(small, tmp_path):
    idx, _ = small
    copy = tmp_path / "copy"
    shutil.copytree(idx.root, copy)
    np.save(WORDS(copy / idx.data.name, copy), np.load(WORDS(copy / idx.data.name, copy)) + 60000)
    with pytest.raises(PixretError, match="word id outside"):
        Index.open(copy).side(0)
