"""Extracting the release's archives: .rar through bsdtar or unar, .zip/.tar through Python.

What arrives is extracted into a temporary folder and then moved into place. A file already
in place is never replaced unless it holds the same bytes (then it is kept as it is) or the
caller proves pixret put it there (``replaceable``: the download ledger); any other conflict
refuses the whole archive, naming the file, before anything moves.
"""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from ..errors import PixretError, quoted

Replaceable = Callable[[Path], bool]  # whether pixret may replace the file at this path (it put it there)

RAR_HELP = (
    "no RAR extractor found: install bsdtar (Debian/Ubuntu: apt-get install libarchive-tools) "
    "or unar (apt-get install unar; macOS: brew install libarchive or unar)"
)
_IMAGE_EXT = {".jpg", ".jpeg", ".png"}


def _rar_tool() -> list[list[str]]:
    """Commands (with {a}=archive, {d}=destination) to try, in order of preference."""
    tools = []
    if shutil.which("bsdtar"):
        tools.append(["bsdtar", "-x", "-f", "{a}", "-C", "{d}"])
    if shutil.which("unar"):
        # -D: no extra containing folder; -f: overwrite; -q: quiet
        tools.append(["unar", "-q", "-f", "-D", "-o", "{d}", "{a}"])
    return tools


def _extract_rar(archive: Path, dest: Path) -> None:
    tools = _rar_tool()
    if not tools:
        raise PixretError(archive, RAR_HELP)
    errors = []
    for cmd in tools:
        argv = [c.format(a=archive, d=dest) for c in cmd]
        proc = subprocess.run(argv, capture_output=True, text=True)
        if proc.returncode == 0:
            return
        errors.append(f"{argv[0]}: {(proc.stderr or proc.stdout).strip().splitlines()[-1:]}")
        # a failed attempt may leave partial files: start the next one clean
        for child in dest.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    raise PixretError(archive, "could not extract RAR (" + "; ".join(errors) + ")")


def _extract_zip(archive: Path, dest: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            root = dest.resolve()
            for member in zf.namelist():
                if root not in (dest / member).resolve().parents and (dest / member).resolve() != root:
                    raise PixretError(archive, f"member {quoted(member)} would land outside the folder")
            zf.extractall(dest)
    except zipfile.BadZipFile as exc:
        raise PixretError(archive, f"corrupt zip ({exc})") from None


def _extract_tar(archive: Path, dest: Path) -> None:
    try:
        with tarfile.open(archive) as tf:
            tf.extractall(dest, filter="data")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise PixretError(archive, f"corrupt tar archive ({exc})") from None


def archive_kind(path: Path, by_name: bool = True) -> str | None:
    """'rar', 'zip', 'tar' by magic bytes (then, with ``by_name``, by the name); None if not
    an archive."""
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(b"Rar!\x1a\x07"):
        return "rar"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if tarfile.is_tarfile(path):
        return "tar"
    if not by_name:
        return None
    name = path.name.lower()
    for kind, ends in (("rar", (".rar",)), ("zip", (".zip",)), ("tar", (".tar", ".tgz", ".tar.gz"))):
        if name.endswith(ends):
            return kind
    return None


def extract(archive: str | os.PathLike, dest: str | os.PathLike, flatten: bool = False,
            replaceable: Replaceable | None = None) -> list[Path]:  # fmt: skip
    """Extract into ``dest`` through a temporary folder beside it; return the files placed (those
    already there with the same bytes included).

    Nothing lands in ``dest`` unless extraction finished, so an interrupted or corrupt
    archive never leaves half a dataset behind; and nothing in ``dest`` is replaced unless it
    has the same bytes or ``replaceable`` says pixret put it there (PixretError naming the file,
    before anything moves).
    """
    archive, dest = Path(archive), Path(dest)
    kind = archive_kind(archive)
    if kind is None:
        raise PixretError(archive, "not a .rar, .zip or .tar archive")
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".extract-", dir=dest) as tmp:
        tmpdir = Path(tmp)
        {"rar": _extract_rar, "zip": _extract_zip, "tar": _extract_tar}[kind](archive, tmpdir)
        placed = []
        if flatten:
            moves = []
            for f in sorted(tmpdir.rglob("*")):
                if f.is_file() and f.suffix.lower() in _IMAGE_EXT:
                    try:
                        _plan(f, dest / f.name, moves, replaceable)
                    except PixretError as exc:
                        raise PixretError(archive, f"{exc.problem}; nothing was changed") from None
            for f, target in moves:
                if f is not None:
                    os.replace(f, target)
                placed.append(target)
        else:
            try:
                placed = merge_tree(tmpdir, dest, replaceable=replaceable)
            except PixretError as exc:
                raise PixretError(archive, exc.problem) from None
    if not placed:
        raise PixretError(archive, "the archive holds no files")
    return placed


def build_beside(out: str | os.PathLike, sub: str, name: str, build, last: str) -> Path:
    """Run ``build(folder)`` into ``sub`` of a temporary folder inside ``out``, then merge it into
    ``out/sub`` (``last`` moved last): a failed or interrupted build leaves nothing half-made."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PixretError(out, f"cannot make the folder here ({exc.strerror or exc})") from None
    with tempfile.TemporaryDirectory(prefix=f".building-{name}-", dir=out) as tmp:
        build(Path(tmp) / sub)
        merge_tree(Path(tmp) / sub, out / sub, last=last)
    return out / sub


def merge_tree(src: Path, dest: Path, last: str | None = None, replaceable: Replaceable | None = None) -> list[Path]:
    """Move the contents of folder ``src`` into ``dest``, merging into folders that exist; return
    the files placed. Every conflict is found before anything moves: a file where ``dest`` has a
    folder or the reverse, and a file where ``dest`` has another file with other bytes, unless
    ``replaceable`` says pixret put that one there (a file with the same bytes stays as it is).
    ``last``: a file name moved after all others (the file whose presence marks the whole as
    complete)."""
    moves: list[tuple[Path | None, Path]] = []
    try:
        for child in sorted(src.iterdir()):
            _plan(child, dest / child.name, moves, replaceable)
    except PixretError as exc:
        raise PixretError(dest, f"{exc.problem}; nothing was changed") from None
    moves.sort(key=lambda m: m[1].name == last)  # stable: only `last` moves to the end
    placed: list[Path] = []
    dest.mkdir(parents=True, exist_ok=True)
    for s, target in moves:  # every conflict was found above: only moves are left
        if s is None:  # the same bytes are there already
            placed.append(target)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(s, target)
        placed += [p for p in target.rglob("*") if p.is_file()] if target.is_dir() else [target]
    return placed


def _plan(src: Path, target: Path, moves: list[tuple[Path | None, Path]], replaceable: Replaceable | None) -> None:
    """The moves that put ``src`` at ``target``, merging into folders that exist. A file never
    replaces a folder, nor a folder a file: such an archive is refused before anything moves
    (a zip whose one member was a *file* named like the dataset folder used to delete it). A file
    replaces a file only when pixret put that one there (``replaceable``); with the same bytes
    it is left as it is (the move is ``(None, target)``)."""
    if src.is_dir() and not src.is_symlink():
        if target.is_dir() and not target.is_symlink():
            for child in sorted(src.iterdir()):
                _plan(child, target / child.name, moves, replaceable)
            return
        if target.exists() or target.is_symlink():
            raise PixretError(None, f"archive folder {quoted(src.name)} would replace the file {target}")
    elif target.is_dir() and not target.is_symlink():
        raise PixretError(None, f"archive member {quoted(src.name)} is a file where {target} is a folder")
    elif target.exists() or target.is_symlink():
        if target.is_file() and not target.is_symlink() and src.is_file() and filecmp.cmp(src, target, shallow=False):
            moves.append((None, target))
            return
        if not (target.is_file() and not target.is_symlink() and replaceable is not None and replaceable(target)):
            raise PixretError(None, f"{target} is there already with other bytes, and pixret did not put it there: "
                              "move it away first")  # fmt: skip
    moves.append((src, target))
