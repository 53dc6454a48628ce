"""Rankings: block validation without a sort, the rank lookup, memory-mapped reading."""

import numpy as np
import pytest

from pixret.errors import PixretError
from pixret.evaluation import read_ranks
from pixret.evaluation.ranking import RankLookup, check_ranks
from tests.reference.revisitop import positions


def test_lookup_on_a_hand_made_ranking():
    # two queries over 6 images; query 0 asks about 1, 4 (ok) and 2 (junk), query 1 about 0 and 5
    ranks = np.array([[2, 5], [1, 3], [4, 0], [0, 1], [3, 2], [5, 4]])
    lk = RankLookup(ranks, [np.array([1, 4, 2]), np.array([0, 5])], 6)
    assert lk.rank_of(0, np.array([1, 4, 2])).tolist() == [1, 2, 0]
    assert lk.rank_of(1, np.array([5, 0])).tolist() == [0, 2]
    # junk 2 at rank 0 is removed: 1 and 4 move up to positions 0 and 1
    assert lk.positions(0, np.array([4, 1]), np.array([2])).tolist() == [0, 1]
    assert lk.positions(1, np.array([0]), np.array([], int)).tolist() == [2]


def test_lookup_of_a_top_k_ranking_leaves_the_rest_unfound():
    ranks = np.array([[3, 0], [1, 2]])  # the top 2 of 5 images
    lk = RankLookup(ranks, [np.array([1, 4]), np.array([4])], 5)
    assert lk.rank_of(0, np.array([1, 4])).tolist() == [1, -1]
    assert lk.positions(0, np.array([1, 4]), np.array([], int)).tolist() == [1]
    assert lk.positions(1, np.array([4]), np.array([], int)).tolist() == []


def test_lookup_agrees_with_the_plain_positions_on_random_rankings():
    rng = np.random.default_rng(0)
    n, nq = 3000, 7
    ranks = np.stack([rng.permutation(n) for _ in range(nq)], 1)[:2500]
    items = [rng.choice(n, 40, replace=False) for _ in range(nq)]
    lk = RankLookup(ranks, items, n)
    for q, it in enumerate(items):
        ok, junk = it[:30], it[30:]
        assert lk.positions(q, ok, junk).tolist() == positions(ranks[:, q], ok, junk).tolist()


@pytest.mark.parametrize(
    "ranks, message",
    [
        (np.array([[0, 1], [1, 1], [2, 0]]), "query 1's ranking repeats"),
        (np.array([[0, 1], [3, 0]]), "outside 0..2"),
        (np.array([[0, 1], [-1, 0]]), "outside 0..2"),
    ],
)
def test_check_finds_repeats_and_strays(ranks, message):
    with pytest.raises(PixretError, match=message):
        check_ranks(ranks, 3, "r.npy")


def test_check_across_blocks(monkeypatch):
    import pixret.evaluation.ranking as ranking

    monkeypatch.setattr(ranking, "BLOCK_ROWS", 4)
    ranks = np.stack([np.arange(10), np.arange(10)[::-1]], 1)
    check_ranks(ranks, 10, "ok")  # two permutations over three blocks
    ranks[9, 1] = 9  # a repeat of row 0's value, blocks apart
    with pytest.raises(PixretError, match="query 1's ranking repeats"):
        check_ranks(ranks, 10, "r")


def test_a_ranks_file_is_memory_mapped_not_read(tmp_path):
    f = tmp_path / "r.npy"
    np.save(f, np.stack([np.arange(50), np.arange(50)[::-1]], 1))
    got = read_ranks(f, 50, 2)
    assert isinstance(got, np.memmap) and got[0].tolist() == [0, 49]


def test_a_truncated_ranks_file_is_refused_before_mapping(tmp_path):
    f = tmp_path / "r.npy"
    np.save(f, np.zeros((1000, 2), np.int64))
    f.write_bytes(f.read_bytes()[:4000])
    with pytest.raises(PixretError, match="truncated .npy file"):
        read_ranks(f, 1000, 2)
    with pytest.raises(PixretError, match="is a folder"):
        read_ranks(tmp_path, 1000, 2)
