"""A search as a chain of stages, each a call that takes and returns named results (hloc's
habit), timed one by one::

    query = features(index, image, box)                  # SIFT in the box, words, signatures
    short = shortlist(index, query, exclude)             # tf-idf over split words, top k cut
    pairs = matching(index, query, short)                # tentative matches per candidate
    found = verification(index, query, short, pairs)     # homography + weak geometric consistency
    found = expansion(index, query, short, found, ...)   # Total Recall: expanded query, chains
    masks = object_masks(index, query, found)            # fills its box? the object in the query
    result = results(index, query, short, found, masks)  # Hits, the full ranking

``run(index, image, box) -> SearchResult`` runs them all; ``SearchResult.timings`` holds each
stage's seconds. Data contract of the results passed between stages: ``Query`` (the query's
features), ``shortlist.Shortlist``, ``Candidates`` (the matcher's pairs per shortlisted image),
``Found`` (verified images by database index: a ``Match`` each) and ``masks.MaskOutput``.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from ..errors import PixretError
from ..geometry import Box, box_polygon
from ..imageio import as_image
from ..parallel import default_workers
from . import masks as M
from .expansion import expand
from .features import Features, extract_in_box
from .hits import Hit, SearchResult
from .matchers import ImageSide, QuerySide, get_matcher, match_shortlist
from .shortlist import Shortlist, auto_top_k, cut, exhaustive
from .verify import Verification, distinctive, fit_pairs, tentative_points, wgc_mode
from .vocabulary import split_words

MIN_QUERY_SIDE = 16  # pixels: below this no feature can be found


@dataclass
class Query:
    """The query: image (h, w, 3) BGR, the checked box, its features inside the box (``feats``),
    each feature's k nearest words and signatures (n, k) (None for the exhaustive ratio
    baseline), and the same as the matchers' ``QuerySide``."""

    img: np.ndarray
    box: Box
    feats: Features
    words: np.ndarray | None
    sigs: np.ndarray | None
    side: QuerySide

    def fine_words(self, split_bits: int) -> np.ndarray:
        """Each feature's nearest word, split by its signature (the shortlist's vocabulary)."""
        return split_words(self.words[:, 0], self.sigs[:, 0], split_bits)


@dataclass
class Candidates:
    """The matcher's tentative pairs (qi, di) with each shortlisted image, and the images as
    matchers see them (``sides``), both in shortlist order."""

    pairs: list[tuple[np.ndarray, np.ndarray]]
    sides: list[ImageSide]


@dataclass
class Match:
    """A verified image: its ``Verification`` (homography query -> image, inliers and the inlier
    rows), the inliers' image points (m, 2) and query points (m, 2), and, for a chained match,
    the verified result it went through (``via``)."""

    v: Verification
    db_xy: np.ndarray
    q_xy: np.ndarray
    via: int | None = None

    @property
    def score(self) -> float:
        return float(self.v.inliers)


@dataclass
class Found:
    """The verified images by database index, and the images verification tried (so expansion
    does not try them again)."""

    matches: dict[int, Match] = field(default_factory=dict)
    tried: set[int] = field(default_factory=set)


def check_box(box, w: int, h: int) -> Box:
    """Validate a query box and clip it to the image; clear errors for a too small image, an
    empty box or one outside the image."""
    if min(w, h) < MIN_QUERY_SIDE:
        raise PixretError(
            None, f"the {w}x{h} query image is too small to search (at least {MIN_QUERY_SIDE} px a side)"
        )
    return Box.parse(box).check(w, h)


# ------------------------------------------------------------------ the stages
def features(index, image, box, query_features: Features | None = None) -> Query:
    """Stage 1: the query image (a path, bytes, a PIL image or a BGR array), its box checked, and
    the features inside the box with their words and signatures."""
    img = as_image(image)
    box = check_box(box, img.shape[1], img.shape[0])
    feats = query_features or extract_in_box(img, box, index.cfg, device=index.device)
    qf = feats.select(feats.in_box(box))
    if len(qf) < 4:
        raise PixretError(
            None, f"only {len(qf)} features inside the box {box.format()}: draw a larger box on a textured object"
        )
    words = sigs = None
    if index.cfg.verify.matching != "ratio" or not index.cfg.exhaustive:
        words, sigs = index.query_words(qf.desc)
    return Query(img, box, qf, words, sigs, QuerySide(qf.kpts, qf.desc, words, qf.view, tuple(box), sigs))


def shortlist(index, query: Query, exclude: np.ndarray | None = None) -> Shortlist:
    """Stage 2: the candidates for verification: the top k images by tf-idf (k from the config,
    or ``auto_top_k`` of the collection), or every image for the exhaustive baseline; images in
    ``exclude`` (the query itself) never."""
    n = len(index)
    if index.cfg.exhaustive:
        short = exhaustive(n)
        if exclude is not None and len(exclude):
            short.ids = np.setdiff1d(short.ids, exclude)
        return short
    scores = index.shards.scores(query.fine_words(index.shards.split_bits))
    k = index.cfg.shortlist.top_k or auto_top_k(n)
    return Shortlist(cut(scores, k, exclude), scores)


def matching(index, query: Query, short: Shortlist) -> Candidates:
    """Stage 3: tentative matches with every shortlisted image (matchers.match_shortlist)."""
    sides = index.sides(short.ids)
    return Candidates(match_shortlist(query.side, sides, index.cfg, index.device), sides)


def verification(index, query: Query, short: Shortlist, cand: Candidates) -> Found:
    """Stage 4: a homography per candidate from its tentative matches, inliers that pass weak
    geometric consistency; verified with ``verify.min_inliers`` of them."""
    found = Found(tried=set(short.ids.tolist()))
    vc = index.cfg.verify
    for i, side, (qi, di) in zip(short.ids.tolist(), cand.sides, cand.pairs, strict=True):
        verify_one(index, query, found, i, side, qi, di)
    retry = [(i, side) for i, side in zip(short.ids.tolist(), cand.sides, strict=True)
             if i not in found.matches and side.desc.shape[1]][: vc.retry_top_k]  # fmt: skip
    if retry and vc.matching == "words":
        again = get_matcher("ratio")(query.side, [side for _, side in retry], index.cfg, index.device)
        for (i, side), (qi, di) in zip(retry, again, strict=True):
            verify_one(index, query, found, i, side, qi, di)
    return found


def verify_one(index, query: Query, found: Found, i: int, side: ImageSide, qi: np.ndarray, di: np.ndarray) -> None:
    """Fit the query's tentative matches (qi, di) with database image ``i`` (verify.fit_pairs),
    check that they rest on the object (verify.distinctive) and record the match in ``found``."""
    kp = query.feats.kpts
    vc = index.cfg.verify
    v = fit_pairs(qi, di, kp, side.kpts, vc, max(side.size), wgc_mode(index.cfg))
    words = None if query.words is None else query.words[:, 0]
    if v is not None and distinctive(v, kp, words, tuple(query.box), partial(tentative_points, qi, di, kp, side.kpts), vc):
        found.matches[i] = Match(v, side.kpts[v.db_idx, :2], kp[v.query_idx, :2])


def expansion(index, query: Query, short: Shortlist, found: Found, exclude: np.ndarray | None = None) -> Found:
    """Stage 5: spatially verified query expansion and chains (expansion.py); unchanged when the
    config turns it off."""
    return expand(index, query, short, found, exclude)


def object_masks(index, query: Query, found: Found) -> M.MaskOutput:
    """Stage 6: the object in the query (masks.py): consensus of the direct matches, whether
    it fills its box, its outline."""
    direct = [m.v for m in found.matches.values() if m.via is None]
    return M.query_masks(query.img, M.evidence(query.feats.kpts, direct, tuple(query.box)), index.cfg.mask)


def results(index, query: Query, short: Shortlist, found: Found, masks: M.MaskOutput) -> tuple[list[Hit], np.ndarray]:
    """Stage 7: hits (verified by score, then the rest of the shortlist by tf-idf) with each
    verified image's outlines mapped by its homography, and the full ranking."""
    bow = short.scores
    order = sorted(found.matches.items(), key=lambda kv: (-kv[1].score, kv[1].via is not None, -bow[kv[0]], kv[0]))
    box = [box_polygon(tuple(query.box))]
    hits = []
    mc = index.cfg.mask
    mapped = [M.project_outlines(masks, box, m.v.homography, *index.images[i]["size"]) for i, m in order]
    refined = refine_results(index, order[: mc.refine], mapped, masks.output)
    for k, (i, m) in enumerate(order):
        im = index.images[i]
        w, h = im["size"]
        out = mapped[k]
        polys, kind = (refined[k], "refined") if k < len(refined) and refined[k] else (out[masks.output], masks.output)
        hits.append(Hit(index=i, name=im["name"], path=index.display_path(i), score=m.score, inliers=m.v.inliers,
                        bow_score=float(bow[i]), size=(w, h), homography=m.v.homography,
                        polygons=polys, box_polygons=out["box"], tight_polygons=out["tight"],
                        object_polygons=out["object"], matches=np.hstack([m.q_xy, m.db_xy]), via=m.via,
                        mask_kind=kind))  # fmt: skip
    verified = np.array([h.index for h in hits], np.int64)
    unverified = np.ones(len(index), bool)  # a mask, not setdiff1d: that hashes a million ids
    unverified[verified] = False
    rest = np.flatnonzero(unverified)
    rest = rest[np.argsort(-bow[rest], kind="stable")]
    for i in rest[: max(0, len(short) - len(hits))].tolist():
        im = index.images[i]
        hits.append(Hit(index=i, name=im["name"], path=index.display_path(i), score=0.0, inliers=0,
                        bow_score=float(bow[i]), size=tuple(im["size"])))  # fmt: skip
    return hits, np.concatenate([verified, rest])


def refine_results(index, first: list, mapped: list[dict], output: str) -> list:
    """The masks of the ``first`` verified results (database index, Match) segmented in their own
    image (masks.refine_in_result), in order; None where that fails. In threads, one per core:
    OpenCV's GrabCut and image decoding release the GIL, and each result is independent (its
    GrabCut seeded by itself: the same masks in any order)."""
    if not first:
        return []
    mc = index.cfg.mask

    def one(k: int):
        i, m = first[k]
        return M.refine_in_result(index.display_path(i), tuple(index.images[i]["size"]), mapped[k][output],
                                  mapped[k]["box"], m.db_xy, mc)  # fmt: skip

    workers = min(len(first), default_workers())
    if workers <= 1:
        return [one(k) for k in range(len(first))]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, range(len(first))))


def run(index, image, box, query_features: Features | None = None, exclude=None) -> SearchResult:
    """Every stage in turn (module docstring); ``exclude``: database indices never returned
    (the query image itself: ``Index.search_full(exclude_query=...)``)."""
    t = [time.perf_counter()]
    timings: dict[str, float] = {}

    def done(stage: str) -> None:
        t.append(time.perf_counter())
        timings[stage] = t[-1] - t[-2]

    ex = None if exclude is None or not len(exclude) else np.asarray(sorted(set(exclude)), np.int64)
    query = features(index, image, box, query_features)
    done("features")
    short = shortlist(index, query, ex)
    done("shortlist")
    cand = matching(index, query, short)
    done("matching")
    found = verification(index, query, short, cand)
    done("verification")
    found = expansion(index, query, short, found, ex)
    done("expansion")
    masks = object_masks(index, query, found)
    done("masks")
    hits, ranking = results(index, query, short, found, masks)
    if ex is not None:
        ranking = ranking[~np.isin(ranking, ex)]
    done("results")
    timings["total"] = t[-1] - t[0]
    return SearchResult(hits, ranking, timings, masks.outline, short.ids, tuple(query.box), masks.fills_box,
                        [] if ex is None else ex.tolist(), (query.img.shape[1], query.img.shape[0]),
                        masks.stats)  # fmt: skip
