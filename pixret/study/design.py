"""Which trials a study holds, and which condition each participant sees each trial under.

Trials: ``n`` (query, database image) pairs drawn with a seed, by default 40% easy positives,
30% hard positives and 30% negatives (an image that is neither a positive nor junk for the
query), as ``mix`` says. Junk images are never used: the benchmark itself cannot say whether
the object is in them.

Conditions (``image``, ``box``, ``mask``), balanced by a rotating Latin square: participant
number k sees trial t (in the study's trial order) under condition ``conditions[(t + k) % C]``.
So every participant sees each condition on n/C trials (one more or less), and every C
consecutive participants see every trial under every condition once. The order in which a
participant meets the trials is shuffled with a seed of their own.
"""

from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import dataclass

import numpy as np

from ..datasets.model import Benchmark
from ..errors import PixretError
from ..evaluation.results import PixelResults
from ..geometry import polygons_as_lists

CONDITIONS = ("image", "box", "mask")
KINDS = ("easy", "hard", "negative")
DEFAULT_MIX = (0.4, 0.3, 0.3)


@dataclass(frozen=True)
class Trial:
    query: int
    image: int
    kind: str


def parse_mix(text: str) -> tuple[float, float, float]:
    """'0.4,0.3,0.3' -> (0.4, 0.3, 0.3): three finite, non-negative shares, not all zero."""
    try:
        shares = tuple(float(v) for v in text.split(","))
    except ValueError:
        shares = ()
    if len(shares) != 3 or not all(math.isfinite(m) and m >= 0 for m in shares) or not sum(shares):
        raise PixretError(None, f"mix {text[:60]!r}: three non-negative numbers (easy, hard, negative), not all 0, "
                          "e.g. 0.4,0.3,0.3")
    return shares  # type: ignore[return-value]


def parse_conditions(text: str) -> tuple[str, ...]:
    conds = tuple(c.strip() for c in text.split(",") if c.strip())
    bad = [c for c in conds if c not in CONDITIONS]
    if bad or not conds or len(set(conds)) != len(conds):
        raise PixretError(None, f"conditions {text[:60]!r}: choose distinct ones from {', '.join(CONDITIONS)}")
    return conds


def sample_trials(bench: Benchmark, n: int, mix: tuple[float, float, float], seed: int) -> list[Trial]:
    """``n`` pairs in the proportions ``mix`` (easy, hard, negative), drawn with ``seed``."""
    if n < 1:
        raise PixretError(None, "a study needs at least one trial (--pairs)")
    if len(mix) != 3 or not all(math.isfinite(m) and m >= 0 for m in mix) or not sum(mix):
        raise PixretError(None, f"mix {mix}: three non-negative shares (easy, hard, negative), not all 0")
    rng = np.random.default_rng([seed, 7])
    pools: dict[str, list[tuple[int, int]]] = {k: [] for k in KINDS}
    for q in bench.queries:
        pools["easy"] += [(q.index, int(i)) for i in q.easy if (q.index, int(i)) in bench.pair_labels]
        pools["hard"] += [(q.index, int(i)) for i in q.hard if (q.index, int(i)) in bench.pair_labels]
    shares = np.array(mix, float) / sum(mix)
    counts = np.floor(shares * n).astype(int)
    counts[np.argmax(shares)] += n - counts.sum()
    # negatives: for a random query, an image that is neither a positive nor junk
    busy = {
        q.index: set(q.easy.tolist()) | set(q.hard.tolist()) | set(q.junk.tolist()) for q in bench.queries
    }
    trials: list[Trial] = []
    for kind, c in zip(KINDS, counts, strict=True):
        if kind == "negative":
            seen = set()
            for _ in range(100 * max(1, c)):
                if len(seen) >= c:
                    break
                q = int(rng.integers(bench.n_queries))
                i = int(rng.integers(bench.n_labelled_database))
                if i not in busy[q]:
                    seen.add((q, i))
            if len(seen) < c:
                raise PixretError(None, f"could not find {c} negative pairs")
            trials += [Trial(q, i, kind) for q, i in sorted(seen)]
            continue
        pool = pools[kind]
        if c > len(pool):
            raise PixretError(
                None, f"the benchmark has {len(pool)} labelled {kind} pairs, fewer than the {c} asked"
            )
        pick = rng.choice(len(pool), c, replace=False) if c else []
        trials += [Trial(*pool[k], kind) for k in sorted(pick)]
    order = rng.permutation(len(trials))
    return [trials[k] for k in order]


def _polys(polys) -> str:
    return json.dumps(polygons_as_lists(polys))


def write_trials(
    db: sqlite3.Connection, bench: Benchmark, trials: list[Trial], pixels: PixelResults | None
) -> None:
    """Insert the trials: the method's polygons (or the ground truth's, the "oracle") and the GT's."""
    for t in trials:
        gt = bench.gt(t.query, t.image) if t.kind != "negative" else None
        gt_polys = list(gt.polygons) if gt is not None else []
        if pixels is None:
            pred = gt_polys
        else:
            p = pixels.get((t.query, t.image))
            pred = list(p.polygons) if p is not None else []
        db.execute("INSERT INTO trials (query, image, kind, pred, gt) VALUES (?, ?, ?, ?, ?)",
                   (t.query, t.image, t.kind, _polys(pred), _polys(gt_polys)))  # fmt: skip


def assign(
    db: sqlite3.Connection, participant: str, number: int, conditions: tuple[str, ...], seed: int
) -> None:
    """Participant ``number``'s sequence: a shuffled order, conditions by the rotating Latin square."""
    ids = [r[0] for r in db.execute("SELECT id FROM trials ORDER BY id")]
    order = np.random.default_rng([seed, 11, number]).permutation(len(ids))
    for pos, t in enumerate(order.tolist()):
        cond = conditions[(t + number) % len(conditions)]
        db.execute("INSERT INTO assignments VALUES (?, ?, ?, ?)", (participant, pos, ids[t], cond))
