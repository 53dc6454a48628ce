"""The scores cache of `pixret compare`: keyed by everything a score depends on, its entries
checked like any other input.

A (method, dataset) score depends on the method's result files (and the PNG masks a pixret
JSON file names), the benchmark (ground truth, pair list, R1M list, every label file, and the
size of database images whose label gives none), the protocols, the point order and the code
that scores. The key is a SHA-256 over all of them; an entry is ``CACHE/KEY.json``.

An entry is used only if it is a regular file of sane size, valid JSON of the expected schema
(every value a number in 0..1 or null, one record per query), for this key, and its MAC
verifies: a hand edit, a truncated write, ``[]``, ``null`` or 100,000 nested brackets are
scored again, with a note. A cache that cannot be written (a read-only tree, a file where the
folder should be, a folder where an entry should be) is a note, never a missing score.

Why a MAC, not a checksum: a cache folder is input like any other, and a results tree with its
``.pixret-cache`` is handed from one person to another. A plain hash of an entry's content can
be recomputed by whoever edits it; an HMAC-SHA256 (RFC 2104) under a secret key of the user's
own cannot. So an entry is trusted only when this user's key wrote it, and forging one needs
that key, i.e. the right to read the user's files already. The key is 32 random bytes made once
(``secrets``), in ``$PIXRET_KEY_FILE`` or ``$XDG_CONFIG_HOME/pixret/cache.key`` (default
``~/.config/pixret/cache.key``), with mode 0600; it is used for nothing else and is part of no
cache key. A key file that others may read or write, or that is not the user's, is not used:
the scores are computed, with a note. An entry of another user's (or another key's) is scored
again with a note and rewritten under this user's key.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import math
import os
import stat
from pathlib import Path

from .._version import __version__
from ..datasets.model import Benchmark
from ..datasets.release import benchmark_files
from ..errors import PixretError
from ..io import read_json, write_json
from ..keys import mac, user_key  # the cache's key is pixret's key (keys.py)
from .protocols.base import KAPPAS, MIOU_KEYS, THRESHOLDS

FORMAT = "pixret-compare-cache"
VERSION = 3  # 1: keyed by the result files only (pixret <= 0.3); 2: a plain sha256 checksum, not a MAC
MAX_ENTRY_BYTES = 64 << 20  # a real entry is a few KB per query
_CHUNK = 1 << 20
_PACKAGE = Path(__file__).resolve().parents[1]
# the code a score depends on: the evaluation package and what it reads files with
_CODE = ("evaluation", "datasets/release.py", "datasets/labelme.py", "datasets/model.py", "geometry.py",
         "imageio.py", "io.py", "_version.py")  # fmt: skip


def default_folder() -> Path:
    """Where scores of run folders are cached: ``$PIXRET_CACHE/compare`` (default
    ``~/.cache/pixret/compare``); results trees keep theirs in ``RESULTS/.pixret-cache``."""
    return Path(os.environ.get("PIXRET_CACHE") or Path.home() / ".cache" / "pixret") / "compare"


@functools.lru_cache(maxsize=1)
def code_digest() -> str:
    """SHA-256 over pixret's version and the source of the code that scores (a scoring change
    between two releases must not return old scores)."""
    h = hashlib.sha256(__version__.encode())
    for rel in _CODE:
        target = _PACKAGE / rel
        for f in sorted(target.rglob("*.py")) if target.is_dir() else [target]:
            h.update(str(f.relative_to(_PACKAGE)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def _hash_file(h, path: Path) -> bytes:
    """Feed ``path`` to ``h``; return what a scan for mask references needs (has '"mask"')."""
    found = False
    tail = b""
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            h.update(block)
            found = found or b'"mask"' in tail + block
            tail = block[-8:]
    return b"mask" if found else b""


def file_digest(path: Path | None) -> str:
    """SHA-256 of a result file, and of the PNG masks a pixret JSON file refers to ("-": none).
    Call only after the file's size was checked (``results.check_*_file``)."""
    if path is None:
        return "-"
    h = hashlib.sha256()
    try:
        masks = _hash_file(h, path)
        if masks and path.suffix == ".json":
            doc = read_json(path)
            pairs = doc.get("pairs") if isinstance(doc, dict) else None
            for pair in pairs if isinstance(pairs, list) else []:
                rel = pair.get("mask") if isinstance(pair, dict) else None
                if isinstance(rel, str):
                    m = path.parent / rel
                    h.update(os.fsencode(rel))  # a name that is not UTF-8 holds surrogate escapes
                    h.update(_digest_or_missing(m).encode())
    except OSError as exc:
        raise PixretError(path, f"unreadable ({exc.strerror or exc})") from None
    return h.hexdigest()


def _digest_or_missing(path: Path) -> str:
    h = hashlib.sha256()
    try:
        if not path.is_file():
            return "missing"
        _hash_file(h, path)
    except OSError:
        return "unreadable"
    return h.hexdigest()


def benchmark_digest(bench: Benchmark) -> str:
    """SHA-256 over the benchmark's name, sizes and files (``release.benchmark_files``), and
    the size and modification time of each positive's image file (it gives the canvas when a
    label has no size)."""
    h = hashlib.sha256(json.dumps([bench.name, bench.n_queries, bench.n_database]).encode())
    for f in benchmark_files(bench):
        h.update(os.fsencode(f))  # its bytes: a folder name that is not UTF-8 holds surrogate escapes
        h.update(_digest_or_missing(f).encode())
    for i in sorted({i for _, i in bench.pairs()}):
        path = bench.database_image(i)
        try:
            st = path.stat() if path is not None else None
        except OSError:
            st = None
        h.update(f"{i}:{st.st_size}:{st.st_mtime_ns}".encode() if st else f"{i}:-".encode())
    return h.hexdigest()


def entry_key(bench_digest: str, dataset: str, image: str, pixel: str, protocols: tuple[str, ...], points: str,
              one_based: bool = False) -> str:  # fmt: skip
    """The cache key of one (method, dataset) score: everything it depends on."""
    parts = [FORMAT, VERSION, code_digest(), dataset, bench_digest, image, pixel, list(protocols), points, one_based]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def entry_mac(secret: bytes, key: str, summary: object, seen: object) -> str:
    """HMAC-SHA256 under the user's ``secret`` of an entry's key, summary and warnings (canonical JSON)."""
    return mac(secret, [FORMAT, VERSION, key, summary, seen])


# ------------------------------------------------------------------ schema of an entry

NUM, INT, STR, BOOL = "number in 0..1 or null", "integer", "string", "boolean"
_MH = {"medium": NUM, "hard": NUM}
_EMH = {"easy": NUM, "medium": NUM, "hard": NUM}
QUERY_SCHEMA = {"query": INT, "name": STR, "n_easy": INT, "n_hard": INT, "ignored_in_pixel_mAP": BOOL,
                "mIoU": dict.fromkeys(MIOU_KEYS, NUM), "pixel_AP": _MH, "pixel_AP_box": _MH, "image_AP": _EMH}  # fmt: skip
SUMMARY_SCHEMA = {
    "mIoU": dict.fromkeys(MIOU_KEYS, NUM), "pixel_mAP": _MH, "pixel_mAP_box": _MH,
    "pixel_mAP_at": {"medium": [NUM] * len(THRESHOLDS), "hard": [NUM] * len(THRESHOLDS)},
    "image_mAP": _EMH, "image_mP": {s: {str(k): NUM for k in KAPPAS} for s in _EMH},
}  # fmt: skip


def _check(value: object, schema: object, where: str) -> str | None:
    """Why ``value`` does not fit ``schema`` (None when it does). Iterative in depth only as
    far as the schema goes: a value nested deeper is refused at the schema's leaf."""
    if schema == NUM:
        ok = value is None or (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
            and -1e-9 <= value <= 1 + 1e-9
        )  # fmt: skip
    elif schema == INT:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    elif schema == STR:
        ok = isinstance(value, str)
    elif schema == BOOL:
        ok = isinstance(value, bool)
    elif isinstance(schema, list):
        if not isinstance(value, list) or len(value) != len(schema):
            return f"{where}: expected a list of {len(schema)}"
        for n, (v, s) in enumerate(zip(value, schema, strict=True)):
            if (why := _check(v, s, f"{where}[{n}]")) is not None:
                return why
        return None
    else:
        assert isinstance(schema, dict)
        if not isinstance(value, dict) or set(value) != set(schema):
            return f"{where}: expected the keys {', '.join(schema)}"
        for k, s in schema.items():
            if (why := _check(value[k], s, f"{where}.{k}")) is not None:
                return why
        return None
    return None if ok else f"{where}: expected a {schema}"


def check_summary(summary: object, protocols: tuple[str, ...], n_queries: int) -> str | None:
    """Why ``summary`` is not one of ``PixelEval.summarize()`` for these protocols and this many
    queries (None when it is)."""
    if not isinstance(summary, dict) or set(summary) != set(protocols):
        return f"summary: expected the protocols {', '.join(protocols)}"
    for p in protocols:
        doc = summary[p]
        if not isinstance(doc, dict) or "per_query" not in doc:
            return f"{p}: not a protocol summary"
        rest = {k: v for k, v in doc.items() if k != "per_query"}
        if (why := _check(rest, SUMMARY_SCHEMA, p)) is not None:
            return why
        records = doc["per_query"]
        if not isinstance(records, list) or len(records) != n_queries:
            return f"{p}.per_query: expected {n_queries} records"
        for q, r in enumerate(records):
            if (why := _check(r, QUERY_SCHEMA, f"{p}.per_query[{q}]")) is not None:
                return why
            if r["query"] != q:
                return f"{p}.per_query[{q}]: holds query {r['query']}"
    return None


class ScoreCache:
    """The entries under ``folder`` (None: no cache). Never raises on a damaged or unwritable
    cache, or on a key that cannot be used: what went wrong is in ``notes``, and the score is
    computed instead. ``key_path``: the secret key's file (default ``keys.key_file()``)."""

    def __init__(self, folder: str | os.PathLike | None, key_path: str | os.PathLike | None = None):
        self.folder = None if folder is None else Path(folder)
        self.notes: list[str] = []
        self._unwritable = False
        self._key_path = None if key_path is None else Path(key_path)
        self._secret: bytes | None = None
        self._no_key = False

    def path(self, key: str) -> Path | None:
        return None if self.folder is None or self._no_key else self.folder / f"{key}.json"

    def _key(self) -> bytes | None:
        """The user's secret key, read once; None (and one note) when it cannot be used."""
        if self._secret is None and not self._no_key:
            try:
                self._secret = user_key(self._key_path)
            except PixretError as exc:
                self._no_key = True
                self.notes.append(f"cache not used ({exc}); every score was computed")
        return self._secret

    def get(self, key: str, protocols: tuple[str, ...], n_queries: int, what: str) -> tuple[dict, list[str]] | None:
        """(summary, warnings seen when it was scored) of a valid entry for ``key``, else None
        (a note says why an entry that is there was not used; ``what`` names the score)."""
        path = self.path(key)
        if path is None:
            return None
        try:
            st = os.stat(path)
        except OSError:  # no entry (or no cache folder: a file in its place is noted on writing)
            return None
        secret = self._key()
        if secret is None:
            return None
        doc: object = None
        if stat.S_ISDIR(st.st_mode):
            problem = "it is a folder"
        elif not stat.S_ISREG(st.st_mode):
            problem = "it is not a regular file"
        elif st.st_size > MAX_ENTRY_BYTES:
            problem = f"{st.st_size} bytes, more than an entry holds"
        else:
            try:
                doc = read_json(path)
                problem = self._problem(doc, key, protocols, n_queries, secret)
            except PixretError as exc:
                problem = exc.problem
        if problem is None and isinstance(doc, dict):
            return doc["summary"], doc["warnings"]
        self.notes.append(f"cache entry {path} for {what} not used ({problem}); scored again")
        return None

    @staticmethod
    def _problem(doc: object, key: str, protocols: tuple[str, ...], n_queries: int, secret: bytes) -> str | None:
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            return "not a pixret cache entry"
        if doc.get("version") != VERSION or doc.get("key") != key:
            return "written for other files or another pixret"
        if set(doc) != {"format", "version", "key", "summary", "warnings", "mac"}:
            return "not a pixret cache entry"
        seen = doc["warnings"]
        if not isinstance(seen, list) or not all(isinstance(w, str) for w in seen):
            return "warnings: expected a list of strings"
        why = check_summary(doc["summary"], protocols, n_queries)
        if why is not None:
            return why
        stored, expected = doc["mac"], entry_mac(secret, key, doc["summary"], seen)
        if not (isinstance(stored, str) and hmac.compare_digest(stored.encode(), expected.encode())):
            return "its MAC does not verify under your key: written by someone else, or edited"
        return None

    def put(self, key: str, summary: dict, seen: list[str]) -> None:
        """Write the entry for ``key`` (beside, then renamed over); a cache that cannot be
        written is noted once and left alone."""
        path = self.path(key)
        if path is None or self._unwritable:
            return
        secret = self._key()
        if secret is None:
            return
        doc = {"format": FORMAT, "version": VERSION, "key": key, "summary": summary, "warnings": seen,
               "mac": entry_mac(secret, key, summary, seen)}  # fmt: skip
        try:
            write_json(path, doc, None)
        except (PixretError, OSError) as exc:
            self._unwritable = True
            self.notes.append(f"scores not cached ({exc}); every score was computed")
