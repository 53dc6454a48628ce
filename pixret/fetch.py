"""HTTP downloads shared by datasets and model weights: HTTP Range resume, sha256 check."""

from __future__ import annotations

import hashlib
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from .errors import PixretError

CHUNK = 1 << 20


def sha256_of(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def fetch_url(url: str, target: Path, timeout: float = 60.0, progress: bool = True) -> Path:
    """Download ``url`` to ``target``, resuming a ``target.part`` left by an earlier try."""
    part = target.with_name(target.name + ".part")
    target.parent.mkdir(parents=True, exist_ok=True)
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"User-Agent": "pixret"})
    if have:
        req.add_header("Range", f"bytes={have}-")
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the part file is already complete
            os.replace(part, target)
            return target
        raise PixretError(url, f"HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise PixretError(url, f"cannot connect ({getattr(exc, 'reason', exc)})") from None
    with resp:
        resumed = have and resp.status == 206
        if not resumed:
            have = 0  # the server ignored Range: start over
        length = resp.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        # drawn only on a terminal (disable=None), on stderr: parallel.progress_bar's rule (this
        # module sits beside parallel in the layers and cannot import it); imported here, not at
        # the top: `pixret --help` reads the weights' names through this module
        from tqdm import tqdm

        bar = tqdm(total=total, initial=have, unit="B", unit_scale=True, desc=target.name,
                   disable=None if progress else True, file=sys.stderr, leave=False)  # fmt: skip
        try:
            with open(part, "ab" if resumed else "wb") as fh, bar:
                while True:
                    block = resp.read(CHUNK)
                    if not block:
                        break
                    fh.write(block)
                    bar.update(len(block))
        except (OSError, TimeoutError) as exc:
            raise PixretError(url, f"download interrupted ({exc}); run again to resume") from None
    if total is not None and part.stat().st_size < total:
        raise PixretError(
            url, f"download stopped at {part.stat().st_size} of {total} bytes; run again to resume"
        )
    os.replace(part, target)
    return target


def verify(path: Path, sha256: str | None) -> None:
    if sha256 and sha256_of(path).lower() != sha256.lower():
        raise PixretError(path, f"sha256 mismatch (expected {sha256}); delete it and download again")
