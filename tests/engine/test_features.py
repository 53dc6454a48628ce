"""Local features (engine/features.py): rotated query views map back onto the box."""

from dataclasses import replace

import numpy as np

from pixret.engine import get_config
from pixret.engine.features import extract_in_box


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
