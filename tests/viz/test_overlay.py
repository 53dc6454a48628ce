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
