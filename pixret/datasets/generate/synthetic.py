"""Synthetic pixel retrieval benchmarks cut from real photographs, in the release layout.

Objects are irregular regions of photographs that ship inside scikit-image (no download).
A query is the object in its own photo with its box (which holds background too, as on real
landmarks). Each positive pastes the object into another scene under a random homography,
lighting change, blur, JPEG quality and partial occlusion; the label is the exact visible
mask as polygons. The measured difficulty decides easy / hard / junk. Distractors are scenes
with clutter but no query object. Every image draws from its own seeded generator, so a seed
gives identical bytes whatever the number of worker processes.
"""

from __future__ import annotations

import functools
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from ...errors import PixretError
from ...geometry import mask_outlines
from .builder import (
    LEVELS,
    Builder,
    QuerySpec,
    Writer,
    build,
    categorise,
    cut_polygon,
    jpeg,
    label_iou,
    paste,
    random_homography,
)

OBJECT_PHOTOS = (
    "astronaut", "chelsea", "coffee", "rocket", "stereo_motorcycle", "hubble_deep_field",
    "immunohistochemistry", "retina", "camera", "coins", "clock", "moon",
)  # fmt: skip
BACKGROUND_PHOTOS = ("brick", "grass", "gravel", "cell", "page", "text", "colorwheel")
QUERY_SIDE = 800
SCENE_SIZES = ((1024, 768), (768, 1024), (1024, 683), (960, 960), (1024, 576))
MIN_LABEL_IOU = 0.99
MIN_KEYPOINTS = 100  # an object region needs this many SIFT keypoints to be eligible


@dataclass(frozen=True)
class SyntheticConfig:
    """What to generate. ``positives`` is per query (junk included)."""

    name: str = "synth"
    queries: int = 12
    positives: int = 8
    distractors: int = 200
    seed: int = 0


@dataclass(frozen=True)
class ObjectSpec:
    """A query object: a region of one photo, in query-image pixels."""

    index: int
    photo: str
    polygon: np.ndarray  # (n, 2) x, y
    box: tuple[float, float, float, float]


# ------------------------------------------------------------------ photos


@functools.cache
def photo(name: str) -> np.ndarray:
    """A scikit-image sample as BGR uint8; object photos scaled to QUERY_SIDE."""
    import skimage.data

    img = getattr(skimage.data, name)()
    if isinstance(img, tuple):  # stereo_motorcycle: (left, right, disparity)
        img = img[0]
    img = np.asarray(img)
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    img = cv2.cvtColor(np.ascontiguousarray(img[..., :3]), cv2.COLOR_RGB2BGR)
    if name in OBJECT_PHOTOS:
        s = QUERY_SIDE / max(img.shape[:2])
        img = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_CUBIC)
    return img


@functools.cache
def _cells() -> list[tuple[str, tuple[int, int, int, int], float]]:
    """Each object photo split 2x2: (photo, (x0, y0, x1, y1), texture score).

    The score is the number of SIFT keypoints in the cell's central ellipse (where the object
    will be): an object must be recognisable by local features, as landmarks are.
    """
    sift = cv2.SIFT_create(contrastThreshold=0.03)
    out = []
    for name in OBJECT_PHOTOS:
        img = cv2.cvtColor(photo(name), cv2.COLOR_BGR2GRAY)
        pts = np.array([k.pt for k in sift.detect(img, None)]).reshape(-1, 2)
        h, w = img.shape
        for r in range(2):
            for c in range(2):
                box = (c * w // 2, r * h // 2, (c + 1) * w // 2, (r + 1) * h // 2)
                cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
                rx, ry = 0.36 * (box[2] - box[0]), 0.36 * (box[3] - box[1])
                inside = ((pts[:, 0] - cx) / rx) ** 2 + ((pts[:, 1] - cy) / ry) ** 2 < 1
                out.append((name, box, float(inside.sum())))
    return out


def blob_polygon(
    rng: np.random.Generator, cx: float, cy: float, rx: float, ry: float, n: int = 16
) -> np.ndarray:
    """A smooth, irregular star-shaped outline (an object that is not a rectangle)."""
    a = np.linspace(0, 2 * np.pi, n, endpoint=False) + rng.uniform(0, 2 * np.pi)
    r = np.ones(n)
    for k in (2, 3, 5):
        r += rng.uniform(0.05, 0.18) * np.cos(k * a + rng.uniform(0, 2 * np.pi))
    return np.stack([cx + rx * r * np.cos(a), cy + ry * r * np.sin(a)], 1)


def select_objects(n: int, seed: int) -> list[ObjectSpec]:
    """The ``n`` most textured cells, spread over the photos, each with a blob outline."""
    cells = _cells()
    eligible = [k for k in range(len(cells)) if cells[k][2] >= MIN_KEYPOINTS]
    if n > len(eligible):
        raise PixretError(
            None, f"at most {len(eligible)} queries can be cut from the bundled photos (asked {n})"
        )
    ranked = sorted(eligible, key=lambda k: -cells[k][2])
    picked: list[int] = []
    for rnd in range(4):  # round-robin: the best cell of every photo first, then the second ...
        for k in ranked:
            same = sum(cells[j][0] == cells[k][0] for j in picked)
            if k not in picked and same == rnd and len(picked) < n:
                picked.append(k)
    objs = []
    for q, k in enumerate(picked):
        name, (x0, y0, x1, y1), _ = cells[k]
        rng = np.random.default_rng([seed, 0, q])
        cw, ch = x1 - x0, y1 - y0
        poly = blob_polygon(rng, (x0 + x1) / 2, (y0 + y1) / 2, 0.36 * cw, 0.36 * ch)
        objs.append(ObjectSpec(q, name, poly, tuple(float(v) for v in (*poly.min(0), *poly.max(0)))))
    return objs


def _unused_cells(objs: list[ObjectSpec]) -> list[tuple[str, tuple[int, int, int, int]]]:
    used = {(o.photo, tuple(int(v) for v in o.polygon.mean(0))) for o in objs}
    out = []
    for name, box, _ in _cells():
        cx, cy = (box[0] + box[2]) // 2, (box[1] + box[3]) // 2
        if not any(u[0] == name and abs(u[1][0] - cx) < 3 and abs(u[1][1] - cy) < 3 for u in used):
            out.append((name, box))
    return out


# ------------------------------------------------------------------ scenes


def _texture_crop(rng: np.random.Generator, w: int, h: int, sources) -> np.ndarray:
    name, box = sources[rng.integers(len(sources))]
    img = photo(name) if box is None else photo(name)[box[1] : box[3], box[0] : box[2]]
    ih, iw = img.shape[:2]
    s = max(w / iw, h / ih) * rng.uniform(1.0, 1.6)
    img = cv2.resize(img, (max(w, round(iw * s)), max(h, round(ih * s))), interpolation=cv2.INTER_LINEAR)
    y, x = rng.integers(0, img.shape[0] - h + 1), rng.integers(0, img.shape[1] - w + 1)
    crop = img[y : y + h, x : x + w]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    gain = rng.uniform(0.7, 1.3, 3)
    return np.clip(crop * gain, 0, 255).astype(np.uint8)


def background(rng: np.random.Generator, w: int, h: int, sources) -> np.ndarray:
    """A mosaic of 1-4 texture crops, colour-jittered."""
    gx, gy = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    xs = np.linspace(0, w, gx + 1).astype(int)
    ys = np.linspace(0, h, gy + 1).astype(int)
    out = np.zeros((h, w, 3), np.uint8)
    for r in range(gy):
        for c in range(gx):
            out[ys[r] : ys[r + 1], xs[c] : xs[c + 1]] = _texture_crop(
                rng, xs[c + 1] - xs[c], ys[r + 1] - ys[r], sources
            )
    return out


def object_patch(obj: ObjectSpec) -> tuple[np.ndarray, np.ndarray]:
    """The object's box cut from its photo, and the object's mask inside it."""
    return cut_polygon(photo(obj.photo), obj.polygon, obj.box)


# ------------------------------------------------------------------ generation


class Task(NamedTuple):
    """One image to generate: a positive of ``query``, or a distractor (query None)."""

    kind: str  # "positive" or "distractor"
    image: int  # index in the database
    query: int | None = None


class SyntheticBuilder(Builder):
    """The generated benchmark: builder.py's skeleton with scikit-image's photographs."""

    generator = "pixret.datasets.generate.synthetic"

    def __init__(self, cfg: SyntheticConfig):
        self.cfg, self.name = cfg, cfg.name
        self.objs = select_objects(cfg.queries, cfg.seed)
        self.sources = [(n, None) for n in BACKGROUND_PHOTOS] + _unused_cells(self.objs)

    def queries(self) -> list[QuerySpec]:
        return [QuerySpec(photo(o.photo), o.polygon, o.box, 92) for o in self.objs]

    def tasks(self) -> list[Task]:
        cfg = self.cfg
        n_pos = cfg.queries * cfg.positives
        order = np.random.default_rng([cfg.seed, 1]).permutation(n_pos + cfg.distractors)
        tasks = [
            Task("positive", i, slot // cfg.positives) if slot < n_pos else Task("distractor", i)
            for slot, i in enumerate(order.tolist())
        ]
        return sorted(tasks, key=lambda t: t.image)

    def write(self, task: Task, out: Writer) -> dict:
        if task.kind == "positive":
            return self.write_positive(task.image, task.query, out)
        return self.write_distractor(task.image, out)

    def _clutter(self, rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
        h, w = img.shape[:2]
        for _ in range(int(rng.integers(0, 3))):
            tex = _texture_crop(rng, 200, 200, self.sources[len(BACKGROUND_PHOTOS) :] or self.sources)
            m = np.zeros((200, 200), np.uint8)
            cv2.fillPoly(
                m, [np.round(blob_polygon(rng, 100, 100, 80, 80) * 16).astype(np.int32)], 1, cv2.LINE_AA, 4
            )
            hm = random_homography(rng, 200, 200, w, h, rng.uniform(0.15, 0.4), rng.uniform(-40, 40), 0.05)
            img, _ = paste(img, tex, m, hm)
        return img

    def _finish(self, rng: np.random.Generator, img: np.ndarray, level: dict) -> tuple[bytes, float, int]:
        blur = float(rng.uniform(*level["blur"]))
        if blur > 0.3:
            img = cv2.GaussianBlur(img, (0, 0), blur)
        img = np.clip(img * rng.uniform(0.75, 1.25) + rng.uniform(-20, 20), 0, 255).astype(np.uint8)
        q = int(rng.integers(*level["q"]))
        return jpeg(img, q), blur, q

    def _scene(self, i: int) -> tuple[np.random.Generator, int, int, np.ndarray]:
        """Image i's own random stream, its size and its cluttered background."""
        rng = np.random.default_rng([self.cfg.seed, 2, i])
        w, h = SCENE_SIZES[rng.integers(len(SCENE_SIZES))]
        return rng, w, h, self._clutter(rng, background(rng, w, h, self.sources))

    def write_distractor(self, image: int, out: Writer) -> dict:
        """A scene without any query object."""
        rng, _, _, img = self._scene(image)
        data, _, _ = self._finish(rng, img, LEVELS["easy"])
        out.write_image(image, data)
        return {"kind": "distractor", "image": image}

    def write_positive(self, image: int, query: int, out: Writer) -> dict:
        """A scene with query ``query``'s object pasted in at a random difficulty, and its label."""
        rng, w, h, img = self._scene(image)
        intended = rng.choice(["easy", "hard", "junk"], p=[0.5, 0.35, 0.15])
        lv = LEVELS[str(intended)]
        patch, pmask = object_patch(self.objs[query])
        rel, rot = float(rng.uniform(*lv["rel"])), float(rng.uniform(-lv["rot"], lv["rot"]))
        persp = float(rng.uniform(*lv["persp"]))
        hm = random_homography(rng, patch.shape[1], patch.shape[0], w, h, rel, rot, persp)
        img, full = paste(img, patch, pmask.astype(np.float32), hm)
        visible_mask = full
        if rng.random() < lv["occ"][0]:
            img, visible_mask = self._occlude(rng, img, full, lv["occ"][1])
        polys = mask_outlines(visible_mask)
        fidelity = label_iou(polys, visible_mask)
        area, total = int(visible_mask.sum()), max(1, int(full.sum()))
        visible = area / total
        data, blur, quality = self._finish(rng, img, lv)
        cat = categorise(rel, rot, persp, visible, area, blur)
        out.write_image(image, data)
        if cat != "junk":
            out.write_label(query, image, polys, w, h)
        return {
            "kind": "positive", "image": image, "query": query, "category": cat, "scale": round(rel, 4),
            "rotation": round(rot, 2), "perspective": round(persp, 4), "visible": round(visible, 4),
            "area": area, "blur": round(blur, 3), "jpeg_quality": quality, "label_iou": round(fidelity, 5),
        }  # fmt: skip

    def _occlude(self, rng: np.random.Generator, img: np.ndarray, full: np.ndarray, size: float):
        """Cover part of the object from its outside (no holes: labels stay exact polygons)."""
        ys, xs = np.nonzero(full)
        span = max(np.ptp(xs), np.ptp(ys)) if len(xs) else 1
        for _ in range(6):
            k = rng.integers(len(xs))
            r = size * span * rng.uniform(0.6, 1.2)
            ang = rng.uniform(0, 2 * np.pi)
            cx, cy = xs[k] + 0.7 * r * np.cos(ang), ys[k] + 0.7 * r * np.sin(ang)
            occ = np.zeros(full.shape, np.uint8)
            cv2.fillPoly(
                occ, [np.round(blob_polygon(rng, cx, cy, r, r * rng.uniform(0.6, 1.0))).astype(np.int32)], 1
            )
            visible = full & ~occ.astype(bool)
            if visible.sum() and label_iou(mask_outlines(visible), visible) >= MIN_LABEL_IOU:
                tex = _texture_crop(rng, img.shape[1], img.shape[0], self.sources)
                out = np.where(occ[..., None].astype(bool), tex, img)
                return out, visible
        return img, full

    def finish(self, gnd: list[dict], images: list[dict]) -> None:
        """Every query needs hard positives for the Hard protocol: promote the hardest easy one."""
        for q, g in enumerate(gnd):
            easy = [m for m in images if m.get("query") == q and m.get("category") == "easy"]
            if not g["hard"] and easy:
                hardest = min(easy, key=lambda m: m["scale"])
                g["easy"].remove(hardest["image"])
                g["hard"].append(hardest["image"])
                hardest["category"] = "hard"

    def meta(self, queries: list[QuerySpec], images: list[dict]) -> dict:
        return {"config": asdict(self.cfg), "generator": self.generator,
                "objects": [{"query": o.index, "photo": o.photo, "box": o.box} for o in self.objs],
                "images": images}  # fmt: skip


def make_benchmark(
    out: str | os.PathLike, cfg: SyntheticConfig, workers: int | None = None, progress: bool = True
) -> Path:
    """Write benchmark ``cfg.name`` in the release layout under ``out``; return the release folder
    (builder.build: built beside, moved into place at the end, its ground truth last)."""
    return build(out, SyntheticBuilder(cfg), workers, progress)
