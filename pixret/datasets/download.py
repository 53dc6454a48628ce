"""Resumable, verified downloads of the benchmark's files (HTTP Range, sha256, mirrors).

What arrives is checked before it is used: its sha256 when one is known, and always its
content (an archive must be one, a ground-truth pickle must load as a revisitop gnd, a name
list must be text). A mirror that answers 200 with an HTML error page is thereby refused, its
file set aside as ``NAME.bad``, and the next address tried. The release publishes no hashes,
so pixret records each file's sha256 the first time it accepts it (``.downloads/hashes.json``)
and warns when a later copy differs. Nothing in place is replaced by a file that failed.

Nothing in place is replaced unless pixret put it there: every file an install places is
recorded with its sha256 in ``ROOT/.downloads/placed.json``, and a later install replaces a
file only when it still has the recorded bytes (a newer release over an older one); a file
edited since, or one that was there before, stops the install with one line naming it, before
anything moves (a file with the same bytes as the new one is simply kept).
"""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import time
import warnings
from pathlib import Path

from ..errors import DownloadWarning, PixretError
from ..fetch import fetch_url, sha256_of, verify
from ..io import atomic_open, load_pickle, write_json
from .archives import archive_kind, extract
from .release import check_gnd
from .sources import Source

_HTML = (b"<!doctype html", b"<html", b"<head", b"<body", b"<?xml")


def check_content(path: Path, source: Source) -> None:
    """Refuse a file that is plainly not ``source``'s (one line naming the file and why)."""
    with open(path, "rb") as fh:
        head = fh.read(512)
    if not head:
        raise PixretError(path, "empty file")
    if head.lstrip()[:16].lower().startswith(_HTML):
        raise PixretError(path, f"an HTML page, not {source.filename} (a mirror's error page?)")
    if source.extract:
        if archive_kind(path, by_name=False) is None:
            raise PixretError(path, f"not an archive (.rar, .zip or .tar), as {source.filename} should be")
    elif source.filename.endswith(".pkl"):
        check_gnd(load_pickle(path), path)
    elif source.filename.endswith(".txt"):
        with open(path, "rb") as fh:
            data = fh.read()
        if b"\0" in data:
            raise PixretError(path, "not a text file (binary bytes)")
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            raise PixretError(path, "not a UTF-8 text file") from None


def _accept(path: Path, source: Source) -> None:
    got = path.stat().st_size
    if source.size is not None and got != source.size:
        raise PixretError(path, f"{got:,} bytes, expected {source.size:,}: not {source.filename} "
                          "(a different or damaged copy)")  # fmt: skip
    verify(path, source.sha256)
    check_content(path, source)


def _set_aside(path: Path) -> None:
    """Move a refused file out of the way (kept for inspection, never used)."""
    if path.exists():
        os.replace(path, path.with_name(path.name + ".bad"))


def _record_hash(cache_dir: Path, path: Path, source: Source) -> None:
    """Trust on first use: remember the sha256 of an accepted file; warn when a later one differs."""
    if source.sha256:
        return
    book = cache_dir / "hashes.json"
    try:
        known = json.loads(book.read_text())
        known = known if isinstance(known, dict) else {}
    except (OSError, ValueError):
        known = {}
    digest = sha256_of(path)
    seen = known.get(source.filename)
    if isinstance(seen, dict) and seen.get("sha256") == digest:
        return
    if isinstance(seen, dict) and seen.get("sha256"):
        warnings.warn(
            f"{path}: differs from the copy first seen {seen.get('first_seen', '?')} "
            f"(sha256 {str(seen['sha256'])[:12]}..., now {digest[:12]}...): if the source did not "
            "announce a new version, check it before use",
            DownloadWarning,
            stacklevel=3,
        )
    known[source.filename] = {"sha256": digest, "first_seen": time.strftime("%Y-%m-%d")}
    write_json(book, known)


def _download(source: Source, cache_dir: Path, progress: bool) -> Path:
    """The file from the first address that serves an acceptable one."""
    archive = cache_dir / source.filename
    errors = []
    if archive.exists():  # from an earlier run
        try:
            _accept(archive, source)
            return archive
        except PixretError as exc:
            errors.append(f"earlier copy: {exc.problem}")
            _set_aside(archive)
    for url in source.urls:
        try:
            fetch_url(url, archive, progress=progress, size=source.size)
            _accept(archive, source)
            return archive
        except PixretError as exc:
            errors.append(f"{url}: {exc.problem}")
            _set_aside(archive)
    raise PixretError(
        source.name,
        "every address failed: "
        + " | ".join(errors)
        + f". Fetch {source.filename} by hand and pass --from-file",
    )


PLACED = "placed.json"  # in ROOT/.downloads: each file an install put in place, with its sha256


def _placed(root: Path) -> dict[str, str]:
    try:
        doc = json.loads((root / ".downloads" / PLACED).read_text())
    except (OSError, ValueError, RecursionError):
        return {}
    return {k: v for k, v in doc.items() if isinstance(v, str)} if isinstance(doc, dict) else {}


def _placed_here(root: Path):
    """Whether pixret put the file at a path there (it still has the bytes recorded when it did)."""
    placed = _placed(root)

    def replaceable(target: Path) -> bool:
        recorded = placed.get(os.path.relpath(target, root))
        return recorded is not None and recorded == sha256_of(target)

    return replaceable


def _record_placed(root: Path, files: list[Path]) -> None:
    placed = _placed(root)
    placed.update({os.path.relpath(f, root): sha256_of(f) for f in files})
    write_json(root / ".downloads" / PLACED, placed)


def install(
    source: Source,
    root: str | os.PathLike,
    from_file: str | os.PathLike | None = None,
    cache: str | os.PathLike | None = None,
    keep_archive: bool = True,
    progress: bool = True,
) -> list[Path]:
    """Get ``source`` (download, or a file fetched by hand), verify it and put it in place."""
    root = Path(root)
    cache_dir = Path(cache) if cache else root / ".downloads"
    if from_file is not None:
        archive = Path(from_file)
        if not archive.is_file():
            raise PixretError(archive, "file not found")
        _accept(archive, source)
    else:
        archive = _download(source, cache_dir, progress)
        _record_hash(cache_dir, archive, source)
    dest = root / source.dest
    if not source.extract:
        target = dest / source.filename
        if target.is_dir() and not target.is_symlink():
            raise PixretError(target, "is a folder where the file should go: move it away first; nothing was changed")
        same = target.is_file() and filecmp.cmp(archive, target, shallow=False)
        if not same:
            if (target.exists() or target.is_symlink()) and not (target.is_file() and _placed_here(root)(target)):
                raise PixretError(target, "is there already with other bytes, and pixret did not put it there: "
                                  "move it away first; nothing was changed")  # fmt: skip
            with open(archive, "rb") as src, atomic_open(target, "wb") as fh:
                shutil.copyfileobj(src, fh)
        _record_placed(root, [target])
        return [target]
    placed = extract(archive, dest, flatten=source.flatten, replaceable=_placed_here(root))
    _record_placed(root, placed)
    if not keep_archive and from_file is None:
        archive.unlink()
    return placed
