"""The index on disk and its life cycle: publish a generation, open it (every file checked), lock
out a second writer, drop what no generation names.

Layout of an index folder::

    index.json          format, version, config, image count, skipped files, the generation
                        folder that holds the data, the CRC-32 of every generation file and of
                        every shard's sums.json, and its own CRC (written last, atomically)
    .pixret-index       the mark of a folder pixret made for an index (written before anything else)
    .lock               held by the one process writing the index (build, add)
    .pixret-written     the ledger: the generations, shards and work folders pixret made here
    features/*.npz      per-image keypoints + descriptors (cache: resumable, keyed by file,
                        feature config and extractor: build.cache_key; another folder can be
                        shared between indexes)
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

pixret deletes only what it can prove it wrote. An index is written only into a new or empty
folder (marked ``.pixret-index`` at once, so that an interrupted first build resumes) or into
one that holds a pixret index.json; any other folder is refused with one line, before anything
is written. Inside it, ``.pixret-written`` (shards.py's ledger) names every generation, shard
and work folder pixret made there, each recorded before it is made (a killed build's are known);
an index written before the ledger existed has its current generation and shards recorded when
their files match the checksums in index.json. A folder is removed only when the ledger names
it and every file in it is one pixret writes there; anything else (``gen-notes``, a folder of
the user's named ``gen-0123456789abcdef`` or ``shards/s-...``, a file of the user's in ``work/``)
is kept, whole, with a warning naming it. pixret writes no work file into a folder it did not
make, nor through a link (``work_folder``), and refuses a ``shards`` that is a link or a file.

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
import time
import warnings
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .._version import __version__
from ..errors import IndexWarning, PixretError
from ..io import regular_file, save_npy, write_json
from .build import save_quantizer
from .catalog import Catalog, as_records, write_catalog
from .config import EngineConfig
from .postings import global_idf
from .shards import LEDGER, SHARD_FILES, SHARD_TEMP, Shard, ShardSet, crc_file, record, sums_crc, written
from .vocabulary import Quantizer

FORMAT, VERSION = "pixret-index", 3  # 3: checksums (index.json, generation files, shards)
SHARD_NAME = re.compile(r"s-[0-9a-f]{20}")
GENERATION_FILES = ("images.jsonl", "images-offsets.npy", "quantizer.npz", "idf.npy", "norms.npy", "shards.json")
MARK, MARK_TEXT = ".pixret-index", "a folder pixret made for an index (engine/store.py)\n"
GENERATION = re.compile(r"gen-[0-9a-f]{1,16}")  # publish names them gen-{time_ns:x}
ATOMIC_TEMP = re.compile(r"\..+\.tmp")  # what io.atomic_open leaves when killed mid-write
# the work folder's files (engine/build.py): the vocabulary, the quantizer and each chunk's words,
# each named by a hash of what it holds
WORK_FILE = re.compile(r"[A-Za-z0-9_-]*[0-9a-f]{16,64}\.npz")


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
    adopt_current(root)  # an index written before pixret kept a ledger: its generation, proven by its checksums
    gen = f"gen-{time.time_ns():x}"
    while (root / gen).exists() or (root / gen).is_symlink():  # never write into a folder that is there already
        gen = f"gen-{time.time_ns():x}"
    record(root, "generations", [gen])  # before it exists: a killed publish leaves a folder known as pixret's
    record(root, "shards", names)
    data = root / gen
    data.mkdir()
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
        if remove_owned(data, _generation_file):
            record(root, "generations", [gen], forget=True)
        raise
    remove_old_data(root, keep=gen, shards=set(names))
    return gen


def adopt_current(root: Path) -> None:
    """Record in the ledger the generation index.json names and its shards, when their files
    match the checksums index.json holds (an index pixret wrote before it kept a ledger: its
    data are proven pixret's by its own files). Anything that does not match is not recorded."""
    try:
        meta = read_meta(root)
        gen = meta["generation"]
        known = written(root)
        if not (isinstance(gen, str) and GENERATION.fullmatch(gen)) or gen in known["generations"]:
            return
        data = root / gen
        if data.is_symlink() or any(crc_file(data / f) != meta["checksums"][f] for f in GENERATION_FILES):
            return
        regular_file(data / "shards.json")
        names = json.loads((data / "shards.json").read_text())
        sums = meta["shard_checksums"]
        proven = [n for n, c in zip(names, sums, strict=True) if isinstance(n, str) and SHARD_NAME.fullmatch(n)
                  and not (root / "shards" / n).is_symlink() and sums_crc(root / "shards" / n) == c]  # fmt: skip
    except (PixretError, OSError, ValueError, KeyError, TypeError, RecursionError):
        return
    record(root, "generations", [gen])
    record(root, "shards", proven)


def work_folder(root: Path) -> Path:
    """The folder a build or an add keeps its work files in (the vocabulary, each chunk's words)
    while it runs; the caller holds the writer lock. ROOT/work when pixret made it (the ledger
    says so: a resumed build finds its vocabulary there) or it is not there yet; else (a link, a
    file, or a folder pixret did not make) another folder made now, ``work-N``: pixret never
    writes into a folder it cannot prove it made, nor through a link (what is there is kept, and
    said when the build ends)."""
    made = written(root)["work"]
    for name in ["work", *sorted(made - {"work"})]:
        folder = root / name
        if name in made and folder.is_dir() and not folder.is_symlink():
            return folder
    n = 0
    while True:
        name = "work" if n == 0 else f"work-{n}"
        folder = root / name
        if not (folder.exists() or folder.is_symlink()):
            record(root, "work", [name])
            try:
                folder.mkdir()
            except OSError as exc:
                raise PixretError(folder, f"cannot make the build's work folder ({exc.strerror or exc})") from None
            return folder
        n += 1


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
    (two builds into one folder would each report success, and the last one would win).

    ROOT must be new, empty, or a folder pixret made for an index (``claim``); anything else is
    refused before a byte is written. A first build refused before it wrote anything but its
    mark and lock (an empty feature folder at most) leaves the folder as it found it."""
    made, fresh = claim(root)
    try:
        with _held(root):
            yield
    finally:
        if fresh:
            _undo_claim(root, made)


def claim(root: Path) -> tuple[bool, bool]:
    """Make sure pixret may write an index into ROOT (new, empty, marked ``.pixret-index`` or
    holding a pixret index.json) and mark it; (made now, was new or empty). PixretError, one line
    naming the folder and what it holds, for any other folder: nothing is written there."""
    entries = check_index_folder(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
        if not (root / MARK).exists():
            write_bytes_new(root / MARK, MARK_TEXT.encode())
    except OSError as exc:
        raise PixretError(root, f"cannot write the index here ({exc.strerror or exc})") from None
    return entries is None, not entries


def check_index_folder(root: Path) -> list[str] | None:
    """``claim``'s check, writing nothing (a command checks its index folder before any work):
    ROOT's entries (None: not there); PixretError, one line, when pixret may not write an index
    there."""
    try:
        entries = sorted(os.listdir(root))
    except FileNotFoundError:
        entries = None
    except NotADirectoryError:
        raise PixretError(root, "is a file, not a folder: give a folder for the index") from None
    except OSError as exc:
        raise PixretError(root, f"cannot read the folder ({exc.strerror or exc})") from None
    if entries and not is_index_folder(root):
        shown = ", ".join(entries[:3]) + (f" and {len(entries) - 3} more" if len(entries) > 3 else "")
        raise PixretError(root, f"not a pixret index, and not empty (it holds {shown}): give a new or empty "
                          "folder for the index; nothing was changed")  # fmt: skip
    shards = root / "shards"
    if shards.is_symlink() or (shards.exists() and not shards.is_dir()):
        raise PixretError(shards, f"{'a link' if shards.is_symlink() else 'a file'} where pixret keeps the index's "
                          "shards: pixret does not write through it; move it away (nothing was changed)")  # fmt: skip
    return entries


def write_bytes_new(path: Path, data: bytes) -> None:
    """Write a file that must not exist yet (O_EXCL); one that appeared meanwhile is left as is."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def is_index_folder(root: Path) -> bool:
    """Whether ROOT is a folder pixret made for an index: its mark, or an index.json of pixret's
    format (any version: an index built before the mark existed)."""
    mark = root / MARK
    try:
        if mark.is_file() and not mark.is_symlink() and mark.stat().st_size < 4096 and mark.read_text() == MARK_TEXT:
            return True
        meta_path = root / "index.json"
        if not meta_path.is_file() or meta_path.is_symlink():
            return False
        regular_file(meta_path)
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError, RecursionError, PixretError):
        return False
    return isinstance(meta, dict) and meta.get("format") == FORMAT


def _undo_claim(root: Path, made: bool) -> None:
    """After a first build into a new or empty folder: if it left nothing but its mark, the lock
    and empty folders, remove exactly those (os.rmdir removes only an empty folder)."""
    files = [p for p in root.rglob("*") if not p.is_dir() or p.is_symlink()]
    if any(p.parent != root or p.name not in (MARK, ".lock", LEDGER) for p in files):
        return  # the build wrote something: the folder is an index's (interrupted, it resumes)
    for p in files:
        with contextlib.suppress(OSError):
            p.unlink()
    for d in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        with contextlib.suppress(OSError):
            d.rmdir()
    if made:
        with contextlib.suppress(OSError):
            root.rmdir()


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
    build's work folders; readers that still map them keep their open files. Only what the
    ledger proves pixret made is removed (``shards.written``; its files checked by
    ``remove_owned``): any other folder is kept, with a warning naming it."""
    made = written(root)
    gone: dict[str, list[str]] = {"generations": [], "shards": [], "work": []}
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if entry.name.startswith("gen-") and entry.name != keep and (entry.is_dir() or entry.is_symlink()):
            if entry.is_symlink() or entry.name not in made["generations"]:
                _kept(Path(entry.path), "not a generation pixret recorded writing")
            elif remove_owned(Path(entry.path), _generation_file):
                gone["generations"].append(entry.name)
    shard_dir = root / "shards"
    if shard_dir.is_dir() and not shard_dir.is_symlink():
        for entry in sorted(os.scandir(shard_dir), key=lambda e: e.name):
            if entry.name in shards:
                continue
            temp = SHARD_TEMP.fullmatch(entry.name)
            name = entry.name[1:23] if temp else entry.name  # a temp folder: .s-<20 hex>.<pid>.<hex>.tmp
            if entry.is_symlink() or not entry.is_dir() or name not in made["shards"]:
                _kept(Path(entry.path), "not a shard pixret recorded writing")
            elif remove_owned(Path(entry.path), _shard_file) and not temp:
                gone["shards"].append(name)
    for name in sorted(made["work"]):
        work = root / name
        if work.is_symlink():
            _kept(work, "a link, not the work folder pixret makes")
        elif not work.exists() or (work.is_dir() and remove_owned(work, _work_file)):
            gone["work"].append(name)
    work = root / "work"
    if (work.exists() or work.is_symlink()) and "work" not in made["work"]:  # work went to another folder
        _kept(work, "a link, not the work folder pixret makes" if work.is_symlink() else "not a folder pixret made")
    for kind, names in gone.items():
        record(root, kind, names, forget=True)


def _generation_file(name: str) -> bool:
    return name in GENERATION_FILES or bool(ATOMIC_TEMP.fullmatch(name))


def _shard_file(name: str) -> bool:
    return name in SHARD_FILES or bool(ATOMIC_TEMP.fullmatch(name))


def _work_file(name: str) -> bool:
    return bool(WORK_FILE.fullmatch(name) or ATOMIC_TEMP.fullmatch(name))


def remove_owned(folder: Path, ours) -> bool:
    """Remove ``folder`` if every entry in it is a regular file whose name ``ours`` accepts (what
    pixret writes there); else keep it whole, with a warning naming what pixret did not write.
    Returns whether it was removed."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return False
    foreign = sorted(e.name for e in entries if e.is_symlink() or not e.is_file() or not ours(e.name))
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        _kept(folder, f"it holds {shown}, which pixret did not write")
        return False
    for e in entries:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(e.path)
    try:
        folder.rmdir()
    except OSError:  # something was written into it meanwhile: keep it
        return False
    return True


def _kept(path: Path, why: str) -> None:
    warnings.warn(f"{path}: kept ({why}); remove it yourself if it is not needed", IndexWarning, stacklevel=4)
