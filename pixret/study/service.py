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
import secrets
import threading
from pathlib import Path

import cv2
import numpy as np

from ..datasets import load_benchmark
from ..datasets.model import Benchmark
from ..errors import PixretError
from ..imageio import image_size
from . import store
from .design import CONDITIONS, DEFAULT_MIX, assign, sample_trials, write_trials

MAX_RT_MS = 3_600_000  # a trial answered after an hour is not a response time


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
    """An answer the study's state refuses: already recorded, or not the next trial."""


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
) -> Path:
    """Sample the trials and write a new study file (refused if ``path`` exists)."""
    from ..evaluation.results import load_pixel_results

    if Path(path).exists():
        raise PixretError(path, "a file of that name exists: choose a new study file")
    bench = load_benchmark(root, dataset)
    if not bench.has_images:
        raise PixretError(bench.root, "the benchmark's images are needed for a study (pixret download ...)")
    pixels = load_pixel_results(bench, pixel_results, points) if pixel_results else None
    trials = sample_trials(bench, pairs, mix, seed)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.creating")
    tmp.unlink(missing_ok=True)
    db = store.connect(tmp, create=True)
    try:
        with store.transaction(db):
            info = {"dataset": dataset, "root": str(Path(root).resolve()), "conditions": ",".join(conditions),
                    "seed": str(seed), "mix": ",".join(f"{m:g}" for m in mix), "pairs": str(len(trials)),
                    "method": str(pixel_results) if pixel_results else "oracle (ground truth)",
                    "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}  # fmt: skip
            db.executemany("INSERT INTO meta VALUES (?, ?)", sorted(info.items()))
            write_trials(db, bench, trials, pixels)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    for side in ("-wal", "-shm"):
        Path(str(tmp) + side).unlink(missing_ok=True)
    if path.exists():
        tmp.unlink()
        raise PixretError(path, "a file of that name exists: choose a new study file")
    tmp.rename(path)
    return path


def _locked(method):
    @functools.wraps(method)
    def call(self, *args, **kwargs):
        with self.lock:
            return method(self, *args, **kwargs)

    return call


class Study:
    """An open study: its file, its settings and its benchmark (for images and nothing else)."""

    def __init__(self, path: str | Path, root: str | Path | None = None):
        self.path = Path(path)
        self.db = store.connect(self.path)
        self.meta = store.meta(self.db)
        self.conditions = tuple(self.meta["conditions"].split(","))
        self.seed = int(self.meta["seed"])
        self.root = Path(root) if root else Path(self.meta["root"])
        self._bench: Benchmark | None = None
        # one connection, shared by the server's threads: one call at a time on it (a
        # transaction must not interleave with another thread's statements); other processes
        # get their own connections and SQLite's locking
        self.lock = threading.RLock()

    @property
    def bench(self) -> Benchmark:
        if self._bench is None:
            self._bench = load_benchmark(self.root, self.meta["dataset"])
        return self._bench

    def close(self) -> None:
        self.db.close()

    # ------------------------------------------------------------ participants
    @_locked
    def new_participant(self) -> str:
        pid = secrets.token_urlsafe(16)
        with store.transaction(self.db):
            number = self.db.execute("SELECT COUNT(*) FROM participants").fetchone()[0]
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
                "overlay": json.loads(pred) if cond != "image" else []}  # fmt: skip

    @_locked
    def image_path(self, pid: str, position: int, which: str) -> Path:
        """The query or database image of one of this participant's trials (by benchmark id)."""
        self._known(pid)
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
    def record(self, pid: str, position: object, answer: object, click: object, rt_ms: object) -> dict:
        """Record the answer to the participant's next trial, once; score the click."""
        self._known(pid)
        if isinstance(position, bool) or not isinstance(position, int):
            raise Invalid("position must be an integer")
        if answer not in (0, 1) or isinstance(answer, bool):
            raise Invalid("answer must be 1 (the object is here) or 0 (it is not)")
        if (
            isinstance(rt_ms, bool)
            or not isinstance(rt_ms, int | float)
            or not 0 < rt_ms <= MAX_RT_MS
            or not math.isfinite(rt_ms)
        ):
            raise Invalid("rt_ms must be the response time in milliseconds (0 to one hour)")
        xy = None
        if answer == 1:
            if not (
                isinstance(click, list)
                and len(click) == 2
                and all(
                    isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in click
                )
            ):
                raise Invalid("a 'yes' needs the click [x, y] in image pixels")
            xy = (float(click[0]), float(click[1]))
        elif click is not None:
            raise Invalid("a 'no' has no click")
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
            gt = json.loads(self.db.execute("SELECT gt FROM trials WHERE id = ?", (row[0],)).fetchone()[0])
            hit = None if xy is None or not gt else int(_inside(gt, xy))
            now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
            self.db.execute("INSERT INTO responses VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            (pid, position, answer, *(xy or (None, None)), hit, float(rt_ms), now))  # fmt: skip
        return {"recorded": True, "position": position}

    # ------------------------------------------------------------ admin
    @_locked
    def progress(self) -> list[dict]:
        rows = self.db.execute(
            "SELECT p.number, COUNT(a.position), COUNT(r.position) FROM participants p "
            "JOIN assignments a ON a.participant = p.id LEFT JOIN responses r "
            "ON r.participant = a.participant AND r.position = a.position GROUP BY p.id ORDER BY p.number"
        ).fetchall()
        return [{"participant": n, "trials": t, "answered": a} for n, t, a in rows]

    @_locked
    def rows(self) -> list[dict]:
        """Every response with its trial and condition (participants by number, not by token)."""
        cur = self.db.execute(
            "SELECT p.number, r.position, t.id, t.query, t.image, t.kind, a.condition, r.answer, "
            "r.click_x, r.click_y, r.hit, r.rt_ms FROM responses r "
            "JOIN participants p ON p.id = r.participant "
            "JOIN assignments a ON a.participant = r.participant AND a.position = r.position "
            "JOIN trials t ON t.id = a.trial ORDER BY p.number, r.position"
        )
        keys = ["participant", "position", "trial", "query", "image", "kind", "condition", "answer",
                "click_x", "click_y", "hit", "rt_ms"]  # fmt: skip
        out = []
        for r in cur.fetchall():
            d = dict(zip(keys, r, strict=True))
            d["correct"] = int(d["answer"] == (d["kind"] != "negative"))
            out.append(d)
        return out


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
