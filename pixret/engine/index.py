"""``Index``: a thin facade over the index's modules.

    build, add        engine/build.py (the indexing stages, on Dask or in one process), then
                      store.publish (a new generation, swapped in atomically)
    open              store.open_index (every file checked against its checksum)
    search            engine/search.py (the query as a chain of stages)
    side, features    a database image as the matchers see it (its features checked lazily)
    image_path        where a database image is now, served only if it is the indexed file

The layout of an index folder is in store.py.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import PixretError
from ..imageio import as_image, open_pil
from . import pagecache, store
from . import search as S
from .build import build_shards, extract_all, vocabulary
from .catalog import Catalog
from .config import EngineConfig
from .distributed import Runner
from .features import Features
from .hits import Hit, SearchResult
from .matchers import ImageSide
from .shards import FEATURES, SHARD_FILES, ShardSet
from .vocabulary import Quantizer

FORMAT, VERSION = store.FORMAT, store.VERSION
writer_lock = store.writer_lock  # benchmarks/bench_scale.py takes the lock to publish
check_box = S.check_box

__all__ = ["FORMAT", "VERSION", "Hit", "Index", "SearchResult", "check_box", "writer_lock"]


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
        import time

        device = engine_device(cfg, device)
        root = Path(root)
        fdir = Path(features_dir) if features_dir else root / "features"
        with Runner(scheduler, workers, progress, size=len(paths)) as runner, store.writer_lock(root):
            images, skipped = extract_all([Path(p) for p in paths], cfg, fdir, runner, device)
            if not images:
                where = f"any of the {len(paths)} given images" if paths else "an empty list of images"
                raise PixretError(root, f"no readable images to index in {where}; the index is unchanged")
            t0 = time.perf_counter()
            work = store.work_folder(root)  # never a link, nor a folder pixret did not make
            quantizer = vocabulary(images, cfg, work, runner, root)
            if progress:
                print(f"vocabulary: {quantizer.size} words in {time.perf_counter() - t0:.1f} s", file=sys.stderr,
                      flush=True)  # a note: stdout holds only results (pixret/cli/__init__.py)
            names = build_shards(images, quantizer, cfg, root / "shards", work, runner)
            return cls.publish(root, cfg, images, quantizer, names, skipped, device)

    @classmethod
    def publish(cls, root: Path, cfg: EngineConfig, images, quantizer: Quantizer, names: list[str],
                skipped: list[dict] | None = None, device: str | None = None) -> Index:  # fmt: skip
        """Write a generation over shards already in ROOT/shards and open it (store.publish; the
        caller holds the writer lock). For tools that write shards themselves
        (benchmarks/bench_scale.py); ``images`` are records {path, name, size, cache}."""
        store.publish(root, cfg, images, quantizer, names, skipped)
        return cls.open(root, device)

    def add(
        self, paths: list[str | os.PathLike], workers: int | None = None, progress: bool = True,
        scheduler: str | None = None,
    ) -> Index:  # fmt: skip
        """Add images with the existing vocabulary; returns the reopened index. The shards of the
        images already indexed are kept (only a last, partial one is written again).

        Refused when another process changed the index since this one was opened (its images
        would be lost): open it again and add then."""
        with Runner(scheduler, workers, progress, size=len(paths)) as runner, store.writer_lock(self.root):
            if store.generation(self.root) != self.generation:
                raise PixretError(
                    self.root, "the index changed since it was opened (another writer): open it again"
                )
            old = list(self.images)
            fdir = Path(old[0]["cache"]).parent if old else self.root / "features"
            new, skipped = extract_all([Path(p) for p in paths], self.cfg, fdir, runner, self.device)
            known = {im["cache"] for im in old}
            images = old + [im for im in new if im["cache"] not in known]
            work = store.work_folder(self.root)
            names = build_shards(images, self.quantizer, self.cfg, self.root / "shards", work, runner)
            return self.publish(self.root, self.cfg, images, self.quantizer, names, self.skipped + skipped,
                                self.device)  # fmt: skip

    # ------------------------------------------------------------ opening
    @classmethod
    def open(cls, root: str | os.PathLike, device: str | None = None) -> Index:
        """Load an index (every file checked: store.open_index); ``device`` (learned features
        only): auto (CUDA when present), cpu, cuda. PixretError (one line) when it is missing,
        of another format, or damaged."""
        root = Path(root)
        d = store.open_index(root)
        index = cls(root, d.cfg, d.images, d.quantizer, d.shards, d.skipped, device)
        index.data, index.generation = d.data, d.generation
        return index

    def __len__(self) -> int:
        return len(self.images)

    # ------------------------------------------------------------ images
    def _candidates(self, i: int) -> list[Path]:
        im = self.images[i]
        out = [Path(im["path"])]
        if im.get("rel"):
            out.append(self.root / im["rel"])
        return out

    def _locate(self, i: int) -> Path | None:
        """The indexed file of image ``i``: its absolute path from indexing, else the same place
        relative to the index folder; only a file of the indexed size (when it was recorded)."""
        want = self.images[i].get("bytes")
        for p in self._candidates(i):
            try:
                if p.is_file() and (want is None or p.stat().st_size == want):
                    return p
            except OSError:
                continue
        return None

    def image_path(self, i: int) -> Path:
        """Where database image ``i`` is now: its absolute path from indexing, else the same place
        relative to the index folder (both moved together). PixretError when neither holds the
        indexed file (missing, or another file of another size: never served)."""
        p = self._locate(i)
        if p is None:
            im = self.images[i]
            there = [c for c in self._candidates(i) if c.is_file()]
            why = ("not the file indexed: replaced by another file since indexing (its size differs); index the "
                   "folder again" if there else "missing: moved or deleted since indexing. If the collection moved, "
                   "keep the index in the same place beside it, or index the folder again")  # fmt: skip
            raise PixretError(im["path"], f"image {i} ({im['name']}) is {why}")
        return p

    def display_path(self, i: int) -> str:
        """The path a hit names (the file found now, or the indexed path)."""
        return str(self._locate(i) or self.images[i]["path"])

    @property
    def n_features(self) -> int:
        return sum(s.n_features for s in self.shards.shards)

    def memory_bytes(self) -> int:
        """Bytes the loaded index keeps in RAM: idf, norms, per-image offsets and checked flags,
        the vocabulary and the catalog's offsets (features and postings stay memory-mapped)."""
        small = [s.offsets for s in self.shards.shards] + [s._checked for s in self.shards.shards]
        small += [self.shards.idf, self.shards.norms, self.shards.starts]
        return int(sum(a.nbytes for a in small) + self.quantizer.centroids.nbytes + self.images.nbytes())

    def disk_bytes(self) -> int:
        """Bytes on disk of this generation and its shards (the feature cache not counted)."""
        folders = [self.data, *(s.folder for s in self.shards.shards)]
        return sum(p.stat().st_size for d in folders for p in d.rglob("*") if p.is_file())

    def shortlist_bytes(self) -> int:
        """Bytes the shortlist reads: postings (memory-mapped), idf and norms."""
        return self.shards.nbytes()

    def files(self) -> list[Path]:
        """Every file a search of this generation reads: index.json, the generation's files and
        each shard's (the feature cache not counted)."""
        out = [self.root / "index.json"] + sorted(p for p in self.data.iterdir() if p.is_file())
        for s in self.shards.shards:
            out += [s.folder / name for name in sorted(SHARD_FILES) if (s.folder / name).is_file()]
        return out

    def warm(self, progress: Callable[[str, int, int], None] | None = None, stop: threading.Event | None = None,
             features: bool | None = None) -> dict:  # fmt: skip
        """Read the index into the page cache ahead of the first searches (``pixret serve`` does
        it in the background at start): first every shard's inverted file, checked against its
        checksums as the first search would (every query reads some of it), then the features
        (what verification reads of each candidate), shard file by shard file.

        ``features``: True reads them, False does not, None (the default) reads them when the
        machine has the memory: what is not in the page cache yet must fit in 80% of the
        memory the kernel reports available, else reading it would push out what a search
        read before (a million images: about 13 GB of features, 2.2 GB of postings).
        ``progress(stage, done, total)`` is called with bytes, stage "postings" or "features";
        ``stop`` (an Event) ends it early. Returns {"postings", "features": bytes read, "skipped":
        why the features were not read (None), "seconds"}."""
        import time

        t0 = time.perf_counter()
        out: dict = {"postings": 0, "features": 0, "skipped": None}
        shards = self.shards.shards
        total = sum(s.postings_nbytes() + s.rows.nbytes for s in shards)
        for s in shards:
            if stop is not None and stop.is_set():
                break
            s.recheck_if_changed()
            out["postings"] += s.read_postings()
            if progress is not None:
                progress("postings", out["postings"], total)
        paths = [s.folder / f"{name}.npy" for s in shards for name in FEATURES]
        have, size = pagecache.resident(paths)
        free = pagecache.available_memory()
        if features is None and free is not None and size - have > 0.8 * free:
            features = False
            out["skipped"] = (f"the features need {(size - have) / 1e9:.1f} GB more of the page cache, "
                              f"{free / 1e9:.1f} GB is available: searches read what they need")  # fmt: skip
        elif features is False:
            out["skipped"] = "not asked for"
        if features is not False:
            done = [0]

            def read(n: int) -> None:
                done[0] += n
                if progress is not None:
                    progress("features", done[0], size)

            for p in paths:
                if stop is not None and stop.is_set():
                    break
                pagecache.read_in(p, read, stop)
            out["features"] = done[0]
        out["seconds"] = time.perf_counter() - t0
        return out

    def features(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Keypoints (n, 4) float32, words (n,) and descriptors (n, D) of database image ``i``."""
        side = self.side(i)
        return side.kpts, side.words, side.desc

    def side(self, i: int) -> ImageSide:
        """Image i as a matcher sees it (matchers.py); its features are checked against their
        checksum on first read, its words against the vocabulary."""
        shard, j = self.shards.locate(i)
        shard.check_image(j)
        a, b = shard.offsets[j], shard.offsets[j + 1]
        words = np.asarray(shard.words[a:b], np.int32)
        if len(words) and (words.min() < 0 or words.max() >= self.quantizer.size):
            raise PixretError(self.root, f"damaged index (shard {shard.folder.name}: a word id outside "
                              f"0..{self.quantizer.size - 1}): build it again")  # fmt: skip
        return ImageSide(np.asarray(shard.kpts[a:b], np.float32), np.asarray(shard.desc[a:b]), words,
                         tuple(self.images[i]["size"]), np.asarray(shard.sigs[a:b]))  # fmt: skip

    def sides(self, ids) -> list[ImageSide]:
        """``side`` of each of ``ids``, in that order, their features asked of the disk all at
        once first (``ShardSet.prefetch``): on a cold page cache the reads run side by side."""
        ids = [int(i) for i in ids]
        self.shards.prefetch(ids)
        return [self.side(i) for i in ids]

    # ------------------------------------------------------------ searching
    def query_words(self, desc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The query descriptors' words and signatures, both (n, k): each feature in its k
        nearest words (multiple assignment, ``verify.query_words``); column 0 feeds the shortlist
        (split by ``split_words``), all of them matching."""
        qwords = self.quantizer.assign(desc, max(1, self.cfg.verify.query_words))
        qwords = qwords if qwords.ndim == 2 else qwords[:, None]
        return qwords, self.quantizer.signatures(desc, qwords)

    def search(self, image, box, top: int = 20, exclude_query: bool | str | os.PathLike = False) -> list[Hit]:
        """The best ``top`` hits for the object in ``box`` (x1, y1, x2, y2) of ``image`` (a path,
        bytes, a PIL image or a BGR array); ``exclude_query`` as in ``search_full``."""
        if top < 1:
            raise PixretError(None, f"top must be at least 1, got {top}")
        return self.search_full(image, box, exclude_query=exclude_query).hits[:top]

    def search_full(self, image, box, query_features: Features | None = None,
                    exclude_query: bool | str | os.PathLike = False) -> SearchResult:  # fmt: skip
        """Search (engine/search.py) and return hits, the full ranking, timings per stage, the
        query-side object outline and the shortlist.

        ``exclude_query``: leave the query image itself out of the results (so a query does not
        find itself). True: any result that is the query's file (same path) or holds the same
        image (same size, then the same sha1 of the file's bytes, or of the decoded pixels when
        the query is an array, bytes or a PIL image); a path: the database image indexed from that
        path too. They are listed in ``SearchResult.excluded``."""
        r = S.run(self, image, box, query_features)
        if exclude_query is not False:
            drop = self._query_copies(image, exclude_query, r)
            if drop:
                r.hits = [h for h in r.hits if h.index not in drop]
                r.ranking = r.ranking[~np.isin(r.ranking, sorted(drop))]
                r.excluded = sorted(drop)
        return r

    def _query_copies(self, image, by: bool | str | os.PathLike, r: SearchResult) -> set[int]:
        """The results that are the query image itself (``search_full``'s ``exclude_query``)."""
        paths = set()
        if isinstance(image, str | os.PathLike):
            paths.add(Path(image).resolve())
        if not isinstance(by, bool):
            paths.add(Path(by).resolve())
        want: list[str | None] = [None]  # the query's hash, computed once when a size matches

        def query_hash() -> str | None:
            if want[0] is None:
                want[0] = _content_hash(image)
            return want[0]

        drop = set()
        for h in r.hits:
            p = self._locate(h.index)
            if p is None:
                continue
            if p.resolve() in paths or Path(self.images[h.index]["path"]) in paths or tuple(h.size) == r.query_size and query_hash() is not None and _content_hash(p, image) == query_hash():
                drop.add(h.index)
        return drop

    def image_root(self) -> Path:
        """The folder that holds every indexed image (as indexed): where hloc's image folder is
        by default (``pairs``)."""
        return Path(os.path.commonpath([str(Path(im["path"]).parent) for im in self.images]))

    def pairs(self, query: str | os.PathLike, result: SearchResult, top: int | None = None,
              relative_to: str | os.PathLike | None = None) -> list[str]:  # fmt: skip
        """hloc's retrieval pairs for one query: lines "QUERY DB" (hloc/utils/parsers.py
        ``parse_retrieval``) with the shortlisted images in shortlist (tf-idf) order, the first
        ``top`` (all by default).

        ``query`` is the query image's path. Every name is its file's path relative to
        ``relative_to``, the image folder hloc reads (default: ``image_root()``), extension and
        all, with '..' where a file lies outside it: each name resolves to the file it means
        there (a query outside the folder is never written by its bare name, which may be a
        database image's). PixretError when the query is not a file, or a name holds white
        space (the pairs format cannot hold it)."""
        root = Path(relative_to if relative_to is not None else self.image_root()).resolve()
        qpath = Path(query)
        if not qpath.is_file():
            raise PixretError(query, "hloc's pairs name the query image's file: no such file (give its path)")
        ids = result.shortlist if top is None else result.shortlist[:top]
        qname = hloc_name(qpath, root)
        out = []
        for i in ids.tolist():
            name = hloc_name(self._locate(i) or Path(self.images[i]["path"]), root)
            out.append(f"{qname} {name}")
        return out


def hloc_name(path: str | os.PathLike, root: str | os.PathLike) -> str:
    """``path`` relative to ``root`` ('/'-separated, '..' where it lies outside), as hloc names
    images under its image folder; PixretError for a name hloc's pairs format cannot hold (white
    space, or bytes that are not UTF-8)."""
    path = Path(path)
    try:
        name = Path(os.path.relpath(path.resolve(), Path(root).resolve())).as_posix()
    except ValueError:  # another drive: no relative path leads there
        name = path.resolve().as_posix()
    if any(c.isspace() for c in name):
        raise PixretError(path, f"its name {name!r} holds white space: hloc's pairs format ('name0 name1' per "
                          "line) cannot hold it; rename the file")  # fmt: skip
    try:  # a file name that is not UTF-8 holds surrogate escapes (os.fsdecode)
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise PixretError(path, "its name is not UTF-8: hloc's pairs file and its HDF5 files hold UTF-8 "
                          "names only; rename the file") from None  # fmt: skip
    return name


def _content_hash(image, like=None) -> str | None:
    """sha1 of an image's content, the way a query ``like`` is compared (``like`` defaults to the
    image itself): file bytes for a path, bytes, or a PIL image opened from a file; decoded
    pixels (by PIL for a PIL image, else by pixret.imageio) for an in-memory image. None when
    it cannot be read."""
    like = image if like is None else like
    if isinstance(like, Image.Image) and getattr(like, "filename", ""):
        like = like.filename
    if isinstance(image, Image.Image) and getattr(image, "filename", ""):
        image = image.filename
    try:
        if isinstance(like, str | os.PathLike | bytes | bytearray):
            data = image if isinstance(image, bytes | bytearray) else Path(image).read_bytes()
            return hashlib.sha1(bytes(data)).hexdigest()
        if isinstance(like, Image.Image):
            pil = image if isinstance(image, Image.Image) else open_pil(image)
            return "pil-" + hashlib.sha1(np.ascontiguousarray(as_image(pil)).tobytes()).hexdigest()
        return "px-" + hashlib.sha1(np.ascontiguousarray(as_image(image)).tobytes()).hexdigest()
    except (OSError, PixretError, ValueError):
        return None


def engine_device(cfg: EngineConfig, device: str | None) -> str:
    """The torch device of a learned-feature engine ("cpu" for SIFT, which never uses torch)."""
    if cfg.features.kind == "sift":
        return "cpu"
    from .learned.models import resolve_device

    return resolve_device(device)
