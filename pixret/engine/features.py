"""Local features: OpenCV SIFT turned into RootSIFT, keypoints in original image pixels."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import PixretError
from .config import EngineConfig, FeatureConfig

DESC_SCALE = 400.0  # RootSIFT components (<= 1, mostly < 0.5) stored as uint8
LEARNED_SCALE = 127.0  # learned descriptors (unit L2 norm, components in [-1, 1]) stored as int8
MIN_SIDE = 16  # pixels, after resizing: SIFT finds nothing in thinner images (and OpenCV fails)
KEYPOINT_SIZE = 12.0  # learned detectors give no scale: a nominal support diameter, extraction pixels


@dataclass
class Features:
    """Keypoints (x, y, size, angle) in original pixels, descriptors, image (w, h); for a query
    with extra views (rotated / scaled copies of the box), the view each keypoint came from."""

    kpts: np.ndarray  # (n, 4) float32
    desc: np.ndarray  # (n, 128) uint8 RootSIFT, or (n, D) int8 learned
    size: tuple[int, int]
    view: np.ndarray | None = None  # (n,) int; 0 = the image itself

    def __len__(self) -> int:
        return len(self.kpts)

    def select(self, keep: np.ndarray) -> Features:
        view = None if self.view is None else self.view[keep]
        return Features(self.kpts[keep], self.desc[keep], self.size, view)

    def in_box(self, box: tuple[float, float, float, float]) -> np.ndarray:
        x, y = self.kpts[:, 0], self.kpts[:, 1]
        return (x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3])


_SIFT_CACHE: dict[tuple, cv2.SIFT] = {}


def _sift(cfg: FeatureConfig) -> cv2.SIFT:
    key = (cfg.n_features, cfg.contrast_threshold)
    if key not in _SIFT_CACHE:
        _SIFT_CACHE[key] = cv2.SIFT_create(nfeatures=cfg.n_features, contrastThreshold=cfg.contrast_threshold)
    return _SIFT_CACHE[key]


def _octave(kp: cv2.KeyPoint) -> int:
    """The pyramid octave OpenCV's SIFT packs into a keypoint's low byte (-1: the upsampled image)."""
    o = kp.octave & 255
    return o - 256 if o >= 128 else o


def root_sift(desc: np.ndarray) -> np.ndarray:
    """Arandjelovic & Zisserman's RootSIFT: L1-normalise, square root (so L2 norm is 1)."""
    d = desc.astype(np.float32)
    d /= d.sum(axis=1, keepdims=True) + 1e-7
    return np.sqrt(d)


def extract(img: np.ndarray, cfg: FeatureConfig, device: str = "cpu") -> Features:
    """Features of a BGR image, extracted at most ``cfg.max_side`` pixels wide."""
    h, w = img.shape[:2]
    s = min(1.0, cfg.max_side / max(h, w))
    if min(h, w) * s < MIN_SIDE:
        raise PixretError(
            None,
            f"image of {w}x{h} pixels is too small or too thin to describe (features need {MIN_SIDE} px a side)",
        )
    if cfg.kind != "sift":
        if s < 1.0:
            img = cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        return _extract_learned(img, cfg, device, s, (w, h))
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) if img.ndim == 3 else img
    if s < 1.0:  # SIFT: one channel to resize
        gray = cv2.resize(gray, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    sift = _sift(cfg)
    if cfg.upright:
        kps = sift.detect(gray, None)
        # keep one orientation per location: SIFT duplicates keypoints for extra orientations
        seen, uniq = set(), []
        for k in kps:
            key = (round(k.pt[0], 2), round(k.pt[1], 2), round(k.size, 2))
            if key not in seen:
                seen.add(key)
                k.angle = 0.0
                uniq.append(k)
        kps, desc = sift.compute(gray, uniq)
    else:
        # one Gaussian pyramid for both (detect, then compute, built it twice: 1.5x the time)
        kps, desc = sift.detectAndCompute(gray, None)
        if kps and min(_octave(k) for k in kps) >= 0:
            # compute() on given keypoints builds its pyramid from their lowest octave, without
            # the upsampled one when none lies there (a few small images), and its descriptors
            # then differ: computed so, features stay those every index so far was built with
            kps, desc = sift.compute(gray, kps)
    if desc is None or not len(kps):
        return Features(np.zeros((0, 4), np.float32), np.zeros((0, 128), np.uint8), (w, h))
    kpts = np.array([(k.pt[0] / s, k.pt[1] / s, k.size / s, k.angle) for k in kps], np.float32)
    rs = np.clip(np.round(root_sift(desc) * DESC_SCALE), 0, 255).astype(np.uint8)
    return Features(kpts, rs, (w, h))


def _extract_learned(img: np.ndarray, cfg: FeatureConfig, device: str, s: float, size) -> Features:
    from .learned.models import run_extractor

    k, _, d = run_extractor(img, cfg.kind, cfg.weights, device, cfg.n_features, cfg.detection_threshold)
    kpts = np.zeros((len(k), 4), np.float32)
    kpts[:, :2] = k / s
    kpts[:, 2] = KEYPOINT_SIZE / s
    q = np.clip(np.round(d * LEARNED_SCALE), -127, 127).astype(np.int8)
    return Features(kpts, q, size)


@functools.lru_cache(maxsize=8)
def extractor_identity(cfg: FeatureConfig, device: str = "cpu") -> str:
    """What a feature file depends on besides the image and the settings: the libraries that
    decode and describe it, and for learned features the device they run on (torch's CPU and
    CUDA kernels give different descriptors) and the weights file (its path, size and
    modification time). SIFT's keypoints and descriptors differ between OpenCV releases (README
    "Same scores on every machine"), so a feature cache written by one must not be read by
    another. The weights are looked up as extraction looks them up (a download included, unless
    PIXRET_OFFLINE=1), so the key names the file extraction will use; PixretError (one line)
    where there is none."""
    from PIL import __version__ as pil_version

    libs = f"opencv {cv2.__version__}, pillow {pil_version}"
    if cfg.kind == "sift":
        return libs  # SIFT runs on the CPU only
    from .learned.models import EXTRACTOR_WEIGHTS, torch_or_error
    from .learned.weights import find_weight

    torch = torch_or_error()
    import kornia

    path = find_weight(EXTRACTOR_WEIGHTS[cfg.kind], cfg.weights or None)
    try:
        st = path.stat()
    except OSError as exc:
        raise PixretError(path, f"cannot read weights ({exc.strerror})") from None
    cuda = f" (CUDA {torch.version.cuda})" if device.startswith("cuda") else ""
    return (f"{libs}, torch {torch.__version__}, kornia {kornia.__version__}, on {device}{cuda}, "
            f"weights: {path.resolve()}|{st.st_size}|{st.st_mtime_ns}")  # fmt: skip


def desc_scale(dtype: np.dtype) -> float:
    """Stored descriptor units per float unit: uint8 RootSIFT or int8 learned."""
    return DESC_SCALE if np.dtype(dtype) == np.uint8 else LEARNED_SCALE


def desc_float(desc: np.ndarray) -> np.ndarray:
    """Stored descriptors back to float32 (unit L2 norm, up to quantisation)."""
    return desc.astype(np.float32) / desc_scale(desc.dtype)


def extract_in_box(
    img: np.ndarray, box, cfg: EngineConfig, margin: int = 16, device: str = "cpu"
) -> Features:
    """Query features from the box (plus a margin for the descriptors' support) only, so the
    feature budget is spent on the object rather than on the rest of the photo.

    With ``cfg.verify.query_rotations``, the box is also described rotated by each angle and the
    keypoints mapped back, so features that are not rotation invariant still match a rotated
    view of the object."""
    h, w = img.shape[:2]
    x0, y0 = max(0, int(box[0]) - margin), max(0, int(box[1]) - margin)
    x1, y1 = min(w, int(np.ceil(box[2])) + margin), min(h, int(np.ceil(box[3])) + margin)
    crop = img[y0:y1, x0:x1]
    parts = [extract(crop, cfg.features, device)]
    vc = cfg.verify
    parts += [_extract_view(crop, float(angle), cfg, device) for angle in vc.query_rotations]
    kpts = np.concatenate([f.kpts for f in parts])
    kpts[:, :2] += (x0, y0)
    view = np.concatenate([np.full(len(f), k) for k, f in enumerate(parts)])
    return Features(kpts, np.concatenate([f.desc for f in parts]), (w, h), view)


def _extract_view(crop: np.ndarray, angle: float, cfg: EngineConfig, device: str) -> Features:
    """Features of the crop rotated by ``angle`` degrees, in crop pixels."""
    ch, cw = crop.shape[:2]
    m = cv2.getRotationMatrix2D((cw / 2, ch / 2), angle, 1.0)
    c, s = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(np.ceil(cw * c + ch * s)), int(np.ceil(cw * s + ch * c))
    m[:, 2] += ((nw - cw) / 2, (nh - ch) / 2)  # keep the whole crop on the larger canvas
    rot = cv2.warpAffine(crop, m, (nw, nh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    f = extract(rot, cfg.features, device)
    back = cv2.invertAffineTransform(m)
    xy = f.kpts[:, :2] @ back[:, :2].T + back[:, 2]
    inside = (xy[:, 0] >= 0) & (xy[:, 0] < cw) & (xy[:, 1] >= 0) & (xy[:, 1] < ch)
    kpts = f.kpts[inside].copy()
    kpts[:, :2] = xy[inside]
    kpts[:, 3] = angle
    return Features(kpts, f.desc[inside], (cw, ch))
