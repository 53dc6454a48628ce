"""Vocabulary and signatures: a faiss k-means vocabulary of visual words, and each feature's
Hamming-embedding signature in its word (Jegou et al., ECCV 2008).

The words feed two stages: the shortlist scores images by tf-idf over words split by their
signatures' first bits (``split_words``; the inverted file and its scoring are in postings.py,
the cut in shortlist.py), and matching pairs features of a shared word whose signatures are
close (matchers.py).
"""

from __future__ import annotations

import hashlib
import math

import faiss
import numpy as np

from ..parallel import fixed_threads
from .features import desc_float


def auto_vocab_size(n_images: int) -> int:
    """About two words per image, a power of two in 1k .. 8k (k-means cost grows with k)."""
    k = 2 ** round(math.log2(max(1, 2 * n_images)))
    return int(min(8192, max(1024, k)))


POINTS_PER_WORD = 40  # k-means sample: faiss asks for at least 39 points per centroid


@fixed_threads()
def train_vocabulary(desc: np.ndarray, k: int, iters: int, seed: int = 1234) -> np.ndarray:
    """k-means centroids (float32) of uint8 RootSIFT descriptors (a seeded subsample), with
    faiss's threads fixed (``parallel.fixed_threads``): the same centroids, bit for bit, in this
    process and on a one-thread Dask worker."""
    k = min(k, max(1, len(desc) // POINTS_PER_WORD))
    if len(desc) > k * POINTS_PER_WORD:
        pick = np.random.default_rng(seed).choice(len(desc), k * POINTS_PER_WORD, replace=False)
        desc = desc[np.sort(pick)]
    x = np.ascontiguousarray(desc_float(desc))
    km = faiss.Kmeans(
        x.shape[1], k, niter=iters, seed=seed, verbose=False, max_points_per_centroid=POINTS_PER_WORD
    )
    km.train(x)
    return km.centroids.astype(np.float32)


SIGNATURE_BITS = 64


def he_projection(dim: int, seed: int = 1234) -> np.ndarray:
    """A random orthogonal projection (dim, 64) for Hamming-embedding signatures."""
    g = np.random.default_rng(seed).standard_normal((dim, SIGNATURE_BITS))
    q, _ = np.linalg.qr(g)
    return np.ascontiguousarray(q[:, :SIGNATURE_BITS], dtype=np.float32)


class Quantizer:
    """Assigns descriptors to their nearest visual word, and signs where in the word they lie.

    Up to 2k words: exact search. Beyond: an IVF index over the words (sqrt(k) lists, 8
    probed), ~10x fewer distance computations; deterministic, and database and queries share it.

    Signatures (Hamming embedding, Jegou et al. ECCV 2008): the residual to the word's
    centroid, projected on 64 fixed random orthogonal directions, one bit per sign. Two
    descriptors of one word that lie close have close signatures, so a popcount rejects most
    candidate pairs of a word before any descriptor distance is computed.
    """

    def __init__(self, centroids: np.ndarray, projection: np.ndarray | None = None, index: bytes | None = None):
        self.centroids = centroids
        self.projection = he_projection(centroids.shape[1]) if projection is None else projection
        d, k = centroids.shape[1], len(centroids)
        if index is not None:  # the assignment index as trained once, shared by every worker
            self.index = faiss.deserialize_index(np.frombuffer(index, np.uint8))  # nprobe included
            return
        if k <= 2048:
            self.index = faiss.IndexFlatL2(d)
        else:
            coarse = faiss.IndexFlatL2(d)
            self.index = faiss.IndexIVFFlat(coarse, d, int(math.sqrt(k)))
            self.index.cp.seed = 1234
            with fixed_threads():  # k-means of the coarse lists: the same lists wherever it runs
                self.index.train(centroids)
            self.index.nprobe = 8
            self._coarse = coarse  # keep it alive: the IVF index does not own it
        with fixed_threads():
            self.index.add(centroids)

    @property
    def size(self) -> int:
        return len(self.centroids)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Everything that defines the assignment, for ``from_arrays`` (a file workers load)."""
        return {"centroids": self.centroids, "projection": self.projection,
                "index": faiss.serialize_index(self.index)}  # fmt: skip

    @classmethod
    def from_arrays(cls, z) -> Quantizer:
        return cls(np.asarray(z["centroids"]), np.asarray(z["projection"]), np.asarray(z["index"]).tobytes())

    def digest(self) -> str:
        """A hash of the vocabulary and signature projection: names the shards built with them."""
        h = hashlib.sha1(np.ascontiguousarray(self.centroids).tobytes())
        h.update(np.ascontiguousarray(self.projection).tobytes())
        return h.hexdigest()[:20]

    @fixed_threads()
    def assign(self, desc: np.ndarray, k: int = 1) -> np.ndarray:
        """Nearest word per descriptor, shape (n,); with k > 1 the k nearest, shape (n, k).
        faiss's distances are computed at a fixed thread count (a tie between two words must
        break the same way on every machine and worker)."""
        if not len(desc):
            return np.zeros((0,) if k == 1 else (0, k), np.int32)
        _, idx = self.index.search(np.ascontiguousarray(desc_float(desc)), k)
        idx = np.where(idx < 0, idx[:, :1], idx)  # IVF may return fewer than k: repeat the nearest
        return idx[:, 0].astype(np.int32) if k == 1 else idx.astype(np.int32)

    @fixed_threads()
    def signatures(self, desc: np.ndarray, words: np.ndarray) -> np.ndarray:
        """uint64 signature of each descriptor in each of its words: shape of ``words``. The
        projection is a BLAS product at a fixed thread count (a sign near 0 is a bit)."""
        x = desc_float(desc)
        flat = words.reshape(len(words), -1)
        out = np.zeros(flat.shape, np.uint64)
        for j in range(flat.shape[1]):
            bits = ((x - self.centroids[flat[:, j]]) @ self.projection) > 0
            out[:, j] = np.packbits(bits, axis=1, bitorder="little").view(np.uint64).ravel()
        return out.reshape(words.shape)


def split_words(words: np.ndarray, sigs: np.ndarray, bits: int) -> np.ndarray:
    """Finer words for the shortlist: each word split ``2**bits`` ways by its signature's first bits.

    Why: a vocabulary of a few thousand words is what matching wants (a true match rarely
    falls in another word), but with 2,000 features an image holds most such words, so tf-idf
    over them hardly tells a small object in clutter from anything else. The signature's first
    bits cut each word's cell by random hyperplanes through its centroid: a vocabulary
    2**bits times finer at no assignment cost.
    """
    if bits <= 0:
        return words.astype(np.int64)
    return words.astype(np.int64) * (1 << bits) + (sigs & np.uint64((1 << bits) - 1)).astype(np.int64)
