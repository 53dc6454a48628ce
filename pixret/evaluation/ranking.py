"""Image-level rankings at any scale: validated block by block, looked up only where needed.

An R1M ranking is a (1,004,993 x 70) int64 array, 563 MB. The evaluator never needs all of
it: only where each query's easy, hard and junk images sit. So a ranking file is
memory-mapped, read once in row blocks, and reduced to that small table (``RankLookup``).

Validation in the same spirit: a permutation check without a sort. Every (query, image) pair
seen is marked in a bitmap (one byte per pair: 70 MB at R1M); a column holds a repeat exactly
when it marks fewer distinct images than it has rows. Rows are scattered query by query, so
each query's slice of the bitmap (1 MB at R1M) stays in cache.

Data contract: ``ranks`` is (k, n_queries), k <= n_database, column q = database indices best
first; a positive beyond the top k counts as not retrieved.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from ..errors import PixretError

BLOCK_ROWS = 1 << 15  # 32k rows x 70 queries: an 18 MB int64 block


def iter_blocks(ranks: np.ndarray, rows: int = BLOCK_ROWS) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, int64 copy of the rows) over a (k, n_queries) array, memory-mapped or not."""
    for r0 in range(0, ranks.shape[0], rows):
        yield r0, np.asarray(ranks[r0 : r0 + rows], dtype=np.int64)


def check_ranks(ranks: np.ndarray, n_database: int, path: object) -> None:
    """Every entry in 0..n_database-1 and no column repeating an index, else a PixretError."""
    k, nq = ranks.shape
    if not k or not nq:
        return
    seen = np.zeros(nq * n_database, dtype=bool)
    offsets = (np.arange(nq, dtype=np.int64) * n_database)[:, None]
    for _, block in iter_blocks(ranks):
        if block.min() < 0 or block.max() >= n_database:
            raise PixretError(path, f"ranks hold an index outside 0..{n_database - 1}{_one_based_hint(ranks, n_database)}")
        seen[block.T + offsets] = True  # query by query: each query's slice stays in cache
    distinct = np.count_nonzero(seen.reshape(nq, n_database), axis=1)
    dup = np.flatnonzero(distinct < k)
    if dup.size:
        raise PixretError(path, f"query {int(dup[0])}'s ranking repeats a database index")


ONE_BASED_HINT = "1-based (MATLAB) indices? subtract 1, or pass --one-based"


def _one_based_hint(ranks: np.ndarray, n_database: int) -> str:
    """The hint for a ranking that is out of range exactly as a 1-based one is (1..n)."""
    lo = min(int(b.min()) for _, b in iter_blocks(ranks))
    hi = max(int(b.max()) for _, b in iter_blocks(ranks))
    return f" (they run from {lo} to {hi}: {ONE_BASED_HINT})" if lo >= 1 and hi == n_database else f" (they run from {lo} to {hi})"


class RankLookup:
    """Where each query's images of interest sit in its ranking (one pass over the ranks).

    ``items[q]``: the database indices asked about for query q (its easy, hard and junk).
    ``rank_of(q, idx)`` gives their 0-based ranks (-1 = not in the ranking); ``positions``
    is revisitop's: ranks of the relevant images once junk ranked before them is removed.
    """

    def __init__(self, ranks: np.ndarray, items: Sequence[np.ndarray], n_database: int):
        k = ranks.shape[0]
        self.n_rows = k
        self._items = [np.unique(np.asarray(it, dtype=np.int64)) for it in items]
        sizes = [len(it) for it in self._items]
        # (query, image) keys, sorted since items are sorted and queries come in order
        keys = [q * n_database + it for q, it in enumerate(self._items)]
        keys = np.concatenate(keys) if keys else np.zeros(0, np.int64)
        found = np.full(len(keys), -1, dtype=np.int64)
        if len(keys) and k:
            self._scan(ranks, keys, found, n_database)
        self._ranks = np.split(found, np.cumsum(sizes)[:-1])

    @staticmethod
    def _scan(ranks: np.ndarray, keys: np.ndarray, found: np.ndarray, n_db: int) -> None:
        wanted = np.zeros(n_db, dtype=bool)  # some query asks about this image: a cheap first filter
        wanted[keys % n_db] = True
        for r0, block in iter_blocks(ranks):
            rows, cols = np.nonzero(wanted[block])
            key = cols * n_db + block[rows, cols]
            at = np.searchsorted(keys, key)
            ok = (at < len(keys)) & (keys[np.minimum(at, len(keys) - 1)] == key)
            found[at[ok]] = rows[ok] + r0

    def rank_of(self, q: int, idx: np.ndarray) -> np.ndarray:
        """0-based ranks of database images ``idx`` (which must be among ``items[q]``), -1 if absent."""
        at = np.searchsorted(self._items[q], np.asarray(idx, dtype=np.int64))
        return self._ranks[q][at]

    def positions(self, q: int, ok: np.ndarray, junk: np.ndarray) -> np.ndarray:
        """Sorted 0-based positions of the ``ok`` images found, junk before them removed."""
        r = self.rank_of(q, ok)
        r = np.sort(r[r >= 0])
        j = self.rank_of(q, junk)
        j = np.sort(j[j >= 0])
        return r - np.searchsorted(j, r)
