"""A real-landmark pixel retrieval benchmark, labelled as PROxford is, in the release layout.

Photos (real views only, no composites), fetched from their upstream addresses or read from a
folder holding copies (``photos``: the same relative paths), each checked by its sha256:

- Strecha et al. (CVPR 2008), six outdoor 3D scenes (openMVG/SfM_quality_evaluation on GitHub):
  a wall fountain, the Herz-Jesus church facade and its courtyard, a castle courtyard, a doorway;
  3072x2048 JPEGs, used at 1024 px on the long side (cv2.INTER_AREA, JPEG quality 92: the frame
  the labels were drawn in; a copy already made that way is accepted by its own sha256);
- danini/magsac's homography pairs (real photos of the Boston library, Brugge's church tower and
  square, the Eiffel tower...), used as they are.

Each landmark (``landmark_labels/landmarks.tsv``) has a query photo, a clear view of the whole
object, whose box is the tight box of the object's outline there, and a decision for every
other photo of its scene: easy, hard, junk (Revisited Oxford's definitions) or none. Every easy
and hard photo has a hand-drawn labelme outline of the part of the object that lay in the
query box, large occluders and see-through openings cut out
(``landmark_labels/LANDMARK__SCENE__PHOTO.json``; several polygons where an occluder splits the
object; conventions in the project's labelling notes). Query photos are not in the database
(as in Revisited Oxford, whose 4,993 database images are Oxford 5k's less its 70 queries), and a
photo published twice upstream (ten castle-P30 files repeat castle-P19's) is used once. The
other photos are every landmark's negatives: other buildings, other sides of the same
courtyard, planar scenes.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from ...errors import PixretError
from ...fetch import fetch_url
from ...geometry import fill_polygons
from ...imageio import decode_image
from ..labelme import read_labelme
from .builder import Builder, QuerySpec, Writer, build, jpeg

LABELS_DIR = Path(__file__).with_name("landmark_labels")
RESIZE_QUALITY = 92  # JPEG quality of a photo resized to the labels' frame
ROLES = ("query", "easy", "hard", "junk", "none")


@dataclass(frozen=True)
class LandmarkConfig:
    """What to build: the dataset's name, where the photos are (``photos``: a folder with the
    layout of photos.tsv, e.g. strecha/castle-P30/0007.jpg; None: download them into ``cache``,
    default $PIXRET_CACHE/photos or ~/.cache/pixret/photos, from their upstream addresses or
    from ``mirror``, a base URL laid out as that folder), and the seed of the image order."""

    name: str = "landmarks"
    photos: str | None = None
    cache: str | None = None
    mirror: str | None = None
    seed: int = 0


class Photo(NamedTuple):
    """A photo: its path relative to the photo folder, its upstream address, the sha256 of the
    upstream file, the sha256 of the copy resized to ``max_side`` (labels' frame; "" when used
    as it is) and that side (0: as it is)."""

    ref: str
    url: str
    sha256: str
    sha256_resized: str
    max_side: int


class Landmark(NamedTuple):
    """A query object: its name, query photo, and the role of every other photo deciding on it."""

    name: str
    query: str
    roles: dict[str, str]  # photo -> easy | hard | junk | none


def _tsv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader((line for line in fh if not line.startswith("#")), delimiter="\t"))


@functools.cache
def photos() -> dict[str, Photo]:
    """Every photo the benchmark may use, by reference (``photos.tsv``)."""
    return {r["photo"]: Photo(r["photo"], r["url"], r["sha256"], r["sha256_resized"], int(r["max_side"]))
            for r in _tsv(LABELS_DIR / "photos.tsv")}  # fmt: skip


@functools.cache
def landmarks() -> tuple[Landmark, ...]:
    """The landmarks, in the order of their first row in ``landmarks.tsv``."""
    table: dict[str, Landmark] = {}
    known = photos()
    for k, r in enumerate(_tsv(LABELS_DIR / "landmarks.tsv"), start=2):
        name, ref, role = r["landmark"], r["photo"], r["role"]
        if role not in ROLES or ref not in known:
            raise PixretError(LABELS_DIR / "landmarks.tsv", f"line {k}: unknown role {role!r} or photo {ref!r}")
        lm = table.setdefault(name, Landmark(name, "", {}))
        if role == "query":
            table[name] = lm = lm._replace(query=ref)
        else:
            lm.roles[ref] = role
    for lm in table.values():
        if not lm.query:
            raise PixretError(LABELS_DIR / "landmarks.tsv", f"landmark {lm.name} has no query photo")
    return tuple(table.values())


def unique_photos() -> list[str]:
    """The photos once each: a file published twice upstream (same sha256) is kept at its first
    reference in sorted order."""
    seen, out = set(), []
    for ref in sorted(photos()):
        if photos()[ref].sha256 not in seen:
            seen.add(photos()[ref].sha256)
            out.append(ref)
    return out


def duplicates() -> dict[str, str]:
    """Each photo published again upstream -> the reference kept for it."""
    first: dict[str, str] = {}
    out = {}
    for ref in sorted(photos()):
        p = photos()[ref]
        if p.sha256 in first:
            out[ref] = first[p.sha256]
        else:
            first[p.sha256] = ref
    return out


# ------------------------------------------------------------------ photos


def default_cache() -> Path:
    return Path(os.environ.get("PIXRET_CACHE") or Path.home() / ".cache" / "pixret") / "photos"


def photo_file(ref: str, folder: str | None, cache: str | None, progress: bool = False,
               mirror: str | None = None) -> Path:  # fmt: skip
    """The file of photo ``ref``: in ``folder`` (a copy, upstream or resized), else in the
    download cache, fetched from upstream (or ``mirror`` + "/" + ``ref``) when missing
    (resumable; sha256-checked by ``photo_bytes``). PixretError names what is missing or
    unreachable."""
    if folder is not None:
        path = Path(folder) / ref
        if not path.is_file():
            raise PixretError(path, f"photo {ref} not found in {folder} (the folder holds the upstream layout, "
                              "e.g. strecha/castle-P30/0007.jpg; leave out --photos to download them)")  # fmt: skip
        return path
    path = Path(cache) / ref if cache else default_cache() / ref
    if not path.is_file():
        fetch_url(f"{mirror.rstrip('/')}/{ref}" if mirror else photos()[ref].url, path, progress=progress)
    return path


@functools.cache
def photo_bytes(ref: str, folder: str | None, cache: str | None) -> bytes:
    """The photo as the labels see it: JPEG (or PNG) bytes in the labels' pixel frame. An
    upstream file is checked by its sha256 and, for the Strecha scenes, resized to 1024 px; a
    resized copy is accepted by its own sha256. Anything else is refused in one line."""
    p = photos()[ref]
    path = photo_file(ref, folder, cache)
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if p.sha256_resized and digest == p.sha256_resized:
        return data
    if digest != p.sha256:
        where = "" if folder is not None else "; delete it to download it again"
        raise PixretError(path, f"is not the photo the labels were drawn on (sha256 {digest[:12]}..., expected "
                          f"{p.sha256[:12]}... upstream{' or ' + p.sha256_resized[:12] + '... resized' if p.sha256_resized else ''}){where}")  # fmt: skip
    if not p.max_side:
        return data
    img = decode_image(data, path)
    s = p.max_side / max(img.shape[:2])
    small = cv2.resize(img, (round(img.shape[1] * s), round(img.shape[0] * s)), interpolation=cv2.INTER_AREA)
    return jpeg(small, RESIZE_QUALITY)


def photo(ref: str, folder: str | None, cache: str | None) -> np.ndarray:
    return decode_image(photo_bytes(ref, folder, cache), ref)


def label_path(landmark: str, ref: str) -> Path:
    parts = Path(ref).parts
    scene = parts[-2] if parts[0] == "strecha" else parts[0]
    return LABELS_DIR / f"{landmark}__{scene}__{Path(ref).stem}.json"


def outline(landmark: str, ref: str, size: tuple[int, int]) -> list[np.ndarray]:
    """The hand-drawn polygons of ``landmark`` in photo ``ref`` (w, h = ``size``), checked."""
    path = label_path(landmark, ref)
    shapes = read_labelme(path)
    if (shapes.width, shapes.height) != size or not shapes.polygons:
        raise PixretError(path, f"expected polygons on a {size[0]}x{size[1]} photo")
    return [np.asarray(p, np.float64) for p in shapes.polygons]


def mask_area(polys: list[np.ndarray], w: int, h: int) -> float:
    """Pixels of the union of filled polygons (the label's object) in a w x h image."""
    return float(fill_polygons(polys, h, w).sum())


# ------------------------------------------------------------------ the builder


class Task(NamedTuple):
    image: int
    ref: str


class LandmarkBuilder(Builder):
    """The landmark benchmark: builder.py's skeleton over the labelled photos."""

    generator = "pixret.datasets.generate.landmarks"

    def __init__(self, cfg: LandmarkConfig, progress: bool = False):
        self.cfg, self.name, self.progress = cfg, cfg.name, progress

    def _photo(self, ref: str) -> np.ndarray:
        return photo(ref, self.cfg.photos, self.cfg.cache)

    def check(self) -> None:
        """Every photo there (downloaded now if need be) and right, every outline readable."""
        from ...parallel import progress_bar

        for ref in progress_bar(unique_photos(), desc="landmark photos", unit="photo", enabled=self.progress):
            photo_file(ref, self.cfg.photos, self.cfg.cache, self.progress, self.cfg.mirror)
            photo_bytes(ref, self.cfg.photos, self.cfg.cache)
        dropped = duplicates()
        for lm in landmarks():
            for ref, role in [(lm.query, "query"), *lm.roles.items()]:
                if role in ("query", "easy", "hard") and ref not in dropped:
                    img = self._photo(ref)
                    outline(lm.name, ref, (img.shape[1], img.shape[0]))

    def queries(self) -> list[QuerySpec]:
        specs = []
        for q, lm in enumerate(landmarks()):
            img = self._photo(lm.query)
            h, w = img.shape[:2]
            polys = outline(lm.name, lm.query, (w, h))  # several where openings are cut out
            pts = np.concatenate(polys)
            x0, y0 = np.maximum(pts.min(0), 0)
            x1, y1 = np.minimum(pts.max(0), [w - 1, h - 1])
            box = (float(x0), float(y0), float(x1), float(y1))  # the tight box of the object
            fill = mask_area(polys, w, h) / max(1.0, (x1 - x0) * (y1 - y0))
            specs.append(QuerySpec(img, polys, box, 95, {"query": q, "landmark": lm.name, "photo": lm.query,
                                                          "box": list(box), "fills_box": round(float(fill), 3)}))  # fmt: skip
        return specs

    def tasks(self) -> list[Task]:
        queries = {lm.query for lm in landmarks()}
        refs = [r for r in unique_photos() if r not in queries]
        order = np.random.default_rng([self.cfg.seed, 1]).permutation(len(refs))
        return sorted((Task(int(i), r) for r, i in zip(refs, order, strict=True)), key=lambda t: t.image)

    def write(self, task: Task, out: Writer) -> dict:
        """The photo (bytes as the labels see them; a PNG is encoded as JPEG at quality 95), its
        outline for every landmark it shows (easy or hard), and its roles."""
        data = photo_bytes(task.ref, self.cfg.photos, self.cfg.cache)
        img = decode_image(data, task.ref)
        h, w = img.shape[:2]
        out.write_image(task.image, data if data[:2] == b"\xff\xd8" else jpeg(img, 95))
        shows = []
        for q, lm in enumerate(landmarks()):
            role = lm.roles.get(task.ref, "none")
            if role in ("easy", "hard"):
                out.write_label(q, task.image, outline(lm.name, task.ref, (w, h)), w, h)
            if role != "none":
                shows.append({"query": q, "category": role})
        return {"kind": "view", "image": task.image, "photo": task.ref, "shows": shows}

    def meta(self, queries: list[QuerySpec], images: list[dict]) -> dict:
        cfg = asdict(self.cfg)
        for where in ("photos", "cache", "mirror"):  # where the photos were is not what was built
            cfg.pop(where)
        return {"config": cfg, "generator": self.generator, "queries": [q.meta for q in queries],
                "images": images, "duplicates_dropped": duplicates()}  # fmt: skip


def make_landmark_benchmark(
    out: str | os.PathLike, cfg: LandmarkConfig = LandmarkConfig(), workers: int | None = None, progress: bool = True
) -> Path:
    """Write the landmark benchmark ``cfg.name`` in the release layout under ``out`` (photos
    fetched first when ``cfg.photos`` is None); builder.build: built beside, moved into place."""
    return build(out, LandmarkBuilder(cfg, progress), workers, progress)

