"""Resumable, verified downloads of the benchmark's files (HTTP Range, sha256, mirrors).

What arrives is checked before it is used: its sha256 when one is known, and always its
content (an archive must be one, a ground-truth pickle must load as a revisitop gnd, a name
list must be text). A mirror that answers 200 with an HTML error page is thereby refused, its
file set aside as ``NAME.bad``, and the next address tried. The release publishes no hashes,
so pixret records each file's sha256 the first time it accepts it (``.downloads/hashes.json``)
and warns when a later copy differs. Nothing in place is replaced by a file that failed.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import warnings
from pathlib import Path

from ..errors import DownloadWarning, PixretError
from ..fetch import fetch_url, sha256_of, verify
from ..io import load_pickle, write_json
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
        dest.mkdir(parents=True, exist_ok=True)
        target = dest / source.filename
        tmp = target.with_name(f".{target.name}.tmp")
        shutil.copyfile(archive, tmp)
        os.replace(tmp, target)
        return [target]
    placed = extract(archive, dest, flatten=source.flatten)
    if not keep_archive and from_file is None:
        archive.unlink()
    return placed
