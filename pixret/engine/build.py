"""Building an index, stage by stage; every stage runs through a ``distributed.Runner`` (on Dask,
or in this process with one worker), the same functions either way::

    images, skipped = extract_all(paths, cfg, features_dir, runner, device)  # feature cache files
    quantizer = vocabulary(images, cfg, work, runner)     # k-means on a sample of every image
    names = build_shards(images, quantizer, cfg, root / "shards", work, runner)  # words, postings

Each stage's outputs are files written atomically and named by their inputs (feature cache
files by image, settings and extractor, the vocabulary by the images and its size, shards by their images
and the vocabulary), so a killed build resumes where it stopped and ends with the same bytes.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import warnings
import zipfile
from pathlib import Path

import cv2
import numpy as np

from ..errors import IndexWarning, PixretError
from ..imageio import load_image
from ..io import atomic_open
from .config import EngineConfig
from .distributed import Runner
from .features import extract, extractor_identity
from .postings import postings
from .shards import record, shard_name, write_shard
from .vocabulary import POINTS_PER_WORD, Quantizer, auto_vocab_size, split_words, train_vocabulary

MIN_VOCAB_FEATURES = 64
SEED = 1234
SAMPLE_CHUNK = 256  # images per vocabulary-sampling task
ASSIGN_CHUNK = 256  # images per word-assignment task


# ------------------------------------------------------------------ feature extraction
def cache_key(path: Path, cfg: EngineConfig, device: str = "cpu") -> str:
    """The feature cache file's name: a hash of the image's absolute path, size, mtime, the
    feature settings and what extracts them (``features.extractor_identity``: the OpenCV release
    for SIFT, whose features differ between releases; torch, the device and the weights file for
    learned ones). The path is hashed as its bytes (``os.fsencode``): a file name that is not
    UTF-8 (``caf\\xe9.png``) holds surrogate escapes, which ``str.encode`` refuses."""
    st = path.stat()
    ident = (
        f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{json.dumps(cfg.features.__dict__, sort_keys=True)}"
        f"|{extractor_identity(cfg.features, device)}"
    )
    return hashlib.sha1(os.fsencode(ident)).hexdigest()[:20]


def cache_file(path: Path, cache: Path, cfg: EngineConfig, device: str = "cpu") -> Path | None:
    """The image's feature cache file (None when it cannot be stat'ed: its worker reports why)."""
    try:
        return cache / f"{cache_key(path, cfg, device)}.npz"
    except OSError:
        return None


def load_features(path: str) -> dict[str, np.ndarray]:
    """A cached feature file read into memory once (NpzFile re-reads a key on every access)."""
    with np.load(path) as z:
        return {"kpts": z["kpts"], "desc": z["desc"], "size": z["size"]}


def _cached(out: Path) -> tuple[int, int, int] | None:
    """The image size and feature count of a complete cache file; a truncated or damaged one is
    removed (and the image described again) instead of blocking every later build."""
    if not out.exists():
        return None
    try:
        z = load_features(str(out))
        if z["kpts"].ndim != 2 or len(z["kpts"]) != len(z["desc"]) or z["size"].shape != (2,):
            raise ValueError("inconsistent arrays")
        return int(z["size"][0]), int(z["size"][1]), len(z["kpts"])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        out.unlink(missing_ok=True)
        return None


def _extract_one(job: tuple[Path, Path | None, EngineConfig, str]) -> tuple[str, tuple[int, int, int] | str]:
    """Worker: extract and cache one image's features; returns (cache file, (w, h, features) or error).
    ``job``: image, its cache file (None when the image could not be stat'ed), config, device."""
    path, out, cfg, device = job
    try:
        if out is None:
            cache_key(path, cfg, device)  # raises the OSError to report
        rel = str(out)
        size = _cached(out)
        if size is not None:
            return rel, size
        cv2.setNumThreads(1)
        f = extract(load_image(path), cfg.features, device)
        with atomic_open(out, "wb") as fh:
            np.savez(fh, kpts=f.kpts, desc=f.desc, size=np.array(f.size))
        return rel, (*f.size, len(f.kpts))
    except PixretError as exc:
        return "", exc.problem
    except OSError as exc:
        return "", str(exc)
    except cv2.error as exc:  # an image OpenCV cannot describe: skipped, not the whole run
        return "", f"feature extraction failed ({str(exc).strip().splitlines()[-1]})"


def extract_all(paths: list[Path], cfg: EngineConfig, cache: Path, runner: Runner, device: str
                ) -> tuple[list[dict], list[dict]]:  # fmt: skip
    """Every image's features in the cache folder; (images, skipped). The images not cached yet
    are described through the runner; the cached ones are checked here."""
    cache = cache.resolve()
    cache.mkdir(parents=True, exist_ok=True)
    jobs = [(p, cache_file(p, cache, cfg, device), cfg, device) for p in paths]
    todo = [k for k, (_, out, _, _) in enumerate(jobs) if out is None or not out.exists()]
    # learned features on a GPU in this process (one device); on the CPU, like SIFT, one image
    # per worker: torch runs at a fixed thread count (parallel.fixed_threads: its results
    # depend on the count), so the cores are used by processes, not by torch's threads
    cpu = cfg.features.kind == "sift" or device == "cpu"
    where = runner if cpu else Runner(workers=1, progress=runner.progress)
    fresh = dict(zip(todo, where.map(_extract_one, [jobs[k] for k in todo], "features", "img"), strict=True))
    images, skipped = [], []
    for k, (p, _, _, _) in enumerate(jobs):
        out, res = fresh[k] if k in fresh else _extract_one(jobs[k])
        if not out:
            skipped.append({"path": str(p), "reason": str(res)})
            warnings.warn(f"{p}: skipped ({res})", IndexWarning, stacklevel=3)
            continue
        w, h, n = res
        try:
            nbytes = p.stat().st_size  # image_path serves only a file of this size
        except OSError:
            nbytes = None
        images.append({"path": str(p.resolve()), "name": p.stem, "size": [w, h], "cache": out, "n": n,
                       "bytes": nbytes})  # fmt: skip
    return images, skipped


# ------------------------------------------------------------------ vocabulary
def _sample(job: tuple[list[str], np.ndarray]) -> np.ndarray:
    """Worker: the chosen rows of a chunk of images' descriptors (rows counted across the chunk)."""
    caches, rows = job
    return np.concatenate([load_features(c)["desc"] for c in caches])[rows]


def vocabulary(images: list[dict], cfg: EngineConfig, work: Path, runner: Runner, where: Path) -> Quantizer:
    """The visual vocabulary: k-means (one task) on a uniform sample of all the collection's
    descriptors (a seeded choice of rows; tasks of SAMPLE_CHUNK images gather them), so the
    whole collection never sits in one process's memory. Kept in ``work`` until the build ends,
    so a resumed build does not train it again.

    ``images`` carry their feature count ``n`` (from ``extract_all``)."""
    caches = [im["cache"] for im in images]
    k = cfg.shortlist.vocab_size or auto_vocab_size(len(images))
    key = shard_name("vocab", str(k), str(cfg.shortlist.kmeans_iters), *[Path(c).name for c in caches])
    saved = work / f"vocab-{key}.npz"
    if saved.exists():
        try:
            with np.load(saved) as z:
                return Quantizer.from_arrays(z)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            saved.unlink(missing_ok=True)  # damaged by a kill: train again
    offsets = np.concatenate([[0], np.cumsum([im["n"] for im in images])]).astype(np.int64)
    total = int(offsets[-1])
    if total < MIN_VOCAB_FEATURES:
        raise PixretError(
            where, f"only {total} features in {len(images)} images, too few for a vocabulary "
            "(texture-less or tiny images?); the index is unchanged",
        )  # fmt: skip
    k = min(k, max(1, total // POINTS_PER_WORD))
    want = k * POINTS_PER_WORD
    # the rows train_vocabulary would pick from all descriptors at once: the same vocabulary
    rows = np.sort(np.random.default_rng(SEED).choice(total, want, replace=False)) if total > want else np.arange(total)
    jobs = []
    for a in range(0, len(caches), SAMPLE_CHUNK):
        lo, hi = offsets[a], offsets[min(a + SAMPLE_CHUNK, len(caches))]
        jobs.append((caches[a : a + SAMPLE_CHUNK], rows[(rows >= lo) & (rows < hi)] - lo))
    sample = np.concatenate(runner.map(_sample, jobs, "vocabulary sample", "task"))
    quantizer = Quantizer(runner.call(train_vocabulary, sample, k, cfg.shortlist.kmeans_iters, SEED))
    save_quantizer(quantizer, saved)
    return quantizer


def save_quantizer(quantizer: Quantizer, path: Path) -> Path:
    if not path.exists():
        with atomic_open(path, "wb") as fh:
            np.savez(fh, **quantizer.to_arrays())
    return path


@functools.lru_cache(maxsize=2)
def _load_quantizer(path: str) -> Quantizer:
    """A worker loads the quantizer once per build (tasks of one build share the file)."""
    with np.load(path) as z:
        return Quantizer.from_arrays(z)


# ------------------------------------------------------------------ shards
def word_dtype(n_words: int) -> type:
    return np.uint16 if n_words <= 1 << 16 else np.int32


def _assign(job: tuple[str, list[str], str]) -> None:
    """Worker: words and signatures of a chunk of images' features, to a work file."""
    out, caches, qfile = job
    if Path(out).exists():
        return
    quantizer = _load_quantizer(qfile)
    desc = np.concatenate([load_features(c)["desc"] for c in caches])  # uint8 RootSIFT or int8 learned
    words = quantizer.assign(desc)
    sigs = np.zeros(len(words), np.uint64)
    for a in range(0, len(words), 200_000):  # the float copies of the descriptors, a chunk at a time
        sigs[a : a + 200_000] = quantizer.signatures(desc[a : a + 200_000], words[a : a + 200_000])
    with atomic_open(out, "wb") as fh:
        np.savez(fh, words=words, sigs=sigs)


def shard_arrays(counts: list[int], kpts: np.ndarray, words: np.ndarray, sigs: np.ndarray, desc: np.ndarray,
                 split_bits: int, n_words: int, compact: bool) -> dict[str, np.ndarray]:  # fmt: skip
    """A shard's arrays (shards.py's data contract) from its images' feature ``counts`` and the
    concatenated keypoints, words, signatures and descriptors of their features."""
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return {
        "offsets": offsets, "kpts": kpts.astype(np.float16 if compact else np.float32),
        "words": words.astype(word_dtype(n_words)), "sigs": sigs,
        "desc": desc[:, :0] if compact else desc,  # compact: verification works from the signatures
        **postings(split_words(words, sigs, split_bits), offsets),
    }  # fmt: skip


def _shard(job: tuple[str, list[str], list[str], int, bool, int]) -> None:
    """Worker: one shard from its images' features and their words and signatures."""
    folder, caches, assigned, split_bits, compact, n_words = job
    if Path(folder).exists():
        return
    feats = [load_features(c) for c in caches]
    parts = [dict(np.load(f)) for f in assigned]
    arrays = shard_arrays(
        [len(z["kpts"]) for z in feats], np.concatenate([z["kpts"] for z in feats]),
        np.concatenate([p["words"] for p in parts]), np.concatenate([p["sigs"] for p in parts]),
        np.concatenate([z["desc"] for z in feats]), split_bits, n_words, compact,
    )  # fmt: skip
    write_shard(Path(folder), arrays)


def build_shards(images: list[dict], quantizer: Quantizer, cfg: EngineConfig, shard_dir: Path, work: Path,
                 runner: Runner) -> list[str]:  # fmt: skip
    """The shards of ``images`` (cfg.shortlist.shard_size consecutive images each), reusing any
    already written; returns their names in order. Two rounds of tasks: words and signatures for
    chunks of ASSIGN_CHUNK images (so that even a one-shard collection keeps every worker busy),
    then one task per shard."""
    size = cfg.shortlist.shard_size
    qfile = save_quantizer(quantizer, work / f"quantizer-{quantizer.digest()}.npz")
    settings = (quantizer.digest(), str(cfg.shortlist.split_bits), str(cfg.compact))
    names, assign, shards = [], [], []
    for a in range(0, len(images), size):
        caches = [im["cache"] for im in images[a : a + size]]
        name = shard_name("shard-v2", *settings, *[Path(c).name for c in caches])
        names.append(name)
        if (shard_dir / name).exists():
            continue
        chunks = []
        for c in range(0, len(caches), ASSIGN_CHUNK):
            part = caches[c : c + ASSIGN_CHUNK]
            out = work / f"{shard_name('words', quantizer.digest(), *[Path(p).name for p in part])}.npz"
            chunks.append(str(out))
            assign.append((str(out), part, str(qfile)))
        shards.append((str(shard_dir / name), caches, chunks, cfg.shortlist.split_bits, cfg.compact, quantizer.size))
    # in the index's ledger before a task writes one: a killed build's shards are known as pixret's
    record(shard_dir.parent, "shards", [Path(job[0]).name for job in shards])
    shard_dir.mkdir(parents=True, exist_ok=True)
    runner.map(_assign, assign, "assigning words", "task")
    runner.map(_shard, shards, "index shards", "shard")
    return names
