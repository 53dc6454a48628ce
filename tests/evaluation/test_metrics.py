"""The metric registry (evaluation/metrics.py): one table that every score display reads."""

import numpy as np
import pytest

from pixret.evaluation import PixelEval
from pixret.evaluation.metrics import COMPARED, METRICS, metric, percent, summary_rows
from pixret.evaluation.protocols import NAMES, get


def test_every_value_of_a_summary_is_reached_through_the_registry(tiny_release):
    bench, _ = tiny_release
    s = PixelEval(bench, np.array([[0, 3, 2, 1, 4, 5], [5, 4, 0, 1, 2, 3]]).T, {}).run()["strict"]
    rows = summary_rows()
    assert [r[0] for r in rows][:3] == ["mIoU box Medium", "mIoU box Hard", "mIoU mask Medium"]
    assert len(rows) == 4 + 2 + 2 + 3
    seen = {(m.field, m.subkey.format(s=sub)) for _, m, sub in rows}
    expected = {(k, sub) for k in ("mIoU", "pixel_mAP", "pixel_mAP_box", "image_mAP") for sub in s[k]}
    assert seen == expected
    assert METRICS["image_mAP"].value(s, "medium") == 1.0 and METRICS["mIoU_mask"].value(s, "hard") == 0.0
    assert METRICS["image_mAP"].per_query(s, "easy").tolist() == [1.0, 1.0]
    assert METRICS["pixel_mAP"].query_value({"pixel_AP": {"medium": None}}, "medium") is None
    assert METRICS["pixel_mAP"].value({"pixel_mAP": "junk"}, "medium") is None  # never a traceback
    assert set(COMPARED) <= set(METRICS)


def test_unknown_names_are_refused_with_the_valid_ones():
    with pytest.raises(ValueError, match="choose from mIoU_box, mIoU_mask, pixel_mAP"):
        metric("mAP")
    with pytest.raises(ValueError, match="choose from compat, strict"):
        get("loose")
    assert NAMES == ("compat", "strict")
    assert percent(0.1234) == "12.3" and percent(None) == "-" and percent(float("nan"), 2) == "-"
