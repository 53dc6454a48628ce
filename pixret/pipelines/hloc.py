"""An hloc pipeline scored at pixel level: its retrieval pairs, features.h5 and matches.h5 in, a
run folder (ranks + pixel results + scores) out, as a list of stage calls passing named results::

    pairs = read_pairs(pairs_path, bench)                      # per query, its images in retrieval order
    fits = verify_pairs(bench, pairs, features, matches, conf) # the engine's homography fit, per pair
    run = to_results(bench, pairs, fits, order, carry)         # ranks and the query's object carried
    folder = write_run(out, bench, run, method, source)        # ranks.npy, pixels.json/.npy, scores.json

hloc's files (cvg/Hierarchical-Localization; ``hloc/utils/parsers.py``, ``hloc/utils/io.py``,
``extract_features.py``, ``match_features.py``), read with h5py:

- pairs file: one ``name0 name1`` per line (image names relative to hloc's image folder),
  query first, each query's images in retrieval order (``pairs_from_retrieval``);
- features.h5: a group per image name (a '/' in the name makes nested groups) holding
  ``keypoints`` (N, 2) float (x, y) in original image pixels, ``descriptors`` (D, N) (not
  read), ``image_size`` (2,) = (width, height);
- matches.h5: a group per pair, ``names_to_pair(name0, name1)`` = ``name0/name1`` with every '/'
  inside a name replaced by '-' (older files: ``name0_name1``); either order may be stored
  (``find_pair``); ``matches0`` (N0,) int, the keypoint of image1 matched to each keypoint of
  image0 or -1, and ``matching_scores0`` (N0,) (not read).

Images are named in the benchmark by the name without its extension (``jpg/all_souls_000013.jpg``
-> ``all_souls_000013``), first in full, then by the file name alone where that is unique.
Verification is the engine's (``engine.verify.fit_pairs``) on the matches whose query keypoint
lies in the query box; hloc keypoints carry no scale or orientation, so no keypoint check
applies. The query's box (or, with ``carry="mask"``, its labelled mask) is carried into each
verified image by the homography (``engine.masks.project``).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from ..datasets.model import Benchmark
from ..engine import get_config
from ..engine.config import EngineConfig
from ..engine.masks import project
from ..engine.verify import fit_pairs
from ..errors import PixretError, ResultsWarning
from ..evaluation import PixelEval, PixelPrediction
from ..evaluation.results import RunFolder
from ..geometry import Box
from ..io import atomic_open

MAX_KEYPOINTS = 1_000_000  # per image: more is not a feature file (checked before reading)
ORDERS = ("inliers", "retrieval")
CARRY = ("box", "mask")


@dataclass
class Pairs:
    """The pairs file read against a benchmark: per query index, database indices in retrieval
    order, with the hloc names of every image; what was skipped, counted."""

    ranked: dict[int, list[int]]
    names: dict[tuple[str, int], str]  # ("query" | "db", index) -> hloc name
    skipped: dict[str, int] = field(default_factory=dict)  # why -> lines


@dataclass
class Fit:
    """A verified pair: the homography (query -> database pixels) and its inliers."""

    homography: np.ndarray
    inliers: int
    size: tuple[int, int]  # the database image's (width, height), from features.h5


@dataclass
class HlocRun:
    ranks: np.ndarray  # (n_database, n_queries)
    pixels: dict[tuple[int, int], PixelPrediction]
    notes: list[str]


def image_name(name: str) -> str:
    """A benchmark image's name as hloc names it: its file name under the image folder."""
    return name if PurePosixPath(name).suffix.lower() in {".jpg", ".jpeg", ".png"} else f"{name}.jpg"


def pairs_from_ranks(bench: Benchmark, ranks: np.ndarray, top: int) -> list[tuple[str, str]]:
    """hloc's retrieval pairs from a ranking (n_database, n_queries): each query's ``top``
    first images, in order (what ``pairs_from_retrieval`` writes from global descriptors)."""
    if top < 1:
        raise PixretError(None, f"--top must be at least 1, got {top}")
    return [(image_name(q.name), image_name(bench.database[int(i)]))
            for q in bench.queries for i in np.asarray(ranks[:top, q.index])]  # fmt: skip


def write_pairs(path: str | os.PathLike, pairs: list[tuple[str, str]]) -> Path:
    """hloc's pairs file: ``name0 name1`` per line (hloc/utils/parsers.py ``parse_retrieval``);
    a name with white space cannot be written in it (PixretError)."""
    bad = next((n for pair in pairs for n in pair if not n or any(c.isspace() for c in n)), None)
    if bad is not None:
        raise PixretError(path, f"image name {bad!r} holds white space: hloc's pairs format cannot hold it")
    with atomic_open(path, "w") as fh:
        fh.write("".join(f"{a} {b}\n" for a, b in pairs))
    return Path(path)


def _key(name: str) -> str:
    return str(PurePosixPath(name.replace("\\", "/")).with_suffix(""))


class _Names:
    """Benchmark images by their hloc name: the name without its extension, in full or, where
    unique, by its last part."""

    def __init__(self, names: list[str]):
        self.full = {_key(n): k for k, n in enumerate(names)}
        last: dict[str, list[int]] = {}
        for k, n in enumerate(names):
            last.setdefault(PurePosixPath(_key(n)).name, []).append(k)
        self.last = {n: ks[0] for n, ks in last.items() if len(ks) == 1}

    def find(self, name: str) -> int | None:
        key = _key(name)
        return self.full[key] if key in self.full else self.last.get(PurePosixPath(key).name)


def read_pairs(path: str | os.PathLike, bench: Benchmark) -> Pairs:
    """Stage 1: hloc's pairs file, query first, read against ``bench``. Lines whose first image
    is not a query (database-to-database pairs, as SfM pairs hold) are skipped and counted; a
    name the benchmark does not have is a PixretError naming the line."""
    path = Path(path)
    queries = _Names([q.name for q in bench.queries])
    database = _Names(bench.database)
    out = Pairs({}, {})
    seen: set[tuple[int, int]] = set()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise PixretError(path, "pairs file not found") from None
    except UnicodeDecodeError:
        with path.open("rb") as fh:
            head = fh.read(8)
        what = "an HDF5 file (features.h5 or matches.h5?)" if head.startswith(b"\x89HDF") else "not UTF-8 text"
        raise PixretError(path, f"{what}: a pairs file is text, 'name0 name1' per line") from None
    except OSError as exc:
        raise PixretError(path, f"unreadable pairs file ({exc})") from None
    for n, line in enumerate(lines, 1):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        if len(parts) != 2:
            raise PixretError(f"{path}:{n}", f"expected 'name0 name1' (hloc's pairs format), got {line.strip()[:80]!r}")
        q, i = queries.find(parts[0]), database.find(parts[1])
        if q is None:
            why = "first image is not a query" if database.find(parts[0]) is not None else None
            if why is None:
                raise PixretError(f"{path}:{n}", f"{parts[0]!r} is not an image of benchmark {bench.name!r}")
            out.skipped[why] = out.skipped.get(why, 0) + 1
            continue
        if i is None:
            if queries.find(parts[1]) is not None:
                out.skipped["second image is a query"] = out.skipped.get("second image is a query", 0) + 1
                continue
            raise PixretError(f"{path}:{n}", f"{parts[1]!r} is not a database image of benchmark {bench.name!r}")
        if (q, i) in seen:
            out.skipped["pair given twice (the first kept)"] = out.skipped.get("pair given twice (the first kept)", 0) + 1
            continue
        seen.add((q, i))
        out.ranked.setdefault(q, []).append(i)
        out.names[("query", q)] = parts[0]
        out.names[("db", i)] = parts[1]
    if not out.ranked:
        raise PixretError(path, f"no pair of a query of {bench.name!r} and one of its database images")
    return out


def _h5(path: str | os.PathLike, want: str):
    """hloc's ``want`` file ("features" or "matches") opened for reading; PixretError when it
    is missing, not HDF5, or plainly the other kind (its first dataset of the kind's own name,
    ``keypoints`` or ``matches0``, is the other's: the two options swapped)."""
    import h5py

    try:
        hfile = h5py.File(path, "r")
    except FileNotFoundError:
        raise PixretError(path, "file not found") from None
    except OSError as exc:
        raise PixretError(path, f"not an HDF5 file hloc wrote ({exc})") from None
    kinds = {"keypoints": "features", "matches0": "matches"}
    found = hfile.visit(lambda name: kinds.get(PurePosixPath(name).name))  # stops at the first of either
    if found is not None and found != want:
        hfile.close()
        raise PixretError(path, f"this is hloc's {found} file, given as its {want} file (--{found} and --{want} swapped?)")
    return hfile


def _dataset(group, key: str, path: object, what: str):
    import h5py

    obj = group.get(key) if isinstance(group, h5py.Group) else None
    if not isinstance(obj, h5py.Dataset):
        raise PixretError(path, f"{what}: no '{key}' dataset")
    return obj


class _Features:
    """hloc's features.h5: keypoints (N, 2) and image size per image name, checked on reading."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.file = _h5(self.path, "features")
        self.cache: dict[str, tuple[np.ndarray, tuple[int, int]]] = {}

    def get(self, name: str) -> tuple[np.ndarray, tuple[int, int]]:
        if name in self.cache:
            return self.cache[name]
        group = self.file.get(name)
        if group is None:
            raise PixretError(self.path, f"no features of image {name!r} (was it extracted with this pairs file's names?)")
        kp = _dataset(group, "keypoints", self.path, name)
        if kp.ndim != 2 or kp.shape[1] != 2 or kp.shape[0] > MAX_KEYPOINTS or kp.dtype.kind not in "fiu":
            raise PixretError(self.path, f"{name}/keypoints: expected (N, 2) numbers, N <= {MAX_KEYPOINTS}; "
                              f"got {kp.shape} {kp.dtype}")  # fmt: skip
        kpts = np.asarray(kp[()], dtype=np.float64)
        if not np.isfinite(kpts).all():
            raise PixretError(self.path, f"{name}/keypoints: NaN or infinite coordinates")
        size = _dataset(group, "image_size", self.path, name)
        wh = np.asarray(size[()]).reshape(-1) if size.size == 2 and size.dtype.kind in "fiu" else np.zeros(0)
        if wh.size != 2 or not np.isfinite(wh).all() or (wh <= 0).any() or (wh > 1e6).any():
            raise PixretError(self.path, f"{name}/image_size: expected (width, height), got {size[()]!r}")
        self.cache[name] = out = (kpts, (int(wh[0]), int(wh[1])))
        return out

    def close(self) -> None:
        self.file.close()


def names_to_pair(name0: str, name1: str, separator: str = "/") -> str:
    """hloc's name of a pair's group (hloc/utils/parsers.py): '/' inside names becomes '-'."""
    return separator.join((name0.replace("/", "-"), name1.replace("/", "-")))


def find_pair(hfile, name0: str, name1: str) -> tuple[str, bool] | None:
    """(group name, stored reversed) of the pair in matches.h5, as hloc's ``find_pair`` looks
    it up: this order, the other, then the older '_'-joined names; None when absent."""
    for sep in ("/", "_"):
        for a, b, reverse in ((name0, name1, False), (name1, name0, True)):
            pair = names_to_pair(a, b, sep)
            if pair in hfile:
                return pair, reverse
    return None


def read_matches(hfile, path: object, name0: str, name1: str, n0: int, n1: int) -> np.ndarray:
    """(k, 2) keypoint indices (into image0 = ``name0``, image1 = ``name1``) of the pair's
    matches, whichever order hloc stored it in; PixretError when the pair is missing or its
    ``matches0`` does not fit the keypoints."""
    found = find_pair(hfile, name0, name1)
    if found is None:
        raise PixretError(path, f"no matches for the pair {name0} {name1} (matched with another pairs file?)")
    pair, reverse = found
    m = _dataset(hfile[pair], "matches0", path, pair)
    rows, cols = (n1, n0) if reverse else (n0, n1)
    if m.ndim != 1 or m.shape[0] != rows or m.dtype.kind not in "iu":
        raise PixretError(path, f"{pair}/matches0: expected ({rows},) integers (one per keypoint), got {m.shape} {m.dtype}")
    m0 = np.asarray(m[()], dtype=np.int64)
    if ((m0 < -1) | (m0 >= cols)).any():
        raise PixretError(path, f"{pair}/matches0: indices outside -1..{cols - 1}")
    idx = np.flatnonzero(m0 >= 0)
    pairs = np.stack([idx, m0[idx]], 1)
    return pairs[:, ::-1] if reverse else pairs


def verify_pairs(bench: Benchmark, pairs: Pairs, features: str | os.PathLike, matches: str | os.PathLike,
                 conf: EngineConfig) -> dict[tuple[int, int], Fit]:  # fmt: skip
    """Stage 2: per pair, the engine's verification (``fit_pairs``, with ``conf.verify``) of the
    matches whose query keypoint lies in the query box. Returns the verified pairs."""
    feats = _Features(features)
    hfile = _h5(matches, "matches")
    fits: dict[tuple[int, int], Fit] = {}
    try:
        for q, ranked in pairs.ranked.items():
            qname = pairs.names[("query", q)]
            qk, _ = feats.get(qname)
            x1, y1, x2, y2 = bench.queries[q].box
            in_box = (qk[:, 0] >= x1) & (qk[:, 0] <= x2) & (qk[:, 1] >= y1) & (qk[:, 1] <= y2)
            for i in ranked:
                dname = pairs.names[("db", i)]
                dk, size = feats.get(dname)
                m = read_matches(hfile, Path(matches), qname, dname, len(qk), len(dk))
                m = m[in_box[m[:, 0]]]
                v = fit_pairs(m[:, 0], m[:, 1], qk, dk, conf.verify, max(size), "none")
                if v is not None:
                    fits[(q, i)] = Fit(v.homography, v.inliers, size)
    finally:
        feats.close()
        hfile.close()
    return fits


def _carried(bench: Benchmark, q: int, carry: str) -> list[np.ndarray]:
    """What is carried into the results, in query pixels: the box, or the query's labelled mask."""
    query = bench.queries[q]
    if carry == "mask":
        shapes = query.query_mask()
        if shapes is not None and shapes.polygons:
            return list(shapes.polygons)
    return [Box(*query.box).polygon()]


def to_results(bench: Benchmark, pairs: Pairs, fits: dict[tuple[int, int], Fit], order: str = "inliers",
               carry: str = "box") -> HlocRun:  # fmt: skip
    """Stage 3: ranks (``order`` "inliers": verified images first by inliers, then the others in
    retrieval order, as the engine re-ranks; "retrieval": the pairs file's order) followed by
    every image the pairs file did not name, and the query's box (or mask) in each verified image."""
    if order not in ORDERS or carry not in CARRY:
        raise PixretError(None, f"order must be one of {', '.join(ORDERS)} and carry one of {', '.join(CARRY)}")
    ranks = np.zeros((bench.n_database, bench.n_queries), np.int64)
    pixels: dict[tuple[int, int], PixelPrediction] = {}
    no_mask = 0
    for q in range(bench.n_queries):
        ranked = pairs.ranked.get(q, [])
        if order == "inliers":
            ranked = sorted(ranked, key=lambda i: -fits[(q, i)].inliers if (q, i) in fits else 0)
        rest = np.setdiff1d(np.arange(bench.n_database), ranked)
        ranks[:, q] = np.concatenate([np.asarray(ranked, np.int64), rest])
        polys = _carried(bench, q, carry)
        no_mask += carry == "mask" and bench.queries[q].mask_path is None
        for i in ranked:
            fit = fits.get((q, i))
            if fit is not None:
                out = project(polys, fit.homography, *fit.size)
                if out:
                    pixels[(q, i)] = PixelPrediction(out)
    notes = []
    missing = [q for q in range(bench.n_queries) if q not in pairs.ranked]
    if missing:
        notes.append(f"{len(missing)} of {bench.n_queries} queries have no pair in the pairs file (first: query "
                     f"{missing[0]}, {bench.queries[missing[0]].name}): they rank the database in its order, "
                     "with no pixels")  # fmt: skip
    for why, n in pairs.skipped.items():
        notes.append(f"{n} line(s) of the pairs file skipped: {why}")
    if no_mask:
        notes.append(f"{no_mask} queries have no labelled mask: their box was carried instead")
    for note in notes:  # input left out or replaced: said as it happens, and kept in scores.json
        warnings.warn(note, ResultsWarning, stacklevel=2)
    n_pairs = sum(len(v) for v in pairs.ranked.values())
    notes.append(f"{len(fits)} of {n_pairs} pairs verified (the engine's homography fit on the matches in the query box)")
    return HlocRun(ranks, pixels, notes)


def write_run(out: str | os.PathLike, bench: Benchmark, run: HlocRun, method: str, source: dict) -> tuple[RunFolder, PixelEval]:
    """Stage 4: the run folder (ranks.npy, pixels.json, pixels.npy) and scores.json (both
    protocols, the notes, where the results came from)."""
    folder = RunFolder(out)
    folder.write_results(run.ranks, run.pixels, method)
    ev = PixelEval(bench, run.ranks, run.pixels)
    summary = ev.run()
    report = ev.input_report()
    folder.write_scores({"dataset": bench.name, "method": method, "source": source,
                         "notes": run.notes + folder.notes() + report["notes"], **summary, "input": report})  # fmt: skip
    return folder, ev


def main(bench: Benchmark, pairs: str | os.PathLike, features: str | os.PathLike, matches: str | os.PathLike,
         out: str | os.PathLike, method: str = "hloc", conf: EngineConfig | str = "fast", order: str = "inliers",
         carry: str = "box") -> tuple[RunFolder, PixelEval]:  # fmt: skip
    """The four stages: hloc's files -> the run folder ``out`` (and its evaluation)."""
    conf = get_config(conf) if isinstance(conf, str) else conf
    if order not in ORDERS or carry not in CARRY:
        raise PixretError(None, f"order must be one of {', '.join(ORDERS)} and carry one of {', '.join(CARRY)}")
    read = read_pairs(pairs, bench)
    fits = verify_pairs(bench, read, features, matches, conf)
    run = to_results(bench, read, fits, order, carry)
    source = {"format": "hloc", "pairs": str(pairs), "features": str(features), "matches": str(matches),
              "verification": conf.name, "order": order, "carry": carry}  # fmt: skip
    return write_run(out, bench, run, method, source)
