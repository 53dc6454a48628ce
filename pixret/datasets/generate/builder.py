"""The skeleton every benchmark builder shares, and the image operations they share.

A builder (``synthetic.SyntheticBuilder``, ``real.RealBuilder``) says only what differs: its
queries, its list of database images to make (tasks), how to make one, and its metadata.
``build`` does the rest, the same way for all::

    build beside (a temporary folder inside OUT)
      -> queries: their photos (JPEG) and labelme outlines
      -> database images: one task each, over worker processes (``Writer``)
      -> ground truth: revisitop gnd pickle, pair -> label table, meta JSON (the gnd last)
    -> merge into OUT/pixel_retrieval_benchmarks

Every image draws from its own seeded generator, so a seed gives the same bytes whatever the
number of workers; a failed or interrupted build leaves nothing half-made.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ...errors import PixretError
from ...io import atomic_open, save_npy, write_json
from ...parallel import default_workers, pool_imap, progress_bar
from ..archives import build_beside
from ..labelme import write_labelme
from ..release import RELEASE_FOLDER

# parameter ranges of a pasted object, by intended difficulty
LEVELS = {
    "easy": dict(rel=(0.35, 0.7), rot=15, persp=(0.0, 0.06), occ=(0.3, 0.12), blur=(0, 0.8), q=(75, 95)),
    "hard": dict(rel=(0.22, 0.45), rot=55, persp=(0.04, 0.13), occ=(0.6, 0.3), blur=(0.4, 1.6), q=(60, 88)),
    "junk": dict(rel=(0.06, 0.13), rot=70, persp=(0.05, 0.2), occ=(0.7, 0.6), blur=(1.0, 2.5), q=(50, 80)),
}


def categorise(rel: float, rot: float, persp: float, visible: float, area: int, blur: float) -> str:
    """easy / hard / junk from the measured difficulty of a pasted object."""
    if visible < 0.3 or area < 2500:
        return "junk"
    if rel < 0.3 or abs(rot) > 30 or persp > 0.08 or visible < 0.75 or blur > 1.2:
        return "hard"
    return "easy"


# ------------------------------------------------------------------ image operations


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


def label_iou(polys: list[np.ndarray], mask: np.ndarray) -> float:
    """IoU between label polygons (filled at whole pixels, as the release's scripts fill them)
    and the true mask: how exactly a label describes what was pasted."""
    m = np.zeros(mask.shape, np.uint8)
    for p in polys:
        cv2.fillPoly(m, [np.round(p).astype(np.int32)], 1)
    inter = np.logical_and(m, mask).sum()
    union = np.logical_or(m, mask).sum()
    return float(inter / union) if union else 0.0


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


def jpeg(img: np.ndarray, quality: int) -> bytes:
    return cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()


# ------------------------------------------------------------------ the skeleton


@dataclass
class QuerySpec:
    """A query: its photo (BGR), the object's outline in it, its box, and what the meta records."""

    photo: np.ndarray
    polygon: np.ndarray | list[np.ndarray]  # (n, 2) x, y; or several (the object is their union)
    box: tuple[float, float, float, float]
    quality: int  # JPEG quality of the query photo
    meta: dict = field(default_factory=dict)


class Writer:
    """Where a builder's database images and labels go (``base``: the release folder being
    built); it is what worker processes receive with each builder."""

    def __init__(self, builder: Builder, base: Path):
        self.builder, self.base = builder, base
        self.jpg = base / "revisitop" / "data" / builder.name / "jpg"

    def __call__(self, task: Any) -> dict:
        return self.builder.write(task, self)

    def image_name(self, i: int) -> str:
        return f"{self.builder.name}_{i:06d}"

    def write_image(self, i: int, data: bytes) -> None:
        with atomic_open(self.jpg / f"{self.image_name(i)}.jpg", "wb") as fh:
            fh.write(data)

    def write_label(self, query: int, i: int, polys: list[np.ndarray], w: int, h: int) -> None:
        rel = f"labels/{self.builder.name}/{query}_{i}.json"
        write_labelme(self.base / rel, polys, w, h, image_path=f"{self.image_name(i)}.jpg")


class Builder:
    """What a benchmark builder says; ``build`` does the rest (module docstring).

    ``write`` runs in worker processes: a builder must pickle (plain settings; photos are
    loaded by cached module-level functions)."""

    name: str
    generator: str  # module recorded in the meta

    def check(self) -> None:
        """Fail early (before any work) when something the build needs is missing."""

    def queries(self) -> list[QuerySpec]:
        raise NotImplementedError

    def tasks(self) -> list[Any]:
        """The database images to make, sorted by image index (``task.image``)."""
        raise NotImplementedError

    def write(self, task: Any, out: Writer) -> dict:
        """Make one database image (and its label); return its meta record. A record with
        "query" shows that query's object, at its "category" (easy, hard or junk)."""
        raise NotImplementedError

    def finish(self, gnd: list[dict], images: list[dict]) -> None:
        """Adjust the ground truth once every image is made (default: nothing)."""

    def meta(self, queries: list[QuerySpec], images: list[dict]) -> dict:
        raise NotImplementedError


def ground_truth(meta: list[dict], boxes: list, name: str) -> tuple[list[dict], dict[str, str]]:
    """revisitop ``gnd`` entries and the pair -> label path table from per-image records (those
    with a "query" show that query's object, at their "category"; a real photo may show several
    objects: "shows", a list of such {"query", "category"})."""
    gnd = [{"bbx": list(b), "easy": [], "hard": [], "junk": []} for b in boxes]
    pairs = {}
    for m in meta:
        for s in m.get("shows", [m] if "query" in m else []):
            gnd[s["query"]][s["category"]].append(m["image"])
            if s["category"] != "junk":
                pairs[f"{s['query']}_{m['image']}"] = f"labels/{name}/{s['query']}_{m['image']}.json"
    return gnd, pairs


def write_ground_truth(base: Path, name: str, gnd: list[dict], n_images: int, pairs: dict, meta: dict) -> None:
    """The release files: revisitop ground truth, pair -> label table, and pixret's meta JSON."""
    doc = {"qimlist": [f"{name}_q{q:03d}" for q in range(len(gnd))],
           "imlist": [f"{name}_{i:06d}" for i in range(n_images)], "gnd": gnd}  # fmt: skip
    with atomic_open(base / "revisitop" / "data" / name / f"gnd_{name}.pkl", "wb") as fh:
        pickle.dump(doc, fh, protocol=4)
    save_npy(base / f"{name}_pair2labelpath.npy", pairs)
    write_json(base / f"{name}_meta.json", meta, indent=None)


def build(out: str | os.PathLike, builder: Builder, workers: int | None = None, progress: bool = True) -> Path:
    """Write ``builder``'s benchmark in the release layout under ``out``; return the release folder.

    Built in a folder beside and moved into place at the end (its ground truth last), so a
    failed or interrupted run leaves no partial benchmark behind. A benchmark of that name
    already under ``out`` (or any part of one) is never replaced: PixretError naming it, before
    any work."""
    builder.check()
    existing = _already_there(Path(out) / RELEASE_FOLDER, builder.name)
    if existing is not None:
        raise PixretError(existing, f"a benchmark named {builder.name} is there already (or a part of one): "
                          "choose another name or folder, or move it away first; nothing was written")  # fmt: skip

    def make(base: Path) -> None:
        _build(base, builder, default_workers() if workers is None else workers, progress)

    return build_beside(out, RELEASE_FOLDER, builder.name, make, last=f"gnd_{builder.name}.pkl")


def _already_there(base: Path, name: str) -> Path | None:
    """The first file or folder of benchmark ``name`` under the release folder ``base`` (None: none)."""
    for rel in (f"revisitop/data/{name}", f"labels/{name}", f"queries/{name}", f"{name}_pair2labelpath.npy",
                f"{name}_meta.json"):  # fmt: skip
        if (base / rel).exists() or (base / rel).is_symlink():
            return base / rel
    return None


def _build(base: Path, builder: Builder, workers: int, progress: bool) -> None:
    name = builder.name
    data = base / "revisitop" / "data" / name
    data.joinpath("jpg").mkdir(parents=True, exist_ok=True)
    tasks = builder.tasks()
    queries = builder.queries()
    for q, spec in enumerate(queries):  # queries: the object's photo, its outline
        qname = f"{name}_q{q:03d}"
        with atomic_open(data / "jpg" / f"{qname}.jpg", "wb") as fh:
            fh.write(jpeg(spec.photo, spec.quality))
        h, w = spec.photo.shape[:2]
        polys = spec.polygon if isinstance(spec.polygon, list) else [spec.polygon]
        write_labelme(base / "queries" / name / f"{q}.json", polys, w, h, f"{qname}.jpg")
    images = list(
        progress_bar(pool_imap(Writer(builder, base), tasks, workers), total=len(tasks), desc=f"{name} images",
                     unit="img", enabled=progress)
    )  # fmt: skip
    gnd, pairs = ground_truth(images, [spec.box for spec in queries], name)
    builder.finish(gnd, images)
    write_ground_truth(base, name, gnd, len(tasks), pairs, builder.meta(queries, images))
