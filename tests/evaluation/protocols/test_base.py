"""What both protocols share (evaluation/protocols/base.py): JSON-ready values and the release's means."""

import math

import numpy as np

from pixret.evaluation.protocols import get
from pixret.evaluation.protocols.base import clean, mean, nanmean_row


def test_clean_makes_json_values():
    assert clean({"a": [np.int64(3), np.float32(0.5), float("nan")], "b": (1, "x")}) == {"a": [3, 0.5, None], "b": [1, "x"]}


def test_means_as_the_release_takes_them():
    assert mean([0.5, 1.0]) == 0.75 and math.isnan(mean([]))
    assert nanmean_row(np.array([np.nan, 0.2, 0.4])) == 0.30000000000000004
    assert math.isnan(nanmean_row(np.array([np.nan, np.nan])))


def test_protocols_are_looked_up_by_name():
    assert get("compat").name == "compat" and get("strict").name == "strict"
