"""Matchers (engine/matchers.py), looked up by name: batched mutual nearest neighbours, uncapped word pairs."""


import numpy as np

from pixret.engine.config import VerifyConfig, get_config
from pixret.engine.features import LEARNED_SCALE, desc_float
from pixret.engine.matchers import (
    ImageSide,
    QuerySide,
    _match_one,
    _searched_word_pairs,
    match_words,
    mnn_pairs_batch,
    sort_words,
    sorted_word_pairs,
    word_pairs,
)


def test_word_pairs_without_a_cap_keeps_every_pair():
    qw = np.array([3, 3, 7, 9], np.int32)
    dw = np.array([3, 7, 7, 3, 3], np.int32)
    qi, di = word_pairs(qw, dw, 0)
    got = sorted(zip(qi.tolist(), di.tolist(), strict=True))
    assert got == [(0, 0), (0, 3), (0, 4), (1, 0), (1, 3), (1, 4), (2, 1), (2, 2)]
    qi, di = word_pairs(qw, dw, 2)  # a cap keeps the first pairs of a bursty word
    assert len(qi) == 2 + 2


def test_the_query_sorted_once_pairs_every_image_like_a_brute_force_search():
    rng = np.random.default_rng(1)
    qw = rng.integers(0, 50, 300)
    sq = sort_words(qw)  # once, for all the images below
    assert sq.unique.tolist() == sorted(set(qw.tolist())) and int(sq.count.sum()) == len(qw)
    for n in (0, 1, 40, 500):  # images of no feature to many, bursty words included
        dw = rng.integers(0, 60, n)
        brute = {(i, j) for i in range(len(qw)) for j in range(n) if qw[i] == dw[j]}
        qi, di = sorted_word_pairs(sq, dw, 0)
        assert set(zip(qi.tolist(), di.tolist(), strict=True)) == brute and len(qi) == len(brute)
        qi, di = sorted_word_pairs(sq, dw, 3)  # a cap keeps at most 3 pairs of each word
        per_word = np.bincount(qw[qi], minlength=60)
        full = np.bincount([qw[i] for i, _ in brute], minlength=60)
        assert (per_word == np.minimum(full, 3)).all()


def test_the_table_of_query_words_gives_the_same_pairs_in_the_same_order():
    # sorted_word_pairs looks an image's words up in a table of the query's (issue 33: 2.3x
    # faster); verification fits its model to the pairs in order, so the order must not change
    rng = np.random.default_rng(2)
    for vocab in (1, 30, 8192):
        qw = rng.integers(0, vocab, 400)
        sq = sort_words(qw)
        assert sq.slot is not None and len(sq.slot) == sq.unique[-1] + 2
        for n in (0, 1, 50, 718):
            dw = rng.integers(0, vocab + 40, n)  # words the query lacks, above its largest too
            for cap in (0, 1, 3):
                want = _searched_word_pairs(sq, dw, cap)
                got = sorted_word_pairs(sq, dw, cap)
                assert all(np.array_equal(w, g) and w.dtype == g.dtype for w, g in zip(want, got, strict=True))
    big = sort_words(np.array([5, 1 << 40]))  # no table for words this large: the search instead
    assert big.slot is None and sorted_word_pairs(big, np.array([1 << 40, 5, 7]), 0)[1].tolist() == [1, 0]
    neg = sorted_word_pairs(sort_words(np.array([0, 2])), np.array([-1, 0, 2]), 0)  # never a table row for -1
    assert neg[0].tolist() == [0, 1] and neg[1].tolist() == [1, 2]


def _sides(rng, vocab, n_query, k, lens, desc_dim, dtype):
    """A query (n_query features, k words each) and images of the given feature counts, with
    bursty words and signatures near the query's (so that some pairs pass any threshold)."""
    qw = rng.integers(0, vocab, (n_query, k))
    qs = rng.integers(0, 2**63, (n_query, k)).astype(np.uint64)
    desc = lambda n: rng.integers(-127 if dtype == np.int8 else 0, 128 if dtype == np.int8 else 256, (n, desc_dim)).astype(dtype)  # noqa: E731
    q = QuerySide(rng.random((n_query, 4)), desc(n_query), qw, None, (0, 0, 1, 1), qs)
    images = []
    for n in lens:
        pick = rng.integers(0, n_query, n)
        words = np.where(rng.random(n) < 0.7, qw[pick, rng.integers(0, k, n)], rng.integers(0, vocab + 5, n))
        flips = np.bitwise_or.reduce(np.left_shift(np.uint64(1), rng.integers(0, 64, (n, 12)).astype(np.uint64)), 1)
        sigs = (qs[pick, 0] ^ np.where(rng.random(n) < 0.5, flips, np.uint64(0))).astype(np.uint64)
        images.append(ImageSide(rng.random((n, 4)), desc(n), words.astype(np.int32), (640, 480), sigs))
    return q, images


def test_word_matching_in_batches_gives_each_image_the_pairs_it_gets_alone():
    # issue 33: images are matched BATCH at a time; verification fits its model to each image's
    # pairs in order, so they must be the same arrays as one image at a time
    from dataclasses import replace

    from pixret.engine import matchers

    rng = np.random.default_rng(5)
    fast = get_config("fast")
    matched = 0
    configs = [fast.verify, get_config("fast-compact").verify, replace(fast.verify, hamming_threshold=0),
               replace(fast.verify, max_pairs_per_word=2, hamming_threshold=24), VerifyConfig()]  # fmt: skip
    for vc in configs:
        for vocab, k, dtype in ((40, 3, np.uint8), (3000, 1, np.int8)):
            q, images = _sides(rng, vocab, 120, k, [0, 1, 300, 40, 0, 700, 5], 16, dtype)
            cfg = replace(fast, verify=vc)
            sq = sort_words(q.words.ravel())
            flat = q.sigs.ravel() if vc.hamming_threshold > 0 else None
            want = [_match_one(q, im, sq, k, flat, vc) for im in images]
            for batch in (1, 3, 256):
                matchers.BATCH = batch
                try:
                    got = match_words(q, images, cfg, "cpu")
                finally:
                    matchers.BATCH = 256
                assert len(got) == len(images)
                for (wq, wd), (gq, gd) in zip(want, got, strict=True):
                    assert np.array_equal(wq, gq) and np.array_equal(wd, gd) and gq.dtype == gd.dtype == np.int64
            matched += sum(len(p[0]) for p in want)
    assert matched > 300  # the test matched something (random descriptors rarely pass max_desc_dist)
    q, images = _sides(rng, 40, 50, 3, [30, 30], 8, np.uint8)
    images[1] = replace(images[1], sigs=None)  # an image without signatures: matched alone, as before
    sq = sort_words(q.words.ravel())
    got = match_words(q, images, fast, "cpu")
    assert all(np.array_equal(a, b) for g, im in zip(got, images, strict=True)
               for a, b in zip(g, _match_one(q, im, sq, 3, q.sigs.ravel(), fast.verify), strict=True))  # fmt: skip


def _int8(x):
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    return np.clip(np.round(x * LEARNED_SCALE), -127, 127).astype(np.int8)


def test_mutual_nearest_neighbours_per_image():
    rng = np.random.default_rng(0)
    q = rng.normal(size=(60, 64))
    noisy = q[10:30] + 0.05 * rng.normal(size=(20, 64))
    img_a = np.vstack([noisy, rng.normal(size=(200, 64))])  # 20 true matches, then clutter
    img_b = rng.normal(size=(150, 64))  # nothing in common
    (qa, da), (qb, db), (qe, de) = mnn_pairs_batch(
        _int8(q), [_int8(img_a), _int8(img_b), _int8(img_b)[:0]], 0.8
    )
    assert sorted(zip(qa.tolist(), da.tolist(), strict=True)) == [(10 + k, k) for k in range(20)]
    assert len(qb) == 0 and len(qe) == 0  # random 64-d vectors are never that similar
    assert np.allclose(np.linalg.norm(desc_float(_int8(q)), axis=1), 1, atol=0.02)


def test_matchers_are_looked_up_by_name():
    import pytest

    from pixret.engine.matchers import MATCHERS, get_matcher
    from pixret.errors import PixretError

    assert set(MATCHERS) == {"words", "ratio", "mnn", "lightglue"} and get_matcher("mnn") is MATCHERS["mnn"]
    with pytest.raises(PixretError, match="unknown matcher 'superglue'; choose from words, ratio, mnn, lightglue"):
        get_matcher("superglue")
