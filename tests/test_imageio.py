"""Reading images (pixret/imageio.py): truncated data, EXIF orientation, one upright size everywhere."""

import base64
import io
import json

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


# ---------------------------------------------------------------- one guarded reader: the header's size before any decode
SIDE = 30000  # 900 MP: 2.7 GB as BGR, from a file of a few hundred KB


def _huge_png() -> bytes:
    """A valid 30000 x 30000 black-and-white PNG (the issue's file: decoded in full, 2.7 GB),
    compressed row by row so that making it takes no memory either."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    z = zlib.compressobj(1)
    row = bytes(1 + (SIDE + 7) // 8)  # filter byte, then 1 bit per pixel
    idat = b"".join(z.compress(row) for _ in range(SIDE)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", SIDE, SIDE, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _huge_jpeg() -> bytes:
    """A small JPEG whose frame header says 30000 x 30000 (what a decoder allocates for)."""
    data = bytearray(cv2.imencode(".jpg", np.zeros((16, 16), np.uint8))[1].tobytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = SIDE.to_bytes(2, "big") * 2  # height, width
    return bytes(data)


def _huge_bmp() -> bytes:
    data = bytearray(cv2.imencode(".bmp", np.zeros((4, 4, 3), np.uint8))[1].tobytes())
    data[18:26] = SIDE.to_bytes(4, "little") * 2  # width, height
    return bytes(data)


HUGE = {"png": _huge_png, "jpg": _huge_jpeg, "bmp": _huge_bmp}


@pytest.mark.parametrize("ext", HUGE)
def test_every_reader_refuses_a_huge_image_from_its_header(tmp_path, ext):
    import tracemalloc

    from pixret.datasets.labelme import read_labelme
    from pixret.imageio import decode_mask, load_mask, open_pil

    data = HUGE[ext]()
    assert len(data) < 1_000_000
    path = tmp_path / f"big.{ext}"
    path.write_bytes(data)
    label = tmp_path / "big.json"  # labelme with the image inlined as imageData
    label.write_text(json.dumps({"shapes": [{"label": "m", "shape_type": "mask", "points": [[0, 0], [9, 9]],
                                             "mask": base64.b64encode(data).decode()}],
                                 "imageWidth": 10, "imageHeight": 10}))  # fmt: skip
    readers = [lambda: decode_image(data, "big"), lambda: load_image(path), lambda: image_size(path),
               lambda: probe(data, "big"), lambda: as_image(path), lambda: as_image(data),
               lambda: decode_mask(data, "big"), lambda: load_mask(path), lambda: open_pil(path),
               lambda: read_labelme(label)]  # fmt: skip
    tracemalloc.start()
    try:
        for read in readers:
            with pytest.raises(PixretError, match="larger than any image pixret reads"):
                read()
        assert tracemalloc.get_traced_memory()[1] < 50e6  # nothing decoded (the PNG would be 2.7 GB)
    finally:
        tracemalloc.stop()


def test_a_lazily_opened_pil_image_is_checked_before_it_is_decoded(tmp_path, monkeypatch):
    big = tmp_path / "big.png"
    big.write_bytes(_huge_png())
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # an application that turned Pillow's own check off
    im = Image.open(big)  # the header only
    with pytest.raises(PixretError, match="30000x30000 pixels: larger than any image pixret reads"):
        as_image(im)
    with pytest.raises(PixretError, match="big.png: image of 30000x30000 pixels"):
        load_image(big)


def test_pixret_search_refuses_a_huge_query_in_one_line(small, tmp_path):
    """The issue's input: a 30000 x 30000 PNG of under a MB given to `pixret search` was decoded
    in full (2.7 GB), then a cv2.error."""
    from tests.helpers import run_cli

    idx, _ = small
    q = tmp_path / "my huge query.png"
    q.write_bytes(_huge_png())
    r = run_cli(["search", q, "--index", idx.root, "--box", "10,10,500,500"])
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "my huge query.png" in lines[0] and "larger than any image pixret reads" in lines[0]


def test_no_module_decodes_an_image_but_imageio():
    """Every decode goes through pixret/imageio.py's header check: no other module calls a
    decoder (OpenCV, Pillow, scikit-image, imageio) on a file or bytes."""
    import re
    from pathlib import Path

    import pixret

    decoders = re.compile(r"cv2\.imread|cv2\.imdecode|Image\.open\(|skimage\.io|imageio\.v\d|iio\.imread|"
                          r"Image\.frombuffer|tifffile")  # fmt: skip
    root = Path(pixret.__file__).parent
    found = [f"{p.relative_to(root)}:{n}" for p in root.rglob("*.py") if p.name != "imageio.py"
             for n, line in enumerate(p.read_text().splitlines(), 1) if decoders.search(line)]  # fmt: skip
    assert found == []
