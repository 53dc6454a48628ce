"""Index shards: immutable folders of per-image features and a compact inverted file, each file
checked against the checksums written beside it.

An index is a list of shards, each holding up to 65,535 consecutive images. A shard is
written once, by one task (on Dask or in-process), into a temporary folder renamed into place,
and never changed: a build that is killed reuses the shards already written, and ``--add``
rewrites only the last, partial one. Its name is a hash of everything its bytes depend on (the
images' feature files, the vocabulary, the settings), so a rebuild finds it again.

Data contract of a shard folder (F features of n images; the inverted file: postings.py)::

    offsets.npy  (n + 1,) int64   features of local image j: rows offsets[j] .. offsets[j + 1]
    kpts.npy     (F, 4)   float32 (float16 in a compact index): x, y, size, angle
    words.npy    (F,)     uint16 (int32 beyond 65,536 words): visual word of each feature
    sigs.npy     (F,)     uint64: Hamming-embedding signature in that word
    desc.npy     (F, D)   uint8 RootSIFT / int8 learned; (F, 0) in a compact index
    post_words.npy, post_ptr.npy, post_ids.npy, post_df.npy   the inverted file (postings.py)
    rows.npy     (n,)     uint32 CRC-32 of each image's rows of kpts, words, sigs and desc
    sums.json    CRC-32 of the whole of offsets, the inverted file and rows.npy, and of every
                 array file's header; the generation (store.py) holds the CRC of sums.json

Why CRC-32 (zlib): it catches the damage a disk, a copy or a stray write does (any same-size
overwrite of a byte run) at 4-5 GB/s, where a cryptographic hash runs at 0.5-1 GB/s; the
checksums guard against bad luck, not against someone forging them. They are checked lazily:
a shard's inverted file on its first scoring (2 KB an image), an image's features when a
search first reads them (``Shard.check_image``), so opening an index of a million images reads
only its small files.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import re
import secrets
import shutil
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..errors import PixretError
from ..io import file_stamp, read_json, save_npy, write_json
from ..keys import seal, sealed
from . import pagecache
from . import postings as P

ARRAYS = ("offsets", "kpts", "words", "sigs", "desc", "post_words", "post_ptr", "post_ids", "post_df")
FEATURES = ("kpts", "words", "sigs", "desc")  # checked an image at a time (rows.npy)
WHOLE = ("offsets", "post_words", "post_ptr", "post_ids", "post_df", "rows")  # checked whole
SUMS = "sums.json"
SHARD_FILES = frozenset({*(f"{a}.npy" for a in ARRAYS), "rows.npy", SUMS})  # everything write_shard writes
SHARD_TEMP = re.compile(r"\.s-[0-9a-f]{20}\..+\.tmp")  # a shard being written (or left by a kill)


# The ledger of an index folder: every generation, shard and work folder pixret made there, each
# recorded (by the one process that holds the index's writer lock) before the folder is made, so
# that what a killed build left is known as pixret's. A folder is removed only when the ledger
# names it (store.remove_old_data): a name pixret would give is no proof, a folder of the user's
# can bear one. An unreadable ledger proves nothing: what it named is then kept, with a warning;
# so does one not sealed with this user's key (keys.py): a ledger planted in a folder someone
# hands you, or written by another user's pixret.
LEDGER, LEDGER_FORMAT = ".pixret-written", "pixret-index-written"
LEDGER_KINDS = ("generations", "shards", "work")


def written(root: Path) -> dict[str, set[str]]:
    """The folders the ledger of index folder ``root`` names, by kind (``LEDGER_KINDS``)."""
    out: dict[str, set[str]] = {k: set() for k in LEDGER_KINDS}
    path = root / LEDGER
    if not path.is_file() or path.is_symlink():
        return out
    try:
        doc = read_json(path)
    except PixretError:
        return out
    if isinstance(doc, dict) and doc.get("format") == LEDGER_FORMAT and sealed(doc, LEDGER_FORMAT):
        for kind in LEDGER_KINDS:
            names = doc.get(kind)
            out[kind] = {n for n in names if isinstance(n, str)} if isinstance(names, list) else set()
    return out


def record(root: Path, kind: str, names, forget: bool = False) -> None:
    """Add ``names`` to (``forget``: remove them from) the ledger's ``kind``; the caller holds
    the writer lock."""
    doc = written(root)
    new = doc[kind] - set(names) if forget else doc[kind] | set(names)
    if new == doc[kind]:
        return  # nothing new to say
    doc[kind] = new
    write_json(root / LEDGER, seal({"format": LEDGER_FORMAT, **{k: sorted(v) for k, v in doc.items()}}, LEDGER_FORMAT),
               indent=None)  # fmt: skip


def shard_name(*parts: bytes | str) -> str:
    """A shard's folder name: a hash of what its bytes depend on."""
    h = hashlib.sha1()
    for p in parts:
        h.update(p.encode() if isinstance(p, str) else p)
        h.update(b"\0")
    return f"s-{h.hexdigest()[:20]}"


def crc_file(path: Path, start: int = 0, stop: int | None = None) -> int:
    """CRC-32 of bytes start..stop of a file (all of it by default), read through a mapping."""
    size = os.path.getsize(path)
    stop = size if stop is None else min(stop, size)
    if stop <= start:
        return 0
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        return zlib.crc32(memoryview(mm)[start:stop])


def image_crc(offsets: np.ndarray, arrays, j: int) -> int:
    """CRC-32 of local image ``j``'s rows of kpts, words, sigs and desc, in that order."""
    a, b = int(offsets[j]), int(offsets[j + 1])
    crc = 0
    for arr in arrays:
        crc = zlib.crc32(np.ascontiguousarray(arr[a:b]).data, crc)
    return crc


def write_shard(folder: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write a shard's arrays and checksums into a temporary folder beside ``folder``, then rename
    it into place (a shard folder that exists is complete). A shard already there is kept: same
    name, same bytes."""
    if folder.exists():
        return
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    tmp.mkdir(parents=True)  # a new folder (never one that was there), so removing it on failure loses nothing
    try:
        offsets = np.asarray(arrays["offsets"])
        feats = [np.asarray(arrays[k]) for k in FEATURES]
        rows = np.array([image_crc(offsets, feats, j) for j in range(len(offsets) - 1)], np.uint32)
        for name in ARRAYS:
            save_npy(tmp / f"{name}.npy", arrays[name])
        save_npy(tmp / "rows.npy", rows)
        files = {name: crc_file(tmp / f"{name}.npy") for name in WHOLE}
        heads = {name: crc_file(tmp / f"{name}.npy", 0, _header_len(tmp / f"{name}.npy", arrays[name]))
                 for name in FEATURES}  # fmt: skip
        write_json(tmp / SUMS, {"files": files, "heads": heads}, indent=None)
        os.rename(tmp, folder)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not folder.exists():  # another task wrote the same shard first: equally good
            raise


def _header_len(path: Path, arr) -> int:
    """Bytes of the .npy header before the array's data."""
    return os.path.getsize(path) - int(np.asarray(arr).nbytes)


def _map(path: Path) -> mmap.mmap | bytes:
    """A read-only mapping of a whole file (b"" for an empty one)."""
    with open(path, "rb") as fh:
        return mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if os.fstat(fh.fileno()).st_size else b""


def _merged(lo: np.ndarray, hi: np.ndarray) -> list[tuple[int, int]]:
    """Byte ranges [lo, hi) sorted by start, overlapping or touching ones joined."""
    out: list[list[int]] = []
    for start, stop in zip(lo.tolist(), hi.tolist(), strict=True):
        if stop <= start:
            continue
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], stop)
        else:
            out.append([start, stop])
    return [(s, e) for s, e in out]


def sums_crc(folder: Path) -> int:
    """CRC-32 of a shard's sums.json (what the generation records for it)."""
    return crc_file(folder / SUMS)


class Shard:
    """One shard's arrays, memory-mapped (read at search time, a slice at a time), with the
    checks of its checksums. ``expected``: the CRC-32 of sums.json the generation recorded.

    Raises PixretError (one line naming the file) when a checksum fails: on open for sums.json,
    offsets and the array headers, later for the inverted file and an image's features."""

    def __init__(self, folder: Path, expected: int | None = None):
        self.folder = folder
        if expected is not None and sums_crc(folder) != expected:
            self._damaged(SUMS)
        try:
            sums = json.loads((folder / SUMS).read_text())
            self._files, heads = dict(sums["files"]), dict(sums["heads"])
        except (OSError, ValueError, KeyError, TypeError):
            self._damaged(SUMS)
        # the files checked whole, mapped now: a reader keeps checking the files it opened even
        # after a rebuild removed them (their pages stay until it closes them)
        self._maps = {name: _map(folder / f"{name}.npy") for name in WHOLE}
        # every array memory-mapped (np.memmap, kept for its mapping: prefetch, madvise) and used
        # through a plain ndarray view of it: slicing a memmap costs 5x a view's
        self._mapped = {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in (*ARRAYS, "rows")}
        for name, arr in self._mapped.items():
            setattr(self, name, np.asarray(arr))
        for name in FEATURES:
            if crc_file(folder / f"{name}.npy", 0, _header_len(folder / f"{name}.npy", getattr(self, name))) != heads.get(name):
                self._damaged(f"{name}.npy")
        self._check_file("offsets")
        self.offsets = np.array(self.offsets)  # small, read per image: in RAM
        for name in ("post_words", "post_ptr", "post_ids", "kpts", "words", "sigs", "desc"):
            # a query reads scattered bits of these: no read-ahead (it would page in 32x what
            # is used, and a cold search of a million images would wait on the disk for it);
            # what a search will read is asked for ahead instead (``prefetch``)
            mm = getattr(self._mapped[name], "_mmap", None)
            if mm is not None and hasattr(mm, "madvise") and hasattr(mmap, "MADV_RANDOM"):
                mm.madvise(mmap.MADV_RANDOM)
        self._postings_checked = False
        self._checked = np.zeros(len(self), bool)  # images whose features passed their CRC
        self._lock = threading.Lock()
        self._stamped = self._stamp()

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_features(self) -> int:
        return int(self.offsets[-1])

    def _damaged(self, what: str) -> None:
        raise PixretError(self.folder / what, "damaged index (the file fails its checksum): build the index again")

    def _check_file(self, name: str) -> None:
        if zlib.crc32(self._maps[name]) != self._files.get(name):
            self._damaged(f"{name}.npy")

    def _stamp(self) -> tuple:
        """``io.file_stamp`` of every file a search reads (None for one a rebuild removed: this
        reader keeps the pages it mapped)."""
        return tuple(file_stamp(self.folder / f"{name}.npy") for name in (*ARRAYS, "rows"))

    def check_postings(self) -> None:
        """Check the inverted file and rows.npy against their checksums and each other, once
        per process (``recheck_if_changed`` starts again when a file changed since)."""
        if self._postings_checked:
            return
        with self._lock:
            if not self._postings_checked:
                for name in ("post_words", "post_ptr", "post_ids", "post_df", "rows"):
                    self._check_file(name)
                self._check_consistent()
                self._postings_checked = True

    def _check_consistent(self) -> None:
        """What a checksum cannot vouch for (a file rewritten with its sums): the pointers run
        from 0 to the number of postings without going back, and every posting names an image
        of this shard."""
        ptr, ids = self.post_ptr, self.post_ids
        if len(ptr) != len(self.post_words) + 1 or (len(ptr) and (ptr[0] != 0 or ptr[-1] != len(ids))) \
                or (len(ptr) > 1 and (np.diff(ptr) < 0).any()):  # fmt: skip
            raise PixretError(self.folder / "post_ptr.npy", "damaged index (postings pointers out of order): build "
                              "the index again")  # fmt: skip
        if len(ids) and int(ids.max()) >= len(self):
            raise PixretError(self.folder / "post_ids.npy", f"damaged index (a posting names image {int(ids.max())} "
                              f"of a shard of {len(self)}): build the index again")  # fmt: skip

    def recheck_if_changed(self) -> None:
        """Check again, before a search, when a file of the shard changed on disk since it was
        checked (shards are never written in place: a damaged disk or a hand did it). A stat
        per file, about 10 microseconds each."""
        stamp = self._stamp()
        if stamp != self._stamped:
            with self._lock:
                self._postings_checked = False
                self._checked[:] = False
                self._stamped = stamp

    def check_image(self, j: int) -> None:
        """Check local image ``j``'s features against its CRC-32, once per process."""
        if self._checked[j]:
            return
        self.check_postings()  # rows.npy itself
        if image_crc(self.offsets, [getattr(self, k) for k in FEATURES], j) != int(self.rows[j]):
            raise PixretError(self.folder, f"damaged index (the features of image {j} of this shard fail their "
                              "checksum): build the index again")  # fmt: skip
        self._checked[j] = True

    def feature_ranges(self, local) -> dict[str, list[tuple[int, int]]]:
        """The byte ranges, within each FEATURES file's mapping, that hold local images
        ``local``'s rows: page-aligned starts, sorted, overlapping or touching ones joined
        (arrays with no bytes left out)."""
        js = np.unique(np.asarray(local, np.int64))
        out: dict[str, list[tuple[int, int]]] = {}
        if not len(js):
            return out
        a, b = self.offsets[js], self.offsets[js + 1]
        for name in FEATURES:
            arr = self._mapped[name]
            mm, row = getattr(arr, "_mmap", None), arr.strides[0] if arr.ndim else 0
            if mm is None or not row or not arr.size:
                continue
            base = int(arr.offset) % mmap.ALLOCATIONGRANULARITY  # where the data starts in the mapping
            lo = (base + a * row) // mmap.PAGESIZE * mmap.PAGESIZE
            out[name] = _merged(lo, np.minimum(base + b * row, len(mm)))
        return out

    def prefetch(self, local) -> int:
        """Ask the kernel to read local images ``local``'s features into the page cache now,
        without waiting (madvise WILLNEED on ``feature_ranges``, in file order); returns the
        bytes asked for. The reads then run side by side on the disk while the caller goes on,
        where touching the mapping (MADV_RANDOM) reads one page at a time, one after the other."""
        if not hasattr(mmap, "MADV_WILLNEED"):
            return 0
        asked = 0
        for name, ranges in self.feature_ranges(local).items():
            mm = self._mapped[name]._mmap
            for start, stop in ranges:
                mm.madvise(mmap.MADV_WILLNEED, start, stop - start)
                asked += stop - start
        return asked

    def read_postings(self) -> int:
        """Bring the inverted file and rows.npy into the page cache: its first check reads every
        byte; once checked, they are read through. Returns their bytes."""
        if not self._postings_checked:
            self.check_postings()
        else:
            for name in ("post_words", "post_ptr", "post_ids", "post_df", "rows"):
                pagecache.read_in(self.folder / f"{name}.npy")
        return self.postings_nbytes() + self.rows.nbytes

    def postings_nbytes(self) -> int:
        return sum(getattr(self, f"post_{k}").nbytes for k in ("words", "ptr", "ids", "df"))

    def norms(self, idf: np.ndarray) -> np.ndarray:
        """Each image's tf-idf norm (postings.image_norms)."""
        return P.image_norms(self.post_words, self.post_ptr, self.post_ids, len(self), idf)

    def scores(self, words: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """The query's dot product with every image of the shard (postings.shard_scores), after
        checking the inverted file (again if a file changed since)."""
        self.recheck_if_changed()
        self.check_postings()
        return P.shard_scores(self.post_words, self.post_ptr, self.post_ids, len(self), words, weights)


class ShardSet:
    """The shards of an index, searched in parallel threads (numpy and zlib release the GIL);
    global image ``i`` lives in shard ``s`` with ``starts[s] <= i < starts[s + 1]``."""

    def __init__(self, shards: list[Shard], idf: np.ndarray, norms: np.ndarray, split_bits: int,
                 threads: int | None = None):  # fmt: skip
        self.shards, self.idf, self.norms, self.split_bits = shards, idf, norms, split_bits
        self.starts = np.cumsum([0] + [len(s) for s in shards]).astype(np.int64)
        self.threads = threads or min(len(shards), os.cpu_count() or 1) or 1
        self._pool = ThreadPoolExecutor(self.threads) if self.threads > 1 and len(shards) > 1 else None

    def locate(self, i: int) -> tuple[Shard, int]:
        s = int(np.searchsorted(self.starts, i, side="right")) - 1
        return self.shards[s], i - int(self.starts[s])

    def prefetch(self, ids) -> int:
        """``Shard.prefetch`` of global images ``ids``, shard by shard; the bytes asked for."""
        ids = np.asarray(ids, np.int64)
        if not len(ids):
            return 0
        where = np.searchsorted(self.starts, ids, side="right") - 1
        return sum(self.shards[k].prefetch(ids[where == k] - self.starts[k]) for k in np.unique(where).tolist())

    def nbytes(self) -> int:
        """Bytes of everything the shortlist reads: postings (memory-mapped), idf and norms."""
        return sum(s.postings_nbytes() for s in self.shards) + self.idf.nbytes + self.norms.nbytes

    def map(self, fn, items) -> list:
        """``fn`` over ``items`` in the shards' thread pool (in order)."""
        return list(self._pool.map(fn, items)) if self._pool else [fn(x) for x in items]

    def scores(self, fine: np.ndarray) -> np.ndarray:
        """Cosine similarity (n_images,) of the query's fine words (one per feature) to every image."""
        u, w = P.query_vector(fine, self.idf)
        parts = self.map(lambda s: s.scores(u, w), self.shards)
        raw = np.concatenate(parts) if parts else np.zeros(0)
        return raw / np.maximum(self.norms, 1e-12)
