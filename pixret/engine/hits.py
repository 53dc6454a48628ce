"""What a search returns: ``Hit`` (one database image) and ``SearchResult`` (the ranking), their
one JSON form (``to_json``: the CLI's ``--json``, the web API and files all use it) and their
pictures in Jupyter (``_repr_html_``: thumbnails with the object's pixels tinted, drawn with
OpenCV; the engine does not import pixret.viz).

JSON of a hit (``Hit.to_json``)::

    rank        1-based position in the result (when given)
    index, name, path, size [w, h]
    verified    bool; via: the index of the verified result the match was chained through, or null
    score       evidence in inliers (see ``Hit.score``); inliers; tfidf (the shortlist's cosine)
    homography  3 x 3 list, query pixels -> image pixels (null when unverified)
    box         [x1, y1, x2, y2] around the mapped query box (null when unverified)
    polygons    the object's outline(s) [[[x, y], ...], ...] in image pixels (the default mask)
    mask_kind   which outline ``polygons`` is: "refined" (segmented in this image from its own
                evidence: masks.refine_in_result), else the query's "box", "object" or "tight"
                outline mapped by the homography
    outlines    the query's outlines mapped by the homography, each kept whatever ``mask_kind``
                is: {"box": ..., "tight": hull of the consensus inliers, "object": the query's
                segmented object} (polygons as above; empty lists when unverified)
    mask        the same pixels as a COCO RLE {"size": [h, w], "counts": str} (null when none)
    matches     (opt-in) inlier correspondences [[qx, qy, x, y], ...]
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..errors import PixretError
from ..geometry import fill_polygons, polygons_as_lists, polygons_to_rle
from ..imageio import encode, load_image, thumbnail

THUMB = 200  # pixels, longest side of a notebook thumbnail
TINT = (60, 60, 230)  # BGR: the object's pixels in thumbnails
BOX = (0, 200, 255)  # BGR: the mapped query box


@dataclass
class Hit:
    """One result: a database image and, when verified, where the object is in it.

    ``score`` means one thing: the geometric evidence that the image shows the object, counted
    in inliers that pass weak geometric consistency. For a direct verification it is the inliers
    with the query; for a chained one (``via`` set: verified against an earlier result, not the
    query) it is the weaker of its two links, so a chain never outranks the direct matches it
    stands on unless its evidence is stronger. An unverified image scores 0 and is ranked after
    every verified one by ``bow_score`` (the shortlist's tf-idf cosine)."""

    index: int
    name: str
    path: str
    score: float
    inliers: int
    bow_score: float
    size: tuple[int, int]  # (w, h)
    homography: np.ndarray | None = None  # 3x3, query pixels -> image pixels
    polygons: list[np.ndarray] = field(default_factory=list)  # the chosen output (mask_kind)
    box_polygons: list[np.ndarray] = field(default_factory=list)  # the query box, mapped
    tight_polygons: list[np.ndarray] = field(default_factory=list)  # hull of consensus inliers, mapped
    object_polygons: list[np.ndarray] = field(default_factory=list)  # the query's segmented object, mapped
    matches: np.ndarray | None = None  # (m, 4): query x, y -> result x, y of the inliers
    via: int | None = None  # chained through this verified result (masks along chains)
    mask_kind: str = ""  # "refined", "box", "object" or "tight": which outline ``polygons`` holds

    @property
    def verified(self) -> bool:
        return self.homography is not None

    @property
    def mask(self) -> np.ndarray:
        """Binary mask (h, w) uint8 of the default pixel output."""
        return fill_polygons(self.polygons, self.size[1], self.size[0], min_points=3)

    def to_json(self, rank: int | None = None, matches: bool = False, rle: bool = True) -> dict:
        """The hit as JSON-ready values (module docstring); ``matches`` adds the inlier
        correspondences, ``rle`` the mask as a COCO RLE."""
        box = None
        if self.box_polygons:
            pts = np.concatenate(self.box_polygons)
            box = np.round([*pts.min(0), *pts.max(0)], 1).tolist()
        w, h = self.size
        polys = [p for p in self.polygons if len(p) >= 3]
        doc = {"index": int(self.index), "name": self.name, "path": self.path, "size": [int(w), int(h)],
               "verified": self.verified, "via": self.via, "score": float(self.score), "inliers": int(self.inliers),
               "tfidf": float(self.bow_score),
               "homography": None if self.homography is None else np.round(self.homography, 9).tolist(),
               "box": box, "box_polygons": polygons_as_lists(self.box_polygons), "polygons": polygons_as_lists(self.polygons),
               "mask_kind": self.mask_kind or None,
               "outlines": {"box": polygons_as_lists(self.box_polygons), "tight": polygons_as_lists(self.tight_polygons),
                            "object": polygons_as_lists(self.object_polygons)}}  # fmt: skip
        if rank is not None:
            doc = {"rank": int(rank), **doc}
        if rle:
            doc["mask"] = polygons_to_rle(polys, int(h), int(w)) if polys else None
        if matches:
            doc["matches"] = [] if self.matches is None else np.round(self.matches, 2).tolist()
        return doc

    def thumbnail(self, longest: int = THUMB) -> np.ndarray:
        """The image scaled to ``longest`` px with the object's pixels tinted and the mapped box
        outlined (BGR); PixretError when the image cannot be read."""
        img = load_image(self.path)
        return draw(img, self.polygons, self.box_polygons, longest)

    def _repr_html_(self) -> str:
        return _figure(self, 0)


@dataclass
class SearchResult:
    """A whole search.

    ``hits``: verified images (by score), then the rest of the shortlist (by tf-idf);
    ``ranking`` (n_images,) every database index, best first; ``timings``: seconds per stage
    (features, shortlist, matching, verification, expansion, masks, results) and ``total``;
    ``query_support``: the object's outline in the query (what the masks are mapped from);
    ``shortlist`` (k,) the database indices the shortlist stage passed on, in tf-idf order
    (hloc's pairs file: ``Index.pairs``); ``box`` the query box (x1, y1, x2, y2);
    ``fills_box`` the mask stage's decision (engine/masks.py, ``decide``); ``excluded``:
    database indices left out because they are the query image itself (``exclude_query``)."""

    hits: list[Hit]
    ranking: np.ndarray
    timings: dict[str, float]
    query_support: list[np.ndarray]
    shortlist: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    box: tuple[float, float, float, float] | None = None
    fills_box: bool | None = None
    excluded: list[int] = field(default_factory=list)
    query_size: tuple[int, int] | None = None  # (w, h) of the query image
    mask_stats: dict = field(default_factory=dict)  # the evidence the mask decision used (masks.MaskOutput)

    def to_json(self, top: int | None = None, matches: bool = False, rle: bool = True) -> dict:
        """The search as JSON-ready values: the query box, the decision on the mask, timings and
        the first ``top`` hits (all by default), each as ``Hit.to_json``."""
        hits = self.hits if top is None else self.hits[:top]
        return {"box": None if self.box is None else [round(float(v), 2) for v in self.box],
                "fills_box": self.fills_box, "excluded": [int(i) for i in self.excluded],
                "support": polygons_as_lists(self.query_support),
                "timings": {k: round(float(v), 4) for k, v in self.timings.items()},
                "hits": [h.to_json(k + 1, matches, rle) for k, h in enumerate(hits)]}  # fmt: skip

    def _repr_html_(self, top: int = 8) -> str:
        figs = "".join(_figure(h, k + 1) for k, h in enumerate(self.hits[:top]))
        n_ver = sum(h.verified for h in self.hits)
        head = (f"<p>{n_ver} verified of {len(self.hits)} shortlisted, "
                f"{self.timings.get('total', 0.0) * 1000:.0f} ms</p>")  # fmt: skip
        return f"<div>{head}<div style='display:flex;flex-wrap:wrap;gap:6px'>{figs}</div></div>"


def draw(img: np.ndarray, polygons, box_polygons, longest: int = THUMB) -> np.ndarray:
    """``img`` scaled to ``longest`` px, ``polygons`` tinted and ``box_polygons`` outlined."""
    s = min(1.0, longest / max(img.shape[:2]))
    out = thumbnail(img, longest).copy()
    if out.ndim == 2:
        out = cv2.cvtColor(out, cv2.COLOR_GRAY2BGR)
    pts = [np.round(np.asarray(p) * s).astype(np.int32) for p in polygons if len(p) >= 3]
    if pts:
        tint = out.copy()
        cv2.fillPoly(tint, pts, TINT)
        out = cv2.addWeighted(out, 0.55, tint, 0.45, 0)
        cv2.polylines(out, pts, True, TINT, 1, cv2.LINE_AA)
    box = [np.round(np.asarray(p) * s).astype(np.int32) for p in box_polygons if len(p) >= 3]
    if box:
        cv2.polylines(out, box, True, BOX, 1, cv2.LINE_AA)
    return out


def _figure(hit: Hit, rank: int) -> str:
    """One thumbnail and caption as HTML (names escaped)."""
    try:
        data = base64.b64encode(encode(hit.thumbnail(), ".png")).decode("ascii")
        img = f"<img src='data:image/png;base64,{data}' style='max-width:{THUMB}px'/>"
    except PixretError as exc:
        img = f"<div>{html.escape(exc.problem)}</div>"
    what = f"{hit.inliers} inliers" + (" (chained)" if hit.via is not None else "") if hit.verified else "not verified"
    label = f"#{rank} " if rank else ""
    return (f"<figure style='margin:0'>{img}<figcaption>{html.escape(label + hit.name)}<br/>"
            f"{html.escape(what)}</figcaption></figure>")  # fmt: skip
