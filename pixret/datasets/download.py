"""Resumable, verified downloads of the benchmark's files (HTTP Range, sha256, mirrors)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..fetch import fetch_url, verify
from ..io import PixretError
from .archives import extract
from .sources import Source


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
    else:
        archive = cache_dir / source.filename
        if not archive.exists():
            errors = []
            for url in source.urls:
                try:
                    fetch_url(url, archive, progress=progress)
                    break
                except PixretError as exc:
                    errors.append(str(exc))
            else:
                raise PixretError(
                    source.name,
                    "every address failed: "
                    + " | ".join(errors)
                    + f". Fetch {source.filename} by hand and pass --from-file",
                )
    verify(archive, source.sha256)
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
