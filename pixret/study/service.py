"""Creating a study, and everything a participant's page asks of it.

Each participant gets an anonymous token (their link) and a fixed sequence of trials. The only
trial they may answer is their next unanswered one; an answer is recorded once (a reload or a
replayed post gets a 409 and changes nothing); a click is scored against the ground truth
here, on the server, which never sends the ground truth to the page.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import os
import secrets
import sqlite3
import threading
from pathlib import Path

import cv2
import numpy as np

from ..datasets import load_benchmark
from ..datasets.model import Benchmark
from ..errors import PixretError
from ..imageio import image_size
from ..io import temp_stem
from . import store
from .design import CONDITIONS, DEFAULT_MIX, assign, sample_trials, write_trials

MAX_RT_MS = 3_600_000  # a trial answered after an hour is not a response time
MAX_POSITION = 2**31 - 1  # far above any study's length; larger numbers never reach SQLite
MAX_COORD = 1_000_000  # image pixels: a click beyond is not on a photograph
MAX_VIEWPORT = 100_000  # CSS pixels
POINTERS = ("mouse", "touch", "pen")  # PointerEvent.pointerType; "" when the browser did not say
DEFAULT_CAP = 100
MAX_CAP = 100_000
MAX_PAIRS = 100_000  # trials in one study: far beyond what a person answers


class StudyError(PixretError):
    """A request the study refuses, in one sentence; the subclass says why (the server answers
    each kind with its own HTTP status)."""

    def __init__(self, problem: str):
        super().__init__(None, problem)

    def __reduce__(self):
        return (type(self), (self.problem,))


class NotFound(StudyError):
    """No such participant, trial or image."""


class Invalid(StudyError):
    """A malformed answer (position, answer, click or time)."""


class Conflict(StudyError):
    """An answer the study's state refuses: already recorded, or not the next trial; or a new
    participant when the study is closed or full."""


def _number(value: object, name: str, low: float, high: float) -> float:
    """A JSON number within [low, high], as float; Invalid otherwise (a 400-digit integer,
    NaN, a string, a boolean)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid(f"{name} must be a number")
    try:
        v = float(value)
    except OverflowError:
        raise Invalid(f"{name} out of range") from None
    if not (math.isfinite(v) and low <= v <= high):
        raise Invalid(f"{name} out of range ({low:g} to {high:g})")
    return v


def _position(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid("position must be an integer")
    if not 0 <= value <= MAX_POSITION:
        raise NotFound("no such trial for this participant")
    return value


def create_study(
    path: str | Path,
    root: str | Path,
    dataset: str,
    pixel_results: str | Path | None = None,
    pairs: int = 24,
    conditions: tuple[str, ...] = CONDITIONS,
    mix: tuple[float, float, float] = DEFAULT_MIX,
    seed: int = 0,
    points: str = "xy",
    label: str | None = None,
    cap: int | None = DEFAULT_CAP,
) -> Path:
    """Sample the trials and write a new study file (refused if ``path`` exists).

    ``label``: the method's name in the report (default: its results file's name, or "oracle
    (ground truth)"). A study whose masks come from the benchmark's labels (no ``pixel_results``,
    or a run built from them: ``evaluation.results.oracle_of``) records what they carry in its
    ``oracle`` setting, and its report and admin page call it an oracle whatever the label.
    ``cap``: the most participants the study takes (None: no cap; the admin page can change it)."""
    from ..evaluation.results import load_pixel_results

    path = Path(path)
    if path.exists():
        raise PixretError(path, "a file of that name exists: choose a new study file")
    if not path.parent.is_dir():
        raise PixretError(path.parent, "no such folder: make it first, or choose another place for the study file")
    if not 1 <= pairs <= MAX_PAIRS:
        raise PixretError(None, f"--pairs {pairs}: a study holds 1 to {MAX_PAIRS} trials")
    if not 0 <= seed < 1 << 63:
        raise PixretError(None, f"--seed {seed}: a whole number from 0 to 2**63 - 1")
    if cap is not None and not 1 <= cap <= MAX_CAP:
        raise PixretError(None, f"cap {cap}: between 1 and {MAX_CAP} participants")
    if label is not None and not 0 < len(label) <= 200:
        raise PixretError(None, "the method's label: 1 to 200 characters")
    bench = load_benchmark(root, dataset)
    if not bench.has_images:
        raise PixretError(bench.root, "the benchmark's images are needed for a study (pixret download ...)")
    pixels = load_pixel_results(bench, pixel_results, points) if pixel_results else None
    trials = sample_trials(bench, pairs, mix, seed)
    # a new name each time: a file of that name that was there (another create's) is never touched
    tmp = path.with_name(f".{temp_stem(path.name)}.{os.getpid()}.{secrets.token_hex(4)}.creating")
    db = store.connect(tmp, create=True)
    try:
        with store.transaction(db):
            method = str(pixel_results) if pixel_results else "oracle (ground truth)"
            oracle = masks_oracle(pixel_results)
            marks = {"oracle": oracle} if oracle else {}  # what the masks carry from the labels
            info = {"dataset": dataset, "root": str(Path(root).resolve()), "conditions": ",".join(conditions),
                    "seed": str(seed), "mix": ",".join(f"{m:g}" for m in mix), "pairs": str(len(trials)),
                    "method": method, "label": label or (Path(pixel_results).name if pixel_results else method),
                    "open": "1", "cap": "" if cap is None else str(cap), **marks,
                    "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}  # fmt: skip
            db.executemany("INSERT INTO meta VALUES (?, ?)", sorted(info.items()))
            write_trials(db, bench, trials, pixels)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
        try:
            os.link(tmp, path)  # never over a file that appeared meanwhile (rename would replace it)
        except FileExistsError:
            raise PixretError(path, "a file of that name exists: choose a new study file") from None
        except OSError:  # a file system without hard links
            if path.exists():
                raise PixretError(path, "a file of that name exists: choose a new study file") from None
            os.replace(tmp, path)
    finally:
        db.close()
        for made in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):  # all this call's own
            made.unlink(missing_ok=True)
    return path


def masks_oracle(pixel_results: str | Path | None) -> str | None:
    """What a study's masks carry from the benchmark's labels: the ground truth itself without
    ``pixel_results``, what a run built from the labels records (``evaluation.results.oracle_of``),
    or None for a method's results."""
    from ..evaluation.results import oracle_of
    from .report import GROUND_TRUTH

    return oracle_of(pixel_results) if pixel_results else GROUND_TRUTH


def _locked(method):
    """One call at a time on the shared connection; a file damaged while open is one line."""

    @functools.wraps(method)
    def call(self, *args, **kwargs):
        with self.lock:
            try:
                return method(self, *args, **kwargs)
            except (sqlite3.DatabaseError, ValueError) as exc:  # ValueError: text not UTF-8, JSON damaged
                raise PixretError(self.path, f"study file damaged or unreadable ({type(exc).__name__}: "
                                  f"{str(exc)[:120]})") from None

    return call


class Study:
    """An open study: its file, its settings and its benchmark (for images and nothing else)."""

    def __init__(self, path: str | Path, root: str | Path | None = None, readonly: bool = False):
        """Open a study file (``readonly``: for a report; nothing is written, and a read-only
        file or disk will do). Raises PixretError for anything but a sound study file."""
        self.path = Path(path)
        self.db = store.connect(self.path, readonly=readonly)
        try:  # as the connection sees it (a running server's WAL included): checked again
            self.meta = store.meta(self.db)
            store.check_meta(self.path, self.meta)
        except (sqlite3.DatabaseError, ValueError) as exc:
            self.db.close()
            raise PixretError(self.path, f"study file damaged ({type(exc).__name__}: {str(exc)[:120]})") from None
        except PixretError:
            self.db.close()
            raise
        self.conditions = tuple(self.meta["conditions"].split(","))
        self.seed = int(self.meta["seed"])
        self.pairs = int(self.meta["pairs"])
        self.root = Path(root) if root else Path(self.meta["root"])
        self._bench: Benchmark | None = None
        # one connection, shared by the server's threads: one call at a time on it (a
        # transaction must not interleave with another thread's statements); other processes
        # get their own connections and SQLite's locking
        self.lock = threading.RLock()

    @property
    def bench(self) -> Benchmark:
        """The benchmark (for images); its trials are checked against it when it is loaded."""
        if self._bench is None:
            bench = load_benchmark(self.root, self.meta["dataset"])
            q0, q1, i0, i1 = self.db.execute("SELECT MIN(query), MAX(query), MIN(image), MAX(image) FROM trials").fetchone()
            bad = [f"{what} {v}" for what, v, n in (("query", q0, bench.n_queries), ("query", q1, bench.n_queries),
                                                  ("image", i0, bench.n_database), ("image", i1, bench.n_database))
                   if not (isinstance(v, int) and 0 <= v < n)]  # fmt: skip
            if bad and q0 is not None:
                raise PixretError(self.path, f"study file damaged: a trial names {bad[0]}, outside the benchmark "
                                  f"({bench.n_queries} queries, {bench.n_database} images)")  # fmt: skip
            self._bench = bench
        return self._bench

    def close(self) -> None:
        self.db.close()

    # ------------------------------------------------------------ participants
    @_locked
    def new_participant(self) -> str:
        """A new participant's token, unless the study is closed or has its cap of people."""
        pid = secrets.token_urlsafe(16)
        with store.transaction(self.db):
            settings = store.meta(self.db)
            number = self.db.execute("SELECT COUNT(*) FROM participants").fetchone()[0]
            if settings.get("open", "1") != "1":
                raise Conflict("this study is closed: it takes no new participants")
            cap = settings.get("cap", "")
            if cap and number >= int(cap):
                raise Conflict(f"this study has all the participants it needs ({cap})")
            now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            self.db.execute("INSERT INTO participants VALUES (?, ?, ?)", (pid, number, now))
            assign(self.db, pid, number, self.conditions, self.seed)
        return pid

    def _known(self, pid: str) -> None:
        if (
            not isinstance(pid, str)
            or not self.db.execute("SELECT 1 FROM participants WHERE id = ?", (pid,)).fetchone()
        ):
            raise NotFound("unknown participant link")

    def _next_position(self, pid: str) -> int | None:
        row = self.db.execute(
            "SELECT MIN(a.position) FROM assignments a LEFT JOIN responses r "
            "ON r.participant = a.participant AND r.position = a.position "
            "WHERE a.participant = ? AND r.position IS NULL", (pid,),
        ).fetchone()  # fmt: skip
        return row[0]

    @_locked
    def next_trial(self, pid: str) -> dict:
        """What the page shows next: the query and its box, the image, the condition's overlay
        (the method's polygons for box and mask; nothing for image). Never the ground truth."""
        self._known(pid)
        total = self.db.execute("SELECT COUNT(*) FROM assignments WHERE participant = ?", (pid,)).fetchone()[
            0
        ]
        pos = self._next_position(pid)
        if pos is None:
            return {"done": True, "total": total, "answered": total}
        trial, cond = self.db.execute(
            "SELECT trial, condition FROM assignments WHERE participant = ? AND position = ?", (pid, pos)
        ).fetchone()
        query, image, pred = self.db.execute(
            "SELECT query, image, pred FROM trials WHERE id = ?", (trial,)
        ).fetchone()
        q = self.bench.queries[query]
        return {"done": False, "position": pos, "total": total, "answered": pos,
                "condition": cond, "query_box": list(q.box),
                "query_size": _size(self.bench.query_image(query)), "image_size": _size(self.bench.database_image(image)),
                "overlay": self._polygons(pred) if cond != "image" else []}  # fmt: skip

    def _polygons(self, text: str) -> list:
        """A trial's polygons (JSON in the file), or one line when the file holds something else."""
        try:
            value = json.loads(text)
        except (ValueError, RecursionError, TypeError):
            value = None
        if not isinstance(value, list):
            raise PixretError(self.path, "study file damaged: a trial's polygons are not a JSON list")
        return value

    @_locked
    def image_path(self, pid: str, position: int, which: str) -> Path:
        """The query or database image of one of this participant's trials (by benchmark id)."""
        self._known(pid)
        position = _position(position)
        row = self.db.execute(
            "SELECT t.query, t.image FROM assignments a JOIN trials t ON t.id = a.trial "
            "WHERE a.participant = ? AND a.position = ?", (pid, position),
        ).fetchone()  # fmt: skip
        if row is None or which not in ("query", "image"):
            raise NotFound("no such trial")
        path = self.bench.query_image(row[0]) if which == "query" else self.bench.database_image(row[1])
        if path is None:
            raise NotFound("image missing from the benchmark folder")
        return path

    @_locked
    def record(
        self, pid: str, position: object, answer: object, click: object, rt_ms: object,
        viewport: object = None, pointer: object = None,
    ) -> dict:  # fmt: skip
        """Record the answer to the participant's next trial, once; score the click.

        ``viewport``: [width, height] of the browser window in CSS pixels; ``pointer``: the
        PointerEvent type that answered (mouse, touch, pen). Both optional, both exported."""
        self._known(pid)
        position = _position(position)
        if answer not in (0, 1) or isinstance(answer, bool):
            raise Invalid("answer must be 1 (the object is here) or 0 (it is not)")
        rt = _number(rt_ms, "rt_ms (the response time in milliseconds)", 0, MAX_RT_MS)
        if rt <= 0:
            raise Invalid("rt_ms must be the response time in milliseconds: more than 0, at most one hour")
        xy = None
        if answer == 1:
            if not (isinstance(click, list) and len(click) == 2):
                raise Invalid("a 'yes' needs the click [x, y] in image pixels")
            xy = (_number(click[0], "click x", 0, MAX_COORD), _number(click[1], "click y", 0, MAX_COORD))
        elif click is not None:
            raise Invalid("a 'no' has no click")
        vw = vh = None
        if viewport is not None:
            if not (isinstance(viewport, list) and len(viewport) == 2):
                raise Invalid("viewport must be [width, height] in CSS pixels")
            vw, vh = (_number(v, "viewport", 1, MAX_VIEWPORT) for v in viewport)
            if not (vw.is_integer() and vh.is_integer()):
                raise Invalid("viewport must be [width, height] in whole CSS pixels")
            vw, vh = int(vw), int(vh)
        if pointer is not None and pointer not in (*POINTERS, ""):
            raise Invalid(f"pointer must be one of {', '.join(POINTERS)}")
        with store.transaction(self.db):
            row = self.db.execute(
                "SELECT a.trial FROM assignments a WHERE a.participant = ? AND a.position = ?",
                (pid, position),
            ).fetchone()
            if row is None:
                raise NotFound("no such trial for this participant")
            if self.db.execute(
                "SELECT 1 FROM responses WHERE participant = ? AND position = ?", (pid, position)
            ).fetchone():
                raise Conflict("this trial is already recorded")
            if position != self._next_position(pid):
                raise Conflict("answer the trials in order: this is not the next one")
            gt = self._polygons(self.db.execute("SELECT gt FROM trials WHERE id = ?", (row[0],)).fetchone()[0])
            hit = None if xy is None or not gt else int(_inside(gt, xy))
            now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
            self.db.execute(
                "INSERT INTO responses (participant, position, answer, click_x, click_y, hit, rt_ms, received, "
                "viewport_w, viewport_h, pointer) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (pid, position, answer, *(xy or (None, None)), hit, round(rt, 1), now, vw, vh, pointer or None),
            )
        return {"recorded": True, "position": position}

    # ------------------------------------------------------------ admin
    @_locked
    def settings(self) -> dict:
        """Whether new participants are welcome, and the cap on their number (None: none)."""
        m = store.meta(self.db)
        return {"open": m.get("open", "1") == "1", "cap": int(m["cap"]) if m.get("cap") else None}

    @_locked
    def configure(self, open_: object = None, cap: object = "keep") -> dict:
        """Close or reopen the study (``open_``: True or False) and set the cap (an integer, or
        None for no cap); what is not given stays as it is."""
        if open_ is not None and not isinstance(open_, bool):
            raise Invalid("open must be true or false")
        bad_cap = isinstance(cap, bool) or not isinstance(cap, int) or not 1 <= cap <= MAX_CAP
        if cap != "keep" and cap is not None and bad_cap:
            raise Invalid(f"cap must be a whole number from 1 to {MAX_CAP}, or null for no cap")
        with store.transaction(self.db):
            if open_ is not None:
                self.db.execute("INSERT OR REPLACE INTO meta VALUES ('open', ?)", ("1" if open_ else "0",))
            if cap != "keep":
                self.db.execute("INSERT OR REPLACE INTO meta VALUES ('cap', ?)", ("" if cap is None else str(cap),))
        return self.settings()

    @_locked
    def progress(self) -> dict:
        """Per participant (number, started, trials, answered, last answer, pointers used) and per
        condition (answers, of how many assigned) -- never a participant's token."""
        device = store.columns(self.db, "responses") >= {"pointer"}
        people = self.db.execute(
            "SELECT p.number, p.created, COUNT(a.position), COUNT(r.position), MAX(r.received), "
            + ("GROUP_CONCAT(DISTINCT r.pointer) " if device else "NULL ")
            + "FROM participants p JOIN assignments a ON a.participant = p.id LEFT JOIN responses r "
            "ON r.participant = a.participant AND r.position = a.position GROUP BY p.id ORDER BY p.number"
        ).fetchall()
        conds = self.db.execute(
            "SELECT a.condition, COUNT(a.position), COUNT(r.position) FROM assignments a LEFT JOIN responses r "
            "ON r.participant = a.participant AND r.position = a.position GROUP BY a.condition"
        ).fetchall()
        per = {c: {"condition": c, "assigned": 0, "answered": 0} for c in self.conditions}
        for c, n, k in conds:
            per.setdefault(c, {"condition": c})
            per[c].update(assigned=n, answered=k)
        return {
            "participants": [
                {"participant": n, "started": started, "trials": t, "answered": k, "last_answer": last,
                 "pointers": sorted(set((ptr or "").split(",")) - {""})}
                for n, started, t, k, last, ptr in people
            ],
            "conditions": list(per.values()),
        }  # fmt: skip

    @_locked
    def rows(self) -> list[dict]:
        """Every response with its trial and condition (participants by number, not by token);
        times rounded to 0.1 ms; the device columns empty for answers of schema version 1."""
        device = store.columns(self.db, "responses") >= {"viewport_w", "viewport_h", "pointer"}
        cur = self.db.execute(
            "SELECT p.number, r.position, t.id, t.query, t.image, t.kind, a.condition, r.answer, "
            "r.click_x, r.click_y, r.hit, r.rt_ms, "
            + ("r.viewport_w, r.viewport_h, r.pointer " if device else "NULL, NULL, NULL ")
            + "FROM responses r JOIN participants p ON p.id = r.participant "
            "JOIN assignments a ON a.participant = r.participant AND a.position = r.position "
            "JOIN trials t ON t.id = a.trial ORDER BY p.number, r.position"
        )
        keys = ["participant", "position", "trial", "query", "image", "kind", "condition", "answer",
                "click_x", "click_y", "hit", "rt_ms", "viewport_w", "viewport_h", "pointer"]  # fmt: skip
        out = []
        for r in cur.fetchall():
            d = dict(zip(keys, r, strict=True))
            d["rt_ms"] = round(float(d["rt_ms"]), 1)
            d["correct"] = int(d["answer"] == (d["kind"] != "negative"))
            out.append(d)
        return out

    @_locked
    def participants(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM participants").fetchone()[0]


def _size(path: Path | None) -> list[int]:
    """Upright (w, h) from the header (what the page shows, and what clicks are scaled by)."""
    if path is None:
        raise NotFound("image missing from the benchmark folder")
    return list(image_size(path))


def _inside(polys: list, xy: tuple[float, float]) -> bool:
    """Is the click on the object (inside any ground-truth polygon, its edge included)?"""
    return any(
        cv2.pointPolygonTest(np.asarray(p, np.float32).reshape(-1, 1, 2), xy, False) >= 0
        for p in polys
        if len(p) >= 3
    )
