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
import pickle
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
from tqdm import tqdm

from ..io import PixretError, atomic_open, save_npy, write_json
from ..parallel import default_workers, pool_imap
from .archives import build_beside
from .labelme import write_labelme
from .release import RELEASE_FOLDER

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


def random_homography(
    rng: np.random.Generator, pw: int, ph: int, w: int, h: int, rel: float, rot: float, persp: float
) -> np.ndarray:
    """Patch (pw x ph) -> scene (w x h): scale to ``rel`` of the scene, rotate, tilt corners."""
    side = rel * min(w, h)
    s = side / max(pw, ph)
    t = np.deg2rad(rot)
    rmat = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]) * s
    src = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], np.float64)
    dst = (src - [pw / 2, ph / 2]) @ rmat.T
    dst += rng.uniform(-persp, persp, dst.shape) * side
    half = np.abs(dst).max(0)
    margin = np.maximum(w - 2 * half[0], 1), np.maximum(h - 2 * half[1], 1)
    center = [half[0] + rng.uniform(0, margin[0]), half[1] + rng.uniform(0, margin[1])]
    return cv2.getPerspectiveTransform(src.astype(np.float32), (dst + center).astype(np.float32))


def paste(
    canvas: np.ndarray, patch: np.ndarray, patch_mask: np.ndarray, hmat: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Warp ``patch`` by ``hmat`` onto ``canvas`` (soft edge); return (image, binary mask)."""
    h, w = canvas.shape[:2]
    warped = cv2.warpPerspective(patch, hmat, (w, h), flags=cv2.INTER_LINEAR)
    alpha = cv2.warpPerspective(patch_mask.astype(np.float32), hmat, (w, h), flags=cv2.INTER_LINEAR)
    out = canvas * (1 - alpha[..., None]) + warped * alpha[..., None]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8), alpha >= 0.5


def mask_polygons(mask: np.ndarray, min_area: float = 16) -> list[np.ndarray]:
    """Outer outlines of a binary mask's regions as (x, y) polygons."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return [c.reshape(-1, 2).astype(np.float64) for c in contours if cv2.contourArea(c) >= min_area]


def label_iou(polys: list[np.ndarray], mask: np.ndarray) -> float:
    """IoU between the label polygons (filled as the evaluators do) and the true mask."""
    m = np.zeros(mask.shape, np.uint8)
    for p in polys:
        cv2.fillPoly(m, [np.round(p).astype(np.int32)], 1)
    inter = np.logical_and(m, mask).sum()
    union = np.logical_or(m, mask).sum()
    return float(inter / union) if union else 0.0


def object_patch(obj: ObjectSpec) -> tuple[np.ndarray, np.ndarray]:
    """The object's box cut from its photo, and the object's mask inside it."""
    return cut_polygon(photo(obj.photo), obj.polygon, obj.box)


def cut_polygon(full: np.ndarray, polygon: np.ndarray, box) -> tuple[np.ndarray, np.ndarray]:
    """``box`` (x1, y1, x2, y2) cut from ``full``, and ``polygon``'s mask (uint8, anti-aliased
    edge) inside it."""
    # the box may reach past the photo's edge (an outline drawn to the border): cut it there
    x0, y0 = (max(0, int(np.floor(v))) for v in box[:2])
    x1, y1 = min(full.shape[1], int(np.ceil(box[2])) + 1), min(full.shape[0], int(np.ceil(box[3])) + 1)
    img = full[y0:y1, x0:x1]
    m = np.zeros(img.shape[:2], np.uint8)
    cv2.fillPoly(m, [np.round((polygon - [x0, y0]) * 16).astype(np.int32)], 1, cv2.LINE_AA, 4)
    return img, m


def ground_truth(meta: list[dict], boxes: list, name: str) -> tuple[list[dict], dict[str, str]]:
    """revisitop ``gnd`` entries and the pair -> label path table from per-image records (those
    with a "query" show that query's object, at their "category")."""
    gnd = [{"bbx": list(b), "easy": [], "hard": [], "junk": []} for b in boxes]
    pairs = {}
    for m in meta:
        if "query" in m:
            gnd[m["query"]][m["category"]].append(m["image"])
            if m["category"] != "junk":
                pairs[f"{m['query']}_{m['image']}"] = f"labels/{name}/{m['query']}_{m['image']}.json"
    return gnd, pairs


def write_ground_truth(base: Path, name: str, gnd: list[dict], n_images: int, pairs: dict, meta: dict) -> None:
    """The release files: revisitop ground truth, pair -> label table, and pixret's meta JSON."""
    doc = {"qimlist": [f"{name}_q{q:03d}" for q in range(len(gnd))],
           "imlist": [f"{name}_{i:06d}" for i in range(n_images)], "gnd": gnd}  # fmt: skip
    with atomic_open(base / "revisitop" / "data" / name / f"gnd_{name}.pkl", "wb") as fh:
        pickle.dump(doc, fh, protocol=4)
    save_npy(base / f"{name}_pair2labelpath.npy", pairs)
    write_json(base / f"{name}_meta.json", meta, indent=None)


LEVELS = {  # parameter ranges by intended difficulty
    "easy": dict(rel=(0.35, 0.7), rot=15, persp=(0.0, 0.06), occ=(0.3, 0.12), blur=(0, 0.8), q=(75, 95)),
    "hard": dict(rel=(0.22, 0.45), rot=55, persp=(0.04, 0.13), occ=(0.6, 0.3), blur=(0.4, 1.6), q=(60, 88)),
    "junk": dict(rel=(0.06, 0.13), rot=70, persp=(0.05, 0.2), occ=(0.7, 0.6), blur=(1.0, 2.5), q=(50, 80)),
}


def categorise(rel: float, rot: float, persp: float, visible: float, area: int, blur: float) -> str:
    if visible < 0.3 or area < 2500:
        return "junk"
    if rel < 0.3 or abs(rot) > 30 or persp > 0.08 or visible < 0.75 or blur > 1.2:
        return "hard"
    return "easy"


# ------------------------------------------------------------------ generation


class Task(NamedTuple):
    """One image to generate: a positive of ``query``, or a distractor (query None)."""

    kind: str  # "positive" or "distractor"
    image: int  # index in the database
    query: int | None = None


class _Writer:
    """Generates and writes one image (a task); forked workers share it."""

    def __init__(self, cfg: SyntheticConfig, objs: list[ObjectSpec], base: Path):
        self.cfg, self.objs, self.base = cfg, objs, base
        self.jpg = base / "revisitop" / "data" / cfg.name / "jpg"
        self.sources = [(n, None) for n in BACKGROUND_PHOTOS] + _unused_cells(objs)

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
        return cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, q])[1].tobytes(), blur, q

    def __call__(self, task: Task) -> dict:
        if task.kind == "positive":
            return self.write_positive(task.image, task.query)
        return self.write_distractor(task.image)

    def _scene(self, i: int) -> tuple[str, np.random.Generator, int, int, np.ndarray]:
        """Image i's name, its own random stream, its size and its cluttered background."""
        name = f"{self.cfg.name}_{i:06d}"
        rng = np.random.default_rng([self.cfg.seed, 2, i])
        w, h = SCENE_SIZES[rng.integers(len(SCENE_SIZES))]
        return name, rng, w, h, self._clutter(rng, background(rng, w, h, self.sources))

    def write_distractor(self, image: int) -> dict:
        """A scene without any query object."""
        name, rng, _, _, img = self._scene(image)
        data, _, _ = self._finish(rng, img, LEVELS["easy"])
        self._write(name, data)
        return {"kind": "distractor", "image": image}

    def write_positive(self, image: int, query: int) -> dict:
        """A scene with query ``query``'s object pasted in at a random difficulty, and its label."""
        name, rng, w, h, img = self._scene(image)
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
        polys = mask_polygons(visible_mask)
        fidelity = label_iou(polys, visible_mask)
        area, total = int(visible_mask.sum()), max(1, int(full.sum()))
        visible = area / total
        data, blur, quality = self._finish(rng, img, lv)
        cat = categorise(rel, rot, persp, visible, area, blur)
        self._write(name, data)
        if cat != "junk":
            rel_path = f"labels/{self.cfg.name}/{query}_{image}.json"
            write_labelme(self.base / rel_path, polys, w, h, image_path=f"{name}.jpg")
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
            if visible.sum() and label_iou(mask_polygons(visible), visible) >= MIN_LABEL_IOU:
                tex = _texture_crop(rng, img.shape[1], img.shape[0], self.sources)
                out = np.where(occ[..., None].astype(bool), tex, img)
                return out, visible
        return img, full

    def _write(self, name: str, data: bytes) -> None:
        with atomic_open(self.jpg / f"{name}.jpg", "wb") as fh:
            fh.write(data)


def make_benchmark(
    out: str | os.PathLike, cfg: SyntheticConfig, workers: int | None = None, progress: bool = True
) -> Path:
    """Write benchmark ``cfg.name`` in the release layout under ``out``; return the release folder.

    It is built in a folder beside and moved into place at the end (its ground truth last), so a
    failed or interrupted run leaves no partial benchmark behind."""
    def build(base: Path) -> None:
        _build(base, cfg, workers, progress)

    return build_beside(out, RELEASE_FOLDER, cfg.name, build, last=f"gnd_{cfg.name}.pkl")


def _build(base: Path, cfg: SyntheticConfig, workers: int | None, progress: bool) -> None:
    data = base / "revisitop" / "data" / cfg.name
    data.joinpath("jpg").mkdir(parents=True, exist_ok=True)
    objs = select_objects(cfg.queries, cfg.seed)
    writer = _Writer(cfg, objs, base)

    n_pos = cfg.queries * cfg.positives
    order = np.random.default_rng([cfg.seed, 1]).permutation(n_pos + cfg.distractors)
    tasks: list[Task] = []
    for slot, i in enumerate(order.tolist()):
        if slot < n_pos:
            tasks.append(Task("positive", i, slot // cfg.positives))
        else:
            tasks.append(Task("distractor", i))
    tasks.sort(key=lambda t: t.image)

    for o in objs:  # queries: the object's photo, its box, its mask
        qname = f"{cfg.name}_q{o.index:03d}"
        with atomic_open(data / "jpg" / f"{qname}.jpg", "wb") as fh:
            fh.write(cv2.imencode(".jpg", photo(o.photo), [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes())
        ph, pw = photo(o.photo).shape[:2]
        write_labelme(base / "queries" / cfg.name / f"{o.index}.json", [o.polygon], pw, ph, f"{qname}.jpg")

    workers = default_workers() if workers is None else workers
    meta = list(
        tqdm(pool_imap(writer, tasks, workers), total=len(tasks), desc=f"{cfg.name} images",
             unit="img", disable=not progress)
    )  # fmt: skip

    gnd, pairs = ground_truth(meta, [o.box for o in objs], cfg.name)
    for q, g in enumerate(gnd):
        if not g["hard"] or not (g["easy"] or g["hard"]):
            # every query needs hard positives for the Hard protocol: promote the hardest easy one
            easy = [m for m in meta if m.get("query") == q and m.get("category") == "easy"]
            if not g["hard"] and easy:
                hardest = min(easy, key=lambda m: m["scale"])
                g["easy"].remove(hardest["image"])
                g["hard"].append(hardest["image"])
                hardest["category"] = "hard"
    write_ground_truth(base, cfg.name, gnd, len(tasks), pairs,
                       {"config": asdict(cfg), "generator": "pixret.datasets.synthetic",
                        "objects": [{"query": o.index, "photo": o.photo, "box": o.box} for o in objs],
                        "images": meta})  # fmt: skip
