"""Matching helpers that need no torch: batched mutual nearest neighbours, rotated query views."""

from dataclasses import replace

import numpy as np

from pixret.engine import get_config
from pixret.engine.features import LEARNED_SCALE, desc_float, extract_in_box
from pixret.engine.matchers import mnn_pairs_batch


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


def test_matchers_are_looked_up_by_name():
    import pytest

    from pixret.engine.matchers import MATCHERS, get_matcher
    from pixret.errors import PixretError

    assert set(MATCHERS) == {"words", "ratio", "mnn", "lightglue"} and get_matcher("mnn") is MATCHERS["mnn"]
    with pytest.raises(PixretError, match="unknown matcher 'superglue'; choose from words, ratio, mnn, lightglue"):
        get_matcher("superglue")
