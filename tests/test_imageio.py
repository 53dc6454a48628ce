"""Reading images (pixret/imageio.py): truncated data, EXIF orientation, one upright size everywhere."""

import io

import cv2
import numpy as np
import pytest
import skimage.data
from PIL import Image, ImageOps

from pixret.errors import PixretError
from pixret.imageio import ORIENTATION_TAG, as_image, decode_image, image_size, load_image, probe
from tests.helpers import exif_jpeg


def skimage_photo() -> np.ndarray:
    return cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)


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


def _asymmetric() -> np.ndarray:
    img = np.zeros((4, 6, 3), np.uint8)
    img[..., 0] = np.arange(24).reshape(4, 6) * 10  # every pixel different, so any turn shows
    img[0, 0] = (0, 255, 0)
    return img


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_is_turned_as_pillow_turns_it(orientation):
    raw = Image.fromarray(cv2.cvtColor(_asymmetric(), cv2.COLOR_BGR2RGB))
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = orientation
    buf = io.BytesIO()
    raw.save(buf, "PNG", exif=exif.tobytes())  # lossless: pixels compare exactly
    data = buf.getvalue()
    want = cv2.cvtColor(np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")),
                        cv2.COLOR_RGB2BGR)  # fmt: skip
    got = decode_image(data)
    assert got.shape == want.shape and (got == want).all()
    fmt, w, h, orient = probe(data)
    assert (fmt, (w, h), orient) == ("PNG", (want.shape[1], want.shape[0]), orientation)


def test_a_phone_photo_has_one_upright_size_for_every_reader(tmp_path):
    upright = cv2.resize(skimage_photo(), (240, 160))  # w 240, h 160; stored sideways (160 x 240)
    path = exif_jpeg(tmp_path / "phone.jpg", upright)
    with Image.open(path) as im:
        assert im.size == (160, 240)  # what a header-only reader that forgets EXIF would say
    assert image_size(path) == (240, 160)
    assert load_image(path).shape == (160, 240, 3)
    assert np.abs(load_image(path).astype(int) - upright).mean() < 8  # upright pixels (JPEG noise aside)
    assert as_image(Image.open(path)).shape == (160, 240, 3)
    assert as_image(path.read_bytes()).shape == (160, 240, 3)
