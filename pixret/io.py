"""File helpers shared by every package: atomic writes, safe JSON/pickle/npy reading."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import pickle
import re
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from .errors import PixretError

if TYPE_CHECKING:  # NumPy is imported where .npy files are read and written: JSON needs none of it
    import numpy as np

_UMASK = os.umask(0)
os.umask(_UMASK)


def check_target(path: str | os.PathLike) -> None:
    """Refuse to replace ``path`` when it exists and is not a regular file: a symbolic link (the
    link itself would be replaced, not what it points to), a folder, a FIFO, a device or a
    socket. PixretError, one line naming it. Every file pixret writes is renamed over its target
    (``atomic_open``, ``replace_file``): a rename over a device node or a FIFO would put a
    regular file in its place, so such a target is never renamed over."""
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):  # a file above it is said by the writer
        return
    except OSError as exc:
        raise PixretError(path, f"cannot write here ({exc.strerror or exc})") from None
    if stat.S_ISREG(st.st_mode):
        return
    if stat.S_ISLNK(st.st_mode):
        why = "is a symbolic link: pixret does not replace a link (give the path of a file, or remove the link)"
    elif stat.S_ISDIR(st.st_mode):
        why = "is a folder: give a file name to write"
    else:
        why = "exists and is not a regular file (a FIFO, a device or a socket): pixret does not replace it"
    raise PixretError(path, why)


NAME_MAX = 255  # bytes in one file name on Linux's file systems (ext4, xfs, btrfs, tmpfs)


def temp_stem(name: str, room: int = 40) -> str:
    """``name`` as the stem of a temporary name made beside it (``.NAME.<random>.tmp``): cut, by
    its bytes, so that ``room`` more bytes still fit in ``NAME_MAX`` (a valid 248-byte name gave
    "File name too long" on its temp file), with 8 hex of its sha1 so cut names stay apart."""
    data = os.fsencode(name)
    if len(data) + room <= NAME_MAX:
        return name
    return os.fsdecode(data[: NAME_MAX - room - 9]) + "~" + hashlib.sha1(data).hexdigest()[:8]


def replace_file(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """``os.replace(tmp, path)`` after ``check_target(path)``: the one way a finished temp file
    takes a target's place (``tmp`` is left for the caller to remove when refused)."""
    check_target(path)
    os.replace(tmp, path)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temp file beside ``path``; rename it over ``path`` only if the block succeeds.
    PixretError (nothing written) when ``path`` exists and is not a regular file
    (``check_target``: checked before the block and again before the rename)."""
    path = Path(path)
    check_target(path)
    file_above = next((p for p in path.parents if p.exists()), None)
    if file_above is not None and not file_above.is_dir():
        raise PixretError(file_above, "is a file, not a folder: cannot write into it (give a folder's name)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{temp_stem(path.name)}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise PixretError(path, f"cannot write here ({exc.strerror or exc})") from None
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the usual mode
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        replace_file(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> None:
    with atomic_open(path, "w") as fh:
        json.dump(obj, fh, indent=indent)


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def save_npy(path: str | os.PathLike, obj: Any) -> None:
    """np.save through a temp file (dicts are saved the release's way, as a 0-d object array)."""
    import numpy as np

    with atomic_open(path, "wb") as fh:
        np.save(fh, obj, allow_pickle=True)


def file_stamp(path: str | os.PathLike) -> tuple[int, int, int] | None:
    """(inode, size, mtime in ns) of ``path``: what changes when the file is replaced or written
    in place; None when it cannot be read (gone, or no right to)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def regular_file(path: str | os.PathLike) -> None:
    """Refuse, before it is opened, a path that is not a regular file: reading a FIFO waits
    forever for a writer, a device never ends. (Missing paths are left to the caller's open.)"""
    try:
        st = os.stat(path)
    except OSError:
        return
    if stat.S_ISDIR(st.st_mode):
        raise PixretError(path, "is a folder, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise PixretError(path, "is not a regular file (a FIFO, a device or a socket)")


def read_json(path: str | os.PathLike) -> Any:
    """A JSON file's value; PixretError naming the file for every way it can fail (missing, a
    folder or other non-file, unreadable, not UTF-8, not JSON, nested too deeply, an integer of
    more digits than Python converts)."""
    regular_file(path)
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise PixretError(path, "file not found") from None
    except IsADirectoryError:
        raise PixretError(path, "is a folder, not a JSON file") from None
    except RecursionError:
        raise PixretError(path, "unreadable JSON (nested too deeply)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PixretError(path, f"unreadable JSON ({exc})") from None
    except ValueError as exc:  # an integer beyond Python's 4300 digits (its text is a hint to Python users)
        digits = re.search(r"has (\d+) digits", str(exc))
        size = f"of {int(digits[1]):,} digits" if digits else "too long"
        raise PixretError(path, f"unreadable JSON (a number {size}: more digits than pixret reads, "
                          f"{sys.get_int_max_str_digits():,} at most)") from None
    except OSError as exc:  # no permission, an I/O error
        raise PixretError(path, f"cannot read ({exc.strerror or exc})") from None


# The release ships pickles (gnd_*.pkl, dicts inside .npy). Unpickling runs code, so we
# only let through the builtin containers and numpy's array reconstruction: a tampered
# file fails with a clear error instead of executing. No library offers this for npy.
_SAFE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("collections", "OrderedDict"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "slice"),
    ("codecs", "encode"),
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SAFE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _safe_unpickle(fh: IO[bytes], path: str | os.PathLike) -> Any:
    try:
        return _SafeUnpickler(fh, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise PixretError(path, f"unreadable pickle ({exc})") from None


def load_pickle(path: str | os.PathLike) -> Any:
    """Load a pickle that may only hold builtins and numpy arrays."""
    regular_file(path)
    try:
        with open(path, "rb") as fh:
            return _safe_unpickle(fh, path)
    except FileNotFoundError:
        raise PixretError(path, "file not found") from None
    except OSError as exc:
        raise PixretError(path, f"cannot read ({exc.strerror or exc})") from None


_NPY_MAX_HEADER = 1 << 16  # bytes; numpy writes a few hundred


def _npy_header(fh: IO[bytes], path: object) -> tuple[tuple[int, ...], bool, np.dtype]:
    """Shape, order and dtype from a .npy header, checked before numpy reads it (a forged length
    field would make it allocate that many bytes)."""
    import numpy as np

    try:
        version = np.lib.format.read_magic(fh)
        if version not in ((1, 0), (2, 0), (3, 0)):
            raise ValueError(f"unknown format version {version}")
        start = fh.tell()
        raw = fh.read(2 if version == (1, 0) else 4)
        if int.from_bytes(raw, "little") > _NPY_MAX_HEADER or len(raw) < 2:
            raise ValueError("header length out of range")
        fh.seek(start)
        read_header = (
            np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        )
        return read_header(fh)
    except Exception as exc:  # noqa: BLE001 - numpy's header parser raises many kinds on forged input
        why = str(exc) if isinstance(exc, ValueError) and "<" not in str(exc) else "its header does not parse"
        raise PixretError(path, f"not a .npy file ({why[:100]})") from None  # never the parser's internals


def load_npy(path: str | os.PathLike, mmap: bool = False) -> Any:
    """Load a .npy file; an object array (a saved dict) is unpickled safely and unwrapped.

    ``mmap``: a numeric array is memory-mapped read-only instead of read (an R1M ranking is
    563 MB: reading it would double the memory the evaluator needs). A file shorter than its
    header says is refused before anything is mapped or allocated.
    """
    import numpy as np

    path = Path(path)
    regular_file(path)
    try:
        fh = open(path, "rb")  # noqa: SIM115 (the `with` below closes it)
    except FileNotFoundError:
        raise PixretError(path, "file not found") from None
    except IsADirectoryError:
        raise PixretError(path, "is a folder, not a .npy file") from None
    except OSError as exc:
        raise PixretError(path, f"cannot read ({exc.strerror or exc})") from None
    with fh:
        shape, _fortran, dtype = _npy_header(fh, path)
        if not dtype.hasobject:
            need = fh.tell() + int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
            if os.fstat(fh.fileno()).st_size < need:
                raise PixretError(path, f"truncated .npy file: its header promises {shape} {dtype}")
            try:
                if mmap:
                    return np.load(path, mmap_mode="r", allow_pickle=False)
                fh.seek(0)
                return np.load(fh, allow_pickle=False)
            except (ValueError, OSError, EOFError) as exc:
                raise PixretError(path, f"unreadable .npy file ({exc})") from None
        fh.seek(0)
        raw = io.BytesIO(fh.read())
    _npy_header(raw, path)
    arr = _safe_unpickle(raw, path)
    if isinstance(arr, np.ndarray) and arr.shape == () and shape == ():
        return arr.item()
    return arr
