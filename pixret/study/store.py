"""The study file: SQLite in WAL mode, a versioned schema, benchmark ids only (never paths).

Tables::

    meta(key, value)                 schema_version, dataset, root, method, label, conditions, seed,
                                     mix, pairs, created; open ('1' or '0': new participants
                                     welcome), cap (most participants; '' for no cap)
    trials(id, query, image, kind, pred, gt)
                                     kind: easy | hard | negative; pred: the method's polygons (JSON,
                                     shown in the box and mask conditions); gt: the ground truth's
                                     polygons (JSON; scores clicks, never sent to a participant)
    participants(id, number, created)
                                     id: the anonymous token in the participant's link
    assignments(participant, position, trial, condition)
                                     each participant's sequence (see design.py)
    responses(participant, position, answer, click_x, click_y, hit, rt_ms, received,
              viewport_w, viewport_h, pointer)
                                     one row per answered position: UNIQUE(participant, position),
                                     so a reload or a replayed post cannot record a trial twice;
                                     the browser window's size (CSS pixels) and the pointer that
                                     answered (mouse, touch, pen) since schema version 2

A file is checked before anything is written to it: it is first opened read-only and immutable
(no lock, no journal, no -wal or -shm beside it), its tables and settings are checked, and only
then is it opened for writing and switched to WAL. A file that fails is left as it was, byte for
byte: an empty file stays empty, another program's database keeps its journal mode.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from ..errors import PixretError

SCHEMA_VERSION = 2
READS = (1, 2)  # versions this pixret opens; version 1 (no device columns) is upgraded when served

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE trials (
    id INTEGER PRIMARY KEY, query INTEGER NOT NULL, image INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('easy', 'hard', 'negative')),
    pred TEXT NOT NULL, gt TEXT NOT NULL
);
CREATE TABLE participants (id TEXT PRIMARY KEY, number INTEGER UNIQUE NOT NULL, created TEXT NOT NULL);
CREATE TABLE assignments (
    participant TEXT NOT NULL REFERENCES participants(id), position INTEGER NOT NULL,
    trial INTEGER NOT NULL REFERENCES trials(id), condition TEXT NOT NULL,
    PRIMARY KEY (participant, position)
);
CREATE TABLE responses (
    participant TEXT NOT NULL, position INTEGER NOT NULL,
    answer INTEGER NOT NULL CHECK (answer IN (0, 1)), click_x REAL, click_y REAL, hit INTEGER,
    rt_ms REAL NOT NULL, received TEXT NOT NULL,
    viewport_w INTEGER, viewport_h INTEGER, pointer TEXT,
    PRIMARY KEY (participant, position),
    FOREIGN KEY (participant, position) REFERENCES assignments(participant, position)
);
"""
DEVICE_COLUMNS = ("viewport_w INTEGER", "viewport_h INTEGER", "pointer TEXT")  # added by version 2

# what a study file must hold: table -> columns of version 1 (every later version adds to them)
TABLES = {
    "meta": {"key", "value"},
    "trials": {"id", "query", "image", "kind", "pred", "gt"},
    "participants": {"id", "number", "created"},
    "assignments": {"participant", "position", "trial", "condition"},
    "responses": {"participant", "position", "answer", "click_x", "click_y", "hit", "rt_ms", "received"},
}
META_KEYS = ("dataset", "root", "conditions", "seed", "pairs")


def _uri(path: Path, mode: str) -> str:
    return path.resolve().as_uri() + f"?mode={mode}"


def connect(path: str | Path, create: bool = False, readonly: bool = False) -> sqlite3.Connection:
    """Open a study file: checked first (read-only), then opened for writing in WAL mode, or
    read-only when ``readonly`` (what a report needs: a read-only file, or one on a read-only
    disk, can be reported). ``create``: a new, empty study file (refused if ``path`` exists).

    Raises PixretError, one line naming the file, for a missing file or folder, a file that is
    not a pixret study (or is damaged), or one of another schema version; such a file is not
    modified."""
    path = Path(path)
    if create:
        if path.exists():
            raise PixretError(path, "a file of that name exists: choose a new study file")
        if not path.parent.is_dir():
            raise PixretError(path.parent, "no such folder: make it first, or choose another place for the study file")
        try:
            db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
            _writable(db)
            # one script, one transaction (executescript commits whatever was open)
            db.executescript(f"BEGIN; {SCHEMA} INSERT INTO meta VALUES ('schema_version', '{SCHEMA_VERSION}'); COMMIT;")
        except sqlite3.Error as exc:
            raise PixretError(path, f"cannot write the study file here ({exc})") from None
        return db
    if path.is_dir():
        raise PixretError(path, "a folder, not a study file")
    if not path.is_file():
        where = "" if path.parent.is_dir() else f" (no folder {path.parent})"
        raise PixretError(path, f"study file not found{where}: make one with `pixret study create`")
    version = check(path)
    if readonly:
        wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
        if wal.is_file() and wal.stat().st_size and not shm.exists() and not os.access(path.parent, os.W_OK):
            # SQLite needs the -shm file (or a folder it may make it in) to read the answers the
            # -wal holds; without either it would read the file alone and count none of them
            raise PixretError(path, f"{wal.name} beside it holds answers that SQLite can only read where it may "
                              "write: copy the study file with its -wal file to a writable folder")  # fmt: skip
        return _read_only(path)
    try:
        db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        _writable(db)
        if version < SCHEMA_VERSION:
            _upgrade(db)
    except sqlite3.Error as exc:
        raise PixretError(path, f"cannot open the study file for writing ({exc}); a report only reads it") from None
    return db


def _writable(db: sqlite3.Connection) -> None:
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("PRAGMA busy_timeout=30000")


def _read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection that sees what a running server wrote (its WAL included); on a
    read-only disk, where SQLite cannot make the WAL's shared-memory file, the file as it is."""
    made = [p for p in (Path(f"{path}-wal"), Path(f"{path}-shm")) if not p.exists()]
    for mode in ("ro", "ro&immutable=1"):
        db = None
        try:
            db = sqlite3.connect(_uri(path, mode), uri=True, timeout=30, isolation_level=None,
                                 check_same_thread=False)  # fmt: skip
            db.execute("SELECT 1 FROM meta LIMIT 1").fetchall()
            return db
        except sqlite3.Error as exc:
            problem = exc
            if db is not None:
                db.close()
    # refused: nothing left beside the file (a reader of a WAL-mode file makes its -shm and an
    # empty -wal; found by the fuzz suite on a file with one byte changed)
    for p in made:
        with contextlib.suppress(OSError):
            if p.name.endswith("-shm") or p.stat().st_size == 0:
                p.unlink()
    raise PixretError(path, f"cannot read the study file ({problem})")


def check(path: Path) -> int:
    """The schema version of a pixret study file, after checking its tables and settings;
    opened immutable, so that nothing is written, locked or created beside it."""
    try:
        db = sqlite3.connect(_uri(path, "ro&immutable=1"), uri=True)
    except sqlite3.Error as exc:
        raise PixretError(path, f"cannot read the study file ({exc})") from None
    try:
        tables = {name: {r[1] for r in db.execute(f"PRAGMA table_info({name})")} for name in TABLES}
        missing = [n for n, cols in TABLES.items() if not tables[n]]
        if len(missing) == len(TABLES):
            raise PixretError(path, "not a pixret study file (none of its tables)")
        if missing:
            raise PixretError(path, f"damaged study file: no {', '.join(missing)} table")
        for name, cols in TABLES.items():
            if not cols <= tables[name]:
                raise PixretError(path, f"damaged study file: table {name} lacks {', '.join(sorted(cols - tables[name]))}")
        info = meta(db)
    except (sqlite3.DatabaseError, ValueError) as exc:  # ValueError: text that is not UTF-8
        raise PixretError(path, f"not a pixret study file ({type(exc).__name__}: {str(exc)[:120]})") from None
    finally:
        db.close()
    raw = info.get("schema_version")
    version = int(raw) if isinstance(raw, str) and raw.isdigit() and len(raw) < 6 else None
    if version not in READS:
        newer = version is not None and version > SCHEMA_VERSION
        raise PixretError(
            path, f"study schema version {raw if version is None else version}; this pixret reads version "
            f"{SCHEMA_VERSION}" + (": upgrade pixret" if newer else ""),
        )  # fmt: skip
    check_meta(path, info)
    return version


def check_meta(path: Path, info: dict[str, str]) -> None:
    """Refuse settings a study cannot run with: a missing key, conditions outside image, box,
    mask, a seed or a trial count that is not a whole number, a cap that is not one."""
    from .design import parse_conditions

    missing = [k for k in META_KEYS if not info.get(k)]
    if missing:
        raise PixretError(path, f"damaged study file: its settings lack {', '.join(missing)}")
    try:
        parse_conditions(info["conditions"])
    except PixretError as exc:
        raise PixretError(path, f"damaged study file: {exc.problem}") from None
    for key in ("seed", "pairs", "cap"):
        v = info.get(key, "")
        if key == "cap" and v == "":
            continue
        if not (v.isascii() and v.isdigit() and len(v) < 19):
            raise PixretError(path, f"damaged study file: {key} {v[:40]!r} is not a whole number of 0 or more")
    if info.get("open", "1") not in ("0", "1"):
        raise PixretError(path, "damaged study file: open must be 0 or 1")


def _upgrade(db: sqlite3.Connection) -> None:
    """Version 1 -> 2: the device columns (NULL for answers recorded before)."""
    with transaction(db):
        have = {r[1] for r in db.execute("PRAGMA table_info(responses)")}
        for col in DEVICE_COLUMNS:
            if col.split()[0] not in have:
                db.execute(f"ALTER TABLE responses ADD COLUMN {col}")
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))


def columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in db.execute(f"PRAGMA table_info({table})")}


@contextlib.contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT: one writer at a time; everything or nothing."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def meta(db: sqlite3.Connection) -> dict[str, str]:
    return {str(k): str(v) for k, v in db.execute("SELECT key, value FROM meta").fetchall()}
