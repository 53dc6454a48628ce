"""The index (engine/index.py): search quality, determinism, a failed rebuild loses nothing, writers are locked out of each other, damage is one line."""

import fcntl
import json
import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import pixret.engine.store as store_module
from pixret.engine import Index, get_config
from pixret.errors import IndexWarning, PixretError
from pixret.evaluation import PixelPrediction, strict_iou


def test_search_finds_the_object_and_its_pixels(bench, index):
    found, ious = 0, []
    for q in bench.queries:
        r = index.search_full(bench.query_image(q.index), q.box)
        verified = [h for h in r.hits if h.verified]
        easy = set(q.easy.tolist())
        found += len(easy & {h.index for h in verified})
        # no unrelated image verified, at any rank (chance inliers fail the keypoint check)
        assert all(h.index in set(q.positives.tolist()) | set(q.junk.tolist()) for h in verified)
        for h in verified:
            gt = bench.gt(q.index, h.index)
            if gt is not None:
                ious.append(strict_iou(PixelPrediction(h.polygons), gt.polygons, gt.height, gt.width)[1])
                assert h.mask.shape == (gt.height, gt.width)
        assert sorted(r.ranking.tolist()) == list(range(bench.n_database))
    assert found >= 0.7 * sum(len(q.easy) for q in bench.queries)
    assert np.median(ious) > 0.6


def test_tight_mask_beats_the_projected_box(bench, index):
    tight, box = [], []
    for q in bench.queries:
        for h in index.search(bench.query_image(q.index), q.box):
            gt = bench.gt(q.index, h.index) if h.verified else None
            if gt is not None:
                tight.append(
                    strict_iou(PixelPrediction(h.tight_polygons), gt.polygons, gt.height, gt.width)[1]
                )
                box.append(strict_iou(PixelPrediction(h.box_polygons), gt.polygons, gt.height, gt.width)[1])
    assert np.mean(tight) > np.mean(box)


def test_same_collection_same_index(bench, index, tmp_path):
    paths = [bench.database_image(i) for i in range(bench.n_database)]
    other = Index.build(paths, get_config("fast"), tmp_path / "again", progress=False)
    for i in range(len(index)):
        assert all(np.array_equal(a, b) for a, b in zip(index.features(i), other.features(i), strict=True))
    assert (index.quantizer.centroids == other.quantizer.centroids).all()
    assert [s.folder.name for s in index.shards.shards] == [s.folder.name for s in other.shards.shards]
    # per image, plus what the vocabulary costs whatever the collection (idf of the split words,
    # the centroids)
    fixed = index.shards.idf.nbytes + index.quantizer.centroids.nbytes
    assert index.memory_bytes() < len(index) * 64 + fixed
    assert index.shortlist_bytes() < len(index) * 6 * 1024 + fixed


def test_index_errors(bench, index, tmp_path):
    meta = json.loads((index.root / "index.json").read_text())
    broken = tmp_path / "old"
    broken.mkdir()
    (broken / "index.json").write_text(json.dumps({**meta, "version": 0}))
    with pytest.raises(PixretError, match="build the index again"):
        Index.open(broken)
    (tmp_path / "half" / "features").mkdir(parents=True)
    with pytest.raises(PixretError, match="half-written"):
        Index.open(tmp_path / "half")
    q = bench.queries[0]
    img = bench.query_image(0)
    with pytest.raises(PixretError, match="empty"):
        index.search(img, (50, 50, 40, 80))
    with pytest.raises(PixretError, match="outside"):
        index.search(img, (5000, 5000, 6000, 6000))
    flat = np.full((300, 300, 3), 127, np.uint8)
    with pytest.raises(PixretError, match="features inside the box"):
        index.search(flat, (10, 10, 200, 200))
    assert index.search(img, q.box, top=2)


def test_exhaustive_baseline_config(bench, feature_cache, tmp_path):
    paths = [bench.database_image(i) for i in range(bench.n_database)]
    idx = Index.build(paths, get_config("sift-sp"), tmp_path / "sp", progress=False, features_dir=feature_cache)
    q = bench.queries[0]
    hits = [h for h in idx.search(bench.query_image(0), q.box) if h.verified]
    assert hits and hits[0].index in set(q.positives.tolist())
    assert hits[0].polygons == hits[0].box_polygons  # the baseline outputs the projected box


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
    with (
        pytest.warns(IndexWarning, match="junk.jpg: skipped"),
        pytest.raises(PixretError, match="the index is unchanged"),
    ):
        Index.build([junk], get_config("fast"), root, progress=False)
    again = Index.open(root)
    assert len(again) == 6 and _same_search(idx, again, bench)


def test_a_crash_while_writing_leaves_the_old_index_whole(small, bench, monkeypatch):
    idx, paths = small

    def boom(*args, **kwargs):
        raise RuntimeError("killed while writing")

    monkeypatch.setattr(store_module, "global_idf", boom)
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
    with pytest.raises(PixretError, match="v1 .* this pixret reads pixret-index v3: build the index again"):
        Index.open(old)


def test_add_keeps_the_full_shards_and_rewrites_the_last(bench, feature_cache, tmp_path):
    cfg = get_config("fast")
    cfg = replace(cfg, shortlist=replace(cfg.shortlist, shard_size=4))
    paths = [bench.database_image(i) for i in range(10)]
    idx = Index.build(paths[:6], cfg, tmp_path / "idx", workers=1, progress=False, features_dir=feature_cache)
    first = [s.folder for s in idx.shards.shards]
    assert [len(s) for s in idx.shards.shards] == [4, 2]
    stamp = first[0].stat().st_mtime_ns
    grown = idx.add(paths[6:], workers=1, progress=False)
    now = [s.folder for s in grown.shards.shards]
    assert [len(s) for s in grown.shards.shards] == [4, 4, 2]
    assert now[0] == first[0] and now[0].stat().st_mtime_ns == stamp  # kept, not written again
    assert not first[1].exists()  # the partial shard was replaced, and nothing else is left over
    assert sorted(p.name for p in (idx.root / "shards").iterdir()) == sorted(p.name for p in now)
    whole = Index.build(paths, cfg, tmp_path / "whole", workers=1, progress=False, features_dir=feature_cache)  # its own vocabulary
    assert all(np.array_equal(grown.features(i)[0], whole.features(i)[0]) for i in range(10))
    assert len(grown.shards.idf) == len(idx.shards.idf) and not np.array_equal(grown.shards.norms[:6], idx.shards.norms)


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
        (lambda d, r: (r / "index.json").write_text('{"format": "pixret-index", "version": 3}'), "damaged index"),
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
    with pytest.raises(PixretError, match="features of image 0 of this shard fail their checksum"):
        Index.open(copy).side(0)


def _overwrite(name: str, fill=None):
    """Overwrite a shard array's data in place, same size (the header kept): with ``fill`` bytes,
    or each byte's complement."""

    def damage(d, r):
        path = _shard_file(name)(d, r)
        arr = np.load(path, mmap_mode="r")
        head = path.stat().st_size - arr.nbytes
        data = bytearray(path.read_bytes())
        body = data[head:]
        data[head:] = bytes([fill] * len(body)) if fill is not None else bytes(255 - b for b in body)
        path.write_bytes(bytes(data))

    return damage


def _shards_json(change):
    def damage(d, r):
        names = json.loads((d / "shards.json").read_text())
        (d / "shards.json").write_text(json.dumps(change(names)))

    return damage


def _catalog_size(d, r):
    """The first catalog line's width written as a word of the same length: "640" -> "abc"."""
    text = (d / "images.jsonl").read_text()
    a = text.index('"size":[') + len('"size":[')
    b = text.index(",", a)
    (d / "images.jsonl").write_text(text[:a] + '"' + "x" * (b - a - 2) + '"' + text[b:])


def _nan_norms(d, r):
    n = np.load(d / "norms.npy")
    np.save(d / "norms.npy", np.full_like(n, np.nan))


@pytest.fixture(scope="module")
def two_shards(bench, feature_cache, tmp_path_factory):
    """An index of 8 images in two shards, built once; tests damage copies."""
    cfg = get_config("fast")
    cfg = replace(cfg, shortlist=replace(cfg.shortlist, shard_size=4))
    root = tmp_path_factory.mktemp("two") / "idx"
    Index.build([bench.database_image(i) for i in range(8)], cfg, root, workers=1, progress=False,
                features_dir=feature_cache)  # fmt: skip
    return root


@pytest.mark.parametrize(
    "damage",
    [
        _shards_json(lambda n: n[::-1]), _shards_json(lambda n: [n[0], n[0]]), _overwrite("post_words", 0),
        _nan_norms, _overwrite("kpts"), _overwrite("sigs"), _overwrite("desc"), _overwrite("post_df"),
        _overwrite("post_ids", 0xFF), _catalog_size,
    ],
    ids=["shards-swapped", "shard-twice", "post_words-zeroed", "norms-nan", "kpts", "sigs", "desc", "post_df",
         "post_ids-0xff", "catalog-size-text"],
)  # fmt: skip
def test_same_size_damage_is_one_line_never_another_answer(two_shards, bench, tmp_path, damage):
    # issue 26: each of these gave a different answer with exit 0, or a traceback
    root = tmp_path / "idx"
    shutil.copytree(two_shards, root)
    data = root / json.loads((root / "index.json").read_text())["generation"]
    damage(data, root)
    q = bench.queries[0]
    with pytest.raises(PixretError, match="damaged index") as err:
        idx = Index.open(root)
        for i in range(len(idx)):  # what a search reads of every image and shard
            idx.side(i)
        idx.search(bench.query_image(0), q.box)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("name, fill", [("post_ids", 0xFF), ("kpts", None), ("post_words", 0)])
def test_damage_after_the_first_search_is_seen_by_the_next(two_shards, bench, tmp_path, name, fill):
    # issue 26 re-check: a live server checked each shard once, so a file overwritten in place
    # after its first search gave a 500 (post_ids) or other answers (kpts, post_words)
    root = tmp_path / "idx"
    shutil.copytree(two_shards, root)
    data = root / json.loads((root / "index.json").read_text())["generation"]
    idx = Index.open(root)
    q = bench.queries[0]
    assert idx.search(bench.query_image(0), q.box)  # every shard and the images searched are checked
    time.sleep(0.05)  # past the file system's timestamp granularity
    _overwrite(name, fill)(data, root)
    with pytest.raises(PixretError, match="damaged index"):
        idx.search(bench.query_image(0), q.box)


def test_an_image_replaced_after_indexing_is_not_served(bench, tmp_path):
    # issue 26: a file named in the catalog but not the one indexed was served
    photos = tmp_path / "photos"
    photos.mkdir()
    paths = [Path(shutil.copy(bench.database_image(i), photos)) for i in range(2)]
    idx = Index.build(paths, get_config("fast"), tmp_path / "idx", workers=1, progress=False)
    assert idx.image_path(0) == paths[0].resolve()
    paths[0].write_bytes(paths[1].read_bytes() + b"another file now")
    with pytest.raises(PixretError, match="replaced by another file since indexing"):
        idx.image_path(0)
    paths[0].unlink()
    with pytest.raises(PixretError, match="moved or deleted"):
        idx.image_path(0)


def test_compact_index_finds_the_objects_without_descriptors(bench, index, feature_cache, tmp_path):
    paths = [bench.database_image(i) for i in range(bench.n_database)]
    small = Index.build(paths, get_config("fast-compact"), tmp_path, workers=1, progress=False,
                        features_dir=feature_cache)  # fmt: skip
    for shard in small.shards.shards:
        assert shard.desc.shape[1] == 0 and shard.kpts.dtype == np.float16
    assert small.disk_bytes() < 0.5 * index.disk_bytes()
    found = total = 0
    for q in bench.queries:
        hits = [h for h in small.search(bench.query_image(q.index), q.box) if h.verified]
        related = set(q.positives.tolist()) | set(q.junk.tolist())
        assert all(h.index in related for h in hits)  # nothing unrelated verified
        found += len({h.index for h in hits} & set(q.easy.tolist()))
        total += len(q.easy)
        assert all(h.polygons for h in hits)
    assert found >= 0.6 * total
    reopened = Index.open(tmp_path)
    assert reopened.cfg.compact and len(reopened) == len(small)


def test_an_index_json_that_is_not_a_file_is_one_line_not_a_hang(small, tmp_path):
    import os

    idx, _ = small
    (idx.root / "index.json").unlink()
    os.mkfifo(idx.root / "index.json")  # reading it would wait for a writer forever
    with pytest.raises(PixretError, match="index.json: is not a regular file"):
        Index.open(idx.root)


def test_a_first_build_refused_by_its_scheduler_leaves_no_folder(bench, tmp_path):
    with pytest.raises(PixretError, match="no Dask scheduler answers at tls://127.0.0.1:1"):
        Index.build([bench.database_image(0)], get_config("fast"), tmp_path / "new", scheduler="tls://127.0.0.1:1",
                    progress=False)  # fmt: skip
    assert not (tmp_path / "new").exists()


def test_sides_are_the_images_read_one_by_one(index):
    # issue 33: the candidates' features are asked of the disk all at once, then read
    ids = [5, 0, 5, len(index) - 1]
    for got, want in zip(index.sides(ids), [index.side(i) for i in ids], strict=True):
        assert got.size == want.size
        assert all(np.array_equal(getattr(got, k), getattr(want, k)) for k in ("kpts", "desc", "words", "sigs"))
    assert index.sides([]) == []


def test_warming_reads_the_index_into_memory_and_minds_the_memory_left(index, tmp_path, monkeypatch):
    # issue 33: a server after a restart searched a cold page cache; `pixret serve` warms it
    from pixret.engine import pagecache

    root = tmp_path / "idx"
    shutil.copytree(index.root, root, ignore=shutil.ignore_patterns("features"))
    idx = Index.open(root)
    files = idx.files()
    assert root / "index.json" in files and all(p.is_file() for p in files)
    feats = [p for p in files if p.parent.parent.name == "shards" and p.stem in ("kpts", "words", "sigs", "desc")]
    pagecache.evict(files)
    assert pagecache.resident(feats)[0] < 0.1 * pagecache.resident(feats)[1]
    seen = []
    monkeypatch.setattr(pagecache, "available_memory", lambda: 1000)  # no room: only the postings
    out = idx.warm(lambda stage, done, total: seen.append((stage, done, total)))
    assert out["features"] == 0 and out["skipped"].startswith("the features need")
    assert out["postings"] == sum(s.postings_nbytes() + s.rows.nbytes for s in idx.shards.shards)
    assert seen and seen[-1] == ("postings", out["postings"], out["postings"])
    monkeypatch.setattr(pagecache, "available_memory", lambda: 1 << 40)
    seen.clear()
    out = idx.warm(lambda stage, done, total: seen.append((stage, done, total)))
    size = sum(p.stat().st_size for p in feats)
    assert out["skipped"] is None and out["features"] == size and seen[-1] == ("features", size, size)
    assert pagecache.resident(feats) == (size, size)
    assert idx.warm(features=False)["features"] == 0  # the postings again, read through once checked
