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
