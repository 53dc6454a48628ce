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
"""

from __future__ import annotations

import io
import os
import re
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


def _open(fp) -> Image.Image:
    """Pillow's open, HEIC/HEIF included where pillow-heif is installed."""
    try:
        return Image.open(fp)
    except Image.UnidentifiedImageError:
        if not _heif_registered():
            raise
        if hasattr(fp, "seek"):
            fp.seek(0)
        return Image.open(fp)


def _orientation(im: Image.Image) -> int:
    try:
        value = im.getexif().get(ORIENTATION_TAG, 1)
    except Exception:  # noqa: BLE001 - a damaged EXIF block is no orientation, not an unreadable image
        return 1
    return int(value) if isinstance(value, int) and 1 <= value <= 8 else 1


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
            w, h, fmt, orientation = im.width, im.height, str(im.format), _orientation(im)
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
    OpenCV versions with its bottom missing; it is refused here), and for a header that
    promises more than MAX_PIXELS pixels (a 0.9 MB PNG can promise 30000 x 30000: 2.7 GB
    decoded), before a pixel is decoded."""
    _, _, _, orientation = _header(io.BytesIO(data), source)
    # checked before decoding: some OpenCV versions decode a cut JPEG with its bottom missing,
    # others refuse it; either way the answer here is the same
    if data[:2] == b"\xff\xd8" and not data.rstrip(b"\x00").endswith(b"\xff\xd9") and not _jpeg_complete(data):
        raise PixretError(source, "truncated JPEG (no end-of-image marker)")
    flags = REDUCED[reduce] | cv2.IMREAD_IGNORE_ORIENTATION
    try:
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


def _decode_heif(data: bytes, source: str | os.PathLike) -> np.ndarray:
    """A HEIC/HEIF photo (phones' default format), through pillow-heif when it is installed
    (OpenCV reads none): upright BGR."""
    if not _heif_registered():
        raise PixretError(source, HEIF_HINT)
    from PIL import ImageOps

    try:
        with Image.open(io.BytesIO(data)) as im:
            rgb = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    except Exception:  # noqa: BLE001 - libheif raises its own kinds on damaged files
        raise PixretError(source, "unreadable HEIC/HEIF photo") from None
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def _jpeg_complete(data: bytes) -> bool:
    """A JPEG that does not end with its end-of-image marker: truncated, or followed by other
    data (motion photos append a video)? Pillow's decoder reads the scans to their end and stops
    at the marker, ignoring what follows, and raises on a cut-off scan."""
    try:
        with Image.open(io.BytesIO(data)) as im:
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
    every decode passes), for callers that must see Pillow's pixels. PixretError as
    ``load_image``."""
    data = _read_checked(path)
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
    _, w, h, orientation = probe(data, source)
    if w * h > max_pixels:
        raise PixretError(source, f"mask of {w}x{h} pixels: larger than any image here")
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    if img is None:
        raise PixretError(source, "unreadable mask image")
    if img.ndim == 3:  # colour or with alpha: any non-zero channel is object
        img = img.max(axis=2)
    return (orient(img, orientation) > 0).astype(np.uint8)


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
