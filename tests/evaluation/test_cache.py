"""The compare cache's keys and checks (evaluation/cache.py): a key changes with every input, a
result file's digest follows its content and its masks, a malformed summary is named."""

import json

from pixret.evaluation.cache import check_summary, entry_key, file_digest


def test_the_key_changes_with_everything_the_score_depends_on():
    base = ("bench", "proxford", "img", "pix", ("compat", "strict"), "xy", False)
    keys = {entry_key(*base)}
    for k, other in enumerate(("bench2", "prparis", "img2", "pix2", ("strict",), "yx", True)):
        changed = list(base)
        changed[k] = other
        keys.add(entry_key(*changed))
    assert len(keys) == 8 and entry_key(*base) == entry_key(*base)


def test_a_result_file_digest_follows_its_bytes_and_its_masks(tmp_path):
    assert file_digest(None) == "-"
    (tmp_path / "m.png").write_bytes(b"one")
    doc = tmp_path / "p.json"
    doc.write_text(json.dumps({"pairs": [{"query": 0, "image": 0, "mask": "m.png"}]}))
    first = file_digest(doc)
    (tmp_path / "m.png").write_bytes(b"two")  # the mask changed, the JSON did not
    assert file_digest(doc) != first
    (tmp_path / "m.png").unlink()
    assert file_digest(doc) not in (first, "-")


def test_a_summary_that_is_not_one_is_named():
    assert check_summary([], ("strict",), 2) == "summary: expected the protocols strict"
    assert check_summary({"strict": {"x": 1}}, ("strict",), 2) == "strict: not a protocol summary"
