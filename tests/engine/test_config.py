"""Engine configs (engine/config.py): a typo is refused with the valid values; inconsistent settings are refused."""

from dataclasses import replace

import pytest

from pixret.engine import get_config
from pixret.errors import PixretError


def test_a_compact_config_needs_signature_matching():
    cfg = get_config("fast-compact")
    with pytest.raises(PixretError, match="needs matching 'words' with match_distance 'signature'"):
        replace(cfg, verify=replace(cfg.verify, match_distance="descriptor"))
    with pytest.raises(PixretError, match="match_distance 'hamming' is not one of: descriptor, signature"):
        replace(cfg.verify, match_distance="hamming")


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: replace(get_config("fast").verify, matching="word"), "matching 'word' is not one of: words, ratio"),
        (lambda: replace(get_config("fast").verify, method="lmeds"), "method 'lmeds' is not one of: magsac, ransac"),
        (lambda: replace(get_config("fast").features, kind="orb"), "kind 'orb' is not one of: sift, xfeat"),
        (lambda: replace(get_config("fast").mask, output="tigth"), "output 'tigth' is not one of: adaptive, object, tight, box"),
    ],
)
def test_a_config_typo_lists_the_valid_values(make, message):
    with pytest.raises(PixretError, match=message):
        make()
