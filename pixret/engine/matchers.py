"""Matchers: tentative correspondences between the query box and database images, by name.

Data contract (every matcher)::

    matcher(query: QuerySide, images: list[ImageSide], cfg: EngineConfig, device: str)
        -> list[(qi, di)]     one pair of int64 arrays per image, of equal length m:
                              qi indexes query.kpts / query.desc, di the image's kpts / desc

    QuerySide.kpts (n, 4) x, y, size, angle in query pixels; .desc (n, D) uint8 RootSIFT or int8
    learned; .words (n, k) visual words (k nearest, or None when not computed); .view (n,) the
    described view of each feature (0 = the box itself, more with query_rotations) or None;
    .box (x1, y1, x2, y2); .sigs (n, k) uint64 Hamming-embedding signatures in those words, or None.
    ImageSide.kpts (n_i, 4), .desc (n_i, D), .words (n_i,), .size (w, h), .sigs (n_i,) uint64 or None.

Matchers (``MATCHERS``, looked up by ``get_matcher``):

    words      pairs sharing a visual word whose signatures lie within ``hamming_threshold``
               bits, Lowe's ratio test among them (the fast default)
    ratio      brute-force nearest neighbours with Lowe's ratio test (the exhaustive baseline)
    mnn        mutual nearest neighbours above a cosine similarity (learned descriptors)
    lightglue  LightGlue / LighterGlue (learned features; needs pixret[learned])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

from ..errors import PixretError
from ..parallel import fixed_threads
from .config import EngineConfig
from .features import desc_float, desc_scale

Pairs = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class QuerySide:
    kpts: np.ndarray
    desc: np.ndarray
    words: np.ndarray | None
    view: np.ndarray | None
    box: tuple[float, float, float, float]
    sigs: np.ndarray | None = None


@dataclass(frozen=True)
class ImageSide:
    kpts: np.ndarray
    desc: np.ndarray
    words: np.ndarray
    size: tuple[int, int]
    sigs: np.ndarray | None = None


def word_pairs(qw: np.ndarray, dw: np.ndarray, cap: int) -> tuple[np.ndarray, np.ndarray]:
    """All (query, db) feature pairs sharing a visual word; words with > cap pairs are sub-sampled.

    ``qw`` may hold several words per query feature (n, k): multiple assignment on the query
    side (Jegou et al.) recovers true matches that fell on a neighbouring word.

    Vectorised: both word lists are sorted once, shared words found by searchsorted, and each
    word's cartesian product laid out with repeat/arange (no Python loop over words).
    """
    if qw.ndim == 2:
        owner = np.repeat(np.arange(len(qw)), qw.shape[1])
        qi, di = word_pairs(qw.ravel(), dw, cap)
        return owner[qi], di
    return sorted_word_pairs(sort_words(qw), dw, cap)


class SortedWords(NamedTuple):
    """One side's words sorted once (``sort_words``), for pairing with many images."""

    order: np.ndarray  # (n,) argsort of the words (stable)
    unique: np.ndarray  # (u,) the distinct words, ascending
    first: np.ndarray  # (u,) where each distinct word starts in the sorted words
    count: np.ndarray  # (u,) how many features hold it
    # (max word + 2,) each word's row in ``unique``, -1 for a word it lacks (the last entry
    # stands for every larger word); None when the words are too large for a table
    slot: np.ndarray | None = None


MAX_SLOT = 1 << 22  # a table of each word's group (sort_words) up to this many words: 32 MB


def sort_words(qw: np.ndarray) -> SortedWords:
    """``qw`` (n,) sorted and grouped: what ``word_pairs`` computes of the query for each image,
    computed once for a whole shortlist."""
    qo = np.argsort(qw, kind="stable")
    uq, qa, qc = np.unique(qw[qo], return_index=True, return_counts=True)
    slot = None
    if len(uq) and int(uq[0]) >= 0 and int(uq[-1]) < MAX_SLOT:
        slot = np.full(int(uq[-1]) + 2, -1, np.int64)
        slot[uq] = np.arange(len(uq))
    return SortedWords(qo, uq, qa, qc, slot)


def sorted_word_pairs(q: SortedWords, dw: np.ndarray, cap: int) -> tuple[np.ndarray, np.ndarray]:
    """``word_pairs`` with the query's words sorted already (the same pairs, in the same order).

    With the query's table of words (``SortedWords.slot``) an image's features are looked up
    in it (one gather) and only those that share a word are sorted: the same pairs as sorting
    all of them and searching every query word (the way without a table), at a third of the
    cost (2,300 images of 718 features: 53 against 125 microseconds an image)."""
    if q.slot is None or (len(dw) and int(dw.min()) < 0):
        return _searched_word_pairs(q, dw, cap)
    g = np.take(q.slot, dw, mode="clip")  # the group of each image feature's word (-1: none)
    m = np.flatnonzero(g >= 0)
    if not len(m):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    gm = g[m]
    by = np.argsort(gm, kind="stable")
    do, gs = m[by], gm[by]  # the shared features, by word (query order), then by index
    da = np.flatnonzero(np.concatenate(([True], gs[1:] != gs[:-1])))
    dc = np.diff(np.append(da, len(gs)))
    grp = gs[da]
    return _product(q.order, q.first[grp], q.count[grp], do, da, dc, cap)


def _searched_word_pairs(q: SortedWords, dw: np.ndarray, cap: int) -> tuple[np.ndarray, np.ndarray]:
    """``sorted_word_pairs`` without the table: every image feature sorted, every query word
    searched among them."""
    do = np.argsort(dw, kind="stable")
    ds = dw[do]
    da = np.searchsorted(ds, q.unique, "left")
    dc = np.searchsorted(ds, q.unique, "right") - da
    keep = dc > 0
    return _product(q.order, q.first[keep], q.count[keep], do, da[keep], dc[keep], cap)


def _product(qo, qa, qc, do, da, dc, cap: int) -> tuple[np.ndarray, np.ndarray]:
    """Each shared word's query features (qo[qa:qa + qc]) times its image features
    (do[da:da + dc]), word by word, laid out with repeat/arange; ``cap`` > 0 keeps a word's
    first ``cap`` pairs."""
    n = qc * dc
    if not n.sum():
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    w = np.repeat(np.arange(len(n)), n)
    k = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    qi = qa[w] + k // dc[w]
    di = da[w] + k % dc[w]
    if cap <= 0:
        return qo[qi], do[di]
    ok = k < cap  # a bursty word keeps its first `cap` pairs
    return qo[qi[ok]], do[di[ok]]


def ratio_pairs(qd: np.ndarray, dd: np.ndarray, ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """Lowe's ratio test, query -> database, brute force (the exhaustive baseline)."""
    if len(qd) < 2 or len(dd) < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    m = cv2.BFMatcher(cv2.NORM_L2).knnMatch(qd.astype(np.float32), dd.astype(np.float32), k=2)
    good = [(a.queryIdx, a.trainIdx) for a, b in m if a.distance < ratio * b.distance]
    if not good:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    g = np.array(good)
    return g[:, 0], g[:, 1]


def filter_pairs(qi, di, qdesc, ddesc, max_dist: float, ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """Lowe's ratio test among the candidates that share words, then one pair per db feature.

    The candidates of a query feature come from its nearest words, so its true nearest and
    second-nearest database descriptors are almost always among them: the ratio test costs a
    few hundred distances instead of a brute-force search. A query feature with a single
    candidate must be within ``max_dist``.
    """
    if not len(qi):
        return qi, di
    diff = qdesc[qi].astype(np.int32) - ddesc[di].astype(np.int32)
    dist = np.sqrt((diff * diff).sum(1)) / desc_scale(qdesc.dtype)
    return ratio_filter(qi, di, dist, max_dist, ratio)


def ratio_filter(qi, di, dist, max_dist: float, ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """Per query feature its nearest candidate, if below ``max_dist`` and ``ratio`` times the
    second nearest; then one pair per db feature (the closest)."""
    if not len(qi):
        return qi, di
    order = np.lexsort((di, dist, qi))  # by query feature, then distance
    qi, di, dist = qi[order], di[order], dist[order]
    # drop repeated (query, db) pairs (a feature pair can share several words)
    new = np.ones(len(qi), bool)
    new[1:] = (qi[1:] != qi[:-1]) | (di[1:] != di[:-1])
    qi, di, dist = qi[new], di[new], dist[new]
    first = np.flatnonzero(np.concatenate(([True], qi[1:] != qi[:-1])))  # (np.r_ costs 10x)
    has_second = np.append(first[1:], len(qi)) - first > 1
    d1 = dist[first]
    d2 = np.where(has_second, dist[np.minimum(first + 1, len(qi) - 1)], np.inf)
    ok = (d1 < max_dist) & (d1 < ratio * d2)
    qi, di, d1 = qi[first[ok]], di[first[ok]], d1[ok]
    best = np.argsort(d1, kind="stable")
    qi, di = qi[best], di[best]
    _, keep = np.unique(di, return_index=True)
    return qi[keep], di[keep]


def ratio_filter_grouped(img, qi, di, dist, max_dist: float, ratio: float):
    """``ratio_filter`` of the pairs of several images at once, ``img`` (m,) naming each pair's
    image: (img, qi, di) of the kept pairs, by image, then as ``ratio_filter`` returns them (by
    db feature)."""
    if not len(qi):
        return img, qi, di
    order = np.lexsort((di, dist, qi, img))  # by image, query feature, then distance
    img, qi, di, dist = img[order], qi[order], di[order], dist[order]
    new = _runs(img, qi, di)  # drop repeated pairs (a feature pair can share several words)
    img, qi, di, dist = img[new], qi[new], di[new], dist[new]
    first = np.flatnonzero(_runs(img, qi))
    has_second = np.append(first[1:], len(qi)) - first > 1
    d1 = dist[first]
    d2 = np.where(has_second, dist[np.minimum(first + 1, len(qi) - 1)], np.inf)
    ok = (d1 < max_dist) & (d1 < ratio * d2)
    img, qi, di, d1 = img[first[ok]], qi[first[ok]], di[first[ok]], d1[ok]
    # one pair per db feature: the nearest (ties: the lower query feature), by db feature
    order = np.lexsort((qi, d1, di, img))
    img, qi, di = img[order], qi[order], di[order]
    keep = _runs(img, di)
    return img[keep], qi[keep], di[keep]


def _runs(*keys: np.ndarray) -> np.ndarray:
    """(m,) bool: where a run of equal keys (all of them) starts, in arrays sorted by them."""
    new = np.zeros(len(keys[0]), bool)
    new[:1] = True
    for k in keys:
        new[1:] |= k[1:] != k[:-1]
    return new


@fixed_threads()  # the similarity products' rounding must not depend on the BLAS thread count
def mnn_pairs_batch(
    q_desc: np.ndarray, d_descs: list[np.ndarray], min_similarity: float
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Mutual nearest neighbours of the query against each of several images.

    One similarity block per image (its descriptors times the query's): a block of a few
    thousand rows stays in cache, where one product over the stacked batch would be hundreds of
    MB whose per-image column maxima are strided reads (measured 3x slower on 2 cores). A pair
    is kept when both directions agree and the cosine similarity reaches ``min_similarity``.
    """
    q = np.ascontiguousarray(desc_float(q_desc).T)  # (D, m)
    out = []
    for d in d_descs:
        if not len(d) or not q.shape[1]:
            out.append((np.zeros(0, np.int64), np.zeros(0, np.int64)))
            continue
        s = desc_float(d) @ q  # (n, m)
        best_q = s.argmax(1)  # each database feature's nearest query feature
        best_d = s.argmax(0)  # each query feature's nearest database feature
        di = np.flatnonzero(best_d[best_q] == np.arange(len(d)))
        qi = best_q[di]
        ok = s[di, qi] >= min_similarity
        out.append((qi[ok].astype(np.int64), di[ok].astype(np.int64)))
    return out


BATCH = 256  # images word matching pairs at once: numpy over all their pairs, memory bounded


def match_words(query: QuerySide, images: list[ImageSide], cfg: EngineConfig, device: str) -> list[Pairs]:
    """Pairs sharing a visual word (multiple assignment on the query side), within
    ``hamming_threshold`` bits of signature, then Lowe's ratio test (``ratio_filter``).

    Computed for BATCH images at a time (``_match_batch``): the same pairs in the same order as
    image by image (``_match_one``, the reference), for a third of the time at a million images,
    where a query pairs ~2,600 images and almost all of an unrelated image's ~500 shared-word
    pairs fail the signature test (numpy's cost per call, not per pair, was most of it)."""
    vc = cfg.verify
    if query.words is None:
        raise PixretError(None, "matching 'words' needs the query's visual words")
    k = query.words.shape[1] if query.words.ndim == 2 else 1
    use_he = vc.hamming_threshold > 0 and query.sigs is not None
    flat_sigs = query.sigs.ravel() if use_he else None
    sq = sort_words(query.words.ravel())  # the query side, once for every image
    out: list[Pairs] = []
    for a in range(0, len(images), BATCH):
        out += _match_batch(query, images[a : a + BATCH], sq, k, flat_sigs, vc)
    return out


def _match_one(query: QuerySide, im: ImageSide, sq: SortedWords, k: int, flat_sigs, vc) -> Pairs:
    """``match_words`` of one image."""
    fi, di = sorted_word_pairs(sq, im.words, vc.max_pairs_per_word)
    if flat_sigs is not None and im.sigs is not None:
        ham = np.bitwise_count(flat_sigs[fi] ^ im.sigs[di])
        near = ham <= vc.hamming_threshold
        fi, di = fi[near], di[near]
        if vc.match_distance == "signature":  # no descriptors needed (a compact index)
            # +1: a pair at Hamming distance 0 must not pass any ratio against another at 0
            dist = ham[near].astype(np.float32) + 1.0
            return ratio_filter(fi // k, di, dist, np.inf, vc.ratio)
    return filter_pairs(fi // k, di, query.desc, im.desc, vc.max_desc_dist, vc.ratio)


def _match_batch(query: QuerySide, images: list[ImageSide], sq: SortedWords, k: int, flat_sigs, vc) -> list[Pairs]:
    """``_match_one`` of each image, computed over all of them at once: their words looked up in
    the query's table together, each shared feature paired with its word's query features (in
    the reference's order, word by word, only where a cap keeps a word's first pairs: the ratio
    test sorts them anyway), signatures tested and Lowe's ratio applied with the image as the
    first key of every sort, then split by image."""
    he = flat_sigs is not None
    words = [im.words for im in images]
    if (sq.slot is None or not images or (he and any(im.sigs is None for im in images))
            or any(len(w) and int(w.min()) < 0 for w in words)):  # fmt: skip
        return [_match_one(query, im, sq, k, flat_sigs, vc) for im in images]
    off = np.concatenate(([0], np.cumsum([len(w) for w in words]))).astype(np.int64)
    g = np.take(sq.slot, np.concatenate(words), mode="clip")  # each feature's query word group (-1: none)
    m = np.flatnonzero(g >= 0)
    if not len(m):
        return [(np.zeros(0, np.int64), np.zeros(0, np.int64)) for _ in images]
    img = np.searchsorted(off, m, "right") - 1
    if vc.max_pairs_per_word > 0:  # a bursty word keeps its first pairs: laid out in the reference's order
        by = np.argsort(img * len(sq.unique) + g[m], kind="stable")  # by image, word, then feature
        m, img, gm = m[by], img[by], g[m][by]
        da = np.flatnonzero(_runs(img, gm))
        dc = np.diff(np.append(da, len(gm)))
        grp = gm[da]
        qa, qc = sq.first[grp], sq.count[grp]
        n = qc * dc
        w = np.repeat(np.arange(len(n)), n)
        kk = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
        ok = kk < vc.max_pairs_per_word
        w, kk = w[ok], kk[ok]
        fi = sq.order[qa[w] + kk // dc[w]]
        pos = da[w] + kk % dc[w]
    else:  # every pair: each shared image feature with its word's query features, no sort (the
        # ratio test's result does not depend on the pairs' order: it sorts them by value)
        grp = g[m]
        qa, qc = sq.first[grp], sq.count[grp]
        pos = np.repeat(np.arange(len(m)), qc)
        fi = sq.order[np.repeat(qa - (np.cumsum(qc) - qc), qc) + np.arange(int(qc.sum()))]
    dg, pim = m[pos], img[pos]  # the db feature (in all the images' rows) and its image
    if he:
        ham = np.bitwise_count(flat_sigs[fi] ^ np.concatenate([im.sigs for im in images])[dg])
        near = ham <= vc.hamming_threshold
        fi, dg, pim, ham = fi[near], dg[near], pim[near], ham[near]
    qi, di = fi // k, dg - off[pim]
    if he and vc.match_distance == "signature":
        dist, max_dist = ham.astype(np.float32) + 1.0, np.inf
    else:  # descriptor distances image by image (a pair's rows are its image's), as filter_pairs
        bounds = np.searchsorted(pim, np.arange(len(images) + 1))
        dist = np.concatenate([np.zeros(0)] + [
            np.sqrt(np.square(query.desc[qi[a:b]].astype(np.int32) - im.desc[di[a:b]].astype(np.int32)).sum(1))
            / desc_scale(query.desc.dtype) for im, a, b in zip(images, bounds[:-1], bounds[1:], strict=True)])  # fmt: skip
        max_dist = vc.max_desc_dist
    pim, qi, di = ratio_filter_grouped(pim, qi, di, dist, max_dist, vc.ratio)
    cuts = np.searchsorted(pim, np.arange(1, len(images)))
    return list(zip(np.split(qi, cuts), np.split(di, cuts), strict=True))


def match_ratio(query: QuerySide, images: list[ImageSide], cfg: EngineConfig, device: str) -> list[Pairs]:
    q = desc_float(query.desc)
    return [ratio_pairs(q, desc_float(im.desc), cfg.verify.ratio) for im in images]


def match_mnn(query: QuerySide, images: list[ImageSide], cfg: EngineConfig, device: str) -> list[Pairs]:
    return mnn_pairs_batch(query.desc, [im.desc for im in images], cfg.verify.min_similarity)


def match_lightglue(query: QuerySide, images: list[ImageSide], cfg: EngineConfig, device: str) -> list[Pairs]:
    """LightGlue pair by pair; the box is its query image (keypoints shifted into it), and only
    the box's own view is matched (not the extra rotated views)."""
    if cfg.features.kind == "sift":
        raise PixretError(None, "matching 'lightglue' needs learned features (xfeat, aliked or disk)")
    from .learned.models import run_matcher

    own = np.arange(len(query.kpts)) if query.view is None else np.flatnonzero(query.view == 0)
    x1, y1, x2, y2 = query.box
    q_xy = query.kpts[own, :2] - (x1, y1)
    q_desc = desc_float(query.desc[own])
    out = []
    for im in images:
        qi, di = run_matcher(cfg.features.kind, cfg.verify.matcher_weights, device, q_xy, q_desc,
                             (x2 - x1, y2 - y1), im.kpts[:, :2], desc_float(im.desc), tuple(im.size))  # fmt: skip
        out.append((own[qi], di))
    return out


Matcher = Callable[[QuerySide, list[ImageSide], EngineConfig, str], list[Pairs]]
MATCHERS: dict[str, Matcher] = {
    "words": match_words,
    "ratio": match_ratio,
    "mnn": match_mnn,
    "lightglue": match_lightglue,
}


def get_matcher(name: str) -> Matcher:
    if name not in MATCHERS:
        raise PixretError(None, f"unknown matcher {name!r}; choose from {', '.join(MATCHERS)}")
    return MATCHERS[name]


def match_shortlist(query: QuerySide, images: list[ImageSide], cfg: EngineConfig, device: str) -> list[Pairs]:
    """Tentative matches with every shortlisted image: the configured matcher on the first
    ``verify.matcher_top_k`` images for the costly learned ones (mnn, lightglue), on all of them
    for words and ratio; the rest of the shortlist goes through the fallback (ratio for the
    exhaustive baseline, else words)."""
    primary = cfg.verify.matching
    fallback = "ratio" if primary == "ratio" else "words"
    n_first = cfg.verify.matcher_top_k if primary in ("mnn", "lightglue") else len(images)
    pairs = get_matcher(primary)(query, images[:n_first], cfg, device)
    if len(images) > n_first:
        pairs += get_matcher(fallback)(query, images[n_first:], cfg, device)
    return pairs
