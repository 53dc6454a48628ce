"""Where the benchmark's files come from: one table, overridable by the user (mirrors).

Override any entry with a JSON file named by ``$PIXRET_SOURCES`` (or ``--sources``)::

    {"labels": {"urls": ["https://my.mirror/pixel_retrieval_benchmarks.rar"], "sha256": "..."}}

Addresses move (the Oxford images were replaced by face-blurred "-v1" archives, which then
moved to thor.robots.ox.ac.uk; the old www.robots.ox.ac.uk addresses redirect there), so every
resource lists its known addresses in order, the current one first, and the downloader tries
each in turn. Where a file's size is known, a download of another size is refused.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import PixretError, quoted
from ..io import read_json

_KAIST = "https://sgvr.kaist.ac.kr/~guoyuan/Segment_retrieval"
_THOR = "https://thor.robots.ox.ac.uk"  # where the Oxford and Paris archives live
_VGG = "https://www.robots.ox.ac.uk/~vgg/data"  # their old home, which redirects to _THOR
_CMP = "http://cmp.felk.cvut.cz/revisitop/data/datasets"
_R1M = "http://ptak.felk.cvut.cz/revisitop/revisitop1m"


@dataclass(frozen=True)
class Source:
    """A downloadable file and where its contents go, relative to the download root."""

    name: str
    urls: tuple[str, ...]
    filename: str
    dest: str  # folder (relative to root) the file is extracted or copied into
    sha256: str | None = None
    size: int | None = None  # bytes, when known: a download of another size is refused
    extract: bool = True
    flatten: bool = False  # move every image up into dest (the Paris archives nest folders)
    description: str = ""


_B = "pixel_retrieval_benchmarks"
SOURCES: dict[str, Source] = {
    s.name: s
    for s in [
        Source("labels", (f"{_KAIST}/pixel_retrieval_benchmarks.rar",),
               "pixel_retrieval_benchmarks.rar", ".",
               description="pixel labels, query masks, revisitop ground truth"),
        Source("results", (f"{_KAIST}/results.rar",), "results.rar", ".",
               description="the release's example result ('sift sp')"),
        Source("roxford5k-gnd", (f"{_CMP}/roxford5k/gnd_roxford5k.pkl",), "gnd_roxford5k.pkl",
               f"{_B}/revisitop/data/roxford5k", extract=False,
               description="ROxford ground truth (also inside labels)"),
        Source("rparis6k-gnd", (f"{_CMP}/rparis6k/gnd_rparis6k.pkl",), "gnd_rparis6k.pkl",
               f"{_B}/revisitop/data/rparis6k", extract=False,
               description="RParis ground truth (also inside labels)"),
        # the old archives without -v1 (faces not blurred) are gone, and were other files
        Source("roxford5k-images",
               (f"{_THOR}/oxbuildings/oxbuild_images-v1.tgz", f"{_VGG}/oxbuildings/oxbuild_images-v1.tgz"),
               "oxbuild_images-v1.tgz", f"{_B}/revisitop/data/roxford5k/jpg", size=1_938_238_004,
               flatten=True, description="Oxford 5k images (1.9 GB)"),
        Source("rparis6k-images-1",
               (f"{_THOR}/parisbuildings/paris_1-v1.tgz", f"{_VGG}/parisbuildings/paris_1-v1.tgz"),
               "paris_1-v1.tgz", f"{_B}/revisitop/data/rparis6k/jpg", flatten=True,
               description="Paris 6k images, part 1"),
        Source("rparis6k-images-2",
               (f"{_THOR}/parisbuildings/paris_2-v1.tgz", f"{_VGG}/parisbuildings/paris_2-v1.tgz"),
               "paris_2-v1.tgz", f"{_B}/revisitop/data/rparis6k/jpg", flatten=True,
               description="Paris 6k images, part 2"),
        Source("revisitop-zip", (f"{_KAIST}/revisitop.zip",), "revisitop.zip", _B,
               description="alternative: revisitop images and ground truth in one zip"),
        Source("r1m-list", (f"{_R1M}/revisitop1m.txt",), "revisitop1m.txt",
               f"{_B}/revisitop/data", extract=False, description="R1M distractor names"),
    ]
    + [
        Source(f"r1m-{k}", (f"{_R1M}/jpg/revisitop1m.{k}.tar.gz",), f"revisitop1m.{k}.tar.gz",
               f"{_B}/revisitop/data/revisitop1m/jpg", description=f"R1M images, part {k}/100")
        for k in range(1, 101)
    ]
}  # fmt: skip

GROUPS: dict[str, tuple[str, ...]] = {
    "proxford": ("labels", "roxford5k-images"),
    "prparis": ("labels", "rparis6k-images-1", "rparis6k-images-2"),
    "r1m": ("r1m-list", *(f"r1m-{k}" for k in range(1, 101))),
}


def load_sources(override: str | os.PathLike | None = None) -> dict[str, Source]:
    """The source table, with entries from ``override`` or ``$PIXRET_SOURCES`` applied."""
    path = override or os.environ.get("PIXRET_SOURCES")
    table = dict(SOURCES)
    if not path:
        return table
    if not Path(path).exists():
        raise PixretError(path, "sources file not found")
    # urllib is imported only where a sources file is read (`download --list` starts fast)
    from ..fetch import check_url

    doc = read_json(path)
    if not isinstance(doc, dict):
        raise PixretError(path, "expected an object {name: {urls, sha256, ...}}")
    for name, fields in doc.items():
        if not isinstance(fields, dict):
            raise PixretError(path, f"entry {quoted(name)} is not an object")
        allowed = {"urls", "sha256", "size", "filename", "dest", "extract", "flatten", "description"}
        bad = set(fields) - allowed
        if bad:
            raise PixretError(path, f"entry {quoted(name)} has unknown field(s) {quoted(sorted(bad))}")
        _check_fields(fields, path, name)
        if "urls" in fields:  # each checked, a non-ASCII one percent-encoded (fetch.check_url)
            fields = {**fields, "urls": tuple(check_url(u, f"{path}: entry {quoted(name)}") for u in fields["urls"])}
        base = table.get(name)
        if base is None:
            if not {"urls", "filename", "dest"} <= set(fields):
                raise PixretError(path, f"new entry {quoted(name)} needs urls, filename and dest")
            table[name] = Source(name=name, **fields)
        else:
            table[name] = replace(base, **fields)
    return table


_TYPES = {"sha256": str, "filename": str, "dest": str, "extract": bool, "flatten": bool, "description": str}


def _check_fields(fields: dict, path: object, name: str) -> None:
    """Each field of the right type: a string for urls would become a tuple of characters."""
    urls = fields.get("urls", [])
    if not isinstance(urls, list) or not all(isinstance(u, str) and u for u in urls):
        raise PixretError(path, f"entry {quoted(name)}: 'urls' must be a list of addresses")
    for key, kind in _TYPES.items():
        if key in fields and fields[key] is not None and not isinstance(fields[key], kind):
            raise PixretError(path, f"entry {quoted(name)}: {key!r} must be a {kind.__name__}, got {quoted(fields[key])}")
    size = fields.get("size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size <= 0):
        raise PixretError(path, f"entry {quoted(name)}: 'size' must be a whole number of bytes, got {quoted(size)}")
    sha = fields.get("sha256")
    if isinstance(sha, str) and (len(sha) != 64 or any(c not in "0123456789abcdefABCDEF" for c in sha)):
        raise PixretError(path, f"entry {quoted(name)}: 'sha256' must be 64 hex digits")
    for key in ("filename", "dest"):
        v = fields.get(key)
        if isinstance(v, str) and (
            Path(v).is_absolute() or ".." in Path(v).parts or (key == "filename" and "/" in v)
        ):
            raise PixretError(path, f"entry {quoted(name)}: {key!r} must stay inside the download folder")


def resolve(names: list[str], table: dict[str, Source]) -> list[Source]:
    """Expand group names (proxford, prparis, r1m) and check every name exists."""
    out: list[Source] = []
    for n in names:
        for m in GROUPS.get(n, (n,)):
            if m not in table:
                known = ", ".join([*GROUPS, *[k for k in table if not k.startswith("r1m-")]])
                raise PixretError(None, f"unknown download {quoted(m)}; known: {known}, r1m-1..r1m-100")
            if table[m] not in out:
                out.append(table[m])
    return out
