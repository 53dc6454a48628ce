"""Searching an index with many queries and writing what other tools read, as stage calls::

    queries = read_queries("queries.txt")                 # (image, box) per line
    result = index.search_full(q.image, q.box)            # per query (engine)
    write_coco(out / "coco.json", result, top)            # COCO: images + RLE masks (pycocotools reads it)
    write_labelme(out, result, top)                       # a labelme file per found image
    lines = index.pairs(name, result, top, image_dir)     # hloc's retrieval pairs

Formats:

- the queries file: one query per line, ``IMAGE x1,y1,x2,y2`` (the box in the image's pixels;
  spaces after the commas allowed); the image path is relative to the file; blank lines and
  lines starting with ``#`` are skipped, the latter counted in a note (`pixret search`): an
  image whose name starts with ``#`` is written ``./#NAME``;
- COCO (``cocodataset.org/#format-data``): ``images`` (id, file_name, width, height),
  ``annotations`` (id, image_id, category_id 1, ``segmentation`` an RLE with str counts,
  ``area`` in pixels, ``bbox`` [x, y, w, h], ``iscrowd`` 0, and pixret's ``score``,
  ``inliers``, ``rank``), ``categories`` [{id 1, name "object"}];
- labelme: one JSON per found image, its polygons as ``polygon`` shapes, ``imagePath``
  relative to the file, the image's size.

The output folder (``OutputFolder``) is written beside and swapped in: this search's files are
staged in a hidden folder inside it, then moved into place; the files an earlier search wrote
there (listed, with their sha256, in ``.pixret-search``) and this one did not write again are
removed, unless they were changed since (kept, and said). A file pixret did not write is never
replaced or removed: a name taken by one stops the search with one line, its results kept
aside.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from .._version import __version__
from ..datasets.labelme import write_labelme as _write_labelme
from ..engine.hits import Hit, SearchResult
from ..errors import PixretError
from ..geometry import Box
from ..io import read_json, write_json
from ..keys import seal, sealed


@dataclass(frozen=True)
class QueryLine:
    """One query of a queries file: its image, its box and where it was written."""

    image: Path
    box: Box
    line: int


def read_queries(path: str | os.PathLike, comments: list[int] | None = None) -> list[QueryLine]:
    """The queries of a file (module docstring); PixretError naming the file and line of a line
    that is not ``IMAGE x1,y1,x2,y2``, or of an image that does not exist. ``comments``: the
    numbers of the lines skipped as comments are appended to it (the caller says so: an image
    named ``#q.jpg`` must be written ``./#q.jpg``)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PixretError(path, "queries file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PixretError(path, f"unreadable queries file ({exc})") from None
    out = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith("#") and comments is not None:
            comments.append(n)
        if not line or line.startswith("#"):
            continue
        parts = line.replace(", ", ",").rsplit(None, 1)
        if len(parts) != 2:
            raise PixretError(path, f"line {n}: expected IMAGE x1,y1,x2,y2, got {line!r}")
        try:
            box = Box.parse(parts[1])
        except PixretError as exc:
            raise PixretError(path, f"line {n}: {exc.problem}") from None
        image = (path.parent / parts[0]).resolve() if not Path(parts[0]).is_absolute() else Path(parts[0])
        if not image.is_file():
            raise PixretError(path, f"line {n}: image {parts[0]} not found")
        out.append(QueryLine(image, box, n))
    if not out:
        raise PixretError(path, "no queries in the file (one per line: IMAGE x1,y1,x2,y2)")
    return out


def chosen(result: SearchResult, top: int, unverified: bool = False) -> list[tuple[int, Hit]]:
    """(rank from 1, hit) of the first ``top`` hits, the verified ones only unless ``unverified``."""
    return [(k + 1, h) for k, h in enumerate(result.hits[:top]) if h.verified or unverified]


def _file_name(hit: Hit, folder: Path) -> str:
    try:
        return os.path.relpath(hit.path, folder.resolve())
    except ValueError:  # another drive
        return hit.path


def write_coco(path: str | os.PathLike, result: SearchResult, top: int, query: str = "",
               at: str | os.PathLike | None = None) -> Path:  # fmt: skip
    """The found objects of a search as a COCO file (module docstring); returns its path.
    ``at``: the folder the file will be read from (image names are relative to it; default:
    its own folder)."""
    path = Path(path)
    where = Path(at) if at is not None else path.parent
    images, annotations = [], []
    for rank, h in chosen(result, top):
        doc = h.to_json(rank, rle=True)
        if doc["mask"] is None:
            continue
        w, h_ = doc["size"]
        image_id = len(images) + 1
        images.append({"id": image_id, "file_name": _file_name(h, where), "width": w, "height": h_})
        pts = np.concatenate([np.asarray(p) for p in h.polygons if len(p) >= 3])
        x0, y0 = pts.min(0)
        x1, y1 = pts.max(0)
        annotations.append({"id": image_id, "image_id": image_id, "category_id": 1, "segmentation": doc["mask"],
                            "area": int(h.mask.sum()), "bbox": [round(float(v), 2) for v in (x0, y0, x1 - x0, y1 - y0)],
                            "iscrowd": 0, "score": doc["score"], "inliers": doc["inliers"], "rank": rank})  # fmt: skip
    write_json(path, {"info": {"description": f"pixret search results for {query}".strip(), "version": __version__},
                      "images": images, "annotations": annotations,
                      "categories": [{"id": 1, "name": "object"}]}, indent=None)  # fmt: skip
    return path


def write_labelme(folder: str | os.PathLike, result: SearchResult, top: int,
                  at: str | os.PathLike | None = None) -> list[Path]:  # fmt: skip
    """One labelme file per found object (``RANK_NAME.json``), readable by labelme and by pixret;
    ``at``: the folder the files will be read from (``imagePath`` is relative to it; default
    ``folder``)."""
    folder = Path(folder)
    where = Path(at) if at is not None else folder
    written = []
    for rank, h in chosen(result, top):
        polys = [np.asarray(p) for p in h.polygons if len(p) >= 3]
        if not polys:
            continue
        target = folder / f"{rank:03d}_{Path(h.name).name}.json"
        _write_labelme(target, polys, *h.size, image_path=_file_name(h, where))
        written.append(target)
    return written


MANIFEST = ".pixret-search"  # in an output folder: the files pixret wrote there, with their sha256
MANIFEST_FORMAT = "pixret-search-output"  # its "format", and the purpose its seal is made for (keys.seal)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _plain(rel: object) -> bool:
    """A manifest entry names a file inside the folder: relative, no '..', not the manifest."""
    if not isinstance(rel, str) or not rel or "\0" in rel:
        return False
    p = PurePosixPath(rel)
    return not p.is_absolute() and ".." not in p.parts and "." not in p.parts and str(p) == rel and rel != MANIFEST


class OutputFolder:
    """A search's output folder (``--out``), built beside and swapped in (module docstring)::

        with OutputFolder(out) as folder:
            write_image(folder.path("query.png"), ...)       # staged
            write_coco(folder.path("coco.json"), r, top, at=folder.final("coco.json").parent)
            notes = folder.commit()                           # moved in; an earlier search's leftovers removed

    Only one search writes a folder at a time (a lock on the folder). Leaving the ``with``
    without ``commit`` (an error) discards what was staged: the folder is as it was."""

    def __init__(self, out: str | os.PathLike, what: str = "search"):
        self.out = Path(out)
        self.what = what  # the command, as the notes name it
        self.before = "pixret command"  # the one that wrote the folder before, as its manifest names it
        self.stage: Path | None = None
        self.previous: dict[str, list[str]] = {}
        self.notes: list[str] = []
        self._lock: int | None = None
        self._keep_stage = False

    def __enter__(self) -> OutputFolder:
        if self.out.exists() and not self.out.is_dir():
            raise PixretError(self.out, "exists and is not a folder: --out names the folder for the results")
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            self._lock = os.open(self.out, os.O_RDONLY)
        except OSError as exc:
            raise PixretError(self.out, f"cannot write the results here ({exc.strerror or exc})") from None
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock)
            raise PixretError(self.out, f"another {self.what} is writing to this folder: wait for it, or use another "
                              "--out") from None  # fmt: skip
        self.previous = self._read_manifest()
        self.stage = Path(tempfile.mkdtemp(prefix=".pixret-search-", dir=self.out))
        return self

    def __exit__(self, *exc) -> None:
        try:
            if self.stage is not None and not self._keep_stage:
                shutil.rmtree(self.stage, ignore_errors=True)  # the folder this object made, and only it
        finally:
            if self._lock is not None:
                os.close(self._lock)  # releases the lock

    def path(self, rel: str) -> Path:
        """Where to write the result file ``rel`` (a '/'-separated path inside the folder): in
        the stage, its folders made."""
        assert self.stage is not None and _plain(rel), rel
        target = self.stage / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def folder(self, sub: str = "") -> Path:
        """The staged folder ``sub`` ('' : the output folder itself), made."""
        assert self.stage is not None and (not sub or _plain(sub.rstrip("/"))), sub
        target = self.stage / sub
        target.mkdir(parents=True, exist_ok=True)
        return target

    def final(self, rel: str) -> Path:
        """Where ``rel`` will be once committed (for names relative to it inside the files)."""
        return self.out / rel

    def _read_manifest(self) -> dict[str, list[str]]:
        path = self.out / MANIFEST
        if not path.exists():
            return {}
        try:
            doc = read_json(path)
        except PixretError as exc:
            self.notes.append(f"{path}: unreadable ({exc.problem}): no file here is taken for one pixret wrote")
            return {}
        files = doc.get("files") if isinstance(doc, dict) and doc.get("format") == MANIFEST_FORMAT else None
        by = doc.get("by", "search") if isinstance(doc, dict) else None
        self.before = by if by in ("search", "show") else self.before
        if not isinstance(files, dict):
            self.notes.append(f"{path}: not pixret's list of the files it wrote: no file here is taken for one")
            return {}
        if not sealed(doc, MANIFEST_FORMAT):  # planted, or another user's pixret wrote it (keys.py)
            self.notes.append(f"{path}: not sealed with your pixret key (another user's, or planted): no file "
                              "here is taken for one pixret wrote")  # fmt: skip
            return {}
        return {rel: [h for h in hashes if isinstance(h, str)] for rel, hashes in files.items()
                if _plain(rel) and isinstance(hashes, list)}  # fmt: skip

    def _write_manifest(self, files: dict[str, list[str]]) -> None:
        write_json(self.out / MANIFEST, seal({"format": MANIFEST_FORMAT, "version": 1, "by": self.what,
                                              "files": dict(sorted(files.items()))}, MANIFEST_FORMAT))  # fmt: skip

    def _inside(self, rel: str) -> bool:
        """Whether ``rel``'s folders inside the output folder are real folders (or not there yet):
        no link leads a write or a removal elsewhere, no file stands where a folder must go."""
        for parent in PurePosixPath(rel).parents:
            d = self.out / parent
            if str(parent) != "." and (d.is_symlink() or (d.exists() and not d.is_dir())):
                return False
        return True

    def _ours(self, rel: str) -> bool:
        """Whether the folder's ``rel`` is a file pixret wrote there, unchanged since."""
        f = self.out / rel
        try:
            return (rel in self.previous and self._inside(rel) and f.is_file() and not f.is_symlink()
                    and _sha256(f) in self.previous[rel])  # fmt: skip
        except OSError:
            return False

    def _taken(self, rel: str) -> bool:
        """Whether writing ``rel`` would replace something pixret did not write: a file of the
        user's (or one changed since), a folder, a link, or a file where a folder must go."""
        f = self.out / rel
        return not self._inside(rel) or ((f.exists() or f.is_symlink()) and not self._ours(rel))

    def commit(self) -> list[str]:
        """Move the staged files into the folder and remove what an earlier search wrote there
        and this one did not (unchanged files only). PixretError, with nothing in the folder
        replaced and this search's files left in the stage, when a name is taken. Returns
        notes: what was removed, and what was kept."""
        assert self.stage is not None
        staged = sorted(p.relative_to(self.stage).as_posix() for p in self.stage.rglob("*") if p.is_file())
        taken = [rel for rel in staged if self._taken(rel)]
        if taken:
            self._keep_stage = True
            raise PixretError(self.out / taken[0], f"exists and pixret did not write it (or it was changed since; "
                              f"{len(taken)} such name(s)): nothing in {self.out} was replaced; this {self.what}'s "
                              f"results are in {self.stage}")  # fmt: skip
        new = {rel: _sha256(self.stage / rel) for rel in staged}
        # listed before they move: a search stopped half-way leaves nothing pixret cannot recognise
        self._write_manifest({rel: sorted({*self.previous.get(rel, []), *([new[rel]] if rel in new else [])})
                              for rel in {*self.previous, *new}})  # fmt: skip
        for rel in staged:
            dst = self.out / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.stage / rel, dst)
        removed, kept = [], []
        for rel in sorted(set(self.previous) - set(new)):
            f = self.out / rel
            if not self._inside(rel) or not (f.exists() or f.is_symlink()):  # gone, or reached through a link
                continue
            if self._ours(rel):
                f.unlink()
                removed.append(rel)
                self._prune(f.parent)
            else:
                kept.append(rel)
        self._write_manifest({rel: [h] for rel, h in new.items()})
        if removed:
            self.notes.append(f"removed {len(removed)} file(s) an earlier {self.before} wrote in {self.out} and this "
                              f"one did not write again (first: {removed[0]})")  # fmt: skip
        if kept:
            self.notes.append(f"kept {len(kept)} file(s) an earlier {self.before} wrote in {self.out} that were changed "
                              f"since (first: {kept[0]}): they are not this {self.what}'s results")  # fmt: skip
        return self.notes

    def _prune(self, folder: Path) -> None:
        """Remove the folders an earlier search's files left empty (never the output folder)."""
        while folder != self.out and self.out in folder.parents:
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent
