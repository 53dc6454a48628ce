"""Spatial verification: the keypoint consistency check that chance inliers fail."""

from dataclasses import replace

import cv2
import numpy as np
import pytest
import skimage.data

from pixret.datasets import load_benchmark
from pixret.datasets.generate.synthetic import SyntheticConfig, make_benchmark
from pixret.engine import Index, get_config
from pixret.engine.config import VerifyConfig
from pixret.engine.features import desc_float, extract
from pixret.engine.matchers import ratio_pairs
from pixret.engine.verify import (
    _plausible,
    fit_pairs,
    local_similarity,
    once_per_point,
    shape_check,
    wgc_mode,
)
from pixret.engine.verify import weak_geometric_consistency as consistent
from pixret.errors import PixretError


def _similarity(scale: float, degrees: float, tx: float = 0.0, ty: float = 0.0) -> np.ndarray:
    a = np.radians(degrees)
    c, s = scale * np.cos(a), scale * np.sin(a)
    return np.array([[c, -s, tx], [s, c, ty], [0, 0, 1.0]])


def test_local_similarity_of_a_similarity_is_itself_everywhere():
    xy = np.array([[0.0, 0.0], [100.0, 50.0], [-30.0, 400.0]])
    scale, angle = local_similarity(_similarity(2.0, 30.0, 5, 7), xy)
    assert np.allclose(scale, 2.0) and np.allclose(angle, 30.0)
    # a homography's local scale changes across the image: larger where w is smaller
    h = np.array([[1.0, 0, 0], [0, 1.0, 0], [0.001, 0, 1.0]])
    scale, angle = local_similarity(h, np.array([[0.0, 0.0], [500.0, 0.0]]))
    assert scale[0] == pytest.approx(1.0) and scale[1] == pytest.approx(1 / 1.5**1.5, rel=1e-6)
    assert np.allclose(angle, 0.0)


def test_plausible_is_judged_where_the_transform_maps():
    region = np.array([[0.0, 0], [300, 0], [300, 300], [0, 300]])
    assert _plausible(np.eye(3), region)
    # a facade seen from its side: x' = (500 - 0.5 x) / (1 - 0.002 x) grows from 500 to 875
    # over the region (no mirror there, local area scale 0.5 .. 7.8), although the top-left 2x2
    # block alone has a negative determinant (the test this replaces refused it)
    side_view = np.array([[-0.5, 0, 500], [0, 1, 0], [-0.002, 0, 1]])
    assert np.linalg.det(side_view[:2, :2]) < 0 and _plausible(side_view, region)
    # the same transform with the sign of every entry flipped is the same transform
    assert _plausible(-side_view, region)
    # beyond its horizon (x = 500) it mirrors; across it, it folds: refused in both places
    assert not _plausible(side_view, region + [600, 0])
    assert not _plausible(side_view, region + [350, 0])
    # a mirror, a collapse and a huge perspective are refused anywhere
    assert not _plausible(np.diag([-1.0, 1, 1]), region)
    assert not _plausible(np.diag([1e-2, 1e-2, 1]), region)
    assert not _plausible(np.array([[1.0, 0, 0], [0, 1, 0], [0.02, 0, 1]]), region / 100)
    assert not _plausible(np.eye(3), np.zeros((0, 2)))  # nowhere to judge it


def test_an_inlier_counts_once_per_pair_of_points():
    q = np.array([[0.0, 0], [0, 0], [1, 1], [0, 0]])
    d = np.array([[5.0, 5], [5, 5], [6, 6], [7, 7]])
    assert once_per_point(q, d).tolist() == [True, False, True, True]
    assert once_per_point(np.zeros((0, 2)), np.zeros((0, 2))).tolist() == []
    # 7 points, one of them with a second orientation (SIFT describes it twice): 8 matches, which
    # a homography fits exactly, but 7 points, under min_inliers 8
    xy = np.array([[100.0, 100], [400, 120], [380, 400], [120, 380], [250, 250], [300, 150], [150, 300]])
    h = _similarity(1.5, 20.0, 30, 40)
    q_kpts = np.hstack([xy, np.full((7, 1), 4.0), np.zeros((7, 1))])
    d_xy = cv2.perspectiveTransform(xy.reshape(-1, 1, 2), h).reshape(-1, 2)
    d_kpts = np.hstack([d_xy, np.full((7, 1), 6.0), np.full((7, 1), 20.0)])
    q_kpts = np.vstack([q_kpts, q_kpts[:1] + [0, 0, 0, 90]])
    d_kpts = np.vstack([d_kpts, d_kpts[:1] + [0, 0, 0, 90]])
    rows = np.arange(8)
    cfg = VerifyConfig(method="ransac")
    assert fit_pairs(rows, rows, q_kpts, d_kpts, cfg, 1000, "scale+orientation") is None
    v = fit_pairs(rows, rows, q_kpts, d_kpts, replace(cfg, min_inliers=7), 1000, "scale+orientation")
    assert v is not None and v.inliers == 7 and sorted(v.query_idx.tolist()) == list(range(7))


def test_consistent_keeps_what_the_model_carries():
    h = _similarity(2.0, 30.0)
    q = np.array([[10, 10, 4.0, 100.0]] * 4)
    # OpenCV's SIFT angle turns with the image rotation: d_angle - q_angle = +30 here
    d = np.array(
        [
            [0, 0, 8.0, 130.0],  # scale x2, turned 30 degrees: consistent
            [0, 0, 8.0, 70.0],  # turned the other way
            [0, 0, 30.0, 130.0],  # 7.5x larger
            [0, 0, 7.0, 345.0 + 140.0 - 360.0],  # 0.875x of the model's scale, turned 25: within bounds
        ]
    )
    cfg = VerifyConfig()
    assert consistent(h, q, d, "scale+orientation", cfg).tolist() == [True, False, False, True]
    assert consistent(h, q, d, "scale", cfg).tolist() == [True, True, False, True]


def test_the_orientation_convention_on_real_sift():
    """Rotate and shrink a photograph: inliers of the true homography pass the check."""
    img = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
    h, w = img.shape[:2]
    cfg = get_config("fast")
    for degrees in (-50.0, 35.0):
        m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 0.7)  # OpenCV: positive = anticlockwise
        warped = cv2.warpAffine(img, m, (w, h))
        fq, fd = extract(img, cfg.features), extract(warped, cfg.features)
        qi, di = ratio_pairs(desc_float(fq.desc), desc_float(fd.desc), 0.8)
        hom = np.vstack([m, [0, 0, 1]])
        err = np.linalg.norm(
            cv2.perspectiveTransform(fq.kpts[qi, None, :2], hom)[:, 0] - fd.kpts[di, :2], axis=1
        )
        true = err < 2.0
        assert true.sum() > 100
        ok = consistent(hom, fq.kpts[qi[true]], fd.kpts[di[true]], "scale+orientation", cfg.verify)
        assert ok.mean() > 0.9


def test_which_check_the_features_allow():
    fast = get_config("fast")
    assert shape_check is wgc_mode and wgc_mode(fast) == "scale+orientation"
    assert shape_check(get_config("fast-upright")) == "scale"
    assert shape_check(get_config("xfeat")) == "none"  # learned keypoints carry no scale or angle
    assert shape_check(get_config("sift-sp")) == "none"  # the paper's baseline counts positions
    with pytest.raises(
        PixretError,
        match=r"keypoint_check 'scale\+angle' is not one of: scale\+orientation, scale, none",
    ):
        replace(fast.verify, keypoint_check="scale+angle")


@pytest.fixture(scope="module")
def textures(tmp_path_factory):
    """A collection whose scenes are collages of the same few photographs: many near-duplicate
    textures, so hundreds of tentative matches per unrelated image."""
    root = tmp_path_factory.mktemp("tex")
    make_benchmark(
        root,
        SyntheticConfig(name="tex", queries=3, positives=5, distractors=30, seed=2),
        workers=2,
        progress=False,
    )
    bench = load_benchmark(root, "tex")
    paths = [bench.database_image(i) for i in range(bench.n_database)]
    return bench, Index.build(paths, get_config("fast"), root / "idx", progress=False)


def _verified(index, bench):
    wrong, found = 0, 0
    for q in bench.queries:
        hits = [h.index for h in index.search_full(bench.query_image(q.index), q.box).hits if h.verified]
        wrong += sum(i not in set(q.positives.tolist()) | set(q.junk.tolist()) for i in hits)
        found += sum(i in set(q.positives.tolist()) for i in hits)
    return wrong, found


@pytest.mark.slow
def test_no_unrelated_image_is_verified_among_near_duplicate_textures(textures):
    bench, index = textures
    wrong, found = _verified(index, bench)
    assert wrong == 0
    assert found >= 0.5 * sum(len(q.positives) for q in bench.queries)
    # counting positions only, with the word matching of before signatures (more tentative
    # pairs), chance inliers verify unrelated images here
    base = index.cfg
    before = VerifyConfig(keypoint_check="none", hamming_threshold=0, max_pairs_per_word=16, ratio=0.9)
    index.cfg = replace(base, verify=before)
    try:
        wrong_before, found_before = _verified(index, bench)
    finally:
        index.cfg = base
    assert wrong_before > 0 and found_before <= found + 1




def test_voted_consistency_keeps_the_most_common_scale_and_turn():
    """Jegou et al.'s weak geometric consistency, voted over the matches (for a fundamental
    matrix, which has no local similarity): the mode is 2x larger, turned 30 degrees."""
    from pixret.engine.verify import voted_consistency

    q = np.array([[0, 0, 4.0, 10.0]] * 5)
    d = np.array([[0, 0, 8.0, 40.0], [0, 0, 7.0, 50.0], [0, 0, 9.0, 35.0],  # the mode: x2, +30
                  [0, 0, 40.0, 40.0],  # 10x: another scale
                  [0, 0, 8.0, 200.0]])  # fmt: skip
    assert voted_consistency(q, d, "scale+orientation", VerifyConfig()).tolist() == [True, True, True, False, False]
    assert voted_consistency(q, d, "scale", VerifyConfig()).tolist() == [True, True, True, False, True]
    assert voted_consistency(q[:0], d[:0], "scale", VerifyConfig()).shape == (0,)


def test_distinctive_refuses_repeated_structure_and_a_corner_of_the_box():
    """Inliers on ten copies of one window count once; such weak evidence verifies only when it
    covers enough of the box and enough of the tentative matches."""
    from pixret.engine.verify import Verification, distinctive

    cfg = VerifyConfig(min_distinct_inliers=4.5, min_coverage=0.02, repetition_ratio=0.13)
    box = (0.0, 0.0, 100.0, 100.0)
    grid = np.array([[x, y, 4.0, 0.0] for x in (10, 50, 90) for y in (10, 50, 90)], np.float64)  # 9 points
    v = Verification(np.eye(3), 9, np.arange(9), np.arange(9))
    unique = np.arange(9)  # every inlier its own word: 9 distinct
    repeated = np.zeros(9, np.int64)  # one word, nine times: 1 distinct
    assert distinctive(v, grid, unique, box, 200, cfg)
    assert not distinctive(v, grid, repeated, box, 200, cfg)  # 9 of 200 tentative: repeated structure
    assert distinctive(v, grid, repeated, box, 60, cfg)  # 9 of 60: a weak true match
    corner = grid.copy()
    corner[:, :2] = corner[:, :2] / 20  # all inside a 5 x 5 px corner: 0.2% of the box
    assert not distinctive(v, corner, repeated, box, 60, cfg)
    assert distinctive(v, grid, repeated, box, 200, VerifyConfig())  # off by default
    f = Verification(np.eye(3), 9, np.arange(9), np.arange(9), "fundamental")
    assert not distinctive(f, grid, unique, box, 60, cfg)  # 9 distinct < epipolar_min_distinct (12)


def test_a_fundamental_matrix_verifies_a_view_no_homography_explains():
    """Two planes at different depths seen from two places (a 3D scene): one homography holds
    only one plane's points; the fundamental matrix path verifies the view with the points of
    both, and a plausible mean-plane homography to map the outline."""
    from pixret.engine.verify import fit_epipolar, fit_pairs

    rng = np.random.default_rng(0)
    k = np.array([[800.0, 0, 500], [0, 800, 400], [0, 0, 1]])
    pts = np.concatenate([np.c_[rng.uniform(-2, 2, (60, 2)), np.full(60, 8.0)],  # a far wall
                          np.c_[rng.uniform(-1, 0, (60, 1)), rng.uniform(-1, 1, (60, 1)), rng.uniform(4, 6, (60, 1))]])  # fmt: skip
    r, _ = cv2.Rodrigues(np.array([0.0, 0.25, 0.0]))

    def project(p, rot, t):
        c = p @ rot.T + t
        xy = c @ k.T
        return xy[:, :2] / xy[:, 2:]

    q_xy, d_xy = project(pts, np.eye(3), np.zeros(3)), project(pts, r, np.array([-1.5, 0, 0.5]))
    q = np.c_[q_xy, np.full(len(pts), 4.0), np.zeros(len(pts))]
    d = np.c_[d_xy, np.full(len(pts), 4.0), np.zeros(len(pts))]
    idx = np.arange(len(pts))
    cfg = VerifyConfig(min_inliers=90, epipolar_min_inliers=100)
    assert fit_pairs(idx, idx, q, d, replace(cfg, epipolar_min_inliers=0), 1000) is None  # no plane holds 90
    v = fit_epipolar(idx, idx, q, d, cfg, 1000, "scale")
    assert v is not None and v.model == "fundamental" and v.inliers >= 110
    assert fit_pairs(idx, idx, q, d, cfg, 1000, "scale").model == "fundamental"
    # unrelated points: nothing
    noise = np.c_[rng.uniform(0, 1000, (120, 2)), np.full(120, 4.0), np.zeros(120)]
    assert fit_epipolar(idx, idx, q, noise, cfg, 1000, "scale") is None
