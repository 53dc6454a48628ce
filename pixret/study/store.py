"""The study file: SQLite in WAL mode, a versioned schema, benchmark ids only (never paths).

Tables::

    meta(key, value)                 schema_version, dataset, root, method, conditions, seed, mix, ...
    trials(id, query, image, kind, pred, gt)
                                     kind: easy | hard | negative; pred: the method's polygons (JSON,
                                     shown in the box and mask conditions); gt: the ground truth's
                                     polygons (JSON; scores clicks, never sent to a participant)
    participants(id, number, created)
                                     id: the anonymous token in the participant's link
    assignments(participant, position, trial, condition)
                                     each participant's sequence (see design.py)
    responses(participant, position, answer, click_x, click_y, hit, rt_ms, received)
                                     one row per answered position: UNIQUE(participant, position),
                                     so a reload or a replayed post cannot record a trial twice
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from ..errors import PixretError

SCHEMA_VERSION = 1

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
    PRIMARY KEY (participant, position),
    FOREIGN KEY (participant, position) REFERENCES assignments(participant, position)
);
"""


def connect(path: str | Path, create: bool = False) -> sqlite3.Connection:
    """Open a study file (WAL, foreign keys on); refuse one of another schema version."""
    path = Path(path)
    if create:
        if path.exists():
            raise PixretError(path, "a file of that name exists: choose a new study file")
    elif not path.is_file():
        raise PixretError(path, "study file not found (make one with `pixret study create`)")
    try:
        db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA busy_timeout=30000")
        if create:  # one script, one transaction (executescript commits whatever was open)
            db.executescript(
                f"BEGIN; {SCHEMA} INSERT INTO meta VALUES ('schema_version', '{SCHEMA_VERSION}'); COMMIT;"
            )
            return db
        row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.DatabaseError as exc:
        raise PixretError(path, f"not a pixret study file ({exc})") from None
    version = int(row[0]) if row and str(row[0]).isdigit() else None
    if version != SCHEMA_VERSION:
        db.close()
        newer = version is not None and version > SCHEMA_VERSION
        raise PixretError(
            path, f"study schema version {version}; this pixret reads version {SCHEMA_VERSION}"
            + (": upgrade pixret" if newer else ""),
        )  # fmt: skip
    return db


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
    return dict(db.execute("SELECT key, value FROM meta").fetchall())
