"""Reading images (pixret/imageio.py): truncated data, EXIF orientation, one upright size everywhere."""

import cv2
import numpy as np
import pytest

from pixret.errors import PixretError
from pixret.imageio import decode_image


def _jpeg() -> bytes:
    rng = np.random.default_rng(0)
    return cv2.imencode(".jpg", rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))[1].tobytes()


def test_a_jpeg_followed_by_other_data_decodes():
    # motion photos append a video after the JPEG's end-of-image marker
    img = decode_image(_jpeg() + b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40, "motion.jpg")
    assert img.shape == (120, 160, 3)


def test_a_cut_jpeg_is_still_refused():
    data = _jpeg()
    with pytest.raises(PixretError, match="cut.jpg: truncated JPEG"):
        decode_image(data[: len(data) * 2 // 3], "cut.jpg")
