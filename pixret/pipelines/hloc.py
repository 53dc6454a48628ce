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
verified image by the homography (``engine.masks.project``). Carrying the labelled mask makes
the run an oracle (built from the benchmark's labels): the run folder says so (``ORACLE_MASK``
in pixels.json and scores.json) and every table that shows it marks it.

What the files say is checked against the benchmark before it is used, each problem one
PixretError naming the file: every image's ``image_size`` against the image (its file, else a
label's size; an image neither gives is counted in a note), whole pixels, keypoints inside the
image they belong to, datasets of the shape and type hloc writes, indices inside the keypoints,
and HDF5 content that cannot be read (a truncated file, a missing filter) never a traceback.
"""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
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
from ..imageio import image_size
from ..io import atomic_open, regular_file
from .benchmark import RUN_FILES, check_out, record_run

MAX_KEYPOINTS = 1_000_000  # per image: more is not a feature file (checked before reading)
MAX_SIDE = 100_000  # pixels: a declared side beyond this is not an image pixret reads (imageio's 400 MP)
ORDERS = ("inliers", "retrieval")
CARRY = ("box", "mask")
# what a run made with carry="mask" carries from the labels (RunFolder's "oracle" record)
ORACLE_MASK = "the query's labelled mask (import-hloc --carry mask), not its box alone"


@dataclass
class Pairs:
    """The pairs file read against a benchmark: per query index, database indices in retrieval
    order, with the hloc names of every image; what was skipped, counted."""

    ranked: dict[int, list[int]]
    names: dict[tuple[str, int], str]  # ("query" | "db", index) -> hloc name (the last line's)
    skipped: dict[str, int] = field(default_factory=dict)  # why -> lines
    pair_names: dict[tuple[int, int], tuple[str, str]] = field(default_factory=dict)  # (q, i) -> its line's names

    def names_of(self, q: int, i: int) -> tuple[str, str]:
        """The hloc names of pair (q, i), as its line gives them (an image may be named two ways)."""
        return self.pair_names.get((q, i)) or (self.names[("query", q)], self.names[("db", i)])


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
    oracle: str | None = None  # what the run carries from the labels (None: the box alone, a method's run)


def image_name(name: str) -> str:
    """A benchmark image's name as hloc names it: its file name under the image folder."""
    return name if PurePosixPath(name).suffix.lower() in {".jpg", ".jpeg", ".png"} else f"{name}.jpg"


def image_root(bench: Benchmark) -> Path | None:
    """The folder hloc reads the benchmark's images from: the one that holds its images (the
    release's ``jpg/``); None when the images are not under the benchmark's root."""
    found = [p for p in (bench.query_image(0) if bench.queries else None,
                         bench.database_image(0) if bench.database else None) if p is not None]  # fmt: skip
    return Path(os.path.commonpath([str(p.resolve().parent) for p in found])) if found else None


def pairs_from_ranks(bench: Benchmark, ranks: np.ndarray, top: int,
                     root: Path | None = None) -> list[tuple[str, str]]:  # fmt: skip
    """hloc's retrieval pairs from a ranking (n_database, n_queries): each query's ``top``
    first images, in order (what ``pairs_from_retrieval`` writes from global descriptors).
    Each name is the image's file relative to ``root`` (``image_root``), extension and all, so
    that it resolves to that file; where the file is not found, the benchmark's name with
    ``.jpg`` (``image_name``)."""
    if top < 1:
        raise PixretError(None, f"--top must be at least 1, got {top}")
    names: dict[str, str] = {}

    def name(n: str) -> str:
        if n not in names:
            path = bench.image_path(n) if root is not None else None
            names[n] = os.path.relpath(path.resolve(), root) if path is not None else image_name(n)
        return names[n]

    return [(name(q.name), name(bench.database[int(i)]))
            for q in bench.queries for i in np.asarray(ranks[:top, q.index])]  # fmt: skip


def pairs_text(pairs: list[tuple[str, str]], path: object = None) -> str:
    """hloc's pairs file's text: ``name0 name1`` per line (hloc/utils/parsers.py
    ``parse_retrieval``); a name with white space cannot be written in it (PixretError naming
    ``path``, the file it was meant for)."""
    bad = next((n for pair in pairs for n in pair if not n or any(c.isspace() for c in n)), None)
    if bad is not None:
        raise PixretError(path, f"image name {bad!r} holds white space: hloc's pairs format cannot hold it")
    return "".join(f"{a} {b}\n" for a, b in pairs)


def write_pairs(path: str | os.PathLike, pairs: list[tuple[str, str]]) -> Path:
    """hloc's pairs file (``pairs_text``), written atomically."""
    text = pairs_text(pairs, path)
    with atomic_open(path, "w") as fh:
        fh.write(text)
    return Path(path)


def _key(name: str) -> str:
    """A name without its extension ('/' and '.' have no file name, and no extension to drop)."""
    p = PurePosixPath(name.replace("\\", "/"))
    return str(p.with_suffix("")) if p.name else str(p)


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


def _shown(name: str, most: int = 100) -> str:
    """A name from a file, quoted, its first ``most`` characters (a line of a megabyte stays one line)."""
    return repr(name) if len(name) <= most else f"{name[:most]!r}... ({len(name)} characters)"


def read_pairs(path: str | os.PathLike, bench: Benchmark) -> Pairs:
    """Stage 1: hloc's pairs file, query first, read against ``bench``. Lines whose first image
    is not a query (database-to-database pairs, as SfM pairs hold) are skipped and counted; a
    name the benchmark does not have is a PixretError naming the line. A line starting with '#'
    is a pair when it names a query and a database image (hloc's ``parse_retrieval`` reads every
    line: an image may be named ``#q.jpg``, and pixret writes it so), else a comment, counted."""
    path = Path(path)
    queries = _Names([q.name for q in bench.queries])
    database = _Names(bench.database)
    out = Pairs({}, {})
    seen: set[tuple[int, int]] = set()
    try:
        regular_file(path)
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
        if not parts:
            continue
        if parts[0].startswith("#") and not (len(parts) == 2 and queries.find(parts[0]) is not None
                                             and database.find(parts[1]) is not None):  # fmt: skip
            why = "a comment (starts with '#', and is no pair of the benchmark's images)"
            out.skipped[why] = out.skipped.get(why, 0) + 1
            continue
        if len(parts) != 2:
            raise PixretError(f"{path}:{n}", f"expected 'name0 name1' (hloc's pairs format), got {line.strip()[:80]!r}")
        q, i = queries.find(parts[0]), database.find(parts[1])
        if q is None:
            why = "first image is not a query" if database.find(parts[0]) is not None else None
            if why is None:
                raise PixretError(f"{path}:{n}", f"{_shown(parts[0])} is not an image of benchmark {bench.name!r}")
            out.skipped[why] = out.skipped.get(why, 0) + 1
            continue
        if i is None:
            if queries.find(parts[1]) is not None:
                out.skipped["second image is a query"] = out.skipped.get("second image is a query", 0) + 1
                continue
            raise PixretError(f"{path}:{n}", f"{_shown(parts[1])} is not a database image of benchmark {bench.name!r}")
        if (q, i) in seen:
            out.skipped["pair given twice (the first kept)"] = out.skipped.get("pair given twice (the first kept)", 0) + 1
            continue
        seen.add((q, i))
        out.ranked.setdefault(q, []).append(i)
        out.names[("query", q)] = parts[0]
        out.names[("db", i)] = parts[1]
        out.pair_names[(q, i)] = (parts[0], parts[1])
    if not out.ranked:
        raise PixretError(path, f"no pair of a query of {bench.name!r} and one of its database images")
    return out


def _short(exc: BaseException) -> str:
    """An h5py / HDF5 error in a few words (its message's first line, at most 120 characters)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:120]


@contextmanager
def _guard(path: object, what: str):
    """Reading HDF5 content: what h5py raises on damaged content (a truncated file, a missing
    compression filter, a dataset of a type numpy cannot hold, a dangling external link) becomes
    one PixretError naming the file and the object read."""
    try:
        yield
    except PixretError:
        raise
    except (OSError, KeyError, ValueError, TypeError, RuntimeError, AttributeError, IndexError) as exc:
        raise PixretError(path, f"{what}: damaged or unreadable HDF5 content ({_short(exc)})") from None


def _h5(path: str | os.PathLike, want: str):
    """hloc's ``want`` file ("features" or "matches") opened for reading; PixretError when it
    is missing, not HDF5, or plainly the other kind (its first dataset of the kind's own name,
    ``keypoints`` or ``matches0``, is the other's: the two options swapped)."""
    import h5py

    regular_file(path)
    try:
        hfile = h5py.File(path, "r")
    except FileNotFoundError:
        raise PixretError(path, "file not found") from None
    except (OSError, ValueError) as exc:
        raise PixretError(path, f"not an HDF5 file hloc wrote ({_short(exc)})") from None
    kinds = {"keypoints": "features", "matches0": "matches"}
    try:
        with _guard(path, "its list of groups"):
            found = hfile.visit(lambda name: kinds.get(PurePosixPath(name).name))  # stops at the first of either
    except PixretError:
        hfile.close()
        raise
    if found is not None and found != want:
        hfile.close()
        raise PixretError(path, f"this is hloc's {found} file, given as its {want} file (--{found} and --{want} swapped?)")
    return hfile


def _dataset(group, key: str, path: object, what: str):
    """``group[key]`` as a dataset with a shape; PixretError naming it otherwise (missing, a
    group where a dataset belongs or the other way round, a link to nothing, a null dataset)."""
    import h5py

    if not isinstance(group, h5py.Group):
        raise PixretError(path, f"{what}: a dataset where hloc writes a group (holding '{key}')")
    with _guard(path, f"{what}/{key}"):
        obj = group.get(key)
        if obj is None and group.get(key, getlink=True) is not None:
            raise PixretError(path, f"{what}/{key}: a link that leads nowhere")
    if obj is None:
        raise PixretError(path, f"{what}: no '{key}' dataset")
    if not isinstance(obj, h5py.Dataset):
        raise PixretError(path, f"{what}/{key}: a group where hloc writes a dataset")
    if obj.shape is None:
        raise PixretError(path, f"{what}/{key}: an empty (null) dataset")
    return obj


def _values(ds, path: object, what: str) -> np.ndarray:
    """A dataset's values (its shape and type checked before: a bounded read)."""
    with _guard(path, what):
        return np.asarray(ds[()])


def _whole_size(ds, path: object, name: str) -> tuple[int, int]:
    """``image_size`` as (width, height): two whole, positive numbers of pixels."""
    what = f"{name}/image_size"
    if ds.size != 2 or ds.dtype.kind not in "fiu":
        raise PixretError(path, f"{what}: expected (width, height), got a {ds.shape} {ds.dtype} dataset")
    wh = _values(ds, path, what).reshape(-1).astype(np.float64)
    if not np.isfinite(wh).all() or (wh < 1).any() or (wh != np.round(wh)).any():
        shown = ", ".join(f"{v:g}" for v in wh)
        raise PixretError(path, f"{what}: expected (width, height) in whole pixels, at least 1, got ({shown})")
    return int(wh[0]), int(wh[1])


def _check_inside(kpts: np.ndarray, size: tuple[int, int], name: str, path: object) -> None:
    """PixretError when keypoints lie outside the image they belong to. A keypoint may lie a
    little beyond its image's edge: hloc writes (kp + 0.5) * scale - 0.5 (half a pixel), and
    refinement moves a point by a few more; anything further is another image's."""
    w, h = size
    tol = 2.0 + 0.01 * max(w, h)
    out = (kpts < -tol).any(1) | (kpts[:, 0] > w + tol) | (kpts[:, 1] > h + tol)
    if out.any():
        x, y = kpts[np.flatnonzero(out)[0]]
        raise PixretError(path, f"{name}/keypoints: {int(out.sum())} of {len(kpts)} lie outside the image its "
                          f"image_size declares ({w}x{h}; first: ({x:g}, {y:g})): keypoints of another image, or a "
                          "wrong image_size")  # fmt: skip


class _Features:
    """hloc's features.h5: keypoints (N, 2) and image size per image name, checked on reading:
    shapes and types, finite keypoints, a size of whole pixels (``verify_pairs`` checks the rest
    against the benchmark's images)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.file = _h5(self.path, "features")
        self.cache: dict[str, tuple[np.ndarray, tuple[int, int]]] = {}

    def get(self, name: str) -> tuple[np.ndarray, tuple[int, int]]:
        if name in self.cache:
            return self.cache[name]
        with _guard(self.path, name):
            group = self.file.get(name)
        if group is None:
            raise PixretError(self.path, f"no features of image {_shown(name)} (was it extracted with this pairs file's names?)")
        kp = _dataset(group, "keypoints", self.path, name)
        if len(kp.shape) != 2 or kp.shape[1] != 2 or kp.shape[0] > MAX_KEYPOINTS or kp.dtype.kind not in "fiu":
            raise PixretError(self.path, f"{name}/keypoints: expected (N, 2) numbers, N <= {MAX_KEYPOINTS}; "
                              f"got {kp.shape} {kp.dtype}")  # fmt: skip
        w, h = _whole_size(_dataset(group, "image_size", self.path, name), self.path, name)
        kpts = _values(kp, self.path, f"{name}/keypoints").astype(np.float64)
        if not np.isfinite(kpts).all():
            raise PixretError(self.path, f"{name}/keypoints: NaN or infinite coordinates")
        self.cache[name] = result = (kpts, (w, h))
        return result

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
            with _guard(getattr(hfile, "filename", "matches.h5"), pair):
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
    with _guard(path, pair):
        group = hfile[pair]
    m = _dataset(group, "matches0", path, pair)
    rows, cols = (n1, n0) if reverse else (n0, n1)
    if len(m.shape) != 1 or m.shape[0] != rows or m.dtype.kind not in "iu":
        raise PixretError(path, f"{pair}/matches0: expected ({rows},) integers (one per keypoint), got {m.shape} {m.dtype}")
    raw = _values(m, path, f"{pair}/matches0")
    bad = raw >= cols if raw.dtype.kind == "u" else (raw < -1) | (raw >= cols)  # checked before a cast can wrap
    if bad.any():
        raise PixretError(path, f"{pair}/matches0: indices outside -1..{cols - 1} (first: {raw[bad][0]})")
    m0 = raw.astype(np.int64)
    idx = np.flatnonzero(m0 >= 0)
    pairs = np.stack([idx, m0[idx]], 1)
    return pairs[:, ::-1] if reverse else pairs


class _Sizes:
    """Each benchmark image's size as the benchmark gives it: its file's header, else a label's
    size (a labelled pair's for a database image, the query mask's for a query); None where
    neither does."""

    def __init__(self, bench: Benchmark):
        self.bench = bench
        self.labelled: dict[int, tuple[int, int]] = {}
        for q, i in sorted(bench.pair_labels):
            self.labelled.setdefault(i, (q, i))

    def get(self, kind: str, index: int) -> tuple[tuple[int, int], str] | None:
        bench = self.bench
        path = bench.query_image(index) if kind == "query" else bench.database_image(index)
        if path is not None:
            try:
                return image_size(path), str(path)
            except PixretError:
                pass  # an unreadable image: its label may still tell
        label = None
        try:
            if kind == "query":
                label, where = bench.queries[index].query_mask(), bench.queries[index].mask_path
            elif index in self.labelled:
                label, where = bench.gt(*self.labelled[index]), bench.pair_labels[self.labelled[index]]
        except PixretError:
            label = None
        if label is not None and label.width and label.height:
            return (int(label.width), int(label.height)), f"{where} (its label)"
        return None


def verify_pairs(bench: Benchmark, pairs: Pairs, features: str | os.PathLike, matches: str | os.PathLike,
                 conf: EngineConfig, notes: list[str] | None = None) -> dict[tuple[int, int], Fit]:  # fmt: skip
    """Stage 2: per pair, the engine's verification (``fit_pairs``, with ``conf.verify``) of the
    matches whose query keypoint lies in the query box. Returns the verified pairs.

    Each image's ``image_size`` in features.h5 must be the image's size as the benchmark gives it
    (``_Sizes``: the size sets the inlier threshold, and the image's canvas for the carried
    object): PixretError otherwise. Images whose size nothing here gives are counted in a line
    appended to ``notes`` (and warned)."""
    feats = _Features(features)
    try:
        hfile = _h5(matches, "matches")
    except PixretError:
        feats.close()
        raise
    sizes = _Sizes(bench)
    checked: set[tuple[str, int, str]] = set()
    unchecked: list[str] = []

    def get(kind: str, index: int, name: str) -> tuple[np.ndarray, tuple[int, int]]:
        kpts, size = feats.get(name)
        if (kind, index, name) not in checked:
            checked.add((kind, index, name))
            real = sizes.get(kind, index)
            if real is None and max(size) > MAX_SIDE:
                raise PixretError(Path(features), f"{name}/image_size says {size[0]}x{size[1]}: larger than any image "
                                  "pixret reads")  # fmt: skip
            if real is None and len(kpts) >= 10 and kpts[:, 0].max() < size[0] / 4 and kpts[:, 1].max() < size[1] / 4:
                raise PixretError(Path(features), f"{name}: every keypoint lies in the top-left sixteenth of the "
                                  f"{size[0]}x{size[1]} image its image_size declares: a wrong image_size?")  # fmt: skip
            if real is None:
                unchecked.append(name)
            elif real[0] != size:
                raise PixretError(Path(features), f"{name}/image_size says {size[0]}x{size[1]}, but the image is "
                                  f"{real[0][0]}x{real[0][1]} ({real[1]}): features of another image or another "
                                  "resolution; extract them again from the benchmark's images")  # fmt: skip
            _check_inside(kpts, size, name, Path(features))
        return kpts, size

    fits: dict[tuple[int, int], Fit] = {}
    try:
        for q, ranked in pairs.ranked.items():
            x1, y1, x2, y2 = bench.queries[q].box
            for i in ranked:
                qname, dname = pairs.names_of(q, i)
                qk, _ = get("query", q, qname)
                in_box = (qk[:, 0] >= x1) & (qk[:, 0] <= x2) & (qk[:, 1] >= y1) & (qk[:, 1] <= y2)
                dk, size = get("db", i, dname)
                m = read_matches(hfile, Path(matches), qname, dname, len(qk), len(dk))
                m = m[in_box[m[:, 0]]]
                v = fit_pairs(m[:, 0], m[:, 1], qk, dk, conf.verify, max(size), "none")
                if v is not None:
                    fits[(q, i)] = Fit(v.homography, v.inliers, size)
    finally:
        feats.close()
        hfile.close()
    if unchecked:
        note = (f"{features}: the image_size of {len(unchecked)} of {len(checked)} images could not be checked "
                f"(first: {unchecked[0]}): neither an image file nor a label gives their size under the benchmark's "
                "root; their keypoints lie inside the size declared")  # fmt: skip
        warnings.warn(note, ResultsWarning, stacklevel=2)
        if notes is not None:
            notes.append(note)
    return fits


def _carried(bench: Benchmark, q: int, carry: str) -> tuple[list[np.ndarray], bool]:
    """What is carried into the results, in query pixels: the box, or the query's labelled mask;
    and whether it came from the labels (the mask) rather than the box a method is given."""
    query = bench.queries[q]
    if carry == "mask":
        shapes = query.query_mask()
        if shapes is not None and shapes.polygons:
            return list(shapes.polygons), True
    return [Box(*query.box).polygon()], False


def to_results(bench: Benchmark, pairs: Pairs, fits: dict[tuple[int, int], Fit], order: str = "inliers",
               carry: str = "box") -> HlocRun:  # fmt: skip
    """Stage 3: ranks (``order`` "inliers": verified images first by inliers, then the others in
    retrieval order, as the engine re-ranks; "retrieval": the pairs file's order) followed by
    every image the pairs file did not name, and the query's box (or mask) in each verified image."""
    if order not in ORDERS or carry not in CARRY:
        raise PixretError(None, f"order must be one of {', '.join(ORDERS)} and carry one of {', '.join(CARRY)}")
    ranks = np.zeros((bench.n_database, bench.n_queries), np.int64)
    pixels: dict[tuple[int, int], PixelPrediction] = {}
    no_mask = carried_masks = 0
    for q in range(bench.n_queries):
        ranked = pairs.ranked.get(q, [])
        if order == "inliers":
            ranked = sorted(ranked, key=lambda i: -fits[(q, i)].inliers if (q, i) in fits else 0)
        rest = np.setdiff1d(np.arange(bench.n_database), ranked)
        ranks[:, q] = np.concatenate([np.asarray(ranked, np.int64), rest])
        polys, labelled = _carried(bench, q, carry)
        no_mask += carry == "mask" and not labelled
        carried_masks += labelled and q in pairs.ranked
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
    oracle = ORACLE_MASK if carried_masks else None
    if oracle:
        notes.append(f"an oracle: {carried_masks} queries carry {oracle}, from the benchmark's labels; the run "
                     "folder says so, and compare, evaluate and report mark it (never a method's score)")  # fmt: skip
    return HlocRun(ranks, pixels, notes, oracle)


def write_run(out: str | os.PathLike, bench: Benchmark, run: HlocRun, method: str, source: dict) -> tuple[RunFolder, PixelEval]:
    """Stage 4: the run folder (ranks.npy, pixels.json, pixels.npy) and scores.json (both
    protocols, the notes, where the results came from), recorded in its ledger as every run's
    are. PixretError (nothing written) when the folder holds a run file no pixret run wrote
    there (``pipelines.benchmark.check_out``)."""
    check_out(out)
    folder = RunFolder(out)
    folder.write_results(run.ranks, run.pixels, method, oracle=run.oracle)
    ev = PixelEval(bench, run.ranks, run.pixels)
    summary = ev.run()
    report = ev.input_report()
    oracle = {"oracle": run.oracle} if run.oracle else {}
    folder.write_scores({"dataset": bench.name, "method": method, **oracle, "source": source,
                         "notes": run.notes + folder.notes() + report["notes"], **summary, "input": report})  # fmt: skip
    record_run(Path(out), RUN_FILES)
    return folder, ev


def main(bench: Benchmark, pairs: str | os.PathLike, features: str | os.PathLike, matches: str | os.PathLike,
         out: str | os.PathLike, method: str = "hloc", conf: EngineConfig | str = "fast", order: str = "inliers",
         carry: str = "box") -> tuple[RunFolder, PixelEval]:  # fmt: skip
    """The four stages: hloc's files -> the run folder ``out`` (and its evaluation)."""
    conf = get_config(conf) if isinstance(conf, str) else conf
    if order not in ORDERS or carry not in CARRY:
        raise PixretError(None, f"order must be one of {', '.join(ORDERS)} and carry one of {', '.join(CARRY)}")
    check_out(out)  # before the files are read: a folder holding results pixret did not write is refused
    read = read_pairs(pairs, bench)
    checks: list[str] = []
    fits = verify_pairs(bench, read, features, matches, conf, checks)
    run = to_results(bench, read, fits, order, carry)
    run.notes[:0] = checks
    source = {"format": "hloc", "pairs": str(pairs), "features": str(features), "matches": str(matches),
              "verification": conf.name, "order": order, "carry": carry}  # fmt: skip
    return write_run(out, bench, run, method, source)
