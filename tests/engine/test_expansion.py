"""Query expansion and chains (engine/expansion.py): what a chain finds gets a mask through the
composed homography, ranks after the direct matches it stands on, and nothing unrelated is
verified; the guard's confirmation counts on tiny exact arrays."""

from dataclasses import replace

import numpy as np

from pixret.engine import get_config
from pixret.engine.expansion import auto_expansion_k, confirmed, link_config
from pixret.engine.verify import Verification, distinctive
from pixret.evaluation import PixelPrediction, strict_iou


def test_the_confirmation_counts_the_querys_own_matches_that_agree():
    cfg = get_config("fast")
    q = np.array([[10, 10, 4, 0], [50, 20, 4, 0], [30, 80, 4, 0], [70, 70, 4, 0]], np.float32)
    h = np.array([[2.0, 0, 5], [0, 2.0, -3], [0, 0, 1]])
    d = q.copy()
    d[:, :2] = q[:, :2] * 2 + [5, -3]
    d[:, 2] *= 2  # the keypoints' scale follows the homography
    assert confirmed(h, q, d, cfg, 200, "scale+orientation") == 4
    d[1, :2] += 30  # a match elsewhere
    d[2, 3] = 90  # a keypoint turned against the homography's rotation
    assert confirmed(h, q, d, cfg, 200, "scale+orientation") == 2
    assert confirmed(h, q, d, cfg, 200, "none") == 3
    assert confirmed(h, q[:0], d[:0], cfg, 200, "none") == 0


def test_chains_find_what_the_query_cannot_and_nothing_unrelated(bench, index):
    fast = get_config("fast")
    # direct verification only for strong matches: weaker positives can only come through chains
    cfg = replace(fast, verify=replace(fast.verify, min_inliers=40),
                  expansion=replace(fast.expansion, min_inliers=40, chain_min_inliers=10, top_k=30))  # fmt: skip
    index.cfg = cfg
    try:
        chained, ious = 0, []
        for q in bench.queries:
            r = index.search_full(bench.query_image(q.index), q.box)
            related = set(q.positives.tolist()) | set(q.junk.tolist())
            verified = [h for h in r.hits if h.verified]
            assert all(h.index in related for h in verified)  # the guard: nothing unrelated
            for h in verified:
                if h.via is None:
                    continue
                chained += 1
                assert h.via in {x.index for x in verified if x.via is None}  # one hop from a direct match
                assert h.score <= next(x.score for x in verified if x.index == h.via)
                gt = bench.gt(q.index, h.index)
                if gt is not None:
                    ious.append(strict_iou(PixelPrediction(h.polygons), gt.polygons, gt.height, gt.width)[1])
        assert chained >= 1 and np.median(ious) > 0.4
    finally:
        index.cfg = fast


def test_the_expanded_shortlist_grows_with_the_collection():
    sizes = (5_000, 10_000, 100_000, 1_000_000)
    assert [auto_expansion_k(n) for n in sizes] == [(50, 30), (50, 30), (1525, 30), (3000, 200)]


def test_confirmations_count_each_point_once():
    # three tentative pairs, the first point described twice (two orientations), all on the
    # identity; a fourth pair off it
    q = np.array([[10.0, 10, 4, 0], [10, 10, 4, 90], [50, 60, 4, 0], [80, 20, 4, 0]])
    d = q.copy()
    d[3, :2] += 40
    cfg = get_config("fast")
    assert confirmed(np.eye(3), q, d, cfg, 1000, "none") == 2
    assert confirmed(np.eye(3), q, d, cfg, 1000, "scale+orientation") == 2


def test_a_link_on_repeated_structure_needs_more_of_its_tentative_matches():
    """A link whose inliers rest on words the result's object repeats (windows of one design) must
    hold ``chain_repetition_ratio`` of its tentative matches, more than a direct match's
    ``repetition_ratio``: each image gets a try at a link from each chain source."""
    cfg = get_config("fast")
    link = link_config(cfg)
    assert link.min_inliers == cfg.expansion.chain_min_inliers
    assert link.repetition_ratio == cfg.expansion.chain_repetition_ratio > cfg.verify.repetition_ratio
    box = (0.0, 0.0, 100.0, 100.0)
    grid = np.array([[x, y, 4.0, 0.0] for x in (10, 30, 50, 70, 90) for y in (10, 50, 90)], np.float64)
    v = Verification(np.eye(3), 15, np.arange(15), np.arange(15))  # 15 inliers over the box
    windows = np.repeat(np.arange(3), 5)  # three words, five times each: 3 distinct
    for tentative, direct, chained in ((100, True, False), (60, True, True), (200, False, False)):
        # 15 inliers of 100 tentative: 0.15, enough for a direct match (0.13), not for a link (0.18)
        assert distinctive(v, grid, windows, box, tentative, cfg.verify) is direct
        assert distinctive(v, grid, windows, box, tentative, link) is chained
    unique = np.arange(15)  # distinct inliers: the ratio does not decide
    assert distinctive(v, grid, unique, box, 200, link)
    loose = replace(cfg, verify=replace(cfg.verify, repetition_ratio=0.3))
    assert link_config(loose).repetition_ratio == 0.3  # a link is never looser than a direct match
