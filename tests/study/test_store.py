"""The study file (study/store.py): versioned schema, checked before it is opened for writing,
refused untouched, readable without write access."""

import hashlib
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest

from pixret.errors import PixretError
from pixret.study import store
from pixret.study.service import Study, create_study


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _edit(path: Path, *sql: str) -> None:
    db = sqlite3.connect(path)
    for q in sql:
        db.execute(q)
    db.commit()
    db.close()


def _refused_untouched(path: Path, match: str) -> None:
    before = _digest(path)
    beside = sorted(p.name for p in path.parent.iterdir())
    with pytest.raises(PixretError, match=match) as err:
        Study(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)
    assert _digest(path) == before  # byte for byte
    assert sorted(p.name for p in path.parent.iterdir()) == beside  # no -wal, -shm or journal left


def test_a_study_file_from_a_newer_schema_is_refused_untouched(study_file):
    _edit(study_file, "UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    _refused_untouched(study_file, "schema version 3; this pixret reads version 2: upgrade pixret")
    with pytest.raises(PixretError, match="exists"):
        create_study(study_file, "x", "eng")


@pytest.mark.parametrize(
    "damage, match",
    [
        ("DELETE FROM meta WHERE key = 'conditions'", "settings lack conditions"),
        ("DELETE FROM meta WHERE key = 'seed'", "settings lack seed"),
        ("UPDATE meta SET value = 'x' WHERE key = 'seed'", "seed 'x' is not a whole number"),
        ("UPDATE meta SET value = '99999999999999999999999' WHERE key = 'seed'", "seed .* is not a whole number"),
        ("UPDATE meta SET value = 'image,<b>' WHERE key = 'conditions'", "conditions 'image,<b>'"),
        ("DROP TABLE responses", "no responses table"),
        ("UPDATE meta SET value = 'one' WHERE key = 'schema_version'", "schema version one"),
    ],
)
def test_damaged_settings_and_tables_are_one_line_and_the_file_is_not_touched(study_file, damage, match):
    _edit(study_file, damage)
    _refused_untouched(study_file, match)


def test_files_that_are_no_study_stay_as_they_were(tmp_path):
    empty = tmp_path / "empty.db"
    empty.touch()
    _refused_untouched(empty, "not a pixret study file")
    assert empty.stat().st_size == 0  # grew to 4 KB before: the journal pragma ran first
    other = tmp_path / "other.db"  # another program's database, in rollback-journal mode
    _edit(other, "CREATE TABLE notes (body TEXT)", "INSERT INTO notes VALUES ('keep me')")
    _refused_untouched(other, "not a pixret study file")
    assert sqlite3.connect(other).execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # not switched to WAL
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"SQLite format 3\0" + os.urandom(300))
    _refused_untouched(junk, "not a pixret study file")


def test_missing_files_and_folders_are_named_as_such(tmp_path, bench):
    with pytest.raises(PixretError, match="study file not found .no folder .*nowhere.*pixret study create"):
        Study(tmp_path / "nowhere" / "s.db")
    with pytest.raises(PixretError, match="a folder, not a study file"):
        Study(tmp_path)
    with pytest.raises(PixretError, match="nowhere: no such folder") as err:
        create_study(tmp_path / "nowhere" / "s.db", bench.root, "eng")
    assert "not a pixret study file" not in str(err.value)


def test_a_version_1_file_is_read_as_it_is_and_upgraded_when_served(study_file):
    db = sqlite3.connect(study_file)  # the file an earlier pixret wrote: no device columns
    db.executescript(
        "ALTER TABLE responses DROP COLUMN viewport_w; ALTER TABLE responses DROP COLUMN viewport_h;"
        "ALTER TABLE responses DROP COLUMN pointer; UPDATE meta SET value = '1' WHERE key = 'schema_version';"
    )
    db.close()
    before = _digest(study_file)
    s = Study(study_file, readonly=True)
    assert s.rows() == [] and s.progress()["participants"] == []
    s.close()
    assert _digest(study_file) == before
    s = Study(study_file)
    pid = s.new_participant()
    s.record(pid, 0, 0, None, 700, [1280, 800], "mouse")
    assert s.rows()[0]["pointer"] == "mouse" and store.meta(s.db)["schema_version"] == "2"


def _drop_file_mode_override() -> None:
    """Clear CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH and CAP_FOWNER from this process (capset(2)).

    By hand through ctypes: the standard library has no capset, and a library (python-prctl)
    for one test call would be a build dependency with C code."""
    import ctypes

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    libc = ctypes.CDLL(None, use_errno=True)
    header, data = Header(0x20080522, 0), (Data * 2)()  # _LINUX_CAPABILITY_VERSION_3: two 32-bit words
    if libc.capget(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    keep = ~((1 << 1) | (1 << 2) | (1 << 3)) & 0xFFFFFFFF  # DAC_OVERRIDE, DAC_READ_SEARCH, FOWNER
    data[0].effective &= keep
    data[0].permitted &= keep
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


def _report_in_a_child(path: Path, out: Path) -> int:
    """`pixret study report` in a forked child that may not write the study file; its exit status.

    Root ignores file modes, so as root (CI) the child first gives up the capabilities that let
    it: it stays uid 0, the owner of the checkout (which may sit in a private `mktemp -d`
    folder), but its writes now obey the modes the test set."""
    from typer.testing import CliRunner

    from pixret.cli import app

    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            if os.geteuid() == 0:
                _drop_file_mode_override()
            r = CliRunner().invoke(app, ["study", "report", str(path), str(out / "r.html"), "--csv", str(out / "r.csv")])
            (out / "log.txt").write_text(r.output + repr(r.exception))
            code = r.exit_code
        finally:
            os._exit(code)
    return os.waitpid(pid, 0)[1] >> 8


def test_a_read_only_study_file_can_be_reported(study_file):
    s = Study(study_file)
    pid = s.new_participant()
    while not (t := s.next_trial(pid))["done"]:
        s.record(pid, t["position"], 0, None, 900)
    s.close()
    top = Path(tempfile.mkdtemp(prefix="pixret-ro-"))  # a folder and a file nobody may write to
    try:
        ro, out = top / "ro", top / "out"
        ro.mkdir()
        out.mkdir()
        (ro / "s.db").write_bytes(study_file.read_bytes())
        os.chmod(out, 0o777)
        os.chmod(ro / "s.db", 0o444)
        os.chmod(ro, 0o555)
        os.chmod(top, 0o755)
        before = _digest(ro / "s.db")
        code = _report_in_a_child(ro / "s.db", out)
        assert code == 0, (out / "log.txt").read_text() if (out / "log.txt").exists() else code
        assert "1 participants, 6 answers" in (out / "r.html").read_text()
        assert len((out / "r.csv").read_text().splitlines()) == 7
        assert _digest(ro / "s.db") == before and sorted(p.name for p in ro.iterdir()) == ["s.db"]
    finally:
        os.chmod(top / "ro", 0o755)
        shutil.rmtree(top)
