"""The object mask (engine/masks.py): GrabCut seeded by consensus keypoints and the box, on
hand-made images whose object is known exactly."""

import cv2
import numpy as np

from pixret.engine.config import MaskConfig
from pixret.engine.masks import (
    Evidence,
    _dilate_in_box,
    gmm_log_likelihood,
    object_polygons,
    support_polygons,
    union,
)


def _fill(polys, shape):
    m = np.zeros(shape, np.uint8)
    for p in polys:
        cv2.fillPoly(m, [np.round(p).astype(np.int32)], 1)
    return m


def _iou(polys, truth):
    m = _fill(polys, truth.shape)
    return (m & truth).sum() / (m | truth).sum()


def _scene(rng, shape):
    """A textured green-grey background (noise), the object drawn on it by the caller."""
    img = np.empty((*shape, 3), np.uint8)
    img[:] = (90, 140, 90)
    return np.clip(img + rng.normal(0, 12, img.shape), 0, 255).astype(np.uint8)


def _kpts_in(mask, rng, n=40, size=6.0):
    ys, xs = np.nonzero(mask)
    pick = rng.choice(len(xs), n, replace=False)
    return np.stack([xs[pick], ys[pick], np.full(n, size), np.zeros(n)], 1).astype(np.float32)


def test_background_in_the_box_is_cut_away():
    rng = np.random.default_rng(0)
    img = _scene(rng, (300, 400))
    truth = np.zeros((300, 400), np.uint8)
    cv2.circle(truth, (200, 150), 60, 1, -1)
    img[truth > 0] = (30, 30, 200)  # a red disc
    inner = cv2.erode(truth, np.ones((41, 41), np.uint8))  # keypoints away from the rim
    kpts = _kpts_in(inner, rng)
    box = (110.0, 60.0, 290.0, 240.0)  # the disc and plenty of background
    cfg = MaskConfig()
    votes = np.full(len(kpts), 3)
    obj = object_polygons(img, Evidence(kpts, votes, box, 5), cfg)
    tight = support_polygons(Evidence(kpts, votes, box, 5), cfg)
    box_iou = truth.sum() / ((box[2] - box[0]) * (box[3] - box[1]))
    assert _iou(obj, truth) > 0.85 > box_iou
    assert _iou(union(obj, tight), truth) >= _iou(tight, truth) - 0.02


def test_an_object_that_fills_its_box_keeps_its_corners():
    rng = np.random.default_rng(1)
    img = _scene(rng, (300, 400))
    truth = np.zeros((300, 400), np.uint8)
    truth[80:220, 120:300] = 1
    img[truth > 0] = (200, 180, 60)  # a blue panel, keypoints only in its middle
    mid = np.zeros_like(truth)
    mid[120:180, 170:250] = 1
    kpts = _kpts_in(mid, rng)
    box = (120.0, 80.0, 300.0, 220.0)
    cfg = MaskConfig()
    votes = np.full(len(kpts), 3)
    obj = object_polygons(img, Evidence(kpts, votes, box, 5), cfg)
    tight = support_polygons(Evidence(kpts, votes, box, 5), cfg)
    assert _iou(obj, truth) > 0.9 > _iou(tight, truth)


def test_the_box_is_tight_so_a_thin_tower_stays_object():
    """A church: a nave, and a tower above it, thinner, its smooth stone close in colour to the
    textured background. GrabCut alone drops the tower; the box prior (every row of a tight box
    crosses the object) seeds it back, and the background beside it stays background."""
    rng = np.random.default_rng(3)
    img = _scene(rng, (300, 400))
    truth = np.zeros((300, 400), np.uint8)
    truth[150:250, 140:260] = 1  # the nave
    truth[40:150, 190:210] = 1  # the tower
    img[150:250, 140:260] = (60, 60, 170)
    img[40:150, 190:210] = (80, 130, 100)
    kpts = _kpts_in(cv2.erode(truth, np.ones((31, 31), np.uint8)), rng)  # all on the nave
    box, votes = (140.0, 40.0, 260.0, 250.0), np.full(len(kpts), 3)
    iou, tower = {}, {}
    for rounds in (0, 3):
        obj = object_polygons(img, Evidence(kpts, votes, box, 5), MaskConfig(hull_reach=2.0, box_prior_rounds=rounds))
        iou[rounds], tower[rounds] = _iou(obj, truth), _fill(obj, truth.shape)[40:150, 190:210].mean()
    assert tower[0] < 0.2 and tower[3] > 0.5  # the share of the tower kept: none, then most of it
    assert iou[3] > iou[0] + 0.05 and iou[3] > 0.85


def test_gmm_log_likelihood_of_grabcuts_model_layout():
    # one Gaussian of weight 1 (the others empty), mean (10, 20, 30), covariance 4 I
    model = np.zeros((1, 65))
    model[0, 0] = 1.0
    model[0, 5:8] = (10, 20, 30)
    model[0, 20:29] = (4, 0, 0, 0, 4, 0, 0, 0, 4)
    x = np.array([[10.0, 20.0, 30.0], [12.0, 20.0, 30.0]])
    at_mean = -0.5 * (3 * np.log(2 * np.pi) + np.log(64.0))
    np.testing.assert_allclose(gmm_log_likelihood(model, x), [at_mean, at_mean - 0.5])


def test_too_little_evidence_gives_nothing():
    rng = np.random.default_rng(2)
    img = _scene(rng, (100, 100))
    kpts = np.array([[50, 50, 5, 0]] * 3, np.float32)
    assert object_polygons(img, Evidence(kpts, np.full(3, 3), (20.0, 20.0, 80.0, 80.0), 3), MaskConfig()) == []
    many = _kpts_in(np.ones((100, 100), np.uint8), rng)
    # a box over the whole image leaves no background to learn from
    assert object_polygons(img, Evidence(many, np.full(40, 3), (0.0, 0.0, 100.0, 100.0), 3), MaskConfig()) == []


def test_union_of_two_squares():
    a = [np.array([[0, 0], [10, 0], [10, 10], [0, 10]], float)]
    b = [np.array([[5, 0], [15, 0], [15, 10], [5, 10]], float), np.array([[30, 30], [32, 30], [32, 32]], float)]
    out = union(a, b)
    assert len(out) == 2
    assert cv2.contourArea(out[0].astype(np.float32)) == 150.0
    assert union([], []) == []


def test_the_mask_does_not_depend_on_opencvs_random_state():
    # GrabCut's colour models start from k-means on OpenCV's global generator: earlier searches
    # (other queries, other threads' work) must not change this query's mask
    rng = np.random.default_rng(2)
    img = _scene(rng, (300, 400))
    truth = np.zeros((300, 400), np.uint8)
    cv2.ellipse(truth, (200, 150), (70, 45), 20, 0, 360, 1, -1)
    img[truth > 0] = np.clip(img[truth > 0].astype(int) + (60, -40, 50), 0, 255)  # a noisy object
    kpts = _kpts_in(cv2.erode(truth, np.ones((21, 21), np.uint8)), rng)
    ev = Evidence(kpts, np.full(len(kpts), 3), (100.0, 70.0, 300.0, 230.0), 5)
    masks = []
    for seed in (1, 7, 12345):
        cv2.setRNGSeed(seed)
        cv2.randu(np.zeros((10, 10), np.float32), 0, 1)  # the generator moved on, as a search moves it
        masks.append([p.round(3).tolist() for p in object_polygons(img, ev, MaskConfig())])
    assert masks[0] and masks[0] == masks[1] == masks[2]


def test_the_adaptive_mask_decides_from_the_evidence():
    from pixret.engine.masks import decide, query_masks

    cfg = MaskConfig()
    assert cfg.output == "adaptive"
    assert decide(None, 0.3, cfg) and decide(0.9, 0.5, cfg) and not decide(0.6, 0.5, cfg)
    rng = np.random.default_rng(1)
    # a panel that fills its box: the mapped box
    img = _scene(rng, (300, 400))
    img[80:220, 120:300] = (200, 180, 60)
    mid = np.zeros((300, 400), np.uint8)
    mid[100:200, 140:280] = 1
    ev = Evidence(_kpts_in(mid, rng), np.full(40, 3), (120.0, 80.0, 300.0, 220.0), 5)
    out = query_masks(img, ev, cfg)
    assert out.fills_box and out.output == "box" and out.stats["kept"] >= 0.85
    # a disc with background in its box: the segmented object
    img = _scene(rng, (300, 400))
    truth = np.zeros((300, 400), np.uint8)
    cv2.circle(truth, (200, 150), 60, 1, -1)
    img[truth > 0] = (30, 30, 200)
    ev = Evidence(_kpts_in(cv2.erode(truth, np.ones((41, 41), np.uint8)), rng), np.full(40, 3),
                  (110.0, 60.0, 290.0, 240.0), 5)  # fmt: skip
    out = query_masks(img, ev, cfg)
    assert not out.fills_box and out.output == "object" and _iou(out.outline, truth) > 0.85
    # a fixed output is kept whatever the evidence
    assert query_masks(img, ev, MaskConfig(output="box")).output == "box"


def test_a_result_image_segments_its_own_object(tmp_path):
    """refine_in_result: in a result image, the mapped box holds a disc on a wall of another
    colour; seeded by the box (probably object) and the inliers (surely object), GrabCut in the
    image keeps the disc, not the box. A prior the segmentation does not keep half of is not
    used (None), nor is an image that cannot be read."""
    from pixret.engine.config import MaskConfig
    from pixret.engine.masks import refine_in_result
    from pixret.geometry import fill_polygons

    rng = np.random.default_rng(0)
    img = np.clip(rng.normal(120, 12, (240, 320, 3)), 0, 255).astype(np.uint8)  # a grey wall
    disc = np.zeros((240, 320), np.uint8)
    cv2.circle(disc, (160, 120), 50, 1, -1)
    img[disc > 0] = np.clip(rng.normal((40, 40, 200), 10, (int(disc.sum()), 3)), 0, 255).astype(np.uint8)
    path = tmp_path / "result.png"
    cv2.imwrite(str(path), img)
    box = [np.array([[100.0, 60], [220, 60], [220, 180], [100, 180]])]
    inliers = np.array([[160.0, 120], [150, 110], [175, 130], [140, 125]])
    cfg = MaskConfig(refine_side=160, refine_iters=3, refine_min_iou=0.5)
    out = refine_in_result(str(path), (320, 240), box, box, inliers, cfg)
    got = fill_polygons(out, 240, 320)
    iou = (got & disc).sum() / (got | disc).sum()
    box_iou = disc.sum() / (120 * 120)
    assert iou > 0.85 and iou > box_iou + 0.2
    far = [np.array([[0.0, 0], [60, 0], [60, 60], [0, 60]])]  # a prior on the wall, away from the disc
    assert refine_in_result(str(path), (320, 240), far, box, inliers, cfg) is None
    assert refine_in_result(str(tmp_path / "gone.png"), (320, 240), box, box, inliers, cfg) is None


def test_the_dilation_shortcut_equals_the_dilation_in_the_box():
    """A reach wide enough to cover the box skips the dilation; inside the box the result is the
    dilation's, pixel for pixel, wide or narrow, on hulls anywhere in the box."""
    rng = np.random.default_rng(4)
    for _ in range(200):
        near = np.zeros((40, 60), np.uint8)
        box = (5, 4, 50, 36)
        pts = np.stack([rng.integers(box[0], box[2], 5), rng.integers(box[1], box[3], 5)], 1).astype(np.int32)
        cv2.fillPoly(near, [cv2.convexHull(pts).reshape(-1, 2)], 1)
        for reach in (3, 15, 41, 111):
            want = cv2.dilate(near, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (reach, reach)))
            got = _dilate_in_box(near, reach, box)
            np.testing.assert_array_equal(got[4:36, 5:50] > 0, want[4:36, 5:50] > 0)
    one = np.zeros((9, 9), np.uint8)
    one[4, 4] = 1
    assert _dilate_in_box(one, 9, (0, 0, 9, 9))[0, 0] == 0  # the disc does not reach the corner
    assert (_dilate_in_box(one, 15, (0, 0, 9, 9)) == 1).all()  # it covers the box: no dilation run
