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
from pixret.engine.verify import local_similarity, shape_check, wgc_mode
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


