"""Local features (engine/features.py): rotated query views map back onto the box."""

from dataclasses import replace

import cv2
import numpy as np

from pixret.engine import get_config
from pixret.engine.config import FeatureConfig
from pixret.engine.features import DESC_SCALE, _octave, _sift, extract, extract_in_box, root_sift


def test_rotated_query_views_map_back_onto_the_box(bench):
    q = bench.queries[0]
    img = __import__("cv2").imread(str(bench.query_image(0)))
    base = get_config("fast")
    cfg = replace(base, verify=replace(base.verify, query_rotations=(-40.0, 40.0)))
    plain = extract_in_box(img, q.box, base)
    views = extract_in_box(img, q.box, cfg)
    assert plain.view is not None and set(np.unique(views.view)) == {0, 1, 2}
    own = views.view == 0
    assert np.array_equal(views.kpts[own], plain.kpts)
    x1, y1, x2, y2 = q.box
    for v in (1, 2):
        xy = views.kpts[views.view == v, :2]
        assert len(xy) > 50
        assert (xy[:, 0] > x1 - 17).all() and (xy[:, 0] < x2 + 17).all() and (xy[:, 1] > y1 - 17).all()
        # SIFT finds the same corners in a rotated copy: mapped back, most land on one of the plain ones
        d = np.linalg.norm(xy[:, None] - plain.kpts[None, :, :2], axis=2).min(1)
        assert np.median(d) < 1.5


def _reference(gray, cfg):
    """SIFT as pixret extracted it before detectAndCompute: detect, then compute."""
    sift = _sift(cfg)
    kps, desc = sift.compute(gray, sift.detect(gray, None))
    return np.array([(k.pt[0], k.pt[1], k.size, k.angle) for k in kps], np.float32), desc


def test_one_pyramid_gives_the_features_detect_then_compute_gave():
    """detectAndCompute builds SIFT's pyramid once; its features are those of detect + compute,
    byte for byte, also where no keypoint lies in the upsampled octave (there compute builds its
    pyramid without it, and extract computes them so)."""
    rng = np.random.default_rng(0)
    cfg = FeatureConfig()
    for sigma, upsampled in ((2, True), (6, False)):  # fine texture: keypoints in octave -1; coarse blobs: none
        gray = cv2.GaussianBlur((rng.random((160, 160)) * 255).astype(np.uint8), (0, 0), sigma)
        gray = cv2.normalize(gray, None, 0, 255, cv2.NORM_MINMAX)
        assert (min(_octave(k) for k in _sift(cfg).detect(gray, None)) == -1) == upsampled
        kpts, desc = _reference(gray, cfg)
        got = extract(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), cfg)
        want = np.clip(np.round(root_sift(desc) * DESC_SCALE), 0, 255).astype(np.uint8)
        np.testing.assert_array_equal(got.kpts, kpts)
        np.testing.assert_array_equal(got.desc, want)
