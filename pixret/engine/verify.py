"""Spatial verification: a robust homography (OpenCV USAC) from tentative correspondences, and
weak geometric consistency, the check of each inlier's scale and orientation that chance
inliers fail. The correspondences come from matchers.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from ..geometry import box_polygon, points_box
from .config import EngineConfig, VerifyConfig


@dataclass
class Verification:
    """A verified geometric relation query -> database image."""

    homography: np.ndarray  # 3x3, query pixels -> database pixels
    inliers: int
    query_idx: np.ndarray  # indices (into the query's box features) of inlier matches
    db_idx: np.ndarray
    model: str = "homography"  # or "fundamental": a 3D view (fit_epipolar; the homography is its mean plane)


def _plausible(h: np.ndarray, where: np.ndarray | None = None) -> bool:
    """Reject degenerate or absurd transforms (mirror, collapse, huge scale or perspective)
    where they are used: at the points ``where`` (n, 2), the corners of the region the
    transform maps (its inliers' box, the query box); at the origin when None.

    A homography's local area scale at x is det(H) / w(x)**3, with w(x) = h31 x + h32 y + h33
    (the determinant of its Jacobian; Hartley & Zisserman, 2nd ed., sec. 2.3): it must lie
    between 1e-3 and 1e3 at each point (positive: no mirror), and w(x) must keep one sign, so
    that the horizon line does not cross the region (a fold). Why not det(H[:2, :2]) alone, as
    before: that ignores the perspective row and the translation, and a facade seen from its
    side or its foot, whose origin maps beyond the horizon, was refused although the transform
    is sane over the whole object (measured: 3 more positives verified on the landmark
    benchmark, 1 on the real photographs). The perspective row is still bounded where it was,
    at the origin (|h31|, |h32| < 0.01 once h33 = 1): a transform that maps the origin to
    infinity or near it is refused, although it may be sane over the region (not measured
    as costing a positive on any benchmark here). False for an empty ``where``."""
    if not np.isfinite(h).all() or abs(h[2, 2]) < 1e-12:
        return False
    h = h / h[2, 2]
    if not (abs(h[2, 0]) < 0.01 and abs(h[2, 1]) < 0.01):
        return False
    pts = np.zeros((1, 2)) if where is None else np.asarray(where, np.float64).reshape(-1, 2)
    if not len(pts):
        return False
    w = pts @ h[2, :2] + 1.0
    if not ((w > 0).all() or (w < 0).all()):  # H and -H are one transform: w's sign is arbitrary
        return False
    scale = float(np.linalg.det(h)) / w**3
    return bool(((scale > 1e-3) & (scale < 1e3)).all())


def _corners(xy: np.ndarray) -> np.ndarray:
    """The corners (4, 2) of the box around points ``xy`` (n, 2)."""
    return box_polygon(points_box(xy))


def estimate(
    qxy: np.ndarray, dxy: np.ndarray, cfg: VerifyConfig, longest_side: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """(3x3 H, inlier mask) from matched points, or None."""
    if len(qxy) < max(4, cfg.min_inliers):
        return None
    thr = max(2.0, cfg.reproj_threshold * longest_side)
    flag = cv2.USAC_MAGSAC if cfg.method == "magsac" else cv2.RANSAC
    src, dst = qxy.astype(np.float32), dxy.astype(np.float32)
    if cfg.model == "affine":
        m, inl = cv2.estimateAffine2D(src, dst, method=flag, ransacReprojThreshold=thr, maxIters=cfg.max_iters,
                                      confidence=0.999)  # fmt: skip
        h = None if m is None else np.vstack([m, [0, 0, 1]])
    else:
        h, inl = cv2.findHomography(src, dst, flag, thr, maxIters=cfg.max_iters, confidence=0.999)
    if h is None or inl is None:
        return None
    inl = inl.ravel().astype(bool)
    if not inl.any() or not _plausible(h, _corners(src[inl])):
        return None
    return h, inl


def local_similarity(h: np.ndarray, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scale and rotation (degrees) of the homography ``h`` near each query point ``xy`` (n, 2).

    The Jacobian of x -> H(x) at each point, reduced to the similarity closest to it: scale
    sqrt|det J|, angle atan2(J10 - J01, J00 + J11).
    """
    x, y = xy[:, 0].astype(np.float64), xy[:, 1].astype(np.float64)
    w = h[2, 0] * x + h[2, 1] * y + h[2, 2]
    u = h[0, 0] * x + h[0, 1] * y + h[0, 2]
    v = h[1, 0] * x + h[1, 1] * y + h[1, 2]
    w2 = w * w
    j00, j01 = (h[0, 0] * w - u * h[2, 0]) / w2, (h[0, 1] * w - u * h[2, 1]) / w2
    j10, j11 = (h[1, 0] * w - v * h[2, 0]) / w2, (h[1, 1] * w - v * h[2, 1]) / w2
    scale = np.sqrt(np.abs(j00 * j11 - j01 * j10))
    angle = np.degrees(np.arctan2(j10 - j01, j00 + j11))
    return scale, angle


def weak_geometric_consistency(
    h: np.ndarray, q_kpts: np.ndarray, d_kpts: np.ndarray, check: str, cfg: VerifyConfig
) -> np.ndarray:
    """Weak geometric consistency (Jegou et al., ECCV 2008), per inlier: which matches (rows of
    q_kpts, d_kpts: x, y, size, angle) agree with ``h`` in scale and, with ``check``
    "scale+orientation", in orientation too.

    Why: a homography fitted to hundreds of tentative matches between unrelated images finds
    6-11 chance inliers (measured on generated collections whose scenes share textures), as
    many as a weak true match. Chance inliers agree in position only; a true match also
    carries the keypoint's scale and orientation through the transform (Jegou et al. vote for
    one scale change and rotation per image; here each inlier is checked against the local
    scale and rotation of the fitted homography). Measured: true inliers keep 97-100%,
    chance inliers 0-1 of 6-11. OpenCV's SIFT angle turns against the image rotation, so the
    orientation change of a true match is d_angle - q_angle = the local rotation of ``h``.
    """
    scale, angle = local_similarity(h, q_kpts[:, :2])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (d_kpts[:, 2] / q_kpts[:, 2]) / scale
        ok = np.abs(np.log(ratio)) <= np.log(cfg.max_scale_change)
    if check == "scale+orientation":
        turn = (d_kpts[:, 3] - q_kpts[:, 3]) - angle
        ok &= np.abs((turn + 180.0) % 360.0 - 180.0) <= cfg.max_angle_change
    return ok & np.isfinite(ratio)


consistent = weak_geometric_consistency  # the earlier name


def once_per_point(q_xy: np.ndarray, d_xy: np.ndarray) -> np.ndarray:
    """Which of the matches (rows of q_xy, d_xy: (m, 2) positions) to count: the first of each
    distinct pair of positions. SIFT gives a keypoint one feature per dominant orientation
    (Lowe, IJCV 2004, sec. 5: about 15% of keypoints get more than one), so one point matched
    to one point may appear as two or three matches; counted as several inliers, it verified
    an unrelated image with 7 distinct correspondences against ``min_inliers`` 8 (measured:
    bench_scale.py at 5,000 images)."""
    pairs = np.hstack([q_xy, d_xy])
    keep = np.zeros(len(pairs), bool)
    if len(pairs):
        # a stable sort by the four coordinates puts each pair's repeats after its first
        # occurrence (np.unique(axis=0) says the same, 5x slower on a few hundred rows)
        order = np.lexsort(pairs.T[::-1])
        rows = pairs[order]
        first = np.ones(len(rows), bool)
        first[1:] = (rows[1:] != rows[:-1]).any(1)
        keep[order[first]] = True
    return keep


def tentative_points(qi: np.ndarray, di: np.ndarray, q_kpts: np.ndarray, d_kpts: np.ndarray) -> int:
    """How many distinct pairs of positions the tentative matches qi -> di hold (what
    ``distinctive``'s ratio compares the inliers with: points with points)."""
    return int(once_per_point(q_kpts[qi, :2], d_kpts[di, :2]).sum())


def _count_once(inl: np.ndarray, qi: np.ndarray, di: np.ndarray, q_kpts: np.ndarray, d_kpts: np.ndarray) -> None:
    """Clear, in place, the inliers that repeat an earlier inlier's pair of positions."""
    sub = np.flatnonzero(inl)
    inl[sub[~once_per_point(q_kpts[qi[sub], :2], d_kpts[di[sub], :2])]] = False


def fit_pairs(
    qi: np.ndarray,
    di: np.ndarray,
    q_kpts: np.ndarray,
    d_kpts: np.ndarray,
    cfg: VerifyConfig,
    longest_side: int,
    check: str = "none",
) -> Verification | None:
    """Fit the geometric model to tentative matches (from any matcher); None when it fails.

    ``check`` ("scale+orientation", "scale" or "none"; see ``wgc_mode``): inliers must also
    pass weak geometric consistency (keypoint scale, and orientation), and at least
    ``min_inliers`` of them must, for the image to count as verified; an inlier counts once per
    distinct pair of positions (``once_per_point``), and the Verification keeps those rows.
    ``qi``, ``di`` (m,) int index rows of ``q_kpts`` / ``d_kpts`` (n, 4: x, y, size, angle);
    ``longest_side`` in pixels of the database image sets the inlier threshold
    (``reproj_threshold``).
    """
    fit = estimate(q_kpts[qi, :2], d_kpts[di, :2], cfg, longest_side)
    if fit is not None:
        h, inl = fit
        if check != "none":
            inl &= weak_geometric_consistency(h, q_kpts[qi], d_kpts[di], check, cfg)
        _count_once(inl, qi, di, q_kpts, d_kpts)
        if inl.sum() >= cfg.min_inliers:
            return Verification(h, int(inl.sum()), qi[inl], di[inl])
    return fit_epipolar(qi, di, q_kpts, d_kpts, cfg, longest_side, check)


def voted_consistency(q_kpts: np.ndarray, d_kpts: np.ndarray, check: str, cfg: VerifyConfig) -> np.ndarray:
    """Weak geometric consistency as Jegou et al. (ECCV 2008) define it, for a relation with no
    local similarity to check against (a fundamental matrix): which matches (rows of q_kpts,
    d_kpts: x, y, size, angle) agree with the most common scale change and rotation, within
    ``max_scale_change`` and ``max_angle_change`` (rotation only with ``check``
    "scale+orientation"). The mode is the match with the most others within those bounds
    (O(n^2) over a verification's inliers: a few hundred)."""
    n = len(q_kpts)
    if n == 0:
        return np.zeros(0, bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        ls = np.log(d_kpts[:, 2] / q_kpts[:, 2])
    ok_scale = np.abs(ls[:, None] - ls[None, :]) <= np.log(cfg.max_scale_change)
    if check == "scale+orientation":
        turn = d_kpts[:, 3] - q_kpts[:, 3]
        diff = np.abs((turn[:, None] - turn[None, :] + 180.0) % 360.0 - 180.0)
        ok_scale &= diff <= cfg.max_angle_change
    ok_scale &= np.isfinite(ls)[:, None] & np.isfinite(ls)[None, :]
    return ok_scale[int(np.argmax(ok_scale.sum(1)))]


def fit_epipolar(qi: np.ndarray, di: np.ndarray, q_kpts: np.ndarray, d_kpts: np.ndarray, cfg: VerifyConfig,
                 longest_side: int, check: str = "none") -> Verification | None:  # fmt: skip
    """A view no single homography explains (another side of a 3D object): a fundamental matrix
    (OpenCV USAC MAGSAC, inliers within the reprojection threshold of their epipolar lines),
    whose inliers pass voted weak geometric consistency; verified with
    ``epipolar_min_inliers`` of them. The Verification's homography is a least-squares one over
    those inliers (where the query's outlines land on average: the masks refine them in the
    image). None when it fails."""
    need = cfg.epipolar_min_inliers
    if not need or len(qi) < max(need, 8):
        return None
    src, dst = q_kpts[qi, :2].astype(np.float32), d_kpts[di, :2].astype(np.float32)
    thr = max(2.0, cfg.reproj_threshold * longest_side)
    f, inl = cv2.findFundamentalMat(src, dst, cv2.USAC_MAGSAC, thr, 0.999, cfg.max_iters)
    if f is None or f.shape != (3, 3) or inl is None:
        return None
    inl = inl.ravel().astype(bool)
    if check != "none" and inl.any():
        sub = np.flatnonzero(inl)
        inl[sub[~voted_consistency(q_kpts[qi[sub]], d_kpts[di[sub]], check, cfg)]] = False
    _count_once(inl, qi, di, q_kpts, d_kpts)
    if inl.sum() < need:
        return None
    h, _ = cv2.findHomography(src[inl], dst[inl], 0)
    if h is None or not _plausible(h, _corners(src[inl])):
        return None
    return Verification(h, int(inl.sum()), qi[inl], di[inl], "fundamental")


def distinctive(v: Verification, q_kpts: np.ndarray, q_words: np.ndarray | None, box,
                n_tentative: int | Callable[[], int], cfg: VerifyConfig) -> bool:  # fmt: skip
    """Whether a verification rests on the object rather than on a corner of the query box or on
    structure the box repeats (``VerifyConfig.min_distinct_inliers``; 0: always).

    The evidence: the inliers counted once per repeat of their visual word among the query's
    features (sum of 1 / repeats: ten inliers on ten copies of one window count one). Where it
    is below ``min_distinct_inliers``, the verification must also not look like either failure:
    its inliers' convex hull in the query covers at least ``min_coverage`` of the box (a few
    inliers on a tower at the box's edge are not the facade), and they are at least
    ``repetition_ratio`` of the tentative matches (the same windows on another wing of a
    courtyard vote for a shifted grid among hundreds of tentative matches: Torii et al.,
    "Visual place recognition with repetitive structures", CVPR 2013). ``q_words`` (n,) the
    query features' nearest words; ``box`` (x1, y1, x2, y2) the query box; ``n_tentative`` the
    points the tentative matches hold (``tentative_points``), or a function that counts them
    (called only when the ratio decides).
    """
    if cfg.min_distinct_inliers <= 0 or q_words is None:
        return True
    repeats = np.bincount(q_words)[q_words]
    distinct = float((1.0 / repeats[v.query_idx]).sum())
    if v.model == "fundamental":  # a fundamental matrix verifies the scene, not the object: no exceptions
        return distinct >= cfg.epipolar_min_distinct
    if distinct >= cfg.min_distinct_inliers:
        return True
    x1, y1, x2, y2 = box
    pts = q_kpts[v.query_idx, :2].astype(np.float32)
    hull = cv2.contourArea(cv2.convexHull(pts)) if len(pts) >= 3 else 0.0
    if hull < cfg.min_coverage * max(1.0, (x2 - x1) * (y2 - y1)):
        return False
    return v.inliers >= cfg.repetition_ratio * (n_tentative() if callable(n_tentative) else n_tentative)


def wgc_mode(cfg: EngineConfig) -> str:
    """The weak geometric consistency the features allow: "scale+orientation" for SIFT, "scale"
    for upright SIFT, "none" for learned keypoints (they carry neither) or when the config turns
    it off (``VerifyConfig.keypoint_check``)."""
    if cfg.verify.keypoint_check == "none" or cfg.features.kind != "sift":
        return "none"
    if cfg.features.upright:
        return "scale"
    return cfg.verify.keypoint_check


shape_check = wgc_mode  # the earlier name (pixret import-hloc calls it)
