"""Postings and scoring (engine/postings.py) on tiny hand-made arrays: the compact inverted file,
idf, image norms, the query vector and the scores, each an exact value."""

import numpy as np
import pytest

from pixret.engine.postings import idf, image_norms, postings, query_vector, shard_scores


def test_postings_of_a_tiny_shard():
    # image 0: words 7, 3, 7; image 1: none; image 2: words 3, 9
    p = postings(np.array([7, 3, 7, 3, 9]), np.array([0, 3, 3, 5]))
    assert p["post_words"].tolist() == [3, 7, 9]
    assert p["post_ptr"].tolist() == [0, 2, 4, 5]
    assert p["post_ids"].tolist() == [0, 2, 0, 0, 2]  # word 7 fires twice in image 0: two equal ids
    assert p["post_df"].tolist() == [2, 1, 1]
    assert p["post_ids"].dtype == np.uint16 and p["post_words"].dtype == np.uint32


def test_a_shard_refuses_more_images_than_its_ids_hold():
    with pytest.raises(ValueError, match="at most 65535"):
        postings(np.zeros(0, np.int64), np.zeros(65537, np.int64))


def test_idf_is_smoothed_and_never_zero():
    got = idf(np.array([0, 1, 3]), 3)
    assert np.allclose(got, [np.log(4 / 1) + 1e-3, np.log(4 / 2) + 1e-3, 1e-3], atol=1e-6)
    assert got.dtype == np.float32


def test_norms_query_vector_and_scores_of_a_tiny_shard():
    # image 0: words 7, 3, 7; image 1: none; image 2: words 3, 9 (as above)
    p = postings(np.array([7, 3, 7, 3, 9]), np.array([0, 3, 3, 5]))
    w = np.zeros(10, np.float32)
    w[[3, 7, 9]] = [1.0, 2.0, 3.0]  # idf of each fine word
    norms = image_norms(p["post_words"], p["post_ptr"], p["post_ids"], 3, w)
    assert np.allclose(norms, [np.sqrt(1 + 4 + 4), 0, np.sqrt(1 + 9)])  # idf**2 per feature
    words, qw = query_vector(np.array([7, 7, 9, 12]), w)  # word 12 is outside the vocabulary
    assert words.tolist() == [7, 9]
    unit = np.array([np.sqrt(2) * 2, 3]) / np.linalg.norm([np.sqrt(2) * 2, 3])
    assert np.allclose(qw, unit * [2, 3])
    scores = shard_scores(p["post_words"], p["post_ptr"], p["post_ids"], 3, words, qw)
    # image 0 holds word 7 twice (sqrt(2), burstiness damped), image 2 word 9 once
    assert np.allclose(scores, [qw[0] * np.sqrt(2), 0, qw[1]])
