"""Index shards and postings (engine/shards.py, engine/postings.py): the compact inverted file,
on tiny hand-made arrays, scores exactly as the reference tf-idf matrix
(tests/reference/tfidf.InvertedFile); every file is checked against its checksum."""

import numpy as np
import pytest

from pixret.engine.postings import global_idf, postings
from pixret.engine.shards import Shard, ShardSet, write_shard
from pixret.errors import PixretError
from tests.reference.tfidf import InvertedFile


def _write(tmp_path, name, fine, offsets):
    n_feat = len(fine)
    arrays = {"offsets": np.asarray(offsets, np.int64), "kpts": np.zeros((n_feat, 4), np.float32),
              "words": np.zeros(n_feat, np.uint16), "sigs": np.zeros(n_feat, np.uint64),
              "desc": np.zeros((n_feat, 0), np.uint8), **postings(np.asarray(fine), np.asarray(offsets))}  # fmt: skip
    write_shard(tmp_path / name, arrays)
    return Shard(tmp_path / name)


def test_sharded_scores_equal_the_reference_matrix(tmp_path):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 40, rng.integers(0, 30)) for _ in range(23)]  # bursty: repeats in an image
    ref = InvertedFile.build(images, 40)
    shards = []
    for k, (a, b) in enumerate([(0, 10), (10, 11), (11, 23)]):  # uneven shards, one of a single image
        part = images[a:b]
        offsets = np.r_[0, np.cumsum([len(w) for w in part])]
        shards.append(_write(tmp_path, f"s{k}", np.concatenate(part), offsets))
    idf = global_idf(shards, 40)
    assert np.allclose(idf, ref.idf)
    norms = np.concatenate([s.norms(idf) for s in shards])
    for threads in (1, 3):
        sharded = ShardSet(shards, idf, norms, 0, threads=threads)
        for q in (images[4], images[17][:3], np.array([5, 5, 5, 39]), np.array([41])):
            assert np.allclose(sharded.scores(q), ref.scores(q[q < 40]), atol=1e-6)
    assert sharded.locate(10) == (shards[1], 0) and sharded.locate(22)[1] == 11


def test_a_shard_already_written_is_kept(tmp_path):
    s = _write(tmp_path, "s", np.array([1, 2]), [0, 2])
    stamp = (tmp_path / "s" / "post_ids.npy").stat().st_mtime_ns
    _write(tmp_path, "s", np.array([1, 2]), [0, 2])
    assert (tmp_path / "s" / "post_ids.npy").stat().st_mtime_ns == stamp and len(s) == 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left


def _forged(tmp_path, change):
    """A 3-image shard whose postings ``change`` edits before it is written: its checksums are
    those of the edited arrays (a file rewritten with its sums)."""
    fine, offsets = np.array([7, 3, 7, 3, 9]), np.array([0, 3, 3, 5])
    arrays = {"offsets": offsets, "kpts": np.zeros((5, 4), np.float32), "words": np.zeros(5, np.uint16),
              "sigs": np.zeros(5, np.uint64), "desc": np.zeros((5, 0), np.uint8), **postings(fine, offsets)}  # fmt: skip
    change(arrays)
    write_shard(tmp_path / "forged", arrays)
    return Shard(tmp_path / "forged")


def test_postings_that_pass_their_checksums_are_still_checked_against_each_other(tmp_path):
    def image_5(a):
        a["post_ids"] = np.array([0, 2, 0, 0, 5], np.uint16)  # names image 5 of 3

    with pytest.raises(PixretError, match="a posting names image 5 of a shard of 3"):
        _forged(tmp_path / "a", image_5).check_postings()

    def backwards(a):
        a["post_ptr"] = np.array([0, 4, 2, 5], np.int64)

    with pytest.raises(PixretError, match="postings pointers out of order"):
        _forged(tmp_path / "b", backwards).check_postings()
    assert _forged(tmp_path / "c", lambda a: None).scores(np.array([3]), np.array([1.0])).tolist() == [1.0, 0.0, 1.0]


def test_what_a_prefetch_asks_of_the_disk_is_exactly_the_images_rows(tmp_path):
    # issue 33: a cold search read each candidate's features a page at a time, one image after
    # the other; the shard now asks the kernel for all of them at once (madvise WILLNEED)
    import mmap

    rng = np.random.default_rng(3)
    sizes = rng.integers(0, 900, 40)  # empty images, and images spanning several pages
    offsets = np.r_[0, np.cumsum(sizes)]
    n = int(offsets[-1])
    arrays = {"offsets": offsets, "kpts": rng.random((n, 4)).astype(np.float16),
              "words": rng.integers(0, 50, n).astype(np.uint16), "sigs": rng.integers(0, 2**63, n).astype(np.uint64),
              "desc": rng.integers(0, 255, (n, 8)).astype(np.uint8), **postings(rng.integers(0, 50, n), offsets)}  # fmt: skip
    write_shard(tmp_path / "s", arrays)
    shard = Shard(tmp_path / "s")
    js = [3, 7, 8, 21, 39, 7]  # unsorted, repeated, neighbours
    ranges = shard.feature_ranges(js)
    assert sorted(ranges) == ["desc", "kpts", "sigs", "words"]
    for name, spans in ranges.items():
        path = tmp_path / "s" / f"{name}.npy"
        head = path.stat().st_size - arrays[name].nbytes
        data = path.read_bytes()
        row = arrays[name].strides[0]
        assert all(a % mmap.PAGESIZE == 0 and a < b for a, b in spans)
        assert all(b1 < a2 for (_, b1), (a2, _) in zip(spans, spans[1:], strict=False))  # sorted, apart
        for j in set(js):  # every byte of each image's rows lies in one range, read back as they are
            a, b = head + int(offsets[j]) * row, head + int(offsets[j + 1]) * row
            assert a == b or any(s <= a and b <= e for s, e in spans)
            assert data[a:b] == arrays[name][offsets[j]:offsets[j + 1]].tobytes()
        wanted = sum(int(sizes[j]) * row for j in set(js))
        assert wanted <= sum(b - a for a, b in spans) <= wanted + len(set(js)) * mmap.PAGESIZE
    assert shard.prefetch(js) == sum(b - a for spans in ranges.values() for a, b in spans)
    assert shard.feature_ranges([]) == {} and shard.prefetch([]) == 0
    compact = _write(tmp_path, "c", np.array([1, 2, 3]), [0, 1, 3])  # no descriptors: nothing to read
    assert sorted(compact.feature_ranges([0, 1])) == ["kpts", "sigs", "words"]
