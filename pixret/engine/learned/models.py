"""Learned extractors (XFeat, ALIKED, DISK) and matchers (LightGlue, LighterGlue) through kornia.

kornia builds the networks; its ``from_pretrained`` fetches weights from the internet, so the
weights are loaded here from the files :mod:`.weights` finds. torch is imported lazily: the core
install (SIFT) never needs it.
"""

from __future__ import annotations

import threading
from functools import lru_cache

import cv2
import numpy as np

from ...errors import PixretError, install_hint, quoted
from ...parallel import fixed_threads
from .weights import find_weight

KINDS = ("xfeat", "aliked", "disk")
EXTRACTOR_WEIGHTS = {"xfeat": "xfeat", "aliked": "aliked-n16", "disk": "disk-depth"}
MATCHER_WEIGHTS = {"xfeat": "xfeat-lighterglue", "aliked": "aliked-lightglue", "disk": "disk-lightglue"}
_LOCK = threading.Lock()  # one forward pass at a time per process (the server searches from threads)


def torch_or_error():
    try:
        import kornia  # noqa: F401
        import torch
    except ImportError:
        raise PixretError(None, f"learned features need the learned extra (torch 2.13 CPU, kornia): "
                          f"{install_hint('learned')}") from None  # fmt: skip
    return torch


def resolve_device(device: str | None) -> str:
    """``auto`` (or None): CUDA when available, else CPU. Asking for CUDA without it is an error."""
    torch = torch_or_error()
    device = (device or "auto").lower()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise PixretError(
            None, f"device {quoted(device)} asked for, but torch sees no CUDA device (use --device cpu)"
        )
    if not (device == "cpu" or device.startswith("cuda")):
        raise PixretError(None, f"unknown device {quoted(device)}: use auto, cpu, cuda or cuda:N")
    return device


def _load(path) -> dict:
    torch = torch_or_error()
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged or foreign file
        raise PixretError(path, f"cannot load weights ({type(exc).__name__}: {exc})") from None


@lru_cache(maxsize=8)
def extractor(kind: str, weights: str, device: str, n_features: int, threshold: float):
    """A ready (eval mode, on ``device``) kornia extractor for ``kind``."""
    torch_or_error()
    from kornia.feature import ALIKED, DISK, XFeat

    path = find_weight(EXTRACTOR_WEIGHTS[kind], weights or None)
    state = _load(path)
    if kind == "xfeat":
        model = XFeat(top_k=n_features, detection_threshold=threshold or 0.05)
        missing = model.net.load_state_dict(state, strict=False).missing_keys
    elif kind == "aliked":
        model = ALIKED("aliked-n16", max_num_keypoints=n_features, detection_threshold=threshold or 0.2)
        missing = [k for k in model.load_state_dict(state, strict=False).missing_keys if "hw_grid" not in k]
    elif kind == "disk":
        model = DISK()
        missing = model.load_state_dict(state.get("extractor", state), strict=False).missing_keys
    else:
        raise PixretError(None, f"unknown feature kind {kind!r}; known: sift, {', '.join(KINDS)}")
    if missing:
        raise PixretError(path, f"not {kind} weights (missing {missing[0]} and {len(missing) - 1} more)")
    return model.eval().to(device)


def run_extractor(
    img: np.ndarray, kind: str, weights: str, device: str, n_features: int, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(keypoints (n, 2) in ``img`` pixels, scores (n,), L2-normalised descriptors (n, D)) of a BGR image."""
    torch = torch_or_error()
    model = extractor(kind, weights, device, n_features, threshold)
    rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB) if img.ndim == 3 else cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    t = torch.from_numpy(np.ascontiguousarray(rgb)).to(device).permute(2, 0, 1)[None].float() / 255.0
    with _LOCK, fixed_threads(), torch.inference_mode():
        if kind == "xfeat":
            o = model.detectAndCompute(t, top_k=n_features)[0]
            k, s, d = o["keypoints"], o["scores"], o["descriptors"]
        elif kind == "aliked":
            o = model(t)[0]
            k, s, d = o.keypoints, o.keypoint_scores, o.descriptors
        else:
            o = model(t, n=n_features, pad_if_not_divisible=True)[0]
            k, s, d = o.keypoints, o.detection_scores, o.descriptors
        d = torch.nn.functional.normalize(d.float(), dim=-1)
        return k.float().cpu().numpy(), s.float().cpu().numpy(), d.cpu().numpy()


@lru_cache(maxsize=4)
def matcher(kind: str, weights: str, device: str):
    """kornia's LightGlue for ``kind`` features (LighterGlue for XFeat), weights from a local file."""
    torch_or_error()
    from kornia.feature import LightGlue

    conf = {**LightGlue.features[kind], "weights": None}
    model = LightGlue(features=None, **conf)
    path = find_weight(MATCHER_WEIGHTS[kind], weights or None)
    state = _load(path)
    # the checkpoints' key layouts, as kornia's own loader renames them: XFeat's file nests the
    # matcher under "matcher." beside its extractor; old files name the attention blocks per layer
    state = {k.removeprefix("matcher."): v for k, v in state.items() if not k.startswith("extractor.")}
    for i in range(model.conf.n_layers):
        for kind_ in ("self_attn", "cross_attn"):
            state = {k.replace(f"{kind_}.{i}.", f"transformers.{i}.{kind_}."): v for k, v in state.items()}
    missing = [
        k for k in model.load_state_dict(state, strict=False).missing_keys if "confidence_thresholds" not in k
    ]
    if missing:
        raise PixretError(
            path, f"not {kind} LightGlue weights (missing {missing[0]} and {len(missing) - 1} more)"
        )
    return model.eval().to(device)


def run_matcher(
    kind: str, weights: str, device: str,
    q_kpts: np.ndarray, q_desc: np.ndarray, q_size: tuple[float, float],
    d_kpts: np.ndarray, d_desc: np.ndarray, d_size: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """LightGlue matches between two feature sets: (query indices, database indices)."""
    torch = torch_or_error()
    if len(q_kpts) < 2 or len(d_kpts) < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    model = matcher(kind, weights, device)

    def side(k, d, size):
        return {
            "keypoints": torch.from_numpy(np.ascontiguousarray(k, np.float32))[None].to(device),
            "descriptors": torch.from_numpy(np.ascontiguousarray(d, np.float32))[None].to(device),
            "image_size": torch.tensor([size], dtype=torch.float32, device=device),
        }

    with _LOCK, fixed_threads(), torch.inference_mode():
        out = model({"image0": side(q_kpts, q_desc, q_size), "image1": side(d_kpts, d_desc, d_size)})
    m = out["matches"][0].cpu().numpy().astype(np.int64)
    return m[:, 0], m[:, 1]
