"""The index on disk and its life cycle: publish a generation, open it (every file checked), lock
out a second writer, drop what no generation names.

Layout of an index folder::

    index.json          format, version, config, image count, skipped files, the generation
                        folder that holds the data, the CRC-32 of every generation file and of
                        every shard's sums.json, and its own CRC (written last, atomically)
    .lock               held by the one process writing the index (build, add)
    features/*.npz      per-image keypoints + descriptors (cache: resumable, keyed by file and
                        feature config; another folder can be shared between indexes)
    shards/s-*/         immutable shards of consecutive images: features, words, signatures, a
                        compact inverted file and their checksums (shards.py; named by inputs)
    work/               a build's vocabulary while it runs (a resumed build reuses it)
    gen-*/              one generation of the index:
      images.jsonl      path, name, (w, h), file size per image, with images-offsets.npy (catalog.py)
      quantizer.npz     visual words (k x 128), the signatures' projection (128 x 64) and the
                        word-assignment index as trained (workers and readers share it)
      shards.json       the shards, in image order
      idf.npy, norms.npy  idf per fine word, tf-idf norm per image (they change with the collection)

A build or an add writes new shards and a new generation beside the current one and swaps
``index.json`` to it at the end: until then the old index stays whole and searchable, and a
build that fails or is killed changes nothing a reader sees.

Checks on open (measured by benchmarks/bench_scale.py at each scale): the CRC-32 of index.json
and of every generation file (at a million images about 200 MB, 0.05-0.1 s), each shard's
sums.json, offsets and array headers (a few KB a shard), the shapes and dtypes of every array,
and that norms and idf are finite. A shard's inverted file is checked on its first scoring and
an image's features when a search first reads them (shards.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import time
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .._version import __version__
from ..errors import PixretError
from ..io import regular_file, save_npy, write_json
from .build import save_quantizer
from .catalog import Catalog, as_records, write_catalog
from .config import EngineConfig
from .postings import global_idf
from .shards import Shard, ShardSet, crc_file, sums_crc
from .vocabulary import Quantizer

FORMAT, VERSION = "pixret-index", 3  # 3: checksums (index.json, generation files, shards)
SHARD_NAME = re.compile(r"s-[0-9a-f]{20}")
GENERATION_FILES = ("images.jsonl", "images-offsets.npy", "quantizer.npz", "idf.npy", "norms.npy", "shards.json")


class Loaded(NamedTuple):
    """What ``open_index`` reads: the data an ``Index`` searches."""

    cfg: EngineConfig
    images: Catalog
    quantizer: Quantizer
    shards: ShardSet
    skipped: list[dict]
    data: Path  # the generation folder
    generation: str


def _meta_crc(meta: dict) -> int:
    """CRC-32 of index.json's content without its own checksum (canonical JSON)."""
    rest = {k: v for k, v in meta.items() if k != "checksum"}
    return zlib.crc32(json.dumps(rest, sort_keys=True, separators=(",", ":")).encode())


def publish(root: Path, cfg: EngineConfig, images: Iterable[dict], quantizer: Quantizer, names: list[str],
            skipped: list[dict] | None = None) -> str:  # fmt: skip
    """Write a generation over shards already in ROOT/shards (the idf and norms of the whole
    collection, the catalog, checksums), swap index.json to it and drop what it no longer names;
    returns the generation's name. The caller holds the writer lock. ``images``: records
    {path, name, size, cache[, bytes]}."""
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
        meta = {"format": FORMAT, "version": VERSION, "pixret": __version__, "config": cfg.as_dict(),
                "n_images": len(norms), "vocab_size": quantizer.size,
                "n_features": int(sum(s.n_features for s in shards)), "skipped": skipped or [], "generation": gen,
                "checksums": {f: crc_file(data / f) for f in GENERATION_FILES},
                "shard_checksums": [sums_crc(root / "shards" / n) for n in names]}  # fmt: skip
        meta["checksum"] = _meta_crc(meta)
        write_json(root / "index.json", meta)
    except BaseException:
        shutil.rmtree(data, ignore_errors=True)
        raise
    remove_old_data(root, keep=gen, shards=set(names))
    return gen


def read_meta(root: Path) -> dict:
    """index.json, checked (format, version, its own checksum); PixretError with one line."""
    meta_path = root / "index.json"
    if not meta_path.exists():
        hint = "half-written (interrupted?): build it again" if (root / "features").exists() else "not an index"
        raise PixretError(root, f"no index.json: {hint}")
    regular_file(meta_path)  # a FIFO in its place would wait forever
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
    if meta.get("checksum") != _meta_crc(meta):
        raise PixretError(meta_path, "damaged index (index.json fails its checksum): build the index again")
    return meta


def open_index(root: Path) -> Loaded:
    """Read and check an index folder (module docstring); PixretError naming the damage."""
    meta = read_meta(root)
    gen = meta.get("generation")
    if not (isinstance(gen, str) and gen.startswith("gen-") and "/" not in gen):
        raise PixretError(root, "damaged index (index.json names no generation): build it again")
    data = root / gen
    try:
        sums = meta["checksums"]
        for f in GENERATION_FILES:
            if crc_file(data / f) != sums[f]:
                raise PixretError(data / f, "damaged index (the file fails its checksum): build the index again")
        cfg = EngineConfig.from_dict(meta["config"])
        images = Catalog(data)
        with np.load(data / "quantizer.npz") as z:
            quantizer = Quantizer.from_arrays(z)
        regular_file(data / "shards.json")
        names = json.loads((data / "shards.json").read_text())
        if not isinstance(names, list) or not all(isinstance(n, str) and SHARD_NAME.fullmatch(n) for n in names):
            raise ValueError("shards.json is not a list of shard names")
        if len(set(names)) != len(names):
            raise ValueError("shards.json names a shard twice")
        expected = meta["shard_checksums"]
        if len(expected) != len(names):
            raise ValueError("index.json and shards.json disagree on the shards")
        shards = [Shard(root / "shards" / n, int(c)) for n, c in zip(names, expected, strict=True)]
        idf, norms = np.load(data / "idf.npy"), np.load(data / "norms.npy")
        n_images = int(meta["n_images"])
    except PixretError:
        raise
    except Exception as exc:  # noqa: BLE001 - zip, numpy, json and faiss each fail their own way on damaged files
        raise PixretError(root, f"damaged index ({type(exc).__name__}: {exc}): build it again") from None
    n_fine = quantizer.size << cfg.shortlist.split_bits
    try:
        problem = inconsistent(images, n_images, shards, idf, norms, n_fine, quantizer.size)
    except (ValueError, TypeError, IndexError, OverflowError) as exc:  # values a damaged header made up
        problem = f"{type(exc).__name__}: {exc}"
    if problem:
        raise PixretError(root, f"damaged index ({problem}): build it again")
    return Loaded(cfg, images, quantizer, ShardSet(shards, idf, norms, cfg.shortlist.split_bits),
                  meta.get("skipped", []), data, gen)  # fmt: skip


# each shard array's kind of number, sizes in bytes and dimensions (shards.py's data contract)
DTYPES = {"offsets": ("i", (8,), 1), "kpts": ("f", (2, 4), 2), "words": ("ui", (2, 4), 1), "sigs": ("u", (8,), 1),
          "desc": ("ui", (1,), 2), "post_words": ("u", (4,), 1), "post_ptr": ("u", (4,), 1), "post_ids": ("u", (2,), 1),
          "post_df": ("u", (2,), 1), "rows": ("u", (4,), 1)}  # fmt: skip


def inconsistent(images: Catalog, n_images: int, shards: list[Shard], idf: np.ndarray, norms: np.ndarray,
                 n_fine: int, vocab_size: int) -> str:  # fmt: skip
    """What is wrong with an index's arrays ('' when they agree), from shapes, dtypes and the small
    arrays (a damaged file would otherwise give wrong results or an IndexError in the middle of
    a search); the checksums catch what keeps the shapes."""
    if len(images) != n_images or len(norms) != n_images or sum(len(s) for s in shards) != n_images:
        return "the files disagree on the image count"
    if idf.shape != (n_fine,) or norms.ndim != 1:
        return "the idf and the vocabulary differ in size"
    if not (np.isfinite(idf).all() and np.isfinite(norms).all()):
        return "idf or norms hold NaN or infinity"
    for s in shards:
        for name, kinds in DTYPES.items():
            arr = getattr(s, name)
            if arr.dtype.kind not in kinds[0] or arr.dtype.itemsize not in kinds[1] or arr.ndim != kinds[2]:
                return f"shard {s.folder.name}: {name}.npy holds {arr.dtype} x {arr.ndim} dimensions"
        o = s.offsets
        if o.ndim != 1 or not len(o) or o[0] != 0 or (np.diff(o) < 0).any():
            return f"shard {s.folder.name}: per-image offsets are not increasing from 0"
        n = int(o[-1])
        if not (len(s.kpts) == len(s.words) == len(s.sigs) == len(s.desc) == len(s.post_ids) == n):
            return f"shard {s.folder.name}: keypoints, words, signatures and postings differ in number"
        if s.sigs.dtype != np.uint64 or len(s.post_ptr) != len(s.post_words) + 1 or len(s.post_df) != len(s.post_words):
            return f"shard {s.folder.name}: the inverted file's arrays disagree"
        if len(s.rows) != len(s):
            return f"shard {s.folder.name}: one checksum per image expected"
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
        # a first build refused before it wrote anything (an empty feature folder at most): no trace
        if made and all(p.name == ".lock" for p in root.rglob("*") if not p.is_dir()):
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


def generation(root: Path) -> str | None:
    """The generation index.json names (None: no index, or the first layout)."""
    try:
        regular_file(root / "index.json")
        meta = json.loads((root / "index.json").read_text())
    except (OSError, ValueError, RecursionError, PixretError):
        return None
    return meta.get("generation") if isinstance(meta, dict) else None


def remove_old_data(root: Path, keep: str, shards: set[str]) -> None:
    """After the swap: drop earlier generations, the shards no generation names any more and the
    build's work files; readers that still map them keep their open files."""
    for p in root.glob("gen-*"):
        if p.name != keep and p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
    for p in (root / "shards").glob("*"):
        if p.name not in shards:
            shutil.rmtree(p, ignore_errors=True)
    shutil.rmtree(root / "work", ignore_errors=True)
