"""Postings and scoring: the compact inverted file of a shard, idf, image norms and the tf-idf
cosine of a query against every image.

Scoring (Sivic & Zisserman's Video Google, with Jegou et al.'s burstiness damping, CVPR 2009):
an image's vector holds sqrt(tf) x idf per fine word (``vocabulary.split_words``), the query's
the same; the score is their cosine. One posting per feature, not per (image, word): a word that
fires t times in an image is t equal ids side by side, turned into sqrt(t) at search time. That
is 2 bytes per feature plus 10 per distinct word of a shard, where a CSR matrix of (image, word)
weights costs 8 (README "Scaling out").

Data contract of the postings of a shard (F features of n images, W distinct fine words)::

    post_words (W,)     uint32 sorted fine words present in the shard
    post_ptr   (W + 1,) uint32: postings of post_words[k] are rows post_ptr[k] .. post_ptr[k + 1]
    post_ids   (F,)     uint16 local image id of each posting, sorted within a word
    post_df    (W,)     uint16 number of distinct images per word
"""

from __future__ import annotations

import numpy as np

MAX_SHARD = (1 << 16) - 1  # local image ids and per-shard df are uint16


def postings(fine: np.ndarray, offsets: np.ndarray) -> dict[str, np.ndarray]:
    """The compact inverted file of one shard from each feature's fine word and the per-image
    feature ``offsets`` (n + 1,); ValueError beyond MAX_SHARD images or 2**32 fine words."""
    n = len(offsets) - 1
    if n > MAX_SHARD:
        raise ValueError(f"a shard holds at most {MAX_SHARD} images, got {n}")
    if len(fine) and int(fine.max()) >= 1 << 32:
        raise ValueError("fine word ids beyond 2**32: fewer words or split bits")
    ids = np.repeat(np.arange(n, dtype=np.uint16), np.diff(offsets))
    order = np.lexsort((ids, fine))  # by word, then image
    fw, fi = fine[order], ids[order]
    if len(fw):
        new_word = np.r_[True, fw[1:] != fw[:-1]]
        starts = np.flatnonzero(new_word)
        new_image = new_word | np.r_[True, fi[1:] != fi[:-1]]
        df = np.add.reduceat(new_image.astype(np.int64), starts)
    else:
        starts = df = np.zeros(0, np.int64)
    return {
        "post_words": fw[starts].astype(np.uint32),
        "post_ptr": np.r_[starts, len(fw)].astype(np.uint32),
        "post_ids": fi,
        "post_df": df.astype(np.uint16),
    }


def idf(df: np.ndarray, n_images: int) -> np.ndarray:
    """Inverse document frequency, float32: log((n + 1) / (df + 1)) + 0.001 (smoothed, so a word
    in every image still weighs a little). The one place the formula is written."""
    return np.log((n_images + 1) / (np.asarray(df, np.float64) + 1)).astype(np.float32) + np.float32(1e-3)


def global_idf(shards, n_fine: int) -> np.ndarray:
    """idf (n_fine,) of every fine word over all ``shards`` (objects with post_words, post_df
    and a length)."""
    df = np.zeros(n_fine, np.int64)
    for s in shards:
        df[np.asarray(s.post_words, np.int64)] += s.post_df  # the words of a shard are distinct
    return idf(df, sum(len(s) for s in shards))


def image_norms(post_words, post_ptr, post_ids, n_images: int, weights: np.ndarray) -> np.ndarray:
    """L2 norm (n_images,) float32 of each image's sqrt(tf) x idf vector: sqrt of the sum of
    idf**2 over its features (``weights`` = idf of every fine word)."""
    per_word = weights[np.asarray(post_words, np.int64)].astype(np.float64) ** 2
    w = np.repeat(per_word, np.diff(np.asarray(post_ptr, np.int64)))
    return np.sqrt(np.bincount(np.asarray(post_ids), weights=w, minlength=n_images)).astype(np.float32)


def query_vector(fine: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The query's sorted unique fine words and, per word, its unit-norm sqrt(tf) x idf weight
    times idf (the database side's idf folded in): what ``shard_scores`` takes."""
    u, tf = np.unique(np.asarray(fine, np.int64), return_counts=True)
    keep = u < len(weights)
    u, tf = u[keep], tf[keep]
    q = np.sqrt(tf) * weights[u]
    q /= max(float(np.linalg.norm(q)), 1e-12)
    return u, q * weights[u]


def shard_scores(post_words, post_ptr, post_ids, n_images: int, words: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Dot product (n_images,) of the query's (sorted, unique fine ``words``, weights ``w``) with
    every image's un-normalised sqrt(tf) x idf vector."""
    kind = np.asarray(post_words[:0]).dtype
    if np.asarray(words).dtype != kind:  # searchsorted would copy the whole table to the keys' type
        fits = (words >= 0) & (words <= np.iinfo(kind).max)
        words, w = np.asarray(words[fits], kind), w[fits]
    pos = np.searchsorted(post_words, words)
    ok = pos < len(post_words)
    ok[ok] = post_words[pos[ok]] == words[ok]
    pos, qw = pos[ok], w[ok]
    a, b = np.asarray(post_ptr[pos], np.int64), np.asarray(post_ptr[pos + 1], np.int64)
    lens = b - a
    total = int(lens.sum())
    out = np.zeros(n_images)
    if not total:
        return out
    # every posting row of the matched words, as one gather (no Python loop over words)
    first = np.cumsum(lens) - lens
    rows = np.arange(total) + np.repeat(a - first, lens)
    ids = np.asarray(post_ids[rows])
    slot = np.repeat(np.arange(len(pos)), lens)
    # runs of one image within one word: t features of that word in the image -> sqrt(t)
    start = np.flatnonzero(np.r_[True, (ids[1:] != ids[:-1]) | (slot[1:] != slot[:-1])])
    t = np.diff(np.r_[start, total])
    out += np.bincount(ids[start], weights=qw[slot[start]] * np.sqrt(t), minlength=n_images)
    return out
