"""The search pipeline's files (pipelines/search.py): the queries file, read line by line."""

import pytest

from pixret.errors import PixretError
from pixret.pipelines.search import read_queries


def test_a_queries_file_names_each_image_and_box(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b c.jpg").write_bytes(b"")
    path = tmp_path / "q.txt"
    path.write_text("# image x1,y1,x2,y2\na.jpg 1,2,30,40\n\nsub/b c.jpg 5, 6, 50, 60\n")
    q = read_queries(path)
    assert [(x.image.name, tuple(x.box), x.line) for x in q] == [("a.jpg", (1, 2, 30, 40), 2),
                                                                 ("b c.jpg", (5, 6, 50, 60), 4)]  # fmt: skip
    assert q[0].image == tmp_path / "a.jpg"  # relative to the file's folder


@pytest.mark.parametrize("text, message", [
    ("a.jpg\n", "line 1: expected IMAGE x1,y1,x2,y2"),
    ("a.jpg 1,2,x,40\n", "line 1:"),
    ("missing.jpg 1,2,30,40\n", "line 1: image missing.jpg not found"),
    ("# nothing\n", "no queries in the file"),
])  # fmt: skip
def test_a_bad_line_is_one_line_naming_it(tmp_path, text, message):
    (tmp_path / "a.jpg").write_bytes(b"")
    (tmp_path / "q.txt").write_text(text)
    with pytest.raises(PixretError, match=message):
        read_queries(tmp_path / "q.txt")


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def test_an_output_folder_removes_only_what_pixret_wrote_there(tmp_path):
    """OutputFolder: a file listed in the folder's .pixret-search with its content's sha256 is
    pixret's to remove; an entry that leads outside the folder (a forged or damaged list, a
    sub-folder that is a link) never is."""
    import json

    from pixret.pipelines.search import MANIFEST, OutputFolder

    out, elsewhere = tmp_path / "o", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (elsewhere / "victim.txt").write_bytes(b"keep me")
    (out / "old.png").write_bytes(b"old")
    (out / "link").symlink_to(elsewhere, target_is_directory=True)
    listed = {"old.png": [_sha(b"old")], "../elsewhere/victim.txt": [_sha(b"keep me")],
              str(elsewhere / "victim.txt"): [_sha(b"keep me")], "link/victim.txt": [_sha(b"keep me")]}  # fmt: skip
    from pixret.keys import seal

    # sealed with this user's key (a list a planted one must not pass for: the next test)
    doc = seal({"format": "pixret-search-output", "version": 1, "files": listed}, "pixret-search-output")
    (out / MANIFEST).write_text(json.dumps(doc))
    with OutputFolder(out) as folder:
        folder.path("new.png").write_bytes(b"new")
        notes = folder.commit()
    assert (elsewhere / "victim.txt").read_bytes() == b"keep me"
    assert not (out / "old.png").exists() and (out / "new.png").read_bytes() == b"new"
    assert notes == [f"removed 1 file(s) an earlier search wrote in {out} and this one did not write again (first: old.png)"]
    assert json.loads((out / MANIFEST).read_text())["files"] == {"new.png": [_sha(b"new")]}
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "link", "new.png"]  # the stage is gone
    # an error before the commit: nothing in the folder changes, nothing is left behind
    with pytest.raises(RuntimeError), OutputFolder(out) as folder:
        folder.path("other.png").write_bytes(b"x")
        raise RuntimeError("a search failed")
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "link", "new.png"]
    # a name whose folder is a link is taken: no write leads outside
    with pytest.raises(PixretError, match="pixret did not write it"), OutputFolder(out) as folder:
        folder.path("link/x.png").write_bytes(b"x")
        folder.commit()
    assert sorted(p.name for p in elsewhere.iterdir()) == ["victim.txt"]


def test_a_planted_list_never_removes_a_users_file(tmp_path, monkeypatch):
    """The breaker's example (issue 32, class 1): a .pixret-search naming the user's thesis.txt
    with its sha256, planted in a folder, made a search remove it. Only a list sealed with this
    user's key (keys.py) is pixret's; another user's key seals nothing here either."""
    import json

    from pixret.keys import seal
    from pixret.pipelines.search import MANIFEST, OutputFolder

    out = tmp_path / "s2"
    out.mkdir()
    (out / "thesis.txt").write_bytes(b"my thesis")
    listed = {"format": "pixret-search-output", "version": 1, "by": "search", "files": {"thesis.txt": [_sha(b"my thesis")]}}
    monkeypatch.setenv("PIXRET_KEY_FILE", str(tmp_path / "someone-else.key"))
    theirs = seal(listed, "pixret-search-output")  # sealed, but with another user's key
    monkeypatch.setenv("PIXRET_KEY_FILE", str(tmp_path / "mine.key"))
    for k, doc in enumerate((listed, {**listed, "seal": "0" * 64}, theirs)):
        (out / MANIFEST).write_text(json.dumps(doc))
        with OutputFolder(out) as folder:
            folder.path(f"new{k}.png").write_bytes(b"new")
            notes = folder.commit()
        assert (out / "thesis.txt").read_bytes() == b"my thesis", doc
        assert any("not sealed with your pixret key" in n for n in notes), notes
    # the list it wrote is sealed with this user's key: the next search removes what it wrote
    with OutputFolder(out) as folder:
        folder.path("other.png").write_bytes(b"other")
        notes = folder.commit()
    assert not (out / "new2.png").exists() and (out / "new1.png").is_file() and (out / "thesis.txt").is_file()


def test_one_search_writes_a_folder_at_a_time(tmp_path):
    from pixret.pipelines.search import OutputFolder

    busy = pytest.raises(PixretError, match="another search is writing to this folder")
    with OutputFolder(tmp_path / "o"), busy, OutputFolder(tmp_path / "o"):
        pass
    (tmp_path / "f").write_text("a file")
    with pytest.raises(PixretError, match="exists and is not a folder"), OutputFolder(tmp_path / "f"):
        pass
