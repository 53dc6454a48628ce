"""Exact tf-idf over a float CSR matrix: the reference the compact sharded inverted file
(pixret.engine.shards) is tested against, and what bench_scale.py measures shortlist recall by.

Written independently of the package's scoring on purpose (an oracle that shared its code
would agree with any bug in it): burstiness-damped sqrt(tf), idf = log((n + 1) / (df + 1)),
L2-normalised image vectors, cosine similarity.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def _bow(words: np.ndarray, n_words: int) -> tuple[np.ndarray, np.ndarray]:
    u, c = np.unique(words, return_counts=True)
    return u, np.sqrt(c.astype(np.float32))  # burstiness: sqrt(tf)


class InvertedFile:
    """Word -> images matrix of burstiness-damped, idf-weighted, L2-normalised tf vectors.

    ``split_bits``: the words are split by that many signature bits (``split_words``)."""

    def __init__(self, matrix: sp.csr_matrix, idf: np.ndarray, split_bits: int = 0):
        self.matrix = matrix  # (n_words, n_images), float32
        self.idf = idf
        self.split_bits = split_bits

    @classmethod
    def build(cls, words_per_image: list[np.ndarray], n_words: int, split_bits: int = 0) -> InvertedFile:
        rows, cols, vals = [], [], []
        df = np.zeros(n_words, np.int64)
        for i, w in enumerate(words_per_image):
            u, tf = _bow(w, n_words)
            df[u] += 1
            rows.append(u)
            cols.append(np.full(len(u), i, np.int32))
            vals.append(tf)
        n = len(words_per_image)
        idf = np.log((n + 1) / (df + 1)).astype(np.float32) + 1e-3
        r = np.concatenate(rows) if rows else np.zeros(0, np.int32)
        c = np.concatenate(cols) if cols else np.zeros(0, np.int32)
        v = np.concatenate(vals) * idf[r] if vals else np.zeros(0, np.float32)
        norms = np.sqrt(np.bincount(c, weights=v.astype(np.float64) ** 2, minlength=n)).astype(np.float32)
        v = v / np.maximum(norms[c], 1e-12)
        m = sp.csr_matrix((v.astype(np.float32), (r, c)), shape=(n_words, n))
        m.sort_indices()
        return cls(m, idf, split_bits)

    @property
    def n_images(self) -> int:
        return self.matrix.shape[1]

    def nbytes(self) -> int:
        m = self.matrix
        return m.data.nbytes + m.indices.nbytes + m.indptr.nbytes + self.idf.nbytes

    def scores(self, words: np.ndarray) -> np.ndarray:
        """Cosine similarity of the query's words to every image (touches only their postings)."""
        u, tf = _bow(words, self.matrix.shape[0])
        q = tf * self.idf[u]
        q /= max(float(np.linalg.norm(q)), 1e-12)
        return np.asarray(self.matrix[u].T @ q).ravel()
