"""Pixel output: the query box mapped into each result, and a mask that follows the object;
which of them a search returns is decided per query from the evidence (``fills_box``).

Outlines (all computed in the query, then carried into each result by its homography):

    box      the query box itself
    tight    the hull of the consensus keypoints (below)
    object   GrabCut's object in the box united with ``tight``
    adaptive (the default) ``box`` when the object fills its box, else ``object``

Why decide: on real photos neither rule is right alone. The mapped box keeps the background an
object leaves in its box; the segmented object loses the corners and plain parts of an object
that fills it (a packet, a poster, a facade drawn edge to edge).

The default mask ("object") segments the object in the query once, with GrabCut (OpenCV):
colour models of object and background, and a graph cut that follows image edges. It is seeded
by the evidence there is: the consensus keypoints below are surely object, what lies outside
the box is surely background, the box near the keypoints is probably object and the box far
from them probably background. So an object that fills its box keeps the corners and
textureless parts no keypoint covers (where the hull of keypoints loses them), and background
inside the box that looks like the background around it is cut away (where the mapped box
keeps it). Its union with the hull of consensus keypoints (the "tight" outline below, which is
object evidence too) is carried into every result by its homography, as the others are.

The tighter mask comes from consensus: query keypoints that are inliers in several verified
results lie on the object (background in the query box rarely verifies twice). Their
support, discs sized by the keypoints' scales, gives the object in the query, either as the
convex hull of the discs ("hull": objects have uniform parts where no feature fires) or as
the discs closed morphologically ("discs"); each result's homography carries it into that
image, clipped to the image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import cv2
import numpy as np
import shapely
from shapely.geometry import Polygon
from shapely.geometry import box as shapely_box

from ..errors import PixretError
from ..imageio import load_image
from .config import MaskConfig


def warp_points(pts: np.ndarray, h: np.ndarray) -> np.ndarray:
    return cv2.perspectiveTransform(pts.reshape(-1, 1, 2).astype(np.float64), h).reshape(-1, 2)


def clip_polygon(pts: np.ndarray, w: int, h: int) -> list[np.ndarray]:
    """Intersect a polygon with the image rectangle; the pieces, largest first."""
    if len(pts) < 3:
        return []
    poly = shapely.make_valid(Polygon(pts))
    return _outlines(poly.intersection(shapely_box(0, 0, w, h)))


def _outlines(geom) -> list[np.ndarray]:
    """The polygons (area > 1 px) of a shapely geometry as (n, 2) outlines, largest first."""
    parts = [g for g in getattr(geom, "geoms", [geom]) if isinstance(g, Polygon) and g.area > 1]
    parts.sort(key=lambda g: -g.area)
    return [np.asarray(g.exterior.coords)[:-1] for g in parts]


def _closed_outlines(mask: np.ndarray, close: int, tolerance: float) -> list[np.ndarray]:
    """Outer outlines (mask pixels, float) of a binary mask after a morphological closing with
    a ``close``-pixel disc, simplified to ``tolerance``; regions under 10% of the total dropped."""
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (close, close))
    contours, _ = cv2.findContours(cv2.morphologyEx(mask, cv2.MORPH_CLOSE, disc), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)  # fmt: skip
    total = sum(cv2.contourArea(c) for c in contours)
    return [cv2.approxPolyDP(c, tolerance, True).reshape(-1, 2).astype(np.float64)
            for c in sorted(contours, key=cv2.contourArea, reverse=True) if cv2.contourArea(c) >= 0.1 * total]  # fmt: skip


class Evidence(NamedTuple):
    """What verification says about the object in the query."""

    kpts: np.ndarray  # (n, 4) query box keypoints: x, y, size, angle
    votes: np.ndarray  # (n,) in how many verified results each keypoint is an inlier
    box: tuple[float, float, float, float]  # the query box
    n_verified: int  # verified results


def evidence(kpts: np.ndarray, verifications, box: tuple[float, float, float, float]) -> Evidence:
    """The query's evidence from its direct verifications (objects with ``query_idx``): per
    query keypoint, in how many verified results it is an inlier."""
    votes = np.zeros(len(kpts), np.int32)
    for v in verifications:
        votes[np.unique(v.query_idx)] += 1
    return Evidence(kpts, votes, box, len(verifications))


def consensus(ev: Evidence, cfg: MaskConfig) -> np.ndarray | None:
    """Which query keypoints are inliers in enough results (``min_votes`` of them once three are
    verified, else one); None when fewer than 6 are."""
    sel = ev.votes >= (cfg.min_votes if ev.n_verified >= 3 else 1)
    return sel if sel.sum() >= 6 else None


def support_polygons(ev: Evidence, cfg: MaskConfig) -> list[np.ndarray]:
    """Object outline(s) in the query, from keypoints with enough inlier votes; [] if too few."""
    sel = consensus(ev, cfg)
    if sel is None:
        return []
    q_kpts, box = ev.kpts, ev.box
    x1, y1, x2, y2 = box
    bw, bh = int(np.ceil(x2 - x1)) + 1, int(np.ceil(y2 - y1)) + 1
    diag = float(np.hypot(bw, bh))
    radii = np.clip(q_kpts[sel, 2] * cfg.disc, 0.01 * diag, 0.08 * diag)
    if cfg.shape == "hull":
        ang = np.linspace(0, 2 * np.pi, 12, endpoint=False)
        ring = np.stack([np.cos(ang), np.sin(ang)], 1)
        pts = (q_kpts[sel, None, :2] + radii[:, None, None] * ring[None]).reshape(-1, 2)
        hull = cv2.convexHull(pts.astype(np.float32)).reshape(-1, 2).astype(np.float64)
        return [p + [x1, y1] for p in clip_polygon(hull - [x1, y1], x2 - x1, y2 - y1)]
    m = np.zeros((bh, bw), np.uint8)
    for (x, y), r in zip(q_kpts[sel, :2], radii, strict=True):
        cv2.circle(m, (round(x - x1), round(y - y1)), round(r), 1, -1)
    return [c + [x1, y1] for c in _closed_outlines(m, max(3, int(cfg.close * diag) | 1), 0.004 * diag)]


GRABCUT_SIDE = 150  # the query crop is segmented at this longest side (GrabCut is O(pixels))
GRABCUT_SEED = 12345


def object_polygons(img: np.ndarray, ev: Evidence, cfg: MaskConfig) -> list[np.ndarray]:
    """The object in the query box of ``img``, segmented by GrabCut (see the module's
    docstring); [] when there is too little evidence (no consensus, or no background around
    the box)."""
    sel = consensus(ev, cfg)
    if sel is None:
        return []
    q_kpts, box = ev.kpts, ev.box
    x1, y1, x2, y2 = box
    cx1, cy1, cx2, cy2 = _grabcut_window(img, box, cfg)
    s = min(1.0, GRABCUT_SIDE / max(cx2 - cx1, cy2 - cy1))
    crop = cv2.resize(img[cy1:cy2, cx1:cx2], None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    if crop.ndim == 2:
        crop = cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)
    ch, cw = crop.shape[:2]
    bx1, by1 = int(round((x1 - cx1) * s)), int(round((y1 - cy1) * s))
    bx2, by2 = int(round((x2 - cx1) * s)), int(round((y2 - cy1) * s))
    diag = float(np.hypot(bx2 - bx1, by2 - by1))
    seg = np.full((ch, cw), cv2.GC_BGD, np.uint8)
    seg[by1:by2, bx1:bx2] = cv2.GC_PR_BGD
    if (seg == cv2.GC_BGD).sum() < 0.05 * seg.size:  # the box fills the image: no background to learn
        return []
    hull = cv2.convexHull(((q_kpts[sel, :2] - [cx1, cy1]) * s).astype(np.float32)).astype(np.int32)
    near = np.zeros_like(seg)
    cv2.fillPoly(near, [hull.reshape(-1, 2)], 1)
    reach = max(3, int(cfg.hull_reach * diag) | 1)
    inner = (max(bx1, 0), max(by1, 0), min(bx2, cw), min(by2, ch))  # the box, in the crop
    near = _dilate_in_box(near, reach, inner)
    seg[(near > 0) & (seg == cv2.GC_PR_BGD)] = cv2.GC_PR_FGD
    for (x, y), size in zip(q_kpts[sel, :2], q_kpts[sel, 2], strict=True):
        r = int(np.clip(size * s * cfg.seed_disc, 1, 0.03 * diag))
        cv2.circle(seg, (int((x - cx1) * s), int((y - cy1) * s)), r, cv2.GC_FGD, -1)
    seg[:, :bx1], seg[:, bx2:], seg[:by1, :], seg[by2:, :] = (cv2.GC_BGD,) * 4  # seeds stay in the box
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    # GrabCut seeds its colour models by k-means on OpenCV's per-thread random generator: seeded
    # here, a query's mask depends on the query alone, not on the searches run before it
    cv2.setRNGSeed(GRABCUT_SEED)
    try:
        cv2.grabCut(crop, seg, None, bgd, fgd, cfg.grabcut_iters, cv2.GC_INIT_WITH_MASK)
        tighten(crop, seg, bgd, fgd, inner, cfg)
    except cv2.error:  # a degenerate colour model (a flat image): no segmentation
        return []
    fg = np.isin(seg, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8)
    outlines = _closed_outlines(fg, max(3, int(cfg.close * diag) | 1), 0.004 * diag)
    return [c / s + [cx1, cy1] for c in outlines if len(c) >= 3]


def _dilate_in_box(near: np.ndarray, reach: int, box: tuple[int, int, int, int]) -> np.ndarray:
    """``near`` (uint8, 1 on the hull) dilated by a disc of diameter ``reach`` pixels (OpenCV's
    elliptic structuring element), as far as the box (x1, y1, x2, y2) is concerned. When every
    box pixel lies within the disc's radius less a pixel of the hull (an exact Euclidean distance
    transform, a fraction of a millisecond), the dilation covers the box and is not run: with
    ``hull_reach`` 2 (``fast``) its kernel is twice the box's diagonal wide and it took 13 ms a
    query. Outside the box the result is not used; the box lies in ``near``'s bounds."""
    x1, y1, x2, y2 = box
    if near.any() and x2 > x1 and y2 > y1:
        dist = cv2.distanceTransform((near == 0).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        if dist[y1:y2, x1:x2].max() <= reach // 2 - 1:
            out = near.copy()
            out[y1:y2, x1:x2] = 1
            return out
    return cv2.dilate(near, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (reach, reach)))


GMM_COMPONENTS = 5  # OpenCV's GrabCut colour models: 5 Gaussians in BGR


def gmm_log_likelihood(model: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """Log-likelihood of BGR ``pixels`` (N, 3) under one of GrabCut's colour models: the (1, 65)
    float64 array ``cv2.grabCut`` fills (5 weights, then 5 x 3 means, then 5 x 3 x 3 covariances;
    OpenCV's modules/imgproc/src/grabcut.cpp, class GMM). Returns (N,) float64.

    Written here because OpenCV evaluates the model only inside grabCut and exposes no call for it."""
    k = GMM_COMPONENTS
    weights, means = model[0, :k], model[0, k : 4 * k].reshape(k, 3)
    covs = model[0, 4 * k :].reshape(k, 3, 3)
    out = np.full((len(pixels), k), -np.inf)
    for c in np.flatnonzero(weights > 0):
        d = pixels - means[c]
        _, logdet = np.linalg.slogdet(covs[c])
        maha = np.einsum("ij,jk,ik->i", d, np.linalg.inv(covs[c]), d)
        out[:, c] = np.log(weights[c]) - 0.5 * (maha + logdet + 3 * np.log(2 * np.pi))
    top = out.max(1, keepdims=True)
    return (top + np.log(np.exp(out - top).sum(1, keepdims=True)))[:, 0]


def tighten(crop: np.ndarray, seg: np.ndarray, bgd: np.ndarray, fgd: np.ndarray,
            box: tuple[int, int, int, int], cfg: MaskConfig) -> None:
    """The box prior of Lempitsky et al. ("Image segmentation with a bounding box prior", ICCV
    2009): a user's box is tight, so every row and column of it crosses the object. After
    GrabCut, each row (column) of the box with no object pixel, but those within
    ``box_prior_slack`` of the box's side from its top and bottom (left and right) edges, gets a
    surely-object seed at its most object-like pixel (the highest object / background colour
    log-likelihood ratio under GrabCut's models), among the columns (rows) that hold object in
    the nearest row (column) that does: so a seed extends the object it touches and does not
    start a new one. GrabCut then re-evaluates (one iteration, ``cv2.GC_EVAL``); at most
    ``box_prior_rounds`` rounds. The paper enforces the prior exactly by pinpointing; seeding
    only empty rows and columns is its cheap approximation. ``seg`` (crop-sized uint8 GrabCut
    labels) and the models are updated in place; ``box`` is (x1, y1, x2, y2) in crop pixels."""
    x1, y1, x2, y2 = box
    h, w = y2 - y1, x2 - x1
    sy, sx = int(cfg.box_prior_slack * h), int(cfg.box_prior_slack * w)
    pix = crop[y1:y2, x1:x2].reshape(-1, 3).astype(np.float64)  # the box's colours; the models change per round
    for _ in range(cfg.box_prior_rounds):
        fg = np.isin(seg[y1:y2, x1:x2], (cv2.GC_FGD, cv2.GC_PR_FGD))
        has_row, has_col = fg.any(1), fg.any(0)
        rows = sy + np.flatnonzero(~has_row[sy : h - sy])
        cols = sx + np.flatnonzero(~has_col[sx : w - sx])
        if not has_row.any() or (not len(rows) and not len(cols)):
            return
        llr = (gmm_log_likelihood(fgd, pix) - gmm_log_likelihood(bgd, pix)).reshape(h, w)
        with_row, with_col = np.flatnonzero(has_row), np.flatnonzero(has_col)
        for r in rows:
            near = with_row[np.argmin(np.abs(with_row - r))]
            seg[y1 + r, x1 + int(np.argmax(np.where(fg[near], llr[r], -np.inf)))] = cv2.GC_FGD
        for c in cols:
            near = with_col[np.argmin(np.abs(with_col - c))]
            seg[y1 + int(np.argmax(np.where(fg[:, near], llr[:, c], -np.inf))), x1 + c] = cv2.GC_FGD
        cv2.grabCut(crop, seg, None, bgd, fgd, 1, cv2.GC_EVAL)


def union(a: list[np.ndarray], b: list[np.ndarray]) -> list[np.ndarray]:
    """The outlines covering both sets of polygons (largest first)."""
    polys = [shapely.make_valid(Polygon(p)) for p in a + b if len(p) >= 3]
    if not polys:
        return []
    return _outlines(shapely.union_all(polys))


def project(polys: list[np.ndarray], h: np.ndarray, w: int, hh: int) -> list[np.ndarray]:
    """Warp query-side polygons into a result image and clip them to it."""
    out = []
    for p in polys:
        out += clip_polygon(warp_points(p, h), w, hh)
    return out


def _area(polys: list[np.ndarray]) -> float:
    """Area of the union of polygons (pixels)."""
    geoms = [shapely.make_valid(Polygon(p)) for p in polys if len(p) >= 3]
    return float(shapely.union_all(geoms).area) if geoms else 0.0


@dataclass
class MaskOutput:
    """The mask stage's result for one query.

    ``support``: the hull of consensus keypoints (the ``tight`` outline) in query pixels;
    ``outline``: the ``object`` outline (GrabCut united with the support; the support alone when
    GrabCut had nothing to work with); ``fills_box``: the decision (``decide``); ``output``: the
    outline results export ("box", "object" or "tight"); ``stats``: the evidence the decision
    used (fractions of the box area: ``kept`` by the object outline, ``reach`` of the support;
    ``grabcut``: whether there was background around the box to segment against)."""

    support: list[np.ndarray]
    outline: list[np.ndarray]
    fills_box: bool | None
    output: str
    stats: dict = field(default_factory=dict)


def decide(kept: float | None, reach: float, cfg: MaskConfig) -> bool:
    """Does the object fill its box? Yes when GrabCut, seeded by the consensus keypoints, keeps at
    least ``fill_threshold`` of the box as object, or could not run because the box leaves no
    background around it (``kept`` None: the box is the image); a box whose consensus hull
    already covers ``fill_threshold`` of it fills it too. Measured on the real-photo benchmark
    (benchmarks/bench_engine.py prints these values per query beside the labelled truth)."""
    if kept is None:
        return True
    return max(kept, reach) >= cfg.fill_threshold


def query_masks(img: np.ndarray, ev: Evidence, cfg: MaskConfig) -> MaskOutput:
    """The object in the query and the outline results export (``MaskOutput``)."""
    support = support_polygons(ev, cfg)
    if not ev.n_verified:
        return MaskOutput(support, support, None, "box" if cfg.output == "adaptive" else cfg.output)
    x1, y1, x2, y2 = ev.box
    box_area = max(1.0, (x2 - x1) * (y2 - y1))
    reach = _area(support) / box_area
    outline, kept, grabcut = support, None, False
    if cfg.output in ("object", "adaptive") and support:
        obj = object_polygons(img, ev, cfg)
        grabcut = bool(obj) or not _background_around(img, ev.box, cfg)
        if obj:
            outline = union(obj, support)
            kept = _area(outline) / box_area
        elif grabcut:  # no background to learn from: the box is (almost) the image
            kept = None
        else:
            kept = reach
    elif support:
        kept = reach
    fills = decide(kept, reach, cfg) if support else True
    output = ("box" if fills else "object") if cfg.output == "adaptive" else cfg.output
    return MaskOutput(support, outline, fills, output, {"kept": kept, "reach": reach, "grabcut": grabcut})


def _grabcut_window(img: np.ndarray, box, cfg: MaskConfig) -> tuple[int, int, int, int]:
    """The crop GrabCut sees: the box and a ring of ``grabcut_margin`` box sides, in the image."""
    h, w = img.shape[:2]
    x1, y1, x2, y2 = box
    bw, bh = x2 - x1, y2 - y1
    m = cfg.grabcut_margin
    cx1, cy1 = max(0, int(x1 - m * bw)), max(0, int(y1 - m * bh))
    return cx1, cy1, min(w, int(np.ceil(x2 + m * bw))), min(h, int(np.ceil(y2 + m * bh)))


def _background_around(img: np.ndarray, box, cfg: MaskConfig) -> bool:
    """Whether the ring around the box holds at least 5% of the crop GrabCut would see
    (object_polygons' own test)."""
    cx1, cy1, cx2, cy2 = _grabcut_window(img, box, cfg)
    crop = (cx2 - cx1) * (cy2 - cy1)
    return crop - (box[2] - box[0]) * (box[3] - box[1]) >= 0.05 * crop


def project_outlines(masks: MaskOutput, box: list[np.ndarray], h: np.ndarray, w: int, hh: int) -> dict:
    """Every outline kind ("box", "tight", "object") of the query mapped into a result image of
    w x hh pixels by homography ``h`` and clipped to it; an empty support falls back to the box."""
    box_poly = project(box, h, w, hh)
    tight = project(masks.support, h, w, hh) if masks.support else box_poly
    obj = tight if masks.outline is masks.support else (project(masks.outline, h, w, hh) if masks.outline else box_poly)
    return {"box": box_poly, "tight": tight, "object": obj}


def result_crop(path: str, region: tuple[int, int, int, int], side: int
                ) -> tuple[np.ndarray, float, tuple[int, int]] | None:  # fmt: skip
    """The ``region`` (x0, y0, x1, y1 in full-image pixels) of the image at ``path`` at about
    ``side`` pixels on its longest side, the scale (crop pixels per image pixel) and the image
    pixel the crop starts at; None when the image cannot be read. The image is decoded at 1/2,
    1/4 or 1/8 of its size when that still leaves the region ``side`` pixels (imageio's reduced
    JPEG decoding), so the crop starts at the multiple of that factor below (x0, y0)."""
    x0, y0, x1, y1 = region
    longest = max(x1 - x0, y1 - y0)
    k = next((k for k in (8, 4, 2) if longest / k >= side), 1)
    try:
        img = load_image(path, k)
    except PixretError:
        return None
    crop = img[y0 // k : -(-y1 // k), x0 // k : -(-x1 // k)]
    if not crop.size:
        return None
    s = min(1.0, side / max(crop.shape[:2]))
    crop = cv2.resize(crop, None, fx=s, fy=s, interpolation=cv2.INTER_AREA) if s < 1 else crop
    return crop, s / k, (x0 // k * k, y0 // k * k)


def refine_in_result(path: str, size: tuple[int, int], prior: list[np.ndarray], box: list[np.ndarray],
                     inliers: np.ndarray, cfg: MaskConfig) -> list[np.ndarray] | None:  # fmt: skip
    """The object in a result image, segmented there (GrabCut) from that image's own evidence:
    the query's object mapped into it (``prior``, probably object), the mapped query box around it
    (``box``: what lies in the box outside the object, and a ring around the box, is probably
    background; farther out surely), and the pair's inliers (``inliers`` (m, 2) image pixels:
    surely object). Outlines in image pixels, or None when the image cannot be read or GrabCut
    finds no object."""
    if not box:
        return None
    w, h = size
    pts = np.concatenate(box)
    bx0, by0 = pts.min(0)
    bx1, by1 = pts.max(0)
    mx, my = cfg.refine_margin * (bx1 - bx0), cfg.refine_margin * (by1 - by0)
    region = (int(max(0, bx0 - mx)), int(max(0, by0 - my)), int(min(w, np.ceil(bx1 + mx))), int(min(h, np.ceil(by1 + my))))
    got = result_crop(path, region, cfg.refine_side)
    if got is None:
        return None
    crop, s, origin = got
    ch, cw = crop.shape[:2]
    off = np.array(origin, np.float64)

    def to_crop(polys):
        return [np.round((p - off) * s).astype(np.int32) for p in polys if len(p) >= 3]

    seg = np.full((ch, cw), cv2.GC_BGD, np.uint8)
    near = np.zeros((ch, cw), np.uint8)
    cv2.fillPoly(near, to_crop(box), 1)
    ring = max(3, int(cfg.refine_ring * max(ch, cw)) | 1)
    near = cv2.dilate(near, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (ring, ring)))
    seg[near > 0] = cv2.GC_PR_BGD
    obj = np.zeros((ch, cw), np.uint8)
    cv2.fillPoly(obj, to_crop(prior or box), 1)
    seg[obj > 0] = cv2.GC_PR_FGD
    if (seg == cv2.GC_BGD).sum() < 0.03 * seg.size:  # nothing around it to learn the background from
        return None
    r = max(1, int(round(0.015 * max(ch, cw))))
    for x, y in np.round((np.asarray(inliers, np.float64).reshape(-1, 2) - off) * s).astype(int):
        if 0 <= x < cw and 0 <= y < ch and obj[y, x]:
            cv2.circle(seg, (int(x), int(y)), r, cv2.GC_FGD, -1)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(GRABCUT_SEED)
    try:
        cv2.grabCut(crop, seg, None, bgd, fgd, cfg.refine_iters, cv2.GC_INIT_WITH_MASK)
    except cv2.error:
        return None
    fg = np.isin(seg, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8)
    if not fg.any():
        return None
    diag = float(np.hypot(ch, cw))
    outlines = _closed_outlines(fg, max(3, int(0.02 * diag) | 1), 0.003 * diag)
    out = []
    for c in outlines:
        if len(c) >= 3:
            out += clip_polygon(c / s + off, w, h)
    if not out:
        return None
    # a guard: the result's own segmentation refines the mapped outline, it does not replace it
    # (GrabCut that follows another surface of the same colours is not the object): it keeps
    # ``refine_min_iou`` of the mapped outline and lies within the mapped box and its ring
    seg_geom, prior_geom = _union_geom(out), _union_geom(prior or box)
    ring = max(bx1 - bx0, by1 - by0) * cfg.refine_ring * 2
    inside = _area_of(shapely.intersection(seg_geom, _union_geom(box).buffer(ring)))
    kept = _area_of(shapely.intersection(seg_geom, prior_geom))
    ok = kept >= cfg.refine_min_iou * prior_geom.area and inside >= 0.9 * seg_geom.area
    return out if ok else None


def _union_geom(polys: list[np.ndarray]):
    return shapely.union_all([shapely.make_valid(Polygon(p)) for p in polys if len(p) >= 3])


def _area_of(geom) -> float:
    return float(geom.area)
