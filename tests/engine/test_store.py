"""The index's life on disk (engine/store.py): index.json checked, the writer's lock, generations."""

import json
import shutil

import pytest

from pixret.engine import Index
from pixret.engine.store import MARK, MARK_TEXT, generation, read_meta, writer_lock
from pixret.errors import PixretError
from tests.helpers import run_cli


def test_index_json_is_checked_before_anything_is_read(tmp_path):
    with pytest.raises(PixretError, match="no index.json: not an index"):
        read_meta(tmp_path)
    (tmp_path / "features").mkdir()
    with pytest.raises(PixretError, match="half-written"):
        read_meta(tmp_path)
    (tmp_path / "index.json").write_text('{"format": "other", "version": 1}')
    with pytest.raises(PixretError, match="index format other v1"):
        read_meta(tmp_path)
    assert generation(tmp_path) is None
    (tmp_path / "index.json").write_text(json.dumps({"generation": "gen-7"}))
    assert generation(tmp_path) == "gen-7"


def test_one_writer_at_a_time_and_a_refused_first_build_leaves_no_folder(tmp_path):
    root = tmp_path / "idx"
    with writer_lock(root):
        assert (root / ".lock").read_text().startswith("pixret process ")
        with pytest.raises(PixretError, match="is writing this index"), writer_lock(root):
            pass
    assert not root.exists()  # nothing was written beside the lock: no trace of the first build
    (tmp_path / "held").mkdir()
    (tmp_path / "held" / MARK).write_text(MARK_TEXT)
    (tmp_path / "held" / ".lock").mkdir()
    with pytest.raises(PixretError, match="cannot hold the index's lock file"), writer_lock(tmp_path / "held"):
        pass


def _tree(root):
    """Every file under ``root`` with its bytes (what a command must leave alone)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _photos(bench, folder, n=4):
    folder.mkdir()
    for i in range(n):
        shutil.copy(bench.database_image(i), folder / f"shot{i}.jpg")
    return folder


def test_indexing_into_a_folder_that_is_not_an_index_is_refused_and_loses_nothing(bench, tmp_path):
    # the example: `pixret index imgs --index u` deleted u/work and u/gen-* with exit code 0
    _photos(bench, tmp_path / "imgs")
    u = tmp_path / "u"
    (u / "work").mkdir(parents=True)
    (u / "gen-notes").mkdir()
    (u / "work" / "thesis.txt").write_text("t")
    (u / "gen-notes" / "chapter1.md").write_text("draft")
    before = _tree(u)
    r = run_cli(["index", "imgs", "--index", "u", "--workers", "1"], cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    line = r.stderr.strip()
    assert line.count("\n") == 0 and line.startswith("error: u: not a pixret index") and "nothing was changed" in line
    assert _tree(u) == before and sorted(p.name for p in u.iterdir()) == ["gen-notes", "work"]  # not even a lock
    r = run_cli(["index", "imgs", "--index", "u", "--add", "--workers", "1"], cwd=tmp_path)
    assert r.returncode == 2 and "not an index" in r.stderr and _tree(u) == before
    # a folder whose index.json is another tool's
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "features").mkdir()
    (tmp_path / "v" / "index.json").write_text('{"format": "my-own-tool", "generation": "gen-1"}')
    r = run_cli(["index", "imgs", "--index", "v", "--workers", "1"], cwd=tmp_path)
    assert r.returncode == 2 and "not a pixret index" in r.stderr
    assert sorted(p.name for p in (tmp_path / "v").iterdir()) == ["features", "index.json"]


def test_an_index_removes_only_what_it_wrote_and_names_what_it_kept(bench, tmp_path):
    _photos(bench, tmp_path / "imgs")
    assert run_cli(["index", "imgs", "--index", "mine", "--workers", "1"], cwd=tmp_path).returncode == 0
    idx = tmp_path / "mine"
    first = generation(idx)
    # things of the user's put into the index folder, named as pixret names its own
    mine = {"work/thesis.txt": "t", "gen-notes/a.md": "a", "gen-0abc/images.jsonl": "mine", "gen-0abc/my.txt": "b",
            "shards/s-0123456789abcdef0123/notes.txt": "n", "shards/keep.txt": "k"}  # fmt: skip
    for rel, text in mine.items():
        (idx / rel).parent.mkdir(parents=True, exist_ok=True)
        (idx / rel).write_text(text)
    for args in (["index", "imgs", "--index", "mine"], ["index", "imgs", "--index", "mine", "--add"]):
        shutil.copy(bench.database_image(5), tmp_path / "imgs" / f"late{len(args)}.jpg")
        r = run_cli([*args, "--workers", "1"], cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert all((idx / rel).read_text() == text for rel, text in mine.items())
        for kept in ("mine/work", "mine/gen-notes", "mine/gen-0abc", "mine/shards/s-0123456789abcdef0123",
                     "mine/shards/keep.txt"):  # fmt: skip
            assert f"warning: {kept}: kept" in r.stderr
    now = generation(idx)
    assert now != first and not (idx / first).exists()  # pixret's own earlier generation is gone
    assert sorted(p.name for p in idx.glob("gen-*")) == sorted(["gen-notes", "gen-0abc", now])
    assert len(Index.open(idx)) == 6


def test_an_interrupted_first_build_resumes_in_its_own_folder(bench, tmp_path, monkeypatch):
    import pixret.engine.store as store

    _photos(bench, tmp_path / "imgs")

    def killed(*args, **kwargs):
        raise PixretError(None, "killed while publishing")

    monkeypatch.setattr(store, "global_idf", killed)
    r = run_cli(["index", "imgs", "--index", "fresh", "--workers", "1"], cwd=tmp_path)
    assert r.returncode == 2 and (tmp_path / "fresh" / "features").is_dir()
    assert not list((tmp_path / "fresh").glob("gen-*"))  # the half-written generation is gone
    monkeypatch.undo()
    r = run_cli(["index", "imgs", "--index", "fresh", "--workers", "1"], cwd=tmp_path)  # its mark: the same folder
    assert r.returncode == 0, r.stderr
    assert len(Index.open(tmp_path / "fresh")) == 4 and not (tmp_path / "fresh" / "work").exists()


def test_work_files_are_never_written_through_a_link(bench, tmp_path):
    # the breaker's example: u1b/work a link to a folder of the user's; the rebuild warned that it
    # kept the link, then wrote its quantizer-*, s-* and vocab-* files into the user's folder
    _photos(bench, tmp_path / "imgs")
    assert run_cli(["index", "imgs", "--index", "u1b", "--workers", "1"], cwd=tmp_path).returncode == 0
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("mine")
    (tmp_path / "u1b" / "work").symlink_to(theirs, target_is_directory=True)
    shutil.copy(bench.database_image(5), tmp_path / "imgs" / "late.jpg")
    r = run_cli(["index", "imgs", "--index", "u1b", "--workers", "1"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in theirs.iterdir()) == ["notes.txt"]  # nothing piled into the user's folder
    assert "warning: u1b/work: kept (a link" in r.stderr and (tmp_path / "u1b" / "work").is_symlink()
    assert not list((tmp_path / "u1b").glob("work-*")) and len(Index.open(tmp_path / "u1b")) == 5
    # a link where the shards go: refused in one line, before any work
    (tmp_path / "elsewhere").mkdir()
    shutil.move(tmp_path / "u1b" / "shards", tmp_path / "elsewhere" / "shards")
    (tmp_path / "u1b" / "shards").symlink_to(tmp_path / "elsewhere" / "shards", target_is_directory=True)
    r = run_cli(["index", "imgs", "--index", "u1b", "--workers", "1"], cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.strip().startswith("error: u1b/shards: a link where pixret keeps")
    assert r.stderr.strip().count("\n") == 0


def test_folders_named_as_pixret_names_its_own_are_kept_without_proof(bench, tmp_path):
    # the breaker's example: a folder of the user's named gen-0123456789abcdef, and one named as a
    # shard, were deleted on the rebuild without a word (their names and file names were pixret's)
    _photos(bench, tmp_path / "imgs")
    assert run_cli(["index", "imgs", "--index", "u1b", "--workers", "1"], cwd=tmp_path).returncode == 0
    idx = tmp_path / "u1b"
    mine = {"gen-0123456789abcdef/idf.npy": b"my idf", "shards/s-00000000000000000000/kpts.npy": b"my points",
            ".s-00000000000000000000.1.ab.tmp/kpts.npy": b"x"}  # fmt: skip
    mine = {("shards/" + k if k.startswith(".s-") else k): v for k, v in mine.items()}
    for rel, data in mine.items():
        (idx / rel).parent.mkdir(parents=True, exist_ok=True)
        (idx / rel).write_bytes(data)
    first = generation(idx)
    shutil.copy(bench.database_image(5), tmp_path / "imgs" / "late.jpg")
    r = run_cli(["index", "imgs", "--index", "u1b", "--workers", "1"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert all((idx / rel).read_bytes() == data for rel, data in mine.items())
    for kept in ("u1b/gen-0123456789abcdef", "u1b/shards/s-00000000000000000000",
                 "u1b/shards/.s-00000000000000000000.1.ab.tmp"):  # fmt: skip
        assert f"warning: {kept}: kept" in r.stderr, r.stderr
    assert not (idx / first).exists()  # pixret's own earlier generation: recorded, so removed
    index = Index.open(idx)
    ours = {s.folder.name for s in index.shards.shards}
    assert {p.name for p in (idx / "shards").iterdir()} == ours | {"s-00000000000000000000",
                                                                   ".s-00000000000000000000.1.ab.tmp"}


def test_a_killed_build_leaves_nothing_a_later_build_cannot_prove_and_clean(bench, tmp_path, monkeypatch):
    import pixret.engine.store as store

    _photos(bench, tmp_path / "imgs", n=5)

    def killed(*args, **kwargs):
        raise PixretError(None, "killed while publishing")

    monkeypatch.setattr(store, "global_idf", killed)  # the shards are written, the generation is not
    assert run_cli(["index", "imgs", "--index", "k", "--workers", "1"], cwd=tmp_path).returncode == 2
    orphans = {p.name for p in (tmp_path / "k" / "shards").iterdir()}
    assert orphans and (tmp_path / "k" / "work").is_dir()
    monkeypatch.undo()
    (tmp_path / "imgs" / "shot4.jpg").unlink()  # another collection: the killed build's shards are not reused
    r = run_cli(["index", "imgs", "--index", "k", "--workers", "1"], cwd=tmp_path)
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
    index = Index.open(tmp_path / "k")
    assert {p.name for p in (tmp_path / "k" / "shards").iterdir()} == {s.folder.name for s in index.shards.shards}
    assert not orphans & {s.folder.name for s in index.shards.shards} and not (tmp_path / "k" / "work").exists()


def test_an_index_written_before_the_ledger_is_cleaned_by_its_checksums(bench, tmp_path):
    from pixret.engine.shards import LEDGER

    _photos(bench, tmp_path / "imgs")
    assert run_cli(["index", "imgs", "--index", "old", "--workers", "1"], cwd=tmp_path).returncode == 0
    (tmp_path / "old" / LEDGER).unlink()  # as an earlier pixret left it
    first = generation(tmp_path / "old")
    shutil.copy(bench.database_image(5), tmp_path / "imgs" / "late.jpg")
    r = run_cli(["index", "imgs", "--index", "old", "--workers", "1"], cwd=tmp_path)
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
    assert not (tmp_path / "old" / first).exists() and len(Index.open(tmp_path / "old")) == 5


def test_a_planted_ledger_proves_nothing(bench, tmp_path):
    """Issue 32, class 1 (a planted list of "what pixret wrote"): a .pixret-written naming the
    user's gen-0123456789abcdef and work folder, not sealed with this user's key (keys.py), is no
    ledger: a rebuild keeps them, with a warning, and seals the ledger it writes."""
    import json

    from pixret.engine.shards import LEDGER
    from pixret.keys import sealed

    _photos(bench, tmp_path / "imgs")
    idx = tmp_path / "idx"
    assert run_cli(["index", "imgs", "--index", idx, "--workers", "1"], cwd=tmp_path).returncode == 0
    doc = json.loads((idx / LEDGER).read_text())
    assert sealed(doc, doc["format"])
    (idx / "gen-0123456789abcdef").mkdir()
    (idx / "gen-0123456789abcdef" / "thesis.txt").write_text("mine")
    forged = {k: v for k, v in doc.items() if k != "seal"}
    forged["generations"] = [*forged["generations"], "gen-0123456789abcdef"]
    (idx / LEDGER).write_text(json.dumps(forged))
    shutil.copy(bench.database_image(5), tmp_path / "imgs" / "late.jpg")
    r = run_cli(["index", "imgs", "--index", idx, "--workers", "1"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (idx / "gen-0123456789abcdef" / "thesis.txt").read_text() == "mine"
    assert "gen-0123456789abcdef: kept" in r.stderr and len(Index.open(idx)) == 5
    doc = json.loads((idx / LEDGER).read_text())
    assert sealed(doc, doc["format"]) and "gen-0123456789abcdef" not in doc["generations"]
