"""Reading and writing images: the one place pixret decodes an image or asks its size.

Every image comes out *upright*: a phone photo stored sideways with an EXIF Orientation tag is
turned the way labelme, browsers and OpenCV's ``imread`` show it, once, here. Its size is the
upright size too (``image_size`` reads the header and the tag, without decoding), so the
evaluator's canvas, the engine's keypoints, the study's click scaling and the server's
thumbnails all agree on one frame of pixels.

Arrays are OpenCV's: ``(h, w, 3)`` uint8 BGR. Sizes are ``(w, h)`` in pixels.

Why not OpenCV alone: ``imdecode`` applies the orientation in OpenCV 5 but not in every 4.x,
and a size without decoding needs the header, which OpenCV does not read. So pixels are
decoded by OpenCV with the orientation ignored, the tag is read by Pillow, and the turn is
applied here (``orient``), for sizes and pixels alike.

PNGs are decoded by Pillow, not OpenCV: OpenCV's libpng writes its complaints (``libpng error:
Invalid IHDR data``, ``Not enough image data``, ``iCCP: known incorrect sRGB profile``) straight
to the process's stderr, from C, before pixret can say anything; Pillow raises. The pixels are
OpenCV's to the bit (16-bit samples by their high byte, palettes expanded, alpha dropped; a
reduced decode resized as OpenCV resizes it), and about as fast (benchmarks/bench_decode.py).
OpenCV's own log lines (libtiff's errors, a BMP's "can't read data") are silenced while pixret
decodes: each failure is pixret's one line instead.

Decompression bombs: a header promising more than MAX_PIXELS is refused before decoding, and so
is an image of more than PLAUSIBLE_PIXELS whose file holds more than MAX_PIXELS_PER_BYTE pixels
per byte (``_check_plausible``). Pillow's own DecompressionBombWarning is pixret's check, never
a warning of Pillow's reaching the user.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import threading
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from .errors import PixretError
from .io import atomic_open, regular_file

IMAGE_EXT = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".heic", ".heif"}
HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1")  # ftyp brands
ORIENTATION_TAG = 0x0112  # EXIF Orientation: 1 = upright; 5-8 swap width and height
MAX_PIXELS = 400_000_000  # a header promising more is not a photograph (decompression bomb)
# A decompression bomb under MAX_PIXELS: a 0.14 MB PNG of 12000 x 12000 (1028 pixels per byte of
# file) decodes to 432 MB, a 0.39 MB RGBA one of 10000 x 10000 (256 per byte) to 300 MB. No
# photograph compresses so far: a JPEG cannot code an 8x8 block in under about 2 bits per
# component, so even a uniform grey 8000 x 6000 frame is 64 pixels per byte (libjpeg's standard
# tables, as cameras and phones write them; measured), and real photographs, however smooth or
# dark or low in quality, are 2-50 (PNG photographs 1-5). Deflate stops at 1032:1, so a PNG bomb
# at deflate's limit holds 129 pixels per byte at the most bytes a PNG pixel has (16-bit RGBA),
# 258 as 8-bit RGBA, 344 as RGB, 1032 as grey and 8000 as 1-bit. 100 pixels per byte lies above
# every photograph and below every bomb at deflate's limit; a file that gets in under it costs at
# most 300 bytes of memory per byte of file. WebP and HEIF/AVIF predict each block from its
# neighbours: a smooth sky at 48 MP is 450 pixels per byte as WebP (measured), as far as a bomb,
# so they are held only to MAX_PIXELS_PER_BYTE_PREDICTED (a lossless WebP of one colour is
# 25000). Under PLAUSIBLE_PIXELS (60 MB as BGR) any file decodes: flat test cards and drawings
# compress that far and cost little.
MAX_PIXELS_PER_BYTE = 100
MAX_PIXELS_PER_BYTE_PREDICTED = 4000
PREDICTED_FORMATS = {"WEBP", "HEIF", "AVIF"}  # Pillow's format names
PLAUSIBLE_PIXELS = 20_000_000
HEIF_HINT = "a HEIC/HEIF photo: pip install pillow-heif to read it, or convert it to JPEG"


def list_images(folder: str | os.PathLike, ignored: list[Path] | None = None) -> list[Path]:
    """Every image file under ``folder`` (recursively, by extension: IMAGE_EXT), sorted; the
    other files are appended to ``ignored`` when given (hidden ones aside), so a caller can say
    what it left out. Raises PixretError when ``folder`` is not a folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PixretError(folder, "not a folder")
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    if ignored is not None:
        ignored += [p for p in files if p.suffix.lower() not in IMAGE_EXT and not p.name.startswith(".")]
    return [p for p in files if p.suffix.lower() in IMAGE_EXT]


def _heif_registered() -> bool:
    """Let Pillow open HEIC/HEIF (pillow-heif, when installed); whether it can."""
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True


_WARNINGS_LOCK = threading.Lock()  # catch_warnings swaps the process's filters: one thread at a time


@contextlib.contextmanager
def _no_bomb_warning():
    """Pillow's DecompressionBombWarning (an image over ``Image.MAX_IMAGE_PIXELS``) silenced: the
    size is checked here (MAX_PIXELS, ``_check_plausible``), and Pillow's text names no file."""
    with _WARNINGS_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        yield


def _open(fp) -> Image.Image:
    """Pillow's open (the header only), HEIC/HEIF included where pillow-heif is installed;
    Pillow's decompression-bomb warning silenced (pixret checks the size itself)."""
    with _no_bomb_warning():
        try:
            return Image.open(fp)
        except Image.UnidentifiedImageError:
            if not _heif_registered():
                raise
            if hasattr(fp, "seek"):
                fp.seek(0)
            return Image.open(fp)


def _orientation(im: Image.Image, fp) -> int:
    """The EXIF orientation of the image opened from the binary file ``fp`` (1 when none).

    A PNG's eXIf chunk may follow its image data, and Pillow's ``getexif`` decodes the whole
    image to reach it (a 0.14 MB PNG bomb became 937 MB here): a PNG's chunks are walked
    instead, over their headers (``_png_chunks``)."""
    try:
        if im.format == "PNG" and "exif" not in im.info:
            exif = Image.Exif()
            for kind, start, length in _png_chunks(fp):
                if kind == b"eXIf":
                    fp.seek(start)
                    exif.load(b"Exif\x00\x00" + fp.read(length))  # what Pillow's eXIf reader keeps
                    break
        else:
            exif = im.getexif()
        value = exif.get(ORIENTATION_TAG, 1)
    except Exception:  # noqa: BLE001 - a damaged EXIF block is no orientation, not an unreadable image
        return 1
    return int(value) if isinstance(value, int) and 1 <= value <= 8 else 1


def _png_chunks(fp) -> Iterator[tuple[bytes, int, int]]:
    """(type, offset of the data, length) of each chunk of the PNG in the binary file ``fp``,
    up to IEND or the file's end, read from the 8-byte chunk headers (the data is skipped; PNG
    specification 5.3). Pillow reads chunks only as it decodes."""
    pos = 8
    while True:
        fp.seek(pos)
        head = fp.read(8)
        if len(head) < 8:
            return
        length, kind = int.from_bytes(head[:4], "big"), head[4:]
        yield kind, pos + 8, length
        if kind == b"IEND":
            return
        pos += 12 + length


def orient(img: np.ndarray, orientation: int) -> np.ndarray:
    """Turn pixels stored with EXIF ``orientation`` (1-8) upright (as PIL's ``exif_transpose``)."""
    if orientation == 2:
        return cv2.flip(img, 1)
    if orientation == 3:
        return cv2.rotate(img, cv2.ROTATE_180)
    if orientation == 4:
        return cv2.flip(img, 0)
    if orientation == 5:
        return cv2.transpose(img)
    if orientation == 6:
        return cv2.rotate(img, cv2.ROTATE_90_CLOCKWISE)
    if orientation == 7:
        return cv2.flip(cv2.transpose(img), -1)
    if orientation == 8:
        return cv2.rotate(img, cv2.ROTATE_90_COUNTERCLOCKWISE)
    return img


def _heif_brand(head: bytes) -> bool:
    return head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS


def _header(fp, source: str | os.PathLike) -> tuple[str, int, int, int]:
    """(format, stored width, stored height, EXIF orientation) from the header of the image in
    the binary file ``fp`` (nothing decoded). The one size check every decode passes first:
    PixretError for data that is not an image, a HEIC/HEIF photo without pillow-heif, or a
    header promising more than MAX_PIXELS pixels (or more than Pillow's own limit against
    decompression bombs, 2 x ``Image.MAX_IMAGE_PIXELS``)."""
    head = fp.read(16)
    fp.seek(0)
    try:
        with _open(fp) as im:
            w, h, fmt, orientation = im.width, im.height, str(im.format), _orientation(im, fp)
    except Image.DecompressionBombError as exc:  # Pillow's message gives the pixel count, not the sides
        m = re.search(r"\((\d+) pixels\)", str(exc))
        size = f" of {int(m[1]) / 1e6:,.0f} MP" if m else ""
        raise PixretError(source, f"image{size}: larger than any image pixret reads (decompression bomb?)") \
            from None
    except Exception:  # noqa: BLE001 - Pillow raises many kinds on data that is not an image
        if _heif_brand(head) and not _heif_registered():
            raise PixretError(source, HEIF_HINT) from None
        raise PixretError(source, "unreadable image") from None
    if w * h > MAX_PIXELS:
        raise PixretError(source, f"image of {w}x{h} pixels: larger than any image pixret reads")
    return fmt, w, h, orientation


def _check_plausible(source: str | os.PathLike, fmt: str, w: int, h: int, nbytes: int) -> None:
    """PixretError for an image of more than PLAUSIBLE_PIXELS whose file of ``nbytes`` holds
    more pixels per byte than a photograph can (MAX_PIXELS_PER_BYTE: a decompression bomb)."""
    bound = MAX_PIXELS_PER_BYTE_PREDICTED if fmt in PREDICTED_FORMATS else MAX_PIXELS_PER_BYTE
    if w * h > PLAUSIBLE_PIXELS and w * h > bound * max(1, nbytes):
        raise PixretError(source, f"image of {w}x{h} pixels in {nbytes:,} bytes ({w * h / max(1, nbytes):,.0f} "
                          f"pixels per byte, more than any photograph compresses to: a decompression bomb?)")


def probe(data: bytes, source: str | os.PathLike = "<bytes>") -> tuple[str, int, int, int]:
    """(format, upright width, upright height, EXIF orientation) from an image's header only.

    Raises PixretError for data that is not an image or whose header promises more than
    MAX_PIXELS pixels (nothing is decoded)."""
    fmt, w, h, orientation = _header(io.BytesIO(data), source)
    return (fmt, h, w, orientation) if orientation >= 5 else (fmt, w, h, orientation)


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """Upright (w, h) of an image file, from its header (EXIF orientation applied).

    Raises PixretError when the file is missing, not an image, or larger than MAX_PIXELS."""
    regular_file(path)
    try:
        with open(path, "rb") as fh:
            _, w, h, orientation = _header(fh, path)
    except FileNotFoundError:
        raise PixretError(path, "image not found") from None
    except OSError as exc:
        raise PixretError(path, f"unreadable image ({exc.strerror or 'not an image'})") from None
    return (h, w) if orientation >= 5 else (w, h)


# decoding at 1/2, 1/4, 1/8 of the size: libjpeg scales a JPEG in its DCT (a fraction of the time)
REDUCED = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
           8: cv2.IMREAD_REDUCED_COLOR_8}  # fmt: skip


def decode_image(data: bytes, source: str | os.PathLike = "<bytes>", reduce: int = 1) -> np.ndarray:
    """Decode image bytes to upright BGR (h, w, 3) uint8, after checking the header's size;
    ``reduce`` (1, 2, 4 or 8) decodes it at that fraction of its size (about ceil(w / reduce)).

    Raises PixretError for unreadable or truncated data (a JPEG cut short decodes in some
    OpenCV versions with its bottom missing, a PNG whose rows end early in Pillow with its
    bottom black: both are refused here), for a header that promises more than MAX_PIXELS
    pixels (a 0.9 MB PNG can promise 30000 x 30000: 2.7 GB decoded), and for more pixels than
    the file's size makes plausible (``_check_plausible``), before a pixel is decoded."""
    fmt, w, h, orientation = _header(io.BytesIO(data), source)
    _check_plausible(source, fmt, w, h, len(data))
    # checked before decoding: some OpenCV versions decode a cut JPEG with its bottom missing,
    # others refuse it; either way the answer here is the same
    if data[:2] == b"\xff\xd8" and not data.rstrip(b"\x00").endswith(b"\xff\xd9") and not _jpeg_complete(data):
        raise PixretError(source, "truncated JPEG (no end-of-image marker)")
    if fmt == "PNG":
        img = _decode_png(data, source)
        if reduce > 1:  # what OpenCV's IMREAD_REDUCED_* does to a PNG: the same pixels as before
            img = cv2.resize(img, (max(1, img.shape[1] // reduce), max(1, img.shape[0] // reduce)),
                             interpolation=cv2.INTER_LINEAR_EXACT)  # fmt: skip
        return orient(img, orientation)
    flags = REDUCED[reduce] | cv2.IMREAD_IGNORE_ORIENTATION
    try:
        with _quiet_opencv():
            img = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error:  # OpenCV refuses some headers Pillow accepts (its own size limits)
        img = None
    if img is None and _heif_brand(data):
        img = _decode_heif(data, source)
        return img if reduce == 1 else cv2.resize(img, (-(-img.shape[1] // reduce), -(-img.shape[0] // reduce)),
                                                  interpolation=cv2.INTER_AREA)  # fmt: skip
    if img is None:
        raise PixretError(source, "unreadable image")
    return orient(img, orientation)


_OPENCV_LOG_LOCK = threading.Lock()
_OPENCV_LOG_USERS = 0
_OPENCV_LOG_SAVED = 0


@contextlib.contextmanager
def _quiet_opencv():
    """OpenCV's log (``[ERROR:0@0.6] ... TIFF_Error ...``, a BMP's ``can't read data``) off while
    the block decodes: a failure is pixret's one line. The level is the process's, so the first
    of concurrent decodes turns it off and the last one out restores it."""
    global _OPENCV_LOG_USERS, _OPENCV_LOG_SAVED
    with _OPENCV_LOG_LOCK:
        if _OPENCV_LOG_USERS == 0:
            _OPENCV_LOG_SAVED = cv2.utils.logging.getLogLevel()
            cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
        _OPENCV_LOG_USERS += 1
    try:
        yield
    finally:
        with _OPENCV_LOG_LOCK:
            _OPENCV_LOG_USERS -= 1
            if _OPENCV_LOG_USERS == 0:
                cv2.utils.logging.setLogLevel(_OPENCV_LOG_SAVED)


def _load_png(data: bytes, source: str | os.PathLike) -> Image.Image:
    """A PNG decoded by Pillow (its errors are exceptions: libpng's, under OpenCV, are lines on
    stderr), whole: PixretError when damaged or when its image data ends before its last row."""
    try:
        im = _open(io.BytesIO(data))
        interlaced = bool(im.info.get("interlace"))
        im.load()
    except Exception as exc:  # noqa: BLE001 - Pillow raises OSError, SyntaxError, ValueError, zlib.error
        raise PixretError(source, f"unreadable image (damaged PNG: {_reason(exc)})") from None
    # Pillow ends a PNG quietly where its compressed data ends, the rows after it left at 0
    # (libpng: "Not enough image data"). Such rows include the last one, and so does a photo's
    # black border: only then (or for interlaced rows, which come in passes) are the rows counted
    last = np.asarray(im.crop((0, im.height - 1, im.width, im.height)))
    if (interlaced or not last.any()) and _png_short(data):
        raise PixretError(source, "truncated PNG (its image data ends before its last row)")
    return im


def _reason(exc: Exception) -> str:
    """An exception's message, short (Pillow's name a BytesIO object)."""
    text = re.sub(r" <_io\.BytesIO object at 0x[0-9a-f]+>", "", str(exc)).strip() or type(exc).__name__
    return text if len(text) <= 80 else text[:79] + "\u2026"


def _decode_png(data: bytes, source: str | os.PathLike) -> np.ndarray:
    """A PNG as BGR (h, w, 3) uint8, the pixels OpenCV's ``IMREAD_COLOR`` gives: 16-bit samples
    by their high byte, palettes and low bit depths expanded, alpha dropped."""
    with _load_png(data, source) as im:
        if im.mode.startswith("I"):  # 16-bit grey ("I;16", "I"): the high byte, as OpenCV's png_set_strip_16
            grey = (np.asarray(im).astype(np.uint32) >> 8).astype(np.uint8)
            return cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
        rgb = np.array(im if im.mode == "RGB" else im.convert("RGB"))  # 16-bit colour: Pillow keeps the high byte
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR, dst=rgb)


# samples per pixel of each PNG colour type (PNG specification, 11.2.2 IHDR)
_PNG_SAMPLES = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def _png_short(data: bytes) -> bool:
    """Whether a PNG's image data, inflated, holds fewer bytes than its header's rows need (one
    filter byte and the row's packed samples per row, per Adam7 pass when interlaced: PNG
    specification 7.2, 8.2). Counted in blocks of 1 MB, nothing kept. Neither Pillow nor OpenCV
    answers this without printing (libpng) or filling the rows with black (Pillow): written here.
    False when the header cannot be read (Pillow refused it already)."""
    if len(data) < 33 or data[12:16] != b"IHDR":
        return False
    w, h = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    depth, ctype, interlace = data[24], data[25], data[28]
    bits = depth * _PNG_SAMPLES.get(ctype, 0)

    def size(pw: int, ph: int) -> int:
        return ph * (1 + (pw * bits + 7) // 8) if pw > 0 and ph > 0 else 0

    need = size(w, h) if not interlace else sum(
        size((w - x0 + dx - 1) // dx, (h - y0 + dy - 1) // dy) for x0, y0, dx, dy in _ADAM7)  # fmt: skip
    z, got = zlib.decompressobj(), 0
    try:
        for kind, start, length in _png_chunks(io.BytesIO(data)):
            if kind != b"IDAT":
                continue
            block = data[start : start + length]
            while block and not z.eof and got < need:
                got += len(z.decompress(block, 1 << 20))
                block = z.unconsumed_tail
            if z.eof or got >= need:
                break
    except zlib.error:
        return True  # damaged compressed data: short of what its rows need
    return got < need


def _decode_heif(data: bytes, source: str | os.PathLike) -> np.ndarray:
    """A HEIC/HEIF photo (phones' default format), through pillow-heif when it is installed
    (OpenCV reads none): upright BGR."""
    if not _heif_registered():
        raise PixretError(source, HEIF_HINT)
    from PIL import ImageOps

    try:
        with _open(io.BytesIO(data)) as im:
            rgb = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    except Exception:  # noqa: BLE001 - libheif raises its own kinds on damaged files
        raise PixretError(source, "unreadable HEIC/HEIF photo") from None
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def _jpeg_complete(data: bytes) -> bool:
    """A JPEG that does not end with its end-of-image marker: truncated, or followed by other
    data (motion photos append a video)? Pillow's decoder reads the scans to their end and stops
    at the marker, ignoring what follows, and raises on a cut-off scan."""
    try:
        with _open(io.BytesIO(data)) as im:
            im.load()
        return True
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return False


def _read_checked(path: str | os.PathLike) -> bytes:
    """An image file's bytes, read only after its header's size passed ``_header``."""
    regular_file(path)
    try:
        with open(path, "rb") as fh:
            _header(fh, path)
            fh.seek(0)
            return fh.read()
    except OSError as exc:
        raise PixretError(path, f"cannot read ({exc.strerror})") from None


def open_pil(path: str | os.PathLike) -> Image.Image:
    """An image file as a Pillow image (its bytes read after its header's size passed the check
    every decode passes, and its size the file's: ``_check_plausible``), for callers that must
    see Pillow's pixels. PixretError as ``load_image``."""
    data = _read_checked(path)
    fmt, w, h, _ = _header(io.BytesIO(data), path)
    _check_plausible(path, fmt, w, h, len(data))
    try:
        return _open(io.BytesIO(data))
    except Exception:  # noqa: BLE001 - the file changed since its header was read
        raise PixretError(path, "unreadable image") from None


def load_image(path: str | os.PathLike, reduce: int = 1) -> np.ndarray:
    """An image file as upright BGR (h, w, 3) uint8 (``reduce``: at that fraction of its size,
    as ``decode_image``); PixretError when missing, unreadable or larger than MAX_PIXELS
    (checked from the header, before the file is read)."""
    return decode_image(_read_checked(path), path, reduce)


def decode_mask(data: bytes, source: str | os.PathLike = "<mask>", max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Mask image bytes (PNG: non-zero = object) as (h, w) uint8 0/1, its size checked from the
    header first; PixretError when unreadable or larger than ``max_pixels``."""
    fmt, w, h, orientation = probe(data, source)
    if w * h > max_pixels:
        raise PixretError(source, f"mask of {w}x{h} pixels: larger than any image here")
    img = _png_mask(data, source) if fmt == "PNG" else None
    if img is None:
        with _quiet_opencv():
            img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    if img is None:
        raise PixretError(source, "unreadable mask image")
    if img.ndim == 3:  # colour or with alpha: any non-zero channel is object
        img = img.max(axis=2)
    return (orient(img, orientation) > 0).astype(np.uint8)


def _png_mask(data: bytes, source: str | os.PathLike) -> np.ndarray | None:
    """A PNG mask's samples as OpenCV's ``IMREAD_UNCHANGED`` gives them, up to which are
    non-zero: grey as it is (a 16-bit one whole), colour as RGB, with alpha as RGBA (a palette's
    transparency too); decoded by Pillow (``_load_png``). None for 16-bit colour, which Pillow
    keeps only the high byte of: OpenCV decodes it then, the file known whole."""
    with _load_png(data, source) as im:
        if im.mode in ("1", "L") or im.mode.startswith("I"):
            return np.asarray(im).astype(np.uint8 if im.mode == "1" else None)  # OpenCV turns no bool array
        if data[24] == 16:  # IHDR's bit depth
            return None
        alpha = "A" in im.mode or "transparency" in im.info
        return np.asarray(im.convert("RGBA" if alpha else "RGB"))


def load_mask(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """A mask image file as upright (h, w) uint8 0/1 (``decode_mask``); PixretError when missing,
    unreadable or too large."""
    return decode_mask(_read_checked(path), path, max_pixels)


def as_image(image) -> np.ndarray:
    """An image given as a path, bytes, a PIL image or an array, as BGR (h, w, 3) uint8.

    A PIL image is taken as RGB (its EXIF orientation applied), its size checked before it is
    decoded (an opened file is decoded lazily); an array as BGR already. PixretError when
    unreadable or larger than MAX_PIXELS."""
    if isinstance(image, np.ndarray):
        return image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if isinstance(image, bytes | bytearray):
        return decode_image(bytes(image))
    if isinstance(image, Image.Image):
        return _from_pil(image)
    return load_image(image)


def _from_pil(image: Image.Image) -> np.ndarray:
    from PIL import ImageOps

    source = getattr(image, "filename", "") or "<PIL image>"
    if image.width * image.height > MAX_PIXELS:
        raise PixretError(source, f"image of {image.width}x{image.height} pixels: larger than any image "
                          "pixret reads")  # fmt: skip
    try:
        rgb = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    except (OSError, SyntaxError, ValueError) as exc:  # a lazily opened file that turns out damaged
        raise PixretError(source, f"unreadable image ({exc})") from None
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def thumbnail(img: np.ndarray, longest: int = 320) -> np.ndarray:
    """``img`` scaled down (area interpolation) so its longest side is at most ``longest``."""
    h, w = img.shape[:2]
    s = longest / max(h, w)
    if s >= 1:
        return img
    return cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


def encode(img: np.ndarray, ext: str = ".jpg", quality: int = 85) -> bytes:
    """Encoded image bytes (``ext`` .jpg with ``quality``, or .png)."""
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if ext in (".jpg", ".jpeg") else []
    try:
        ok, buf = cv2.imencode(ext, img, params)
    except cv2.error:
        ok = False
    if not ok:
        raise PixretError(None, f"could not encode an image as {ext}")
    return buf.tobytes()


def write_image(path: str | os.PathLike, img: np.ndarray, quality: int = 90) -> None:
    """Write ``img`` atomically, in the format of ``path``'s extension (PNG without one)."""
    ext = Path(path).suffix.lower() or ".png"
    try:
        data = encode(img, ext, quality)
    except PixretError:
        raise PixretError(path, "could not encode image") from None
    with atomic_open(path, "wb") as fh:
        fh.write(data)
