"""Reading images (pixret/imageio.py): truncated data, EXIF orientation, one upright size everywhere."""

import base64
import io
import json
import subprocess
import sys
from pathlib import Path

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


# ---------------------------------------------------------------- decompression bombs under MAX_PIXELS (issue 32, I2)
def _flat_png(side: int, colour_type: int, samples: int) -> bytes:
    """A valid side x side PNG of one colour (8-bit samples), compressed row by row: the
    outside check's bombs are 12000 x 12000 grey (0.14 MB) and 10000 x 10000 RGBA (0.39 MB)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    z = zlib.compressobj(9)
    row = bytes(1 + side * samples)
    idat = b"".join(z.compress(row) for _ in range(side)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _pixret_peak(tmp_path, args) -> tuple[subprocess.CompletedProcess, float]:
    """``pixret ARGS`` in a process of its own: its result and its peak memory (MB: the kernel's
    VmHWM, which starts again at exec, unlike ru_maxrss, which keeps the forking parent's)."""
    peak = tmp_path / "peak.txt"
    code = ("import atexit, shutil, sys; out = sys.argv[1]; "
            "atexit.register(lambda: shutil.copyfile('/proc/self/status', out)); "
            "sys.argv = ['pixret', *sys.argv[2:]]; from pixret.cli import main; main()")  # fmt: skip
    r = subprocess.run([sys.executable, "-c", code, str(peak), *map(str, args)], capture_output=True, text=True,
                       timeout=300)  # fmt: skip
    hwm = next(line for line in peak.read_text().splitlines() if line.startswith("VmHWM:"))
    return r, int(hwm.split()[1]) / 1024


@pytest.mark.parametrize(("side", "colour_type", "samples", "mb"), [(12000, 0, 1, 0.14), (10000, 6, 4, 0.39)])
def test_a_decompression_bomb_under_the_size_limit_is_one_line_and_never_decoded(small, tmp_path, side,
                                                                                 colour_type, samples, mb):  # fmt: skip
    """The outside check: these reached 937 MB and 680 MB, printed Pillow's own "Image size
    (144000000 pixels) exceeds limit" warning naming no file, then searched."""
    idx, _ = small
    bomb = tmp_path / "holiday.png"
    bomb.write_bytes(_flat_png(side, colour_type, samples))
    assert len(bomb.read_bytes()) / 1e6 == pytest.approx(mb, abs=0.01)
    r, peak_mb = _pixret_peak(tmp_path, ["search", bomb, "--index", idx.root, "--box", "10,10,500,500"])
    assert r.returncode == 2 and r.stdout == "", r.stderr
    assert r.stderr.count("\n") == 1 and "holiday.png: image of " in r.stderr and "decompression bomb" in r.stderr
    assert "exceeds limit" not in r.stderr and "Warning" not in r.stderr  # Pillow's words
    assert peak_mb < 350, peak_mb  # nothing decoded: a 12000 x 12000 image is 432 MB as BGR


def test_the_plausibility_bound_lets_every_photograph_through():
    from pixret.imageio import _check_plausible

    for fmt, w, h, nbytes in [("JPEG", 8000, 6000, 750_000),  # a uniform grey frame: JPEG's floor, 64 px/B
                              ("JPEG", 8000, 8000, 1_273_000),  # a blurred photo at quality 30 (50 px/B)
                              ("WEBP", 8000, 6000, 105_000),  # a smooth sky at 48 MP (458 px/B)
                              ("PNG", 4000, 4000, 10_000)]:  # any file under PLAUSIBLE_PIXELS
        _check_plausible("x", fmt, w, h, nbytes)  # fmt: skip
    with pytest.raises(PixretError, match="1,028 pixels per byte"):
        _check_plausible("bomb.png", "PNG", 12000, 12000, 140_051)


def test_a_png_header_is_read_without_decoding_it_its_orientation_too(tmp_path, monkeypatch):
    """Pillow's getexif decodes a whole PNG to look for an eXIf chunk after the pixels: the
    size check itself decoded the bomb. The chunks are walked instead, and an eXIf chunk after
    the image data still turns the image."""
    import struct
    import zlib

    from PIL import ImageFile

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    exif = Image.Exif()
    exif[ORIENTATION_TAG] = 6
    stored = cv2.imencode(".png", cv2.resize(skimage_photo(), (120, 80)))[1].tobytes()
    late = stored[:-12] + chunk(b"eXIf", exif.tobytes()[6:]) + stored[-12:]  # after IDAT, before IEND
    path = tmp_path / "late.png"
    path.write_bytes(late)
    assert image_size(path) == (80, 120) and load_image(path).shape == (120, 80, 3)
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_flat_png(12000, 0, 1))

    def no_decoding(self):
        raise AssertionError("the header check decoded the image")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    assert image_size(bomb) == (12000, 12000) and image_size(path) == (80, 120)  # headers only
    with pytest.raises(PixretError, match="decompression bomb"):
        load_image(bomb)


# ---------------------------------------------------------------- nothing raw from a decoder (issue 32, I3)
def _damaged_pngs(tmp_path) -> dict[str, Path]:
    """PNGs on which OpenCV's libpng printed ``libpng error: ...`` before pixret's line."""
    import struct
    import zlib

    good = cv2.imencode(".png", cv2.resize(skimage_photo(), (96, 64)))[1].tobytes()
    ihdr = good[16:29]

    def with_ihdr(data: bytes) -> bytes:
        return good[:16] + data + struct.pack(">I", zlib.crc32(b"IHDR" + data)) + good[33:]

    out = {
        "taller.png": with_ihdr(ihdr[:4] + (64 + 40).to_bytes(4, "big") + ihdr[8:]),  # "Not enough image data"
        "wide.png": with_ihdr((1_000_001).to_bytes(4, "big") + (1).to_bytes(4, "big") + ihdr[8:]),  # "Invalid IHDR data"
        "interlace.png": with_ihdr(ihdr[:12] + b"\x02"),  # an interlace method PNG does not have
        "cut.png": good[: len(good) // 2],  # "PNG input buffer is incomplete"
    }  # fmt: skip
    paths = {}
    for name, data in out.items():
        paths[name] = tmp_path / name
        paths[name].write_bytes(data)
    return paths


def test_a_damaged_png_is_pixrets_one_line_and_nothing_of_libpng(small, tmp_path, capfd):
    from tests.helpers import run_cli

    idx, _ = small
    for name, path in _damaged_pngs(tmp_path).items():
        r = run_cli(["search", path, "--index", idx.root, "--box", "0,0,50,50"])
        fd = capfd.readouterr()  # what C code wrote to the process's stdout and stderr
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert r.stderr.count("\n") == 1 and f"{name}: " in r.stderr and "PNG" in r.stderr or "unreadable" in r.stderr
        assert "libpng" not in fd.err + fd.out and "libpng" not in r.stderr, fd.err
    r = run_cli(["search", tmp_path / "taller.png", "--index", idx.root, "--box", "0,0,50,50"])
    assert "taller.png: truncated PNG (its image data ends before its last row)" in r.stderr


def test_a_folder_of_damaged_pngs_is_indexed_with_one_warning_each_and_nothing_of_libpng(bench, tmp_path, capfd):
    from tests.helpers import run_cli

    photos = tmp_path / "photos"
    photos.mkdir()
    damaged = _damaged_pngs(photos)
    for i in range(3):
        cv2.imwrite(str(photos / f"p{i}.png"), load_image(bench.database_image(i)))
    r = run_cli(["index", photos, "--index", tmp_path / "idx", "--workers", "1"])
    fd = capfd.readouterr()
    assert r.returncode == 0 and "indexed 3 images" in r.stdout, r.stderr
    assert all(r.stderr.count(name) == 1 for name in damaged) and "libpng" not in fd.err + r.stderr


def test_png_pixels_are_opencvs_in_every_colour_type_and_bit_depth():
    """Pillow decodes PNGs now: the same pixels as OpenCV's IMREAD_COLOR (and IMREAD_REDUCED_*),
    and the same mask as IMREAD_UNCHANGED, for every kind of PNG."""
    from pixret.imageio import decode_mask

    rng = np.random.default_rng(0)
    h, w = 37, 53
    rgb = rng.integers(0, 256, (h, w, 3), np.uint8)

    def pil(im, **kw) -> bytes:
        buf = io.BytesIO()
        im.save(buf, "PNG", **kw)
        return buf.getvalue()

    palette = Image.fromarray(rgb).quantize(16)
    cases = [pil(Image.fromarray(rgb)), pil(Image.fromarray(rng.integers(0, 256, (h, w, 4), np.uint8))),
             pil(Image.fromarray(rng.integers(0, 256, (h, w), np.uint8))),
             pil(Image.fromarray(rng.integers(0, 256, (h, w, 2), np.uint8), "LA")),
             pil(Image.fromarray(rng.integers(0, 2, (h, w)).astype(bool))),
             pil(Image.fromarray((rng.integers(0, 4, (h, w)) * 85).astype(np.uint8)), bits=2),
             pil(palette), pil(palette, bits=4), pil(palette, transparency=3),
             pil(Image.fromarray(rgb), transparency=(1, 2, 3)),
             cv2.imencode(".png", rng.integers(0, 65536, (h, w), np.uint16))[1].tobytes(),
             cv2.imencode(".png", rng.integers(0, 65536, (h, w, 3), np.uint16))[1].tobytes(),
             cv2.imencode(".png", rng.integers(0, 2, (h, w, 4), np.uint16))[1].tobytes()]  # fmt: skip
    for k, data in enumerate(cases):
        buf = np.frombuffer(data, np.uint8)
        for reduce, flag in ((1, cv2.IMREAD_COLOR), (2, cv2.IMREAD_REDUCED_COLOR_2), (8, cv2.IMREAD_REDUCED_COLOR_8)):
            want = cv2.imdecode(buf, flag | cv2.IMREAD_IGNORE_ORIENTATION)
            got = decode_image(data, f"case {k}", reduce)
            assert got.shape == want.shape and (got == want).all(), (k, reduce)
        raw = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
        assert (decode_mask(data, f"case {k}") == ((raw.max(axis=2) if raw.ndim == 3 else raw) > 0)).all(), k
