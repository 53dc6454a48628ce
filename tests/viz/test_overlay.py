"""Drawing on images (viz/overlay.py): exact pixels on tiny images."""

import numpy as np

from pixret.viz.overlay import draw_box, draw_polygons, frame, label, tint


def test_tint_blends_only_the_mask_and_outlines_it():
    img = np.full((20, 20, 3), 100, np.uint8)
    mask = np.zeros((20, 20), np.uint8)
    mask[5:15, 5:15] = 1
    out = tint(img, mask, (0, 0, 200), alpha=0.5)
    assert (out[10, 10] == (50, 50, 150)).all()  # inside: half way to the colour
    assert (out[0, 0] == 100).all() and (out[5, 5] == (0, 0, 200)).all()  # outside untouched; the outline
    assert (img == 100).all()  # the input is not changed


def test_polygons_boxes_frames_and_labels():
    img = np.zeros((40, 60, 3), np.uint8)
    filled = draw_polygons(img, [np.array([[10, 10], [30, 10], [30, 30], [10, 30]])], (0, 255, 0))
    assert filled[20, 20, 1] > 0 and filled[5, 5].sum() == 0
    outline = draw_polygons(img, [np.array([[10, 10], [30, 10], [30, 30], [10, 30]])], (0, 255, 0), fill=False)
    assert outline[20, 20].sum() == 0 and outline[10, 20, 1] > 0
    boxed = draw_box(img, (5, 5, 50, 35), (255, 0, 0))
    assert (boxed[5, 20] == (255, 0, 0)).all() and boxed[20, 20].sum() == 0
    assert frame(img, (1, 2, 3), 4).shape == (48, 68, 3)
    grey = np.full((40, 60, 3), 128, np.uint8)
    lab = label(grey, "#1")
    assert (lab[0, 0] == 0).all() and lab[:20, :30].max() == 255  # white text on a black band, top left
    assert (lab[30:, 40:] == 128).all()  # the rest of the picture untouched


def test_a_box_far_past_the_image_is_drawn_as_one_just_past_it():
    img = np.zeros((40, 60, 3), np.uint8)
    for box, near in [((0, 0, 1e10, 1e10), (0, 0, 1000, 1000)), ((-1e300, 5, 1e300, 1e18), (-1000, 5, 1000, 1000)),
                      ((5, 5, 3e9, 30), (5, 5, 1000, 30))]:  # fmt: skip
        out = draw_box(img, box, (255, 0, 0))
        assert (out == draw_box(img, near, (255, 0, 0))).all() and out.any() and not out[20, 30].any()
    assert (draw_box(img, (float("nan"), 0, 10, 10)) == 0).all()  # a box with no value: nothing to draw


def test_polygons_far_past_the_image_fill_what_lies_inside_it():
    img = np.zeros((40, 60, 3), np.uint8)
    near = draw_polygons(img, [np.array([[10, 10], [5e3, 10], [5e3, 5e3], [10, 5e3]])], (0, 255, 0))
    for far in (1e10, 1e30):  # OpenCV's int32 fixed point held 1e10 as a 2-pixel sliver
        got = draw_polygons(img, [np.array([[10, 10], [far, 10], [far, far], [10, far]])], (0, 255, 0))
        assert (got == near).all()
    inside = draw_polygons(img, [np.array([[10, 10], [30, 10], [30, 30], [10, 30]])], (0, 255, 0))
    both = draw_polygons(img, [np.array([[10, 10], [30, 10], [30, 30], [10, 30]]),
                               np.array([[0, 0], [np.nan, 1], [3, 3]])], (0, 255, 0))  # fmt: skip
    assert (both == inside).all()  # a polygon with a NaN vertex is left out, the rest drawn


def test_search_with_a_box_past_the_image_writes_its_overlays(bench, small, tmp_path):
    """The issue's input: `--box 0,0,1e10,1e10` with PNG output printed the table, then a
    cv2.error from viz/overlay.py."""
    import cv2

    from pixret.viz.overlay import BOX_COLOR
    from tests.helpers import run_cli

    idx, paths = small
    out = tmp_path / "found"
    r = run_cli(["search", paths[0], "--index", idx.root, "--box", "0,0,1e10,1e10", "--out", out, "--format", "png"])
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    query = cv2.imread(str(out / "query.png"))
    assert query.shape == cv2.imread(str(paths[0])).shape
    assert (query[query.shape[0] // 2, 0] == BOX_COLOR).all() and (query[0, query.shape[1] // 2] == BOX_COLOR).all()
    assert len(list(out.glob("0*.png"))) >= 1  # the found images too (the query's own image at least)


def test_a_mask_of_another_size_is_tinted_where_it_overlaps_the_image():
    img = np.zeros((40, 60, 3), np.uint8)
    same = tint(img, np.ones((40, 60), np.uint8), (0, 0, 200))
    assert (tint(img, np.ones((50, 70), np.uint8), (0, 0, 200)) == same).all()  # an RLE made for another canvas
    small = tint(img, np.ones((10, 10), np.uint8), (0, 0, 200))
    assert small[:10, :10].any() and not small[20:, 20:].any()
