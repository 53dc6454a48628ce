"""The shortlist cut (engine/shortlist.py): exact outputs on tiny arrays."""

import numpy as np

from pixret.engine.shortlist import auto_top_k, cut, exhaustive


def test_the_shortlist_grows_with_the_collection_beyond_100k():
    assert [auto_top_k(n) for n in (0, 5_000, 100_000, 316_228, 1_000_000, 5_000_000)] == [100, 100, 100, 200, 300, 300]


def test_cut_keeps_the_best_positive_scores_ties_by_index():
    s = np.array([0.1, 0.5, 0.0, 0.5, 0.3, -1.0])
    assert cut(s, 3).tolist() == [1, 3, 4]
    assert cut(s, 10).tolist() == [1, 3, 4, 0]  # zero and negative scores never
    assert cut(s, 2, exclude=np.array([1])).tolist() == [3, 4]
    assert s[1] == 0.5  # the caller's scores are not changed
    assert cut(s, 0).tolist() == [] and exhaustive(3).ids.tolist() == [0, 1, 2]
