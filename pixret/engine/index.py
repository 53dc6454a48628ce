"""The on-disk index and the search pipeline: features -> shortlist -> verification -> masks.

Layout of an index folder::

    index.json          format, version, config, image count, skipped files, and the
                        generation folder that holds the data (written last, atomically)
    .lock               held by the one process writing the index (build, add)
    features/*.npz      per-image keypoints + descriptors (cache: resumable, keyed by file and
                        feature config; another folder can be shared between indexes)
    gen-*/              one generation of the index data:
      images.json       path, name, (w, h) per image
      vocab.npy         visual words (k x 128)
      he.npy            the projection of the Hamming-embedding signatures (64 x 128)
      packed/*.npy      all keypoints, words, signatures, descriptors (memory-mapped), per-image
                        offsets
      invfile.npz       the inverted file (CSR) and idf

A build or an add writes a new generation beside the current one and swaps ``index.json``
to it at the end: until then the old index stays whole and searchable, and a build that fails
or is killed changes nothing a reader sees. (An index of the first layout, with these files
in the folder itself, still opens.)
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import time
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import scipy.sparse as sp
from tqdm import tqdm

from .. import __version__
from ..evaluation.iou import fill_polygons
from ..io import PixretError, atomic_open, save_npy, write_json
from .config import EngineConfig
from .distributed import dask_client, dask_map, scheduler_address
from .features import Features, extract, extract_in_box, load_image
from .masks import Evidence, box_polygon, object_polygons, project, support_polygons, union
from .matchers import ImageSide, QuerySide, get_matcher
from .shortlist import InvertedFile, Quantizer, auto_vocab_size, split_words, train_vocabulary
from .verify import fit_pairs, shape_check

FORMAT, VERSION = "pixret-index", 1
MIN_VOCAB_FEATURES = 64
IMAGE_EXT = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


class IndexWarning(UserWarning):
    """An image was skipped while indexing."""


@dataclass
class Hit:
    """One result: a database image, its score and, when verified, where the object is."""

    index: int
    name: str
    path: str
    score: float
    inliers: int
    bow_score: float
    size: tuple[int, int]  # (w, h)
    homography: np.ndarray | None = None
    polygons: list[np.ndarray] = field(default_factory=list)  # the configured output (MaskConfig.output)
    box_polygons: list[np.ndarray] = field(default_factory=list)  # the query box, mapped
    tight_polygons: list[np.ndarray] = field(default_factory=list)  # hull of consensus inliers, mapped
    object_polygons: list[np.ndarray] = field(default_factory=list)  # the query's segmented object, mapped
    matches: np.ndarray | None = None  # (m, 4): query x, y -> result x, y of the inliers

    @property
    def verified(self) -> bool:
        return self.homography is not None

    @property
    def mask(self) -> np.ndarray:
        """Binary mask (h, w) of the default pixel output."""
        return fill_polygons(self.polygons, self.size[1], self.size[0], min_points=3)


@dataclass
class SearchResult:
    hits: list[Hit]  # verified (by inliers), then the rest of the shortlist (by tf-idf)
    ranking: np.ndarray  # every database index, best first
    timings: dict[str, float]
    query_support: list[np.ndarray]  # object outline in the query (source of the exported masks)


def list_images(folder: str | os.PathLike) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise PixretError(folder, "not a folder")
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXT and p.is_file())


def _cache_key(path: Path, cfg: EngineConfig) -> str:
    st = path.stat()
    ident = (
        f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{json.dumps(cfg.features.__dict__, sort_keys=True)}"
    )
    return hashlib.sha1(ident.encode()).hexdigest()[:20]


def _load_features(path: str) -> dict[str, np.ndarray]:
    """A cached feature file read into memory once (NpzFile re-reads a key on every access)."""
    with np.load(path) as z:
        return {"kpts": z["kpts"], "desc": z["desc"], "size": z["size"]}


def _cached(out: Path) -> tuple[int, int] | None:
    """The image size of a complete cache file; a truncated or damaged one is removed (and the
    image described again) instead of blocking every later build."""
    if not out.exists():
        return None
    try:
        z = _load_features(str(out))
        if z["kpts"].ndim != 2 or len(z["kpts"]) != len(z["desc"]) or z["size"].shape != (2,):
            raise ValueError("inconsistent arrays")
        return int(z["size"][0]), int(z["size"][1])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        out.unlink(missing_ok=True)
        return None


def _extract_one(job: tuple[Path, Path | None, EngineConfig, str]) -> tuple[str, tuple[int, int] | str]:
    """Worker: extract and cache one image's features; returns (cache file, size or error).
    ``job``: image, its cache file (None when the image could not be stat'ed), config, device."""
    path, out, cfg, device = job
    try:
        if out is None:
            _cache_key(path, cfg)  # raises the OSError to report
        rel = str(out)
        size = _cached(out)
        if size is not None:
            return rel, size
        cv2.setNumThreads(1)
        f = extract(load_image(path), cfg.features, device)
        with atomic_open(out, "wb") as fh:
            np.savez(fh, kpts=f.kpts, desc=f.desc, size=np.array(f.size))
        return rel, f.size
    except PixretError as exc:
        return "", exc.problem
    except OSError as exc:
        return "", str(exc)
    except cv2.error as exc:  # an image OpenCV cannot describe: skipped, not the whole run
        return "", f"feature extraction failed ({str(exc).strip().splitlines()[-1]})"


class Index:
    """A searchable image collection. ``Index.build(paths, cfg, dir)`` or ``Index.open(dir)``."""

    def __init__(self, root: Path, cfg: EngineConfig, images: list[dict], quantizer: Quantizer,
                 invfile: InvertedFile, kpts: np.ndarray, words: np.ndarray, desc: np.ndarray,
                 offsets: np.ndarray, skipped: list[dict], device: str | None = None,
                 sigs: np.ndarray | None = None):  # fmt: skip
        self.root, self.cfg, self.images = root, cfg, images
        self.device = engine_device(cfg, device)
        self.quantizer, self.invfile = quantizer, invfile
        self.kpts, self.words, self.desc, self.offsets = kpts, words, desc, offsets
        # signatures: stored by this version; computed here for an index built before them
        self.sigs = sigs if sigs is not None else _signatures(quantizer, desc, words)
        self.skipped = skipped
        self.data = root  # the folder holding this generation's files (set by open)
        self.generation: str | None = None

    # ------------------------------------------------------------ building
    @classmethod
    def build(
        cls, paths: list[str | os.PathLike], cfg: EngineConfig, root: str | os.PathLike,
        workers: int | None = None, progress: bool = True, features_dir: str | os.PathLike | None = None,
        device: str | None = None, scheduler: str | None = None,
    ) -> Index:  # fmt: skip
        """Index ``paths`` into folder ``root``. Features are cached in ``features_dir``
        (default ROOT/features): an interrupted build resumes, and indexes of the same
        images with the same feature config can share the folder. ``device`` (learned features
        only): auto, cpu or cuda.

        SIFT extraction runs on Dask (engine/distributed.py): the cluster at ``scheduler`` (or
        $PIXRET_DASK_SCHEDULER), else a local one with ``workers`` processes on 127.0.0.1;
        ``workers=1`` without a scheduler extracts in this process."""
        device = engine_device(cfg, device)
        root = Path(root)
        with writer_lock(root):
            return cls._build_locked(paths, cfg, root, workers, progress, features_dir, device, scheduler)

    @classmethod
    def _build_locked(cls, paths, cfg, root, workers, progress, features_dir, device, scheduler=None) -> Index:
        fdir = Path(features_dir) if features_dir else root / "features"
        images, skipped = _extract_all([Path(p) for p in paths], cfg, fdir, workers, progress, device, scheduler)
        if not images:
            where = f"any of the {len(paths)} given images" if paths else "an empty list of images"
            raise PixretError(root, f"no readable images to index in {where}; the index is unchanged")
        feats = [_load_features(im["cache"]) for im in images]
        desc_all = [z["desc"] for z in feats]
        n_desc = sum(len(d) for d in desc_all)
        if n_desc < MIN_VOCAB_FEATURES:
            raise PixretError(
                root, f"only {n_desc} features in {len(images)} images, too few for a vocabulary "
                "(texture-less or tiny images?); the index is unchanged",
            )  # fmt: skip
        k = cfg.shortlist.vocab_size or auto_vocab_size(len(images))
        t0 = time.perf_counter()
        centroids = train_vocabulary(np.concatenate(desc_all), k, cfg.shortlist.kmeans_iters)
        if progress:
            tqdm.write(
                f"vocabulary: {len(centroids)} words from {n_desc} descriptors in {time.perf_counter() - t0:.1f} s"
            )
        quantizer = Quantizer(centroids)
        return cls._assemble(root, cfg, images, skipped, quantizer, feats, progress, device)

    @classmethod
    def _assemble(cls, root, cfg, images, skipped, quantizer, feats, progress, device) -> Index:
        """Write a new generation beside the current one, then swap index.json to it."""
        gen = f"gen-{time.time_ns():x}"
        data = root / gen
        try:
            cls._write_data(data, images, quantizer, feats, progress, cfg)
            write_json(
                root / "index.json",
                {"format": FORMAT, "version": VERSION, "pixret": __version__, "config": cfg.as_dict(),
                 "n_images": len(images), "vocab_size": quantizer.size, "n_features": int(sum(len(z["kpts"]) for z in feats)),
                 "skipped": skipped, "generation": gen},
            )  # fmt: skip
        except BaseException:
            shutil.rmtree(data, ignore_errors=True)
            raise
        _remove_old_data(root, keep=gen)
        return cls.open(root, device)

    @staticmethod
    def _write_data(data: Path, images, quantizer, feats, progress, cfg: EngineConfig) -> None:
        split_bits = cfg.shortlist.split_bits
        save_npy(data / "vocab.npy", quantizer.centroids)
        save_npy(data / "he.npy", quantizer.projection)
        words = [
            quantizer.assign(z["desc"])
            for z in tqdm(feats, desc="assigning words", unit="img", disable=not progress, leave=False)
        ]
        kpts = np.concatenate([z["kpts"] for z in feats]).astype(np.float16 if cfg.compact else np.float32)
        desc = np.concatenate([z["desc"] for z in feats])  # uint8 RootSIFT or int8 learned
        offsets = np.concatenate([[0], np.cumsum([len(w) for w in words])]).astype(np.int64)
        wall = np.concatenate(words).astype(np.int32)
        sigs = _signatures(quantizer, desc, wall)
        fine = np.split(split_words(wall, sigs, split_bits), offsets[1:-1])
        inv = InvertedFile.build(fine, quantizer.size << split_bits, split_bits)
        if cfg.compact:  # verification works from signatures: no descriptors on disk
            desc = desc[:, :0]
        packed = data / "packed"
        for name, arr in (("kpts", kpts), ("desc", desc), ("words", wall), ("sigs", sigs), ("offsets", offsets)):
            save_npy(packed / f"{name}.npy", arr)
        m = inv.matrix
        with atomic_open(data / "invfile.npz", "wb") as fh:
            np.savez(
                fh, data=m.data, indices=m.indices, indptr=m.indptr, shape=np.array(m.shape), idf=inv.idf,
                split_bits=np.array(split_bits),
            )
        # the absolute path, and the path relative to the index folder: a collection moved
        # together with its index (or reached through another mount) is still found
        listing = [
            {
                **{k: im[k] for k in ("path", "name", "size", "cache")},
                "rel": os.path.relpath(im["path"], data.parent.resolve()),
            }
            for im in images
        ]
        write_json(data / "images.json", listing, indent=None)

    def add(
        self, paths: list[str | os.PathLike], workers: int | None = None, progress: bool = True,
        scheduler: str | None = None,
    ) -> Index:  # fmt: skip
        """Add images with the existing vocabulary; returns the reopened index.

        Refused when another process changed the index since this one was opened (its images
        would be lost): open it again and add then."""
        with writer_lock(self.root):
            if _generation(self.root) != self.generation:
                raise PixretError(
                    self.root, "the index changed since it was opened (another writer): open it again"
                )
            fdir = Path(self.images[0]["cache"]).parent if self.images else self.root / "features"
            new, skipped = _extract_all(
                [Path(p) for p in paths], self.cfg, fdir, workers, progress, self.device, scheduler
            )
            known = {im["cache"] for im in self.images}
            images = self.images + [im for im in new if im["cache"] not in known]
            feats = [_load_features(im["cache"]) for im in images]
            return self._assemble(
                self.root,
                self.cfg,
                images,
                self.skipped + skipped,
                self.quantizer,
                feats,
                progress,
                self.device,
            )

    # ------------------------------------------------------------ opening
    @classmethod
    def open(cls, root: str | os.PathLike, device: str | None = None) -> Index:
        """Load an index; ``device`` (learned features only): auto (CUDA when present), cpu, cuda."""
        root = Path(root)
        meta_path = root / "index.json"
        if not meta_path.exists():
            hint = (
                "half-written (interrupted?): build it again"
                if (root / "features").exists()
                else "not an index"
            )
            raise PixretError(root, f"no index.json: {hint}")
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError, RecursionError):  # JSON, or not even text
            raise PixretError(meta_path, "unreadable index metadata") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("version") != VERSION:
            meta = meta if isinstance(meta, dict) else {}
            raise PixretError(
                root, f"index format {meta.get('format')} v{meta.get('version')} (pixret {meta.get('pixret')}); "
                f"this pixret reads {FORMAT} v{VERSION}: build the index again",
            )  # fmt: skip
        gen = meta.get("generation")
        data = root / gen if isinstance(gen, str) and gen.startswith("gen-") and "/" not in gen else root
        try:
            cfg = EngineConfig.from_dict(meta["config"])
            images = json.loads((data / "images.json").read_text())
            he = data / "he.npy"
            quantizer = Quantizer(np.load(data / "vocab.npy"), np.load(he) if he.exists() else None)
            with np.load(data / "invfile.npz") as z:
                m = sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(z["shape"]))
                inv = InvertedFile(m, z["idf"], int(z["split_bits"]) if "split_bits" in z else 0)
            packed = data / "packed"
            # per-image slices are read at search time: memory-mapped, as the descriptors
            kpts = np.load(packed / "kpts.npy", mmap_mode="r")
            words = np.load(packed / "words.npy", mmap_mode="r")
            offsets = np.load(packed / "offsets.npy")
            desc = np.load(packed / "desc.npy", mmap_mode="r")
            sigs = np.load(packed / "sigs.npy", mmap_mode="r") if (packed / "sigs.npy").exists() else None
            n_images = int(meta["n_images"])
        except Exception as exc:  # noqa: BLE001 - zip, numpy and scipy each fail their own way on damaged files
            raise PixretError(root, f"damaged index ({type(exc).__name__}: {exc}): build it again") from None
        problem = _inconsistent(images, n_images, inv, kpts, words, desc, offsets, quantizer.size)
        if not problem and sigs is not None and (sigs.shape != words.shape or sigs.dtype != np.uint64):
            problem = "signatures and words differ in number"
        if problem:
            raise PixretError(root, f"damaged index ({problem}): build it again")
        index = cls(
            root, cfg, images, quantizer, inv, kpts, words, desc, offsets, meta.get("skipped", []), device, sigs
        )
        index.data, index.generation = data, gen
        return index

    def __len__(self) -> int:
        return len(self.images)

    def _locate(self, i: int) -> Path | None:
        im = self.images[i]
        p = Path(im["path"])
        if p.is_file():
            return p
        rel = im.get("rel")
        if rel and (self.root / rel).is_file():
            return self.root / rel
        return None

    def image_path(self, i: int) -> Path:
        """Where database image ``i`` is now: its absolute path from indexing, else the same place
        relative to the index folder (both moved together); a clear error when neither exists."""
        p = self._locate(i)
        if p is None:
            im = self.images[i]
            raise PixretError(
                im["path"], f"image {i} ({im['name']}) is missing: moved or deleted since indexing. If the "
                "collection moved, keep the index in the same place beside it, or index the folder again",
            )  # fmt: skip
        return p

    def memory_bytes(self) -> int:
        """Bytes the loaded index keeps in RAM (per-feature arrays stay memory-mapped on disk)."""
        resident = [a for a in (self.kpts, self.words, self.sigs) if not isinstance(a, np.memmap)]
        return int(self.invfile.nbytes() + self.offsets.nbytes + self.quantizer.centroids.nbytes
                   + sum(a.nbytes for a in resident))  # fmt: skip

    def features(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        a, b = self.offsets[i], self.offsets[i + 1]
        return np.asarray(self.kpts[a:b], np.float32), np.asarray(self.words[a:b]), np.asarray(self.desc[a:b])

    def side(self, i: int) -> ImageSide:
        """Image i as a matcher sees it (matchers.py)."""
        kpts, words, desc = self.features(i)
        a, b = self.offsets[i], self.offsets[i + 1]
        return ImageSide(kpts, desc, words, tuple(self.images[i]["size"]), np.asarray(self.sigs[a:b]))

    # ------------------------------------------------------------ searching
    def search(self, image: np.ndarray | str | os.PathLike, box, top: int = 20) -> list[Hit]:
        """The best ``top`` hits for the object in ``box`` (x1, y1, x2, y2) of ``image``."""
        return self.search_full(image, box).hits[:top]

    def search_full(
        self, image: np.ndarray | str | os.PathLike, box, query_features: Features | None = None
    ) -> SearchResult:
        """Search and return hits, the full ranking, timings and the query-side object outline."""
        t = {"start": time.perf_counter()}
        img = load_image(image) if not isinstance(image, np.ndarray) else image
        box = check_box(box, img.shape[1], img.shape[0])
        feats = query_features or extract_in_box(img, box, self.cfg, device=self.device)
        qf = feats.select(feats.in_box(box))
        if len(qf) < 4:
            raise PixretError(
                None,
                f"only {len(qf)} features inside the box {format_box(box)}: draw a larger box on a textured object",
            )
        t["features"] = time.perf_counter()
        cfg = self.cfg
        qwords = qsigs = None
        if cfg.verify.matching != "ratio" or not cfg.exhaustive:
            qwords = self.quantizer.assign(qf.desc, max(1, cfg.verify.query_words))
            qwords = qwords if qwords.ndim == 2 else qwords[:, None]
            qsigs = self.quantizer.signatures(qf.desc, qwords)
        if cfg.exhaustive:
            bow = np.zeros(len(self))
            cand = np.arange(len(self))
        else:
            bow = self.invfile.scores(split_words(qwords[:, 0], qsigs[:, 0], self.invfile.split_bits))
            k = min(cfg.shortlist.top_k, len(self))
            cand = np.argpartition(-bow, k - 1)[:k] if k < len(self) else np.arange(len(self))
            cand = cand[np.argsort(-bow[cand], kind="stable")]
            cand = cand[bow[cand] > 0]
        t["shortlist"] = time.perf_counter()
        checks = {}
        check = shape_check(cfg)
        # the configured matcher on the first shortlisted images (all of them for words and
        # ratio); the learned matchers hand the rest of the shortlist to words
        primary = cfg.verify.matching
        fallback = "ratio" if primary == "ratio" else "words"
        n_first = cfg.verify.matcher_top_k if primary in ("mnn", "lightglue") else len(cand)
        query = QuerySide(qf.kpts, qf.desc, qwords, qf.view, box, qsigs)
        sides = [self.side(int(i)) for i in cand]
        pairs = get_matcher(primary)(query, sides[:n_first], cfg, self.device)
        if len(cand) > n_first:
            pairs += get_matcher(fallback)(query, sides[n_first:], cfg, self.device)
        for i, side, (qi, di) in zip(cand.tolist(), sides, pairs, strict=True):
            v = fit_pairs(qi, di, qf.kpts, side.kpts, cfg.verify, max(side.size), check)
            if v is not None:
                checks[i] = (v, side.kpts[v.db_idx, :2])
        t["verify"] = time.perf_counter()
        votes = np.zeros(len(qf), np.int32)
        for v, _ in checks.values():
            votes[np.unique(v.query_idx)] += 1
        evidence = Evidence(qf.kpts, votes, box, len(checks))
        support = support_polygons(evidence, cfg.mask)
        outline = support
        if cfg.mask.output == "object" and checks:
            outline = union(object_polygons(img, evidence, cfg.mask), support)
        hits = []
        for i, (v, db_xy) in sorted(checks.items(), key=lambda kv: (-kv[1][0].inliers, -bow[kv[0]], kv[0])):
            im = self.images[i]
            w, h = im["size"]
            box_poly = project([box_polygon(box)], v.homography, w, h)
            tight = project(support, v.homography, w, h) if support else box_poly
            if outline is support:  # no segmentation: the object outline is the hull
                obj = tight
            else:
                obj = project(outline, v.homography, w, h) if outline else box_poly
            matches = np.hstack([qf.kpts[v.query_idx, :2], db_xy])
            hits.append(
                Hit(
                    index=i, name=im["name"], path=str(self._locate(i) or im["path"]), score=float(v.inliers),
                    inliers=v.inliers, bow_score=float(bow[i]), size=(w, h), homography=v.homography,
                    polygons={"object": obj, "tight": tight, "box": box_poly}[cfg.mask.output],
                    box_polygons=box_poly, tight_polygons=tight, object_polygons=obj, matches=matches,
                )
            )  # fmt: skip
        verified = np.array([hit.index for hit in hits], np.int64)
        rest = np.setdiff1d(np.arange(len(self)), verified)
        rest = rest[np.argsort(-bow[rest], kind="stable")]
        for i in rest[: max(0, len(cand) - len(hits))]:
            im = self.images[int(i)]
            hits.append(
                Hit(
                    index=int(i), name=im["name"], path=str(self._locate(int(i)) or im["path"]),
                    score=float(bow[i]), inliers=0, bow_score=float(bow[i]), size=tuple(im["size"]),
                )
            )  # fmt: skip
        t["masks"] = time.perf_counter()
        timings = {k: t[k] - t[p] for p, k in zip(["start", "features", "shortlist", "verify"],
                                                  ["features", "shortlist", "verify", "masks"], strict=True)}  # fmt: skip
        timings["total"] = t["masks"] - t["start"]
        return SearchResult(hits, np.concatenate([verified, rest]), timings, outline)


def engine_device(cfg: EngineConfig, device: str | None) -> str:
    """The torch device of a learned-feature engine ("cpu" for SIFT, which never uses torch)."""
    if cfg.features.kind == "sift":
        return "cpu"
    from .learned.models import resolve_device

    return resolve_device(device)


def parse_box(box) -> tuple[float, float, float, float]:
    """A box from "x1,y1,x2,y2" text or a sequence of 4 numbers (the one parser: CLI, API, engine)."""
    parts = box.split(",") if isinstance(box, str) else box
    try:
        vals = tuple(float(v) for v in parts)
    except (TypeError, ValueError):
        raise PixretError(None, f"box must be 4 numbers x1,y1,x2,y2, got {box!r}") from None
    if len(vals) != 4:
        raise PixretError(None, f"box must be 4 numbers x1,y1,x2,y2, got {len(vals)}: {box!r}")
    return vals


def format_box(box) -> str:
    """A box as a person reads it: "60, 220, 300, 410" (whole pixels, as the page shows it)."""
    return ", ".join(f"{round(float(v)):d}" if np.isfinite(float(v)) else str(v) for v in box)


MIN_QUERY_SIDE = 16  # pixels: below this no feature can be found


def check_box(box, w: int, h: int) -> tuple[float, float, float, float]:
    """Validate a query box and clip it to the image; clear errors for empty or outside boxes."""
    if min(w, h) < MIN_QUERY_SIDE:
        raise PixretError(
            None, f"the {w}x{h} query image is too small to search (at least {MIN_QUERY_SIDE} px a side)"
        )
    x1, y1, x2, y2 = parse_box(box)
    if not all(np.isfinite([x1, y1, x2, y2])):
        raise PixretError(None, f"box {format_box((x1, y1, x2, y2))} has a non-finite value")
    if x2 <= x1 or y2 <= y1:
        raise PixretError(None, f"box {format_box((x1, y1, x2, y2))} is empty (needs x2 > x1 and y2 > y1)")
    if x2 <= 0 or y2 <= 0 or x1 >= w or y1 >= h:
        raise PixretError(None, f"box {format_box((x1, y1, x2, y2))} lies outside the {w}x{h} query image")
    return max(0.0, x1), max(0.0, y1), min(float(w), x2), min(float(h), y2)


def _extract_all(
    paths, cfg, cache: Path, workers, progress, device, scheduler: str | None = None
) -> tuple[list[dict], list[dict]]:
    cache = cache.resolve()
    cache.mkdir(parents=True, exist_ok=True)
    jobs = [(p, _cache_file(p, cache, cfg), cfg, device) for p in paths]
    images, skipped = [], []
    todo = [k for k, (_, out, _, _) in enumerate(jobs) if out is None or not out.exists()]
    distributed = cfg.features.kind == "sift" and todo and (scheduler_address(scheduler) or workers != 1)
    if distributed:  # the images not cached yet, on Dask; the cached ones are checked here
        with dask_client(scheduler, workers) as client:
            done = dask_map(_extract_one, [jobs[k] for k in todo], client, "features", "img", progress)
        fresh = dict(zip(todo, done, strict=True))
        results = [fresh[k] if k in fresh else _extract_one(j) for k, j in enumerate(jobs)]
    else:  # one process (learned: torch spreads each image over the cores, or the GPU)
        results = list(tqdm(map(_extract_one, jobs), total=len(jobs), desc="features", unit="img",
                            disable=not progress or not todo))  # fmt: skip
    for (p, _, _, _), (out, res) in zip(jobs, results, strict=True):
        if not out:
            skipped.append({"path": str(p), "reason": str(res)})
            warnings.warn(f"{p}: skipped ({res})", IndexWarning, stacklevel=3)
            continue
        images.append({"path": str(p.resolve()), "name": p.stem, "size": list(res), "cache": out})
    return images, skipped


def _signatures(quantizer: Quantizer, desc: np.ndarray, words: np.ndarray, chunk: int = 200_000) -> np.ndarray:
    """Every feature's signature in its word, in chunks (descriptors may be memory-mapped)."""
    out = np.zeros(len(words), np.uint64)
    for a in range(0, len(words), chunk):
        out[a : a + chunk] = quantizer.signatures(np.asarray(desc[a : a + chunk]), words[a : a + chunk])
    return out


def _cache_file(path: Path, cache: Path, cfg: EngineConfig) -> Path | None:
    """The image's feature cache file (None when it cannot be stat'ed: its worker reports why)."""
    try:
        return cache / f"{_cache_key(path, cfg)}.npz"
    except OSError:
        return None


def _inconsistent(images, n_images, inv, kpts, words, desc, offsets, vocab_size) -> str:
    """What is wrong with an index's arrays ('' when they agree): checked on open, since a
    damaged file would otherwise give wrong results or an IndexError in the middle of a search."""
    if not isinstance(images, list) or not all(
        isinstance(im, dict) and {"path", "name", "size"} <= set(im) for im in images
    ):
        return "images.json is not a list of images"
    if len(images) != n_images or len(offsets) != n_images + 1 or inv.n_images != n_images:
        return "the files disagree on the image count"
    if offsets.ndim != 1 or (len(offsets) and (offsets[0] != 0 or (np.diff(offsets) < 0).any())):
        return "per-image offsets are not increasing from 0"
    n = int(offsets[-1]) if len(offsets) else 0
    if not (len(kpts) == len(words) == len(desc) == n):
        return "keypoints, words and descriptors differ in number"
    if len(words) and (words.min() < 0 or words.max() >= vocab_size):
        return f"a word id outside 0..{vocab_size - 1}"
    if inv.matrix.shape[0] != vocab_size << inv.split_bits or len(inv.idf) != inv.matrix.shape[0]:
        return "the inverted file and the vocabulary differ in size"
    return ""


@contextlib.contextmanager
def writer_lock(root: Path):
    """Hold ROOT/.lock while writing the index; a second writer is refused with a message
    (two builds into one folder would each report success, and the last one would win)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            who = fh.read().strip() or "another process"
            raise PixretError(
                root, f"{who} is writing this index: wait for it to finish, or use another folder"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pixret process {os.getpid()}")
        fh.flush()
        try:
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh, fcntl.LOCK_UN)


def _generation(root: Path) -> str | None:
    """The generation index.json names (None: no index, or the first layout)."""
    try:
        meta = json.loads((root / "index.json").read_text())
    except (OSError, ValueError):
        return None
    return meta.get("generation") if isinstance(meta, dict) else None


_FIRST_LAYOUT = ("images.json", "vocab.npy", "invfile.npz", "packed")


def _remove_old_data(root: Path, keep: str) -> None:
    """After the swap: drop earlier generations (and the first layout's files, and any left by a
    killed build); readers that still map them keep their open files."""
    for p in root.glob("gen-*"):
        if p.name != keep and p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
    for name in _FIRST_LAYOUT:
        p = root / name
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        elif p.exists():
            p.unlink()
