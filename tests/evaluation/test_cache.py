"""The compare cache's keys and checks (evaluation/cache.py): a key changes with every input, a
result file's digest follows its content and its masks, a malformed summary is named."""

import hashlib
import json
import stat
from pathlib import Path

import numpy as np

from pixret.datasets import load_benchmark
from pixret.evaluation.cache import check_summary, entry_key, file_digest
from tests.helpers import blob, run_cli, write_method, write_release


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


# ------------------------------------------------------------------ a forged entry (issue 32)


def _tree(root):
    """A hand-made proxford under ``root`` and a results tree of two methods, good and poor."""
    queries, labels = [], {}
    rng = np.random.default_rng(4)
    for q in range(8):
        perm = rng.permutation(30)
        queries.append({"easy": perm[:2].tolist(), "hard": perm[2:4].tolist(), "junk": perm[4:5].tolist()})
        for i in perm[:4]:
            labels[(q, int(i))] = [blob(rng, 320, 240)]
    write_release(root, "proxford", queries, 30, labels, size=(320, 240))
    bench = load_benchmark(root, "proxford")
    results = root / "handed-over"
    write_method(results, bench, "mine", 0.15, 0.1, 0.3, 3)
    write_method(results, bench, "theirs", 0.45, 0.1, 0.6, 4)
    return results


def _compare(root, results, out):
    r = run_cli(["compare", "--root", root, "--results", results, "--json", out])
    assert r.returncode == 0, r.stderr
    doc = json.loads(Path(out).read_text())
    return {m: doc["scores"][m]["proxford"]["strict"]["pixel_mAP"] for m in ("mine", "theirs")}, r.stderr


def _forge(entry: Path, medium: float, hard: float) -> None:
    """Edit an entry's pixel mAP and make its seal fit again, as anyone could who holds only the
    file: the plain sha256 an entry once carried, and a MAC under a key of the forger's own."""
    doc = json.loads(entry.read_text())
    doc["summary"]["strict"]["pixel_mAP"] = {"medium": medium, "hard": hard}
    if "checksum" in doc:
        doc["checksum"] = hashlib.sha256(json.dumps([doc["key"], doc["summary"], doc["warnings"]],
                                                    sort_keys=True).encode()).hexdigest()  # fmt: skip
    if "mac" in doc:
        from pixret.evaluation.cache import entry_mac

        doc["mac"] = entry_mac(b"the forger's own key, 32 bytes!!", doc["key"], doc["summary"], doc["warnings"])
    entry.write_text(json.dumps(doc))


def test_a_forged_cache_entry_is_never_used(tmp_path):
    # the example: an edited entry with its checksum recomputed gave 99.0 / 98.0, not the score
    results = _tree(tmp_path)
    honest, _ = _compare(tmp_path, results, tmp_path / "a.json")
    entries = sorted((results / ".pixret-cache").glob("*.json"))
    assert len(entries) == 2
    for e in entries:
        _forge(e, 0.99, 0.98)
    again, err = _compare(tmp_path, results, tmp_path / "b.json")
    assert again == honest and not any(v == 0.99 for s in again.values() for v in s.values())
    assert err.count("not used") == 2 and "scored 2 (method, dataset) pair(s), 0 from the cache" in err
    third, err = _compare(tmp_path, results, tmp_path / "c.json")  # rewritten under the user's key: used
    assert third == honest and "0 (method, dataset) pair(s), 2 from the cache" in err and "not used" not in err


def test_a_results_tree_handed_over_with_its_cache_is_scored_again(tmp_path, monkeypatch):
    results = _tree(tmp_path)
    honest, _ = _compare(tmp_path, results, tmp_path / "a.json")
    mine = tmp_path / "user" / "cache.key"
    for e in (results / ".pixret-cache").glob("*.json"):  # sealed by whoever hands the tree over
        _forge(e, 0.99, 0.98)
    monkeypatch.setenv("PIXRET_KEY_FILE", str(mine))  # this user: a key of their own, made on first use
    handed, err = _compare(tmp_path, results, tmp_path / "b.json")  # the other user's cache: not trusted
    assert handed == honest and err.count("not used") == 2 and "0 from the cache" in err
    assert stat.S_IMODE(mine.stat().st_mode) == 0o600 and len(mine.read_bytes()) == 32
    mine.chmod(0o644)  # a key others may read is one others may forge with: not used
    _, err = _compare(tmp_path, results, tmp_path / "c.json")
    assert "mode 644" in err and "0 from the cache" in err
    mine.chmod(0o600)
    _, err = _compare(tmp_path, results, tmp_path / "d.json")
    assert "2 from the cache" in err


def test_a_key_file_that_is_a_folder_or_a_link_is_a_note_and_every_score_is_computed(tmp_path, monkeypatch):
    """The breaker's examples: PIXRET_KEY_FILE naming a folder gave a traceback
    (IsADirectoryError); a key reached through a symbolic link was refused as "Too many levels of
    symbolic links". Each is one note saying what is wrong, and the scores are computed."""
    results = _tree(tmp_path)
    honest, _ = _compare(tmp_path, results, tmp_path / "a.json")
    (tmp_path / "keys").mkdir()
    mine = tmp_path / "user" / "cache.key"
    monkeypatch.setenv("PIXRET_KEY_FILE", str(mine))
    _compare(tmp_path, results, tmp_path / "b.json")  # the key made, 0600
    (tmp_path / "link.key").symlink_to(mine)
    for key, says in ((tmp_path / "keys", "the cache key is a folder, not a file"),
                      (tmp_path / "link.key", "the cache key is a symbolic link")):  # fmt: skip
        monkeypatch.setenv("PIXRET_KEY_FILE", str(key))
        scores, err = _compare(tmp_path, results, tmp_path / "c.json")
        assert scores == honest and "scored 2 (method, dataset) pair(s), 0 from the cache" in err, err
        assert f"note: cache not used ({key}: {says}" in err and "Too many levels" not in err, err
        assert "Traceback" not in err and not list((tmp_path / "keys").iterdir())
