"""The on-disk index and the search pipeline: features -> shortlist -> verification -> masks.

Layout of an index folder::

    index.json          format, version, config, image count, skipped files, and the
                        generation folder that holds the data (written last, atomically)
    .lock               held by the one process writing the index (build, add)
    features/*.npz      per-image keypoints + descriptors (cache: resumable, keyed by file and
                        feature config; another folder can be shared between indexes)
    shards/s-*/         immutable shards of consecutive images: features, words, signatures and
                        a compact inverted file (engine/shards.py; named by their inputs)
    work/               a build's vocabulary while it runs (a resumed build reuses it)
    gen-*/              one generation of the index:
      images.jsonl      path, name, (w, h) per image, with images-offsets.npy (catalog.py)
      quantizer.npz     visual words (k x 128), the signatures' projection (128 x 64) and the
                        word-assignment index as trained (workers and readers share it)
      shards.json       the shards, in image order
      idf.npy, norms.npy  idf per fine word, tf-idf norm per image (they change with the collection)

A build or an add writes new shards and a new generation beside the current one and swaps
``index.json`` to it at the end: until then the old index stays whole and searchable, and a
build that fails or is killed changes nothing a reader sees. The build stages (engine/build.py)
run on Dask or in one process and give the same bytes either way.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._version import __version__
from ..errors import PixretError
from ..geometry import Box, box_polygon, fill_polygons
from ..imageio import as_image
from ..io import save_npy, write_json
from .build import build_shards, extract_all, save_quantizer, vocabulary
from .catalog import Catalog, as_records, write_catalog
from .config import EngineConfig
from .distributed import Runner
from .features import Features, extract_in_box
from .masks import Evidence, object_polygons, project, support_polygons, union
from .matchers import ImageSide, QuerySide, get_matcher
from .shards import Shard, ShardSet, global_idf
from .shortlist import Quantizer, auto_top_k, split_words
from .verify import fit_pairs, shape_check

FORMAT, VERSION = "pixret-index", 2
SHARD_NAME = re.compile(r"s-[0-9a-f]{20}")


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


class Index:
    """A searchable image collection. ``Index.build(paths, cfg, dir)`` or ``Index.open(dir)``."""

    def __init__(self, root: Path, cfg: EngineConfig, images: Catalog, quantizer: Quantizer, shards: ShardSet,
                 skipped: list[dict], device: str | None = None):  # fmt: skip
        self.root, self.cfg, self.images = root, cfg, images
        self.device = engine_device(cfg, device)
        self.quantizer, self.shards, self.skipped = quantizer, shards, skipped
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

        The stages run on Dask (engine/build.py): the cluster at ``scheduler`` (or
        $PIXRET_DASK_SCHEDULER), else a local one with ``workers`` processes on 127.0.0.1;
        ``workers=1`` without a scheduler runs them in this process."""
        device = engine_device(cfg, device)
        root = Path(root)
        fdir = Path(features_dir) if features_dir else root / "features"
        with Runner(scheduler, workers, progress, size=len(paths)) as runner, writer_lock(root):
            images, skipped = extract_all([Path(p) for p in paths], cfg, fdir, runner, device)
            if not images:
                where = f"any of the {len(paths)} given images" if paths else "an empty list of images"
                raise PixretError(root, f"no readable images to index in {where}; the index is unchanged")
            t0 = time.perf_counter()
            quantizer = vocabulary(images, cfg, root / "work", runner, root)
            if progress:
                print(f"vocabulary: {quantizer.size} words in {time.perf_counter() - t0:.1f} s", flush=True)
            return cls._assemble(root, cfg, images, skipped, quantizer, runner, device)

    @classmethod
    def _assemble(cls, root: Path, cfg: EngineConfig, images: list[dict], skipped: list[dict],
                  quantizer: Quantizer, runner: Runner, device: str) -> Index:  # fmt: skip
        """Build the missing shards, then publish a new generation over them."""
        names = build_shards(images, quantizer, cfg, root / "shards", root / "work", runner)
        return cls.publish(root, cfg, images, quantizer, names, skipped, device)

    @classmethod
    def publish(cls, root: Path, cfg: EngineConfig, images: Iterable[dict], quantizer: Quantizer,
                names: list[str], skipped: list[dict] | None = None, device: str | None = None) -> Index:  # fmt: skip
        """Write a generation over shards already in ROOT/shards (the idf and norms of the whole
        collection, the catalog), swap index.json to it and drop what it no longer names. The
        caller holds the writer lock. For tools that write shards themselves
        (benchmarks/bench_scale.py); ``images`` are records {path, name, size, cache}."""
        gen = f"gen-{time.time_ns():x}"
        data = root / gen
        try:
            shards = [Shard(root / "shards" / n) for n in names]
            idf = global_idf(shards, quantizer.size << cfg.shortlist.split_bits)
            norms = np.concatenate([s.norms(idf) for s in shards])
            write_catalog(data, as_records(images, root))
            save_quantizer(quantizer, data / "quantizer.npz")
            save_npy(data / "idf.npy", idf)
            save_npy(data / "norms.npy", norms)
            write_json(data / "shards.json", names, indent=None)
            write_json(
                root / "index.json",
                {"format": FORMAT, "version": VERSION, "pixret": __version__, "config": cfg.as_dict(),
                 "n_images": len(norms), "vocab_size": quantizer.size,
                 "n_features": int(sum(s.n_features for s in shards)), "skipped": skipped or [], "generation": gen},
            )  # fmt: skip
        except BaseException:
            shutil.rmtree(data, ignore_errors=True)
            raise
        _remove_old_data(root, keep=gen, shards=set(names))
        return cls.open(root, device)

    def add(
        self, paths: list[str | os.PathLike], workers: int | None = None, progress: bool = True,
        scheduler: str | None = None,
    ) -> Index:  # fmt: skip
        """Add images with the existing vocabulary; returns the reopened index. The shards of the
        images already indexed are kept (only a last, partial one is written again).

        Refused when another process changed the index since this one was opened (its images
        would be lost): open it again and add then."""
        with Runner(scheduler, workers, progress, size=len(paths)) as runner, writer_lock(self.root):
            if _generation(self.root) != self.generation:
                raise PixretError(
                    self.root, "the index changed since it was opened (another writer): open it again"
                )
            old = list(self.images)
            fdir = Path(old[0]["cache"]).parent if old else self.root / "features"
            new, skipped = extract_all([Path(p) for p in paths], self.cfg, fdir, runner, self.device)
            known = {im["cache"] for im in old}
            images = old + [im for im in new if im["cache"] not in known]
            return self._assemble(self.root, self.cfg, images, self.skipped + skipped, self.quantizer, runner,
                                  self.device)  # fmt: skip

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
        if not (isinstance(gen, str) and gen.startswith("gen-") and "/" not in gen):
            raise PixretError(root, "damaged index (index.json names no generation): build it again")
        data = root / gen
        try:
            cfg = EngineConfig.from_dict(meta["config"])
            images = Catalog(data)
            with np.load(data / "quantizer.npz") as z:
                quantizer = Quantizer.from_arrays(z)
            names = json.loads((data / "shards.json").read_text())
            if not isinstance(names, list) or not all(isinstance(n, str) and SHARD_NAME.fullmatch(n) for n in names):
                raise ValueError("shards.json is not a list of shard names")
            shards = [Shard(root / "shards" / n) for n in names]
            idf, norms = np.load(data / "idf.npy"), np.load(data / "norms.npy")
            n_images = int(meta["n_images"])
        except Exception as exc:  # noqa: BLE001 - zip, numpy, json and faiss each fail their own way on damaged files
            raise PixretError(root, f"damaged index ({type(exc).__name__}: {exc}): build it again") from None
        n_fine = quantizer.size << cfg.shortlist.split_bits
        problem = _inconsistent(images, n_images, shards, idf, norms, n_fine, quantizer.size)
        if problem:
            raise PixretError(root, f"damaged index ({problem}): build it again")
        index = cls(root, cfg, images, quantizer, ShardSet(shards, idf, norms, cfg.shortlist.split_bits),
                    meta.get("skipped", []), device)  # fmt: skip
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

    @property
    def n_features(self) -> int:
        return sum(s.n_features for s in self.shards.shards)

    def memory_bytes(self) -> int:
        """Bytes the loaded index keeps in RAM: idf, norms, per-image offsets, the vocabulary and
        the catalog's offsets (features and postings stay memory-mapped on disk)."""
        small = [s.offsets for s in self.shards.shards] + [self.shards.idf, self.shards.norms, self.shards.starts]
        return int(sum(a.nbytes for a in small) + self.quantizer.centroids.nbytes + self.images.nbytes())

    def disk_bytes(self) -> int:
        """Bytes on disk of this generation and its shards (the feature cache not counted)."""
        folders = [self.data, *(s.folder for s in self.shards.shards)]
        return sum(p.stat().st_size for d in folders for p in d.rglob("*") if p.is_file())

    def shortlist_bytes(self) -> int:
        """Bytes the shortlist reads: postings (memory-mapped), idf and norms."""
        return self.shards.nbytes()

    def features(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Keypoints (n, 4) float32, words (n,) and descriptors (n, D) of database image ``i``."""
        side = self.side(i)
        return side.kpts, side.words, side.desc

    def side(self, i: int) -> ImageSide:
        """Image i as a matcher sees it (matchers.py); its words are checked against the vocabulary."""
        shard, j = self.shards.locate(i)
        a, b = shard.offsets[j], shard.offsets[j + 1]
        words = np.asarray(shard.words[a:b], np.int32)
        if len(words) and (words.min() < 0 or words.max() >= self.quantizer.size):
            raise PixretError(self.root, f"damaged index (shard {shard.folder.name}: a word id outside "
                              f"0..{self.quantizer.size - 1}): build it again")  # fmt: skip
        return ImageSide(np.asarray(shard.kpts[a:b], np.float32), np.asarray(shard.desc[a:b]), words,
                         tuple(self.images[i]["size"]), np.asarray(shard.sigs[a:b]))  # fmt: skip

    # ------------------------------------------------------------ searching
    def query_words(self, desc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The query descriptors' words and signatures, both (n, k): each feature in its k
        nearest words (multiple assignment, ``verify.query_words``); column 0 feeds the shortlist
        (split by ``split_words``), all of them matching."""
        qwords = self.quantizer.assign(desc, max(1, self.cfg.verify.query_words))
        qwords = qwords if qwords.ndim == 2 else qwords[:, None]
        return qwords, self.quantizer.signatures(desc, qwords)

    def search(self, image: np.ndarray | str | os.PathLike, box, top: int = 20) -> list[Hit]:
        """The best ``top`` hits for the object in ``box`` (x1, y1, x2, y2) of ``image``."""
        return self.search_full(image, box).hits[:top]

    def search_full(
        self, image: np.ndarray | str | os.PathLike, box, query_features: Features | None = None
    ) -> SearchResult:
        """Search and return hits, the full ranking, timings and the query-side object outline."""
        t = {"start": time.perf_counter()}
        img = as_image(image)
        box = check_box(box, img.shape[1], img.shape[0])
        feats = query_features or extract_in_box(img, box, self.cfg, device=self.device)
        qf = feats.select(feats.in_box(box))
        if len(qf) < 4:
            raise PixretError(
                None,
                f"only {len(qf)} features inside the box {box.format()}: draw a larger box on a textured object",
            )
        t["features"] = time.perf_counter()
        cfg = self.cfg
        qwords = qsigs = None
        if cfg.verify.matching != "ratio" or not cfg.exhaustive:
            qwords, qsigs = self.query_words(qf.desc)
        if cfg.exhaustive:
            bow = np.zeros(len(self))
            cand = np.arange(len(self))
        else:
            bow = self.shards.scores(split_words(qwords[:, 0], qsigs[:, 0], self.shards.split_bits))
            k = min(cfg.shortlist.top_k or auto_top_k(len(self)), len(self))
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
        unverified = np.ones(len(self), bool)  # a mask, not setdiff1d: that hashes a million ids
        unverified[verified] = False
        rest = np.flatnonzero(unverified)
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


MIN_QUERY_SIDE = 16  # pixels: below this no feature can be found


def check_box(box, w: int, h: int) -> Box:
    """Validate a query box and clip it to the image; clear errors for a too small image, an
    empty box or one outside the image."""
    if min(w, h) < MIN_QUERY_SIDE:
        raise PixretError(
            None, f"the {w}x{h} query image is too small to search (at least {MIN_QUERY_SIDE} px a side)"
        )
    return Box.parse(box).check(w, h)


def _inconsistent(images: Catalog, n_images: int, shards: list[Shard], idf: np.ndarray, norms: np.ndarray,
                  n_fine: int, vocab_size: int) -> str:  # fmt: skip
    """What is wrong with an index's arrays ('' when they agree). Checked on open from shapes and
    the small arrays (a damaged file would otherwise give wrong results or an IndexError in the
    middle of a search); per-feature values are checked when an image is read (``Index.side``)."""
    if len(images) != n_images or len(norms) != n_images or sum(len(s) for s in shards) != n_images:
        return "the files disagree on the image count"
    if idf.shape != (n_fine,):
        return "the idf and the vocabulary differ in size"
    for s in shards:
        o = s.offsets
        if o.ndim != 1 or not len(o) or o[0] != 0 or (np.diff(o) < 0).any():
            return f"shard {s.folder.name}: per-image offsets are not increasing from 0"
        n = int(o[-1])
        if not (len(s.kpts) == len(s.words) == len(s.sigs) == len(s.desc) == len(s.post_ids) == n):
            return f"shard {s.folder.name}: keypoints, words, signatures and postings differ in number"
        if s.sigs.dtype != np.uint64 or len(s.post_ptr) != len(s.post_words) + 1 or len(s.post_df) != len(s.post_words):
            return f"shard {s.folder.name}: the inverted file's arrays disagree"
        if len(s.post_ptr) and int(s.post_ptr[-1]) != n:
            return f"shard {s.folder.name}: the inverted file does not cover every feature"
        if len(s.post_words) and int(s.post_words[-1]) >= n_fine:
            return f"shard {s.folder.name}: a word id outside 0..{vocab_size - 1}"
    return ""


@contextlib.contextmanager
def writer_lock(root: Path):
    """Hold ROOT/.lock while writing the index; a second writer is refused with a message
    (two builds into one folder would each report success, and the last one would win)."""
    made = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    try:
        with _held(root):
            yield
    finally:
        if made and {p.name for p in root.iterdir()} <= {".lock"}:  # a refused first build: no trace
            shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def _held(root: Path):
    try:
        fh = open(root / ".lock", "a+")  # noqa: SIM115 (closed by the `with` below)
    except OSError as exc:  # a folder named .lock, or no right to write here
        raise PixretError(root / ".lock", f"cannot hold the index's lock file ({exc.strerror or exc})") from None
    with fh:
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


def _remove_old_data(root: Path, keep: str, shards: set[str]) -> None:
    """After the swap: drop earlier generations, the shards no generation names any more and the
    build's work files; readers that still map them keep their open files."""
    for p in root.glob("gen-*"):
        if p.name != keep and p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
    for p in (root / "shards").glob("*"):
        if p.name not in shards:
            shutil.rmtree(p, ignore_errors=True)
    shutil.rmtree(root / "work", ignore_errors=True)
