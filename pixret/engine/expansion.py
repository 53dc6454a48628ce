"""Spatially verified query expansion and masks along chains of verified images.

Query expansion (Chum, Philbin, Sivic, Isard, Zisserman, "Total Recall", ICCV 2007; its
follow-up, Chum, Mikulik, Perdoch, Matas, CVPR 2011): the features of the strongly verified
results that fall on the object (inside the query box mapped into them) are mapped back into
the query frame by their homographies; with the query's own features they form an expanded
query (average query expansion: one tf-idf vector of all of them). Its shortlist brings images
the query alone ranked too low; each is verified against the query first, then, when the query
cannot verify it, against the verified results themselves (a chain): the homography query ->
result -> image maps the query's outlines into it, and its score is the weaker link's inliers.

Guards against drift (an expansion must never verify an unrelated image):
- only results verified directly by the query, with at least ``min_inliers`` inliers, expand it;
- only their features on the object take part: mapped back into the query, inside the hull of
  the consensus keypoints (never the box, never the background the results show besides);
- a chain link needs ``chain_min_inliers`` inliers that pass weak geometric consistency (more
  than a direct match, since each image gets several tries), one hop only; inliers and
  confirmations count points, once each (verify.once_per_point); a link whose inliers rest on
  structure the object repeats must hold ``chain_repetition_ratio`` of its tentative matches
  (more than a direct match's share: windows of one design on another wing);
- the composed homography must be plausible, map the query box onto the image, and be confirmed
  by ``confirm_inliers`` of the query's own tentative matches with the image (nothing fitted:
  measured, a composite reached through the background its scene photo shares with a verified
  result has none).

How this differs from the release's hypergraph propagation (DELG + HP, and the 2024 follow-up's
hypergraph diffusion): those re-rank by propagating similarity over a graph of all database
images built offline, and the follow-up carries masks along its edges; here the graph is never
built. Each query verifies its own chains at search time, one hop from results it verified
itself, and a chained image's mask is the query's outline mapped through two fitted homographies.
"""

from __future__ import annotations

import math
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING

import cv2
import numpy as np
import shapely

from ..geometry import box_polygon
from .masks import evidence, support_polygons
from .matchers import ImageSide, QuerySide, match_shortlist, match_words
from .shortlist import cut
from .verify import (
    Verification,
    _plausible,
    distinctive,
    fit_pairs,
    once_per_point,
    tentative_points,
    weak_geometric_consistency,
    wgc_mode,
)
from .vocabulary import split_words

if TYPE_CHECKING:
    from .config import VerifyConfig
    from .search import Found, Match, Query
    from .shortlist import Shortlist


def auto_expansion_k(n_images: int) -> tuple[int, int]:
    """(images the expanded query shortlists, images tried through chains).

    The first grows with the log of the collection from 50 at 10k images to 3,000 at a million;
    the second from 30 at 100k to 200 at a million. Why: among a million images the hard
    positives the first shortlist misses sit deep in the expanded query's tf-idf order too, and
    verifying a candidate the expanded query ranks is cheap (bench_scale.py at 1M, 24 queries:
    with 2,000 the million verified 143 of the 170 positives the 5k base verifies 145 of, Hard
    pixel mAP 18.5 and image mAP 69.8 against 19.9 and 71.5 at 5k; 3,000 verified 144, 19.1 and
    71.1, the one it adds ranked 2,775th; 4,000 no more; warm p50 0.49 s either way. The last one
    ranks 8,029th: no list length reaches it)."""
    grow = min(1.0, max(0.0, math.log10(max(n_images, 1) / 1e4) / 2))
    chain = min(1.0, max(0.0, math.log10(max(n_images, 1) / 1e5)))
    return int(round(50 + 2950 * grow)), int(round(30 + 170 * chain))


def _warp(xy: np.ndarray, h: np.ndarray) -> np.ndarray:
    if not len(xy):
        return xy.reshape(0, 2)
    return cv2.perspectiveTransform(xy.reshape(-1, 1, 2).astype(np.float64), h).reshape(-1, 2)


def on_object(side: ImageSide, h: np.ndarray, region: list[np.ndarray]) -> np.ndarray:
    """Rows of a verified result's features that lie on the object: mapped back into the query
    frame by the inverse of its homography ``h``, inside the object ``region`` (query polygons)."""
    try:
        back = _warp(side.kpts[:, :2], np.linalg.inv(h))
    except np.linalg.LinAlgError:
        return np.zeros(0, np.int64)
    ok = np.isfinite(back).all(1)
    geom = shapely.union_all([shapely.make_valid(shapely.Polygon(p)) for p in region if len(p) >= 3])
    ok[ok] = shapely.contains_xy(geom, back[ok, 0], back[ok, 1])
    return np.flatnonzero(ok)


def object_region(query: Query, found: Found, m: Match, cfg) -> list[np.ndarray]:
    """Where the object is in the query, as far as verification knows: the hull of the consensus
    keypoints of every direct match (masks.support_polygons), else the hull of this match's own
    inliers. Never the box: its background would carry the expansion to other images that show
    the same background (measured: composites pasted into one scene photo chained to each other)."""
    direct = [x.v for x in found.matches.values() if x.via is None]
    support = support_polygons(evidence(query.feats.kpts, direct, tuple(query.box)), cfg.mask)
    if support:
        return support
    hull = cv2.convexHull(m.q_xy.astype(np.float32)).reshape(-1, 2).astype(np.float64)
    return [hull] if len(hull) >= 3 else []


def confirmed(h: np.ndarray, q_kpts: np.ndarray, d_kpts: np.ndarray, cfg, longest_side: int, check: str) -> int:
    """How many of the query's own tentative matches with the image (rows q_kpts -> d_kpts) agree
    with the chained homography ``h``: within the inlier threshold and, where the features allow,
    weakly geometrically consistent. Nothing is fitted, so chance agreement is rare: an image
    reached through a result's background has none, a true one the few the query could not
    verify alone."""
    if not len(q_kpts):
        return 0
    err = np.linalg.norm(_warp(q_kpts[:, :2], h) - d_kpts[:, :2], axis=1)
    ok = err <= max(2.0, cfg.verify.reproj_threshold * longest_side)
    if check != "none":
        ok &= weak_geometric_consistency(h, q_kpts, d_kpts, check, cfg.verify)
    return int(once_per_point(q_kpts[ok, :2], d_kpts[ok, :2]).sum())  # a point counts once


def link_config(cfg) -> VerifyConfig:
    """The verification settings of a chain's link (a verified result -> a new image): the
    engine's, with the link's own guards against drift (``ExpansionConfig.chain_min_inliers``,
    ``chain_repetition_ratio``)."""
    ec = cfg.expansion
    ratio = max(cfg.verify.repetition_ratio, ec.chain_repetition_ratio)  # never looser than a direct match
    return replace(cfg.verify, min_inliers=ec.chain_min_inliers, repetition_ratio=ratio)


def _maps_box_onto(h: np.ndarray, box, w: int, hh: int) -> bool:
    """The query box mapped by ``h`` is a convex quadrilateral of at least 0.1% of the image
    and at least half of it lies inside the image."""
    quad = _warp(box_polygon(box).astype(np.float64), h)
    if not np.isfinite(quad).all() or not cv2.isContourConvex(quad.astype(np.float32)):
        return False
    area = abs(cv2.contourArea(quad.astype(np.float32)))
    inside = np.clip(quad, 0, [w, hh])
    kept = abs(cv2.contourArea(inside.astype(np.float32)))
    return area >= 1e-3 * w * hh and kept >= 0.5 * area


def expand(index, query: Query, short: Shortlist, found: Found, exclude: np.ndarray | None = None) -> Found:
    """The expansion stage (module docstring): ``found`` with the images the expanded query and
    the chains verified added. ``exclude``: database indices never returned."""
    from .search import Match, verify_one

    cfg = index.cfg
    ec = cfg.expansion
    if not ec.enabled or cfg.exhaustive or query.words is None or not found.matches:
        return found
    strong = sorted(((i, m) for i, m in found.matches.items() if m.via is None and m.v.inliers >= ec.min_inliers),
                    key=lambda kv: (-kv[1].v.inliers, kv[0]))[: ec.max_sources]  # fmt: skip
    if not strong:
        return found
    box = tuple(query.box)
    bits = index.shards.split_bits
    fine = [query.fine_words(bits)]
    sources = []  # (index, Match, the result's object features as a query side)
    for i, m in strong:
        side = index.side(i)
        region = object_region(query, found, m, cfg)
        rows = on_object(side, m.v.homography, region) if region else np.zeros(0, np.int64)
        if len(rows) < cfg.verify.min_inliers:
            continue
        words = side.words[rows].astype(np.int64)
        sigs = side.sigs[rows] if side.sigs is not None else np.zeros(len(rows), np.uint64)
        fine.append(split_words(words, sigs, bits))
        x, y = side.kpts[rows, 0], side.kpts[rows, 1]
        qs = QuerySide(side.kpts[rows], side.desc[rows], words[:, None], None,
                       (float(x.min()), float(y.min()), float(x.max()), float(y.max())), sigs[:, None])  # fmt: skip
        sources.append((i, m, qs))
    if not sources:
        return found
    # the expanded query's shortlist, beyond what is verified already
    scores = index.shards.scores(np.concatenate(fine))
    known = np.fromiter(found.matches, np.int64, len(found.matches))
    skip = known if exclude is None else np.union1d(known, exclude)
    tried = np.union1d(skip, np.fromiter(found.tried, np.int64, len(found.tried)))
    # images neither shortlist verified: the expanded query's best untried ones against the query,
    # and its best unverified ones (tried or not) through the verified results
    auto_k, auto_chain = auto_expansion_k(len(index))
    new = cut(scores, ec.top_k or auto_k, tried).tolist()
    ids = cut(scores, ec.chain_candidates or auto_chain, skip)
    check = wgc_mode(cfg)
    kp = query.feats.kpts
    want = sorted(set(new) | set(ids.tolist()))
    sides = dict(zip(want, index.sides(want), strict=True))
    # the query's pairs with an image, kept for the chains' confirmation where the matcher pairs
    # each image on its own (words, ratio); mnn and lightglue depend on an image's place in the list
    paired: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    alone = cfg.verify.matching in ("words", "ratio")
    if new:
        pairs = match_shortlist(query.side, [sides[i] for i in new], cfg, index.device)
        if alone:
            paired.update(zip(new, pairs, strict=True))
        for i, (qi, di) in zip(new, pairs, strict=True):
            verify_one(index, query, found, i, sides[i], qi, di)
        found.tried.update(new)
    # then what the query cannot verify, through the verified results (one hop)
    todo = [int(i) for i in ids if int(i) not in found.matches]
    if not todo:
        return found
    link_cfg = link_config(cfg)
    rest = [i for i in todo if i not in paired] if alone else todo
    direct_pairs = {**paired, **dict(zip(rest, match_shortlist(query.side, [sides[i] for i in rest], cfg, index.device),
                                        strict=True))}  # fmt: skip
    best: dict[int, Match] = {}
    for r, m_r, qs in sources[: ec.chain_sources]:
        pairs = match_words(qs, [sides[i] for i in todo], cfg, index.device)
        h_qr = m_r.v.homography
        for c, (qi, di) in zip(todo, pairs, strict=True):
            side = sides[c]
            v = fit_pairs(qi, di, qs.kpts, side.kpts, link_cfg, max(side.size), check)
            tentative = partial(tentative_points, qi, di, qs.kpts, side.kpts)  # counted only if needed
            if v is None or not distinctive(v, qs.kpts, qs.words[:, 0], qs.box, tentative, link_cfg):
                continue
            h = v.homography @ h_qr
            w, hh = side.size
            if not (_plausible(h, box_polygon(box)) and _maps_box_onto(h, box, w, hh)):
                continue
            h = h / h[2, 2]  # nonzero: _plausible refuses a transform without it
            qi0, di0 = direct_pairs[c]
            if confirmed(h, kp[qi0], side.kpts[di0], cfg, max(w, hh), check) < ec.confirm_inliers:
                continue
            inliers = min(v.inliers, m_r.v.inliers)
            if c in best and best[c].v.inliers >= inliers:
                continue
            q_xy = _warp(qs.kpts[v.query_idx, :2], np.linalg.inv(h_qr))
            chained = Verification(h, inliers, np.zeros(0, np.int64), v.db_idx)
            best[c] = Match(chained, side.kpts[v.db_idx, :2], q_xy, via=r)
    found.matches.update(best)
    return found
