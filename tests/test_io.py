"""File helpers (pixret/io.py): safe pickle and npy reading, atomic writes."""

import numpy as np
import pytest

from pixret.errors import PixretError
from pixret.io import atomic_open, load_npy, read_json, save_npy, write_json


def test_pickles_cannot_run_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    f = tmp_path / "evil.npy"
    np.save(f, {"qimlist_0_imlist_0": Evil()}, allow_pickle=True)
    with pytest.raises(PixretError, match="refusing to load builtins.print"):
        load_npy(f)


def test_atomic_writes_leave_the_old_file_whole_when_they_fail(tmp_path):
    target = tmp_path / "a.json"
    write_json(target, {"v": 1})
    with pytest.raises(RuntimeError), atomic_open(target, "w") as fh:
        fh.write('{"v": 2')
        raise RuntimeError("killed while writing")
    assert read_json(target) == {"v": 1} and [p.name for p in tmp_path.iterdir()] == ["a.json"]
    with pytest.raises(PixretError, match="is a folder: give a file name to write"):
        write_json(tmp_path, {})
    with pytest.raises(PixretError, match="a.json: is a file, not a folder"):  # an output folder that is a file
        write_json(target / "run" / "scores.json", {})
    assert read_json(target) == {"v": 1}


def test_json_and_npy_errors_name_the_file(tmp_path):
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(PixretError, match="bad.json: unreadable JSON"):
        read_json(tmp_path / "bad.json")
    with pytest.raises(PixretError, match="missing.json: file not found"):
        read_json(tmp_path / "missing.json")
    np.save(tmp_path / "ok.npy", np.arange(6).reshape(2, 3))
    data = (tmp_path / "ok.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(data[:-8])
    with pytest.raises(PixretError, match=r"cut.npy: truncated .npy file: its header promises \(2, 3\) int64"):
        load_npy(tmp_path / "cut.npy")
    assert load_npy(tmp_path / "ok.npy", mmap=True).tolist() == [[0, 1, 2], [3, 4, 5]]
    save_npy(tmp_path / "d.npy", {"a": 1})
    assert load_npy(tmp_path / "d.npy") == {"a": 1}  # a dict, saved and read the release's way


def test_what_is_not_a_regular_file_is_refused_before_it_is_read(tmp_path):
    import os

    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)  # reading it would wait for a writer forever
    for read in (read_json, load_npy):
        with pytest.raises(PixretError, match="fifo.json: is not a regular file"):
            read(fifo)
    (tmp_path / "big.json").write_text("[" + "9" * 5000 + "]")  # beyond Python's int conversion limit
    with pytest.raises(PixretError, match="big.json: unreadable JSON"):
        read_json(tmp_path / "big.json")


def test_a_file_stamp_changes_when_the_file_is_replaced_or_rewritten(tmp_path):
    import os

    from pixret.io import file_stamp

    f = tmp_path / "a.npy"
    assert file_stamp(f) is None  # gone
    f.write_bytes(b"1234")
    first = file_stamp(f)
    os.utime(f, ns=(1, 1))
    assert file_stamp(f) != first and file_stamp(f)[1] == 4  # (inode, size, mtime)


def test_a_target_that_is_not_a_regular_file_is_never_renamed_over(tmp_path):
    """Every write is a temp file renamed over its target: over a FIFO, a device node or a link
    that would put a regular file in its place. Such a target is refused, before and after the
    block, and nothing is left beside it."""
    import os

    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "real.txt").write_text("the user's")
    (tmp_path / "link").symlink_to(tmp_path / "real.txt")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "dir").mkdir()
    for name, why in (("fifo", "not a regular file"), ("link", "is a symbolic link"), ("dangling", "symbolic link"),
                      ("dir", "is a folder")):  # fmt: skip
        with pytest.raises(PixretError, match=why):
            write_json(tmp_path / name, {"v": 1})
    assert (tmp_path / "fifo").is_fifo() and (tmp_path / "link").is_symlink() and not (tmp_path / "nowhere").exists()
    assert (tmp_path / "real.txt").read_text() == "the user's"
    with pytest.raises(PixretError, match="is a symbolic link"), atomic_open(tmp_path / "late", "w") as fh:
        fh.write("x")
        (tmp_path / "late").symlink_to(tmp_path / "real.txt")  # made while the file was being written
    assert (tmp_path / "late").is_symlink() and sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_json_number_of_thousands_of_digits_is_pixrets_own_line(tmp_path):
    """Issue 32 (I5): a 5001-digit integer leaked Python's hint "use sys.set_int_max_str_digits()
    to increase the limit"; the message is pixret's, naming the file."""
    from tests.helpers import run_cli

    sources = tmp_path / "my sources.json"
    sources.write_text('{"labels": {"size": 1' + "0" * 5000 + "}}")
    r = run_cli(["download", "--list", "--sources", sources])
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "my sources.json: unreadable JSON (a number of 5,001 digits: more digits than pixret reads" in r.stderr
    assert "sys." not in r.stderr and "set_int_max_str_digits" not in r.stderr


def test_a_long_valid_name_is_written_through_a_temp_name_that_fits(tmp_path):
    """The breaker's example (issue 32, class 10): an image named with 240 characters gave
    `search --out` "File name too long": its 252-byte output name fit, the temp file beside it
    (``.NAME.<random>.tmp``) did not. Temp names are cut to fit (io.temp_stem)."""
    import json
    import os

    from pixret.io import NAME_MAX, temp_stem

    name = "L" * 240 + ".jpg.png"
    write_json(tmp_path / name, {"v": 1})
    assert json.loads((tmp_path / name).read_text()) == {"v": 1} and len(list(tmp_path.iterdir())) == 1
    long_utf8 = "é" * 120 + ".json"  # 245 bytes: cut on bytes
    stem = temp_stem(long_utf8)
    assert len(os.fsencode(stem)) + 40 <= NAME_MAX and stem != temp_stem("é" * 121 + ".json")
    write_json(tmp_path / long_utf8, [1])
    assert temp_stem("short.json") == "short.json"


def test_a_damaged_npy_header_is_said_without_the_parsers_internals(tmp_path):
    """The breaker's example (issue 32): a header whose dict key was damaged gave
    "ValueError: malformed node or string on line 1: <ast.Name object at 0x7f...>"."""
    import io

    buf = io.BytesIO()
    np.save(buf, np.zeros(3))
    data = buf.getvalue().replace(b"'descr'", b"descr  ")
    (tmp_path / "hdr.npy").write_bytes(data)
    with pytest.raises(PixretError, match=r"hdr.npy: not a .npy file \(its header does not parse\)$"):
        load_npy(tmp_path / "hdr.npy")
