"""Index shards: immutable folders of per-image features and a compact inverted file.

An index is a list of shards, each holding up to 65,535 consecutive images. A shard is
written once, by one task (on Dask or in-process), into a temporary folder renamed into place,
and never changed: a build that is killed reuses the shards already written, and ``--add``
rewrites only the last, partial one. Its name is a hash of everything its bytes depend on (the
images' feature files, the vocabulary, the settings), so a rebuild finds it again.

Data contract of a shard folder (F features of n images, W distinct fine words)::

    offsets.npy  (n + 1,) int64   features of local image j: rows offsets[j] .. offsets[j + 1]
    kpts.npy     (F, 4)   float32 (float16 in a compact index): x, y, size, angle
    words.npy    (F,)     uint16 (int32 beyond 65,536 words): visual word of each feature
    sigs.npy     (F,)     uint64: Hamming-embedding signature in that word
    desc.npy     (F, D)   uint8 RootSIFT / int8 learned; (F, 0) in a compact index
    post_words.npy (W,)   uint32 sorted fine words (shortlist.split_words) present in the shard
    post_ptr.npy (W + 1,) uint32: postings of post_words[k] are rows post_ptr[k] .. post_ptr[k + 1]
    post_ids.npy (F,)     uint16 local image id of each posting, sorted within a word
    post_df.npy  (W,)     uint16 number of distinct images per word

One posting per feature, not per (image, word): a word that fires t times in an image is t
equal ids side by side, and the search turns each run into sqrt(t) (burstiness). That is 2 bytes
per feature plus 10 per distinct word, where a CSR matrix of (image, word) weights costs 8:
the shortlist of a million images fits in a few GB of RAM (README "Scaling out").
"""

from __future__ import annotations

import hashlib
import mmap
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..io import save_npy

MAX_SHARD = (1 << 16) - 1  # local image ids and per-shard df are uint16
ARRAYS = ("offsets", "kpts", "words", "sigs", "desc", "post_words", "post_ptr", "post_ids", "post_df")


def shard_name(*parts: bytes | str) -> str:
    """A shard's folder name: a hash of what its bytes depend on."""
    h = hashlib.sha1()
    for p in parts:
        h.update(p.encode() if isinstance(p, str) else p)
        h.update(b"\0")
    return f"s-{h.hexdigest()[:20]}"


def postings(fine: np.ndarray, offsets: np.ndarray) -> dict[str, np.ndarray]:
    """The compact inverted file of one shard from each feature's fine word (module docstring)."""
    n = len(offsets) - 1
    if n > MAX_SHARD:
        raise ValueError(f"a shard holds at most {MAX_SHARD} images, got {n}")
    if len(fine) and int(fine.max()) >= 1 << 32:
        raise ValueError("fine word ids beyond 2**32: fewer words or split bits")
    ids = np.repeat(np.arange(n, dtype=np.uint16), np.diff(offsets))
    order = np.lexsort((ids, fine))  # by word, then image
    fw, fi = fine[order], ids[order]
    if len(fw):
        new_word = np.r_[True, fw[1:] != fw[:-1]]
        starts = np.flatnonzero(new_word)
        new_image = new_word | np.r_[True, fi[1:] != fi[:-1]]
        df = np.add.reduceat(new_image.astype(np.int64), starts)
    else:
        starts = df = np.zeros(0, np.int64)
    return {
        "post_words": fw[starts].astype(np.uint32),
        "post_ptr": np.r_[starts, len(fw)].astype(np.uint32),
        "post_ids": fi,
        "post_df": df.astype(np.uint16),
    }


def write_shard(folder: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write a shard's arrays into a temporary folder beside ``folder``, then rename it into place
    (a shard folder that exists is complete). A shard already there is kept: same name, same bytes."""
    if folder.exists():
        return
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        for name in ARRAYS:
            save_npy(tmp / f"{name}.npy", arrays[name])
        os.rename(tmp, folder)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not folder.exists():  # another task wrote the same shard first: equally good
            raise


class Shard:
    """One shard's arrays, memory-mapped (read at search time, a slice at a time)."""

    def __init__(self, folder: Path):
        self.folder = folder
        for name in ARRAYS:
            setattr(self, name, np.load(folder / f"{name}.npy", mmap_mode="r"))
        self.offsets = np.array(self.offsets)  # small, read per image: in RAM
        for name in ("post_words", "post_ptr", "post_ids", "kpts", "words", "sigs", "desc"):
            # a query reads scattered bits of these: no read-ahead (it would page in 32x what
            # is used, and a cold search of a million images would wait on the disk for it)
            mm = getattr(getattr(self, name), "_mmap", None)
            if mm is not None and hasattr(mm, "madvise") and hasattr(mmap, "MADV_RANDOM"):
                mm.madvise(mmap.MADV_RANDOM)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_features(self) -> int:
        return int(self.offsets[-1])

    def postings_nbytes(self) -> int:
        return sum(getattr(self, f"post_{k}").nbytes for k in ("words", "ptr", "ids", "df"))

    def add_df(self, df: np.ndarray) -> None:
        """Add this shard's document frequencies into the global ``df`` (indexed by fine word)."""
        df[np.asarray(self.post_words, np.int64)] += self.post_df  # the words of a shard are distinct

    def norms(self, idf: np.ndarray) -> np.ndarray:
        """L2 norm of each image's tf-idf vector, sqrt(tf) weighted: sum of idf**2 over its features."""
        per_word = idf[np.asarray(self.post_words, np.int64)].astype(np.float64) ** 2
        w = np.repeat(per_word, np.diff(np.asarray(self.post_ptr, np.int64)))
        return np.sqrt(np.bincount(np.asarray(self.post_ids), weights=w, minlength=len(self))).astype(np.float32)

    def scores(self, words: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Dot product of the query's (sorted, unique fine ``words``, ``weights``) with every image's
        un-normalised tf-idf vector, sqrt(tf) x idf (the caller folds the idf into ``weights``)."""
        pw = self.post_words
        pos = np.searchsorted(pw, words)
        ok = pos < len(pw)
        ok[ok] = pw[pos[ok]] == words[ok]
        pos, qw = pos[ok], weights[ok]
        ptr = self.post_ptr
        a, b = np.asarray(ptr[pos], np.int64), np.asarray(ptr[pos + 1], np.int64)
        lens = b - a
        total = int(lens.sum())
        out = np.zeros(len(self))
        if not total:
            return out
        # every posting row of the matched words, as one gather (no Python loop over words)
        first = np.cumsum(lens) - lens
        rows = np.arange(total) + np.repeat(a - first, lens)
        ids = np.asarray(self.post_ids[rows])
        slot = np.repeat(np.arange(len(pos)), lens)
        # runs of one image within one word: t features of that word in the image -> sqrt(t)
        start = np.flatnonzero(np.r_[True, (ids[1:] != ids[:-1]) | (slot[1:] != slot[:-1])])
        t = np.diff(np.r_[start, total])
        out += np.bincount(ids[start], weights=qw[slot[start]] * np.sqrt(t), minlength=len(self))
        return out


class ShardSet:
    """The shards of an index, searched in parallel threads (numpy releases the GIL in the
    gathers); global image ``i`` lives in shard ``s`` with ``starts[s] <= i < starts[s + 1]``."""

    def __init__(self, shards: list[Shard], idf: np.ndarray, norms: np.ndarray, split_bits: int,
                 threads: int | None = None):  # fmt: skip
        self.shards, self.idf, self.norms, self.split_bits = shards, idf, norms, split_bits
        self.starts = np.cumsum([0] + [len(s) for s in shards]).astype(np.int64)
        self.threads = threads or min(len(shards), os.cpu_count() or 1) or 1
        self._pool = ThreadPoolExecutor(self.threads) if self.threads > 1 and len(shards) > 1 else None

    def locate(self, i: int) -> tuple[Shard, int]:
        s = int(np.searchsorted(self.starts, i, side="right")) - 1
        return self.shards[s], i - int(self.starts[s])

    def nbytes(self) -> int:
        """Bytes of everything the shortlist reads: postings (memory-mapped), idf and norms."""
        return sum(s.postings_nbytes() for s in self.shards) + self.idf.nbytes + self.norms.nbytes

    def scores(self, fine: np.ndarray) -> np.ndarray:
        """Cosine similarity of the query's fine words (one per feature) to every image."""
        u, tf = np.unique(np.asarray(fine, np.int64), return_counts=True)
        keep = u < len(self.idf)
        u, tf = u[keep], tf[keep]
        q = np.sqrt(tf) * self.idf[u]
        q /= max(float(np.linalg.norm(q)), 1e-12)
        w = q * self.idf[u]  # the images' side of the product: sqrt(tf) x idf, idf applied here
        parts = (
            list(self._pool.map(lambda s: s.scores(u, w), self.shards))
            if self._pool
            else [s.scores(u, w) for s in self.shards]
        )
        raw = np.concatenate(parts) if parts else np.zeros(0)
        return raw / np.maximum(self.norms, 1e-12)


def global_idf(shards: list[Shard], n_fine: int) -> np.ndarray:
    """idf of every fine word over all shards: log((n + 1) / (df + 1)), as shortlist.InvertedFile."""
    df = np.zeros(n_fine, np.int64)
    for s in shards:
        s.add_df(df)
    n = sum(len(s) for s in shards)
    return np.log((n + 1) / (df + 1)).astype(np.float32) + 1e-3
