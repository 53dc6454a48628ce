"""The HTML comparison (viz/compare_page.py) on tiny exact values: what the differences are taken
against, their order, and names shown as text."""

import math

from pixret.evaluation.compare import Comparison
from pixret.viz.compare_page import query_order, reference


def _summary(aps):
    return {"strict": {"pixel_mAP": {"medium": sum(a for a in aps if a is not None) / len(aps), "hard": None},
                       "per_query": [{"query": q, "pixel_AP": {"medium": a, "hard": None}} for q, a in enumerate(aps)]}}  # fmt: skip


def test_differences_against_the_baseline_or_the_best_sorted_largest_first():
    cmp = Comparison(["a", "b", "c"], ["d"], ("strict",))
    cmp.scores = {("a", "d"): _summary([0.5, 0.5, 0.5, None]), ("b", "d"): _summary([0.9, 0.2, 0.6, 0.4]),
                  ("c", "d"): _summary([0.1, 0.1, 0.1, 0.1])}  # fmt: skip
    assert reference(cmp, "d", "strict", None) == "b"  # the best pixel mAP
    assert reference(cmp, "d", "strict", "c") == "c"
    # a - c per query: +0.4, +0.4, +0.4, undefined (last); ties by query
    assert query_order(cmp, "d", "strict", "c", "a") == [0, 1, 2, 3]
    # b - a: +0.4, -0.3, +0.1, undefined
    assert query_order(cmp, "d", "strict", "a", "b") == [0, 2, 1, 3]
    assert math.isnan(cmp.per_query("a", "d", "strict", "pixel_mAP", "medium")[3])
