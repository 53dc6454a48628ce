"""What the app serves from: the index, an optional benchmark, and recent searches.

The index is reopened when ``pixret index --add`` (or a rebuild) publishes a new generation:
before a request, at most once a second, index.json is looked at (one stat); when it changed,
the index is opened again and swapped in. Searches already running finish on the index they
started with (its files stay readable: the writer never deletes what a reader maps).

An image id means something only within one generation (a rebuild may give id 0 to another
photo), so every answer that holds ids names its generation (``generation``: the index's
``gen-...`` folder), image addresses carry it (``/api/images/{i}?gen=G``), and a request for
another generation than the one served is a 409 with one line (``Stale``), never another
image. The benchmark is read once per server, but a server started again may serve another,
and a method's results folder (``--results``) may be replaced under it: benchmark answers and
image addresses carry a generation of their own (``BenchRun.generation``: the benchmark, the
results folder and its files' stamps). Results are looked at like the index (their files'
stamps, at most once a second) and read again when they changed; an answer for an earlier
generation is a 409.

Warming (``warm=True``; `pixret serve` does it unless --no-warm): a background thread reads the
index into the page cache ahead of the first searches (``Index.warm``: the inverted files, then
the features when the machine has the memory for them), again for each generation swapped in;
its progress goes to ``on_warm`` (one line at a time) and to /api/info ("warm").
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from fastapi import HTTPException, Request
from fastapi.responses import Response

from ..engine import Index, SearchResult
from ..errors import PixretError
from ..evaluation import load_pixel_results, load_ranks
from ..evaluation.results import RunFolder, oracle_of
from ..imageio import decode_image, encode, probe, thumbnail
from ..io import file_stamp

STATIC_DIR = Path(__file__).parent / "static"
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 40_000_000
MAX_SEARCHES = 64
MAX_STORE_BYTES = 512 * 1024 * 1024  # decoded query images kept for recent searches, all together
POLL_SECONDS = 1.0  # how often index.json is looked at (a stat; it is read only when it changed)
log = logging.getLogger("pixret.server")


class Stale(Exception):
    """A request for another generation of the data than the one served (a 409)."""

    def __init__(self, what: str, asked: str, now: str | None):
        super().__init__(what, asked, now)
        self.generation = now
        self.detail = (f"the {what} changed since this page loaded it (generation {asked[:40]!r}, now {now!r}): "
                       "ids of the earlier one name other images now; load the page or search again")  # fmt: skip


def check_generation(what: str, asked: str | None, now: str | None) -> None:
    """Stale when a request names a generation (``asked``) other than the one served."""
    if asked is not None and asked != now:
        raise Stale(what, asked, now)


def bench_generation(bench, results: Path | None = None, stamps: tuple = ()) -> str | None:
    """A name for what a benchmark's answers mean: the benchmark (its name, folder, queries and
    database images in order) and the method's results served with it (their folder and the
    stamps of its files: replaced or rewritten, they get another name). The same benchmark and
    results get the same one in every server that serves them."""
    if bench is None:
        return None
    what = [bench.name, str(Path(bench.root).resolve()), [q.name for q in bench.queries], list(bench.database),
            None if results is None else str(results.resolve()), [list(st) if st else None for st in stamps]]  # fmt: skip
    return "bench-" + hashlib.sha256(json.dumps(what).encode()).hexdigest()[:16]


RUN_FILES = (RunFolder.RANKS, RunFolder.PIXELS, RunFolder.RELEASE_PIXELS, RunFolder.SCORES)


def run_stamps(results: Path | None) -> tuple:
    """The stamps (``io.file_stamp``) of a run folder's files, in RUN_FILES order (None: missing)."""
    return () if results is None else tuple(file_stamp(results / f) for f in RUN_FILES)


@dataclass(frozen=True)
class BenchRun:
    """A method's results on the benchmark as they are served, taken as one: a request reads
    them all from one (a swap meanwhile does not mix two). ``method``: the name its files give
    (``RunFolder.method``); ``oracle``: what it carries from the benchmark's labels when it was
    built from them (``oracle_of``), else None; ``stamps``: its files' when read."""

    ranks: np.ndarray | None = None
    pixels: dict | None = None
    method: str | None = None
    oracle: str | None = None
    stamps: tuple = ()
    generation: str | None = None


def load_run(bench, results: Path | None, one_based: bool = False) -> BenchRun:
    """Read a run folder's ranking and pixel results for ``bench`` (``results`` None: the
    benchmark alone). PixretError (one line) for a folder that is no run or a file that is
    damaged or does not fit the benchmark."""
    if bench is None:
        return BenchRun()
    if results is None:
        return BenchRun(generation=bench_generation(bench))
    stamps = run_stamps(results)
    folder = RunFolder(results).check()  # ranks.npy + pixels.json (else pixels.npy), as every tool reads a run
    ranks = load_ranks(bench, folder.ranks, one_based)
    pixels = load_pixel_results(bench, folder.pixels)
    return BenchRun(ranks, pixels, folder.method(), oracle_of(folder.pixels), stamps,
                    bench_generation(bench, results, stamps))  # fmt: skip


class State:
    """The index, the benchmark (optional), and a locked store of recent searches, bounded by
    count and by bytes (a 40 MP upload is ~113 MB decoded: 64 of them would be 7 GB)."""

    def __init__(self, index: Index | None, bench=None, results: str | Path | None = None, one_based: bool = False,
                 device: str | None = None, warm: bool = False,
                 on_warm: Callable[[str], None] | None = None):  # fmt: skip
        """``results``: a method's run folder on ``bench`` (read now: a PixretError if it is
        none); ``one_based``: its ranking holds indices 1..n; ``warm``: warm the index in a
        background thread, its progress lines to ``on_warm``."""
        self.index, self.bench = index, bench
        self.results = Path(results) if results is not None and bench is not None else None
        self.one_based = one_based
        self.run = load_run(bench, self.results, one_based)
        self.searches: OrderedDict[str, tuple[np.ndarray, SearchResult, str | None]] = OrderedDict()
        self.store_bytes = 0
        self.lock = threading.Lock()
        self.device = device
        self.reload_lock = threading.Lock()
        self.checked = time.monotonic()
        self.stamp = self._stamp()
        self.reload_problem: str | None = None  # why the last reopening failed (the old index is kept)
        self.results_problem: str | None = None  # why the last reading of the results failed (the old kept)
        self._failed_stamps: tuple | None = None  # the results' stamps that failed to read (not read again)
        self.warm, self.on_warm = warm, on_warm
        self.warming: dict = {"state": "off"}  # what /api/info shows of the warm-up
        self._stop_warming = threading.Event()
        if warm and index is not None:
            self.start_warming(index)

    def start_warming(self, index: Index) -> threading.Thread:
        """Warm ``index`` in a background thread (the one warming an earlier index stops)."""
        self._stop_warming.set()
        stop = self._stop_warming = threading.Event()
        status = self.warming = {"state": "warming", "generation": index.generation, "stage": "postings",
                                 "done_bytes": 0, "total_bytes": 0}  # fmt: skip
        said: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            status.update(stage=stage, done_bytes=done, total_bytes=total)
            quarter = 4 * done // max(total, 1)
            if said.get(stage, 0) < quarter < 4:
                said[stage] = quarter
                self._say(f"warm-up: {stage} {25 * quarter}% ({done / 1e9:.2f} of {total / 1e9:.2f} GB)")

        def run() -> None:
            try:
                out = index.warm(progress, stop)
            except Exception as exc:  # noqa: BLE001 - a damaged file: searches will say so; serving goes on
                status.update(state="failed", problem=str(exc))
                log.warning("warm-up stopped: %s", exc)
                return
            status.update(state="stopped" if stop.is_set() else "done", seconds=round(out["seconds"], 2),
                          postings_bytes=out["postings"], features_bytes=out["features"], skipped=out["skipped"])  # fmt: skip
            if not stop.is_set():
                what = (f"the inverted files ({out['postings'] / 1e9:.2f} GB) are in memory; the features were "
                        f"not read: {out['skipped']}" if out["skipped"] else
                        f"the index ({(out['postings'] + out['features']) / 1e9:.2f} GB) is in memory")  # fmt: skip
                self._say(f"warm-up done in {out['seconds']:.1f} s: {what}")

        self._say(f"warming the index in the background ({len(index):,} images): progress in /api/info")
        thread = threading.Thread(target=run, name="pixret-warm", daemon=True)
        thread.start()
        return thread

    def stop_warming(self) -> None:
        self._stop_warming.set()

    def _say(self, line: str) -> None:
        if self.on_warm is not None:
            self.on_warm(line)

    @property
    def bench_generation(self) -> str | None:
        return self.run.generation

    def _stamp(self) -> tuple | None:
        return None if self.index is None else file_stamp(Path(self.index.root) / "index.json")

    def refresh(self) -> None:
        """Swap in the index again if index.json changed since it was opened, and the results if
        their files changed (at most one look per POLL_SECONDS); a failure keeps what is being
        served and is remembered (and logged)."""
        if (self.index is None and self.results is None) or time.monotonic() - self.checked < POLL_SECONDS:
            return
        with self.reload_lock:
            if time.monotonic() - self.checked < POLL_SECONDS:
                return
            self.checked = time.monotonic()
            self._refresh_results()
            stamp = self._stamp()
            if stamp is None or stamp == self.stamp:
                return
            try:
                fresh = Index.open(self.index.root, self.device)
            except PixretError as exc:
                self.reload_problem = str(exc)
                log.warning("keeping the index being served: %s", exc)
                return
            self.index, self.stamp, self.reload_problem = fresh, stamp, None
            if self.warm:
                self.start_warming(fresh)

    def _refresh_results(self) -> None:
        """Read the results again when a file of their folder changed (replaced, rewritten,
        added or removed); a folder that does not read (half copied, damaged) keeps the results
        being served, and is not read again until its files change once more."""
        if self.results is None:
            return
        stamps = run_stamps(self.results)
        if stamps == self.run.stamps or stamps == self._failed_stamps:
            return
        try:
            with warnings.catch_warnings(record=True) as caught:  # what reading said: to the log
                warnings.simplefilter("always")
                run = load_run(self.bench, self.results, self.one_based)
        except PixretError as exc:
            self.results_problem, self._failed_stamps = str(exc), stamps
            log.warning("keeping the results being served: %s", exc)
            return
        for w in caught:
            log.warning("%s", w.message)
        self.run, self.results_problem, self._failed_stamps = run, None, None

    def remember(self, img: np.ndarray, res: SearchResult, generation: str | None = None) -> str:
        """Keep a search (its query image, its result and the index generation it ran on);
        returns its id."""
        sid = secrets.token_urlsafe(12)
        with self.lock:
            self.searches[sid] = (img, res, generation)
            self.store_bytes += img.nbytes
            while len(self.searches) > 1 and (
                len(self.searches) > MAX_SEARCHES or self.store_bytes > MAX_STORE_BYTES
            ):
                _, (old, _, _) = self.searches.popitem(last=False)
                self.store_bytes -= old.nbytes
        return sid

    def search(self, sid: str) -> tuple[np.ndarray, SearchResult, str | None]:
        with self.lock:
            if sid not in self.searches:
                raise HTTPException(404, "unknown or expired search")
            return self.searches[sid]


def get_state(request: Request) -> State:
    st = request.app.state.pixret
    st.refresh()
    return st


def check_upload(data: bytes) -> np.ndarray:
    """Decode an uploaded image after checking its size and pixel count from the header."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise HTTPException(413, f"upload larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
    try:
        fmt, w, h, _ = probe(data, "upload")  # the header only
    except PixretError:
        raise HTTPException(415, "not an image (JPEG, PNG, WebP, BMP or TIFF)") from None
    if w * h > MAX_PIXELS:
        raise HTTPException(413, f"image of {w}x{h} pixels is over the {MAX_PIXELS // 1_000_000} MP limit")
    if fmt not in {"JPEG", "PNG", "WEBP", "BMP", "TIFF", "MPO"}:
        raise HTTPException(415, f"unsupported image format {fmt}")
    try:
        return decode_image(data, "upload")
    except PixretError as exc:
        raise HTTPException(415, exc.problem) from None


def jpeg(img: np.ndarray, size: int | None = None, generation: str | None = None, pinned: bool = True) -> Response:
    """``img`` as a JPEG (``size``: its longest side). ``pinned``: the address names what it
    shows for good (a generation in it, or a search's own id): the browser may keep it an hour;
    otherwise it asks again each time (the same address may show another image after a swap).
    ``generation`` goes into the X-Pixret-Generation header."""
    if size:
        img = thumbnail(img, max(32, min(size, 2048)))
    headers = {"Cache-Control": "private, max-age=3600" if pinned else "no-cache"}
    if generation:
        headers["X-Pixret-Generation"] = generation
    return Response(encode(img, ".jpg", 88), media_type="image/jpeg", headers=headers)
