"""Reading a benchmark in the PROxford/PRParis release layout.

Layout under ``root`` (the ``pixel_retrieval_benchmarks`` folder, or its parent)::

    {prefix}_pair2labelpath.npy          dict '{q}_{i}' -> labelme path relative to root
    queries/{prefix}/{q}.json            query masks (optional)
    revisitop/data/{gnd}/gnd_{gnd}.pkl   revisitop ground truth
    revisitop/data/{gnd}/jpg/*.jpg       images (optional)
    revisitop/data/revisitop1m.txt       R1M distractor names (r1m-* variants)
"""

from __future__ import annotations

import itertools
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import BenchmarkWarning, PixretError, quoted
from ..io import load_npy, load_pickle, regular_file
from .model import Benchmark, Query

RELEASE_FOLDER = "pixel_retrieval_benchmarks"


@dataclass(frozen=True)
class DatasetSpec:
    """Where a named dataset's files lie inside the release folder."""

    name: str
    gnd: str  # revisitop dataset folder, e.g. roxford5k
    prefix: str  # pair2labelpath / queries prefix, e.g. oxford
    r1m: bool = False
    # The release's mAP script skips these queries (docs/protocols.md, difference 3).
    compat_ignored: frozenset[int] = frozenset()


KNOWN = {
    "proxford": DatasetSpec("proxford", "roxford5k", "oxford", False, frozenset({56, 63})),
    "prparis": DatasetSpec("prparis", "rparis6k", "paris", False, frozenset({57, 59})),
    "r1m-proxford": DatasetSpec("r1m-proxford", "roxford5k", "oxford", True, frozenset({56, 63})),
    "r1m-prparis": DatasetSpec("r1m-prparis", "rparis6k", "paris", True, frozenset({57, 59})),
}


def dataset_spec(name: str) -> DatasetSpec:
    """The spec of a known name; any other NAME reads revisitop/data/NAME and NAME_* files."""
    return KNOWN.get(name) or DatasetSpec(name, name, name)


# Names a new benchmark may not take: the release's datasets, the folders and file prefixes
# their files use (a benchmark called "oxford" would overwrite oxford_pair2labelpath.npy of a
# release beside it), and the R1M distractors' names.
RESERVED = frozenset(KNOWN) | {s.gnd for s in KNOWN.values()} | {s.prefix for s in KNOWN.values()} | {"revisitop1m"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_new_name(name: str) -> str:
    """``name`` if a new benchmark may be written under it; else PixretError saying why (a
    reserved name, or one that is not a plain file name: letters, digits, ``_ . -``, at most
    64 characters). Checked before anything is written."""
    if name.lower() in RESERVED:
        what = "a dataset of the release" if name in KNOWN else "a name the release's files use"
        raise PixretError(None, f"--name {quoted(name)} is reserved ({what}; its loader reads other files): "
                          "choose another name")  # fmt: skip
    if not _NAME.match(name) or name.endswith("."):
        raise PixretError(None, f"--name {quoted(name)}: use letters, digits, '_', '.' and '-' (at most 64, "
                          "starting with a letter or digit)")  # fmt: skip
    return name


def find_datasets(root: str | os.PathLike) -> list[str]:
    """Names of the benchmarks whose ground truth is under ``root``: the release's names for its
    folders (roxford5k: proxford, and r1m-proxford where the R1M list is there too), the
    folder's own name for any other; the release's order first, then sorted."""
    data = release_root(root) / "revisitop" / "data"
    folders = sorted(p.parent.name for p in data.glob("*/gnd_*.pkl") if p.name == f"gnd_{p.parent.name}.pkl") \
        if data.is_dir() else []  # fmt: skip
    names = []
    for spec in KNOWN.values():
        if spec.gnd in folders and (not spec.r1m or (data / "revisitop1m.txt").is_file()):
            names.append(spec.name)
    gnds = {s.gnd for s in KNOWN.values()}
    return names + [f for f in folders if f not in gnds]


def benchmark_files(bench: Benchmark) -> list[Path]:
    """Every file a benchmark's scores depend on: its ground truth, pair list, R1M list (r1m-*)
    and pixel label files (the images only give sizes a label lacks)."""
    spec = dataset_spec(bench.name)
    data = bench.root / "revisitop" / "data"
    files = [data / spec.gnd / f"gnd_{spec.gnd}.pkl", bench.root / f"{spec.prefix}_pair2labelpath.npy"]
    if spec.r1m:
        files.append(data / "revisitop1m.txt")
    return files + sorted(set(bench.pair_labels.values()))


def release_root(root: str | os.PathLike) -> Path:
    """Accept the release folder itself or a folder that holds it."""
    root = Path(root)
    nested = root / RELEASE_FOLDER
    return nested if nested.is_dir() else root


def _flat_numbers(value: object, path: Path, what: str, limit: int = 10_000_000) -> np.ndarray:
    """A flat float array from a list or array of numbers, refused (one line) when it is not one."""
    if value is None:
        return np.zeros(0)
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf" or value.size > limit:
            raise PixretError(path, f"{what} is not a list of numbers")
        return value.astype(np.float64).reshape(-1)
    if not isinstance(value, list | tuple) or len(value) > limit:
        raise PixretError(path, f"{what} is not a list of numbers")
    if not all(
        isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool) for v in value
    ):
        raise PixretError(path, f"{what} is not a list of numbers")
    return np.asarray(value, dtype=np.float64).reshape(-1)


def _index_array(value: object, path: Path, what: str, limit: int) -> np.ndarray:
    arr = _flat_numbers(value, path, what)
    if arr.size and (not np.isfinite(arr).all() or (arr != np.round(arr)).any()):
        raise PixretError(path, f"{what} holds non-integer indices")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= limit):
        raise PixretError(path, f"{what} holds an index outside 0..{limit - 1}")
    return arr


def _resolve_label(root: Path, rel: str) -> Path:
    p = Path(rel)
    if not p.is_absolute():
        return root / p
    # an absolute path from the authors' machine: keep what follows the release folder
    parts = p.parts
    if RELEASE_FOLDER in parts:
        return root.joinpath(*parts[parts.index(RELEASE_FOLDER) + 1 :])
    return p


def check_gnd(doc: object, path: object) -> tuple[list, list, list]:
    """(query names, database names, per-query entries) of a revisitop ground truth, or one
    line naming the file and what is wrong (the reader's and the downloader's check)."""
    if not isinstance(doc, dict) or not {"qimlist", "imlist", "gnd"} <= set(doc):
        raise PixretError(path, "not a revisitop ground-truth pickle (needs qimlist, imlist and gnd)")
    for key in ("qimlist", "imlist", "gnd"):
        if not isinstance(doc[key], list | tuple):
            raise PixretError(path, f"'{key}' is not a list")
    qnames, imlist, gnd = list(doc["qimlist"]), list(doc["imlist"]), list(doc["gnd"])
    if not all(isinstance(n, str) for n in (*qnames, *imlist)):
        raise PixretError(path, "image names in 'qimlist' and 'imlist' must be strings")
    if len(gnd) != len(qnames):
        raise PixretError(path, f"{len(qnames)} query names but {len(gnd)} gnd entries")
    return qnames, imlist, gnd


def _where_else(root: Path, name: str) -> str:
    """The hint after "not found": the folder one or two levels below ``root`` that holds this
    benchmark (``pixret demo`` writes its benchmark to pixret-demo/data), else the benchmarks
    ``root`` does hold, else how to get one."""
    def folders(top: Path) -> list[Path]:  # the first 200 entries only: a folder may hold a million images
        try:
            with os.scandir(top) as it:
                return sorted(Path(e.path) for e in itertools.islice(it, 200) if e.is_dir() and e.name != RELEASE_FOLDER)
        except OSError:
            return []

    top = folders(root)
    for below in [*top, *(p for d in top for p in folders(d))]:
        if name in find_datasets(below):
            return f"; it is under {below}: --root {below}"
    held = find_datasets(root)
    if held:
        return f" (this root holds: {', '.join(held[:10])})"
    return " (try `pixret download`)" if name in KNOWN else " (make one with `pixret make-benchmark`, or `pixret download`)"


def load_benchmark(root: str | os.PathLike, name: str) -> Benchmark:
    """Read benchmark ``name`` (proxford, prparis, r1m-*, or a custom NAME) under ``root``."""
    spec = dataset_spec(name)
    base = release_root(root)
    data = base / "revisitop" / "data"
    gnd_path = data / spec.gnd / f"gnd_{spec.gnd}.pkl"
    if not gnd_path.exists():
        raise PixretError(gnd_path, f"ground truth of '{name}' not found{_where_else(Path(root), name)}")
    qnames, imlist, gnd = check_gnd(load_pickle(gnd_path), gnd_path)

    n_db = len(imlist)
    qdir = base / "queries" / spec.prefix
    queries = []
    for q, (qname, g) in enumerate(zip(qnames, gnd, strict=True)):
        if not isinstance(g, dict):
            raise PixretError(gnd_path, f"gnd[{q}] is not a dict")
        bbx = _flat_numbers(g.get("bbx", [np.nan] * 4), gnd_path, f"gnd[{q}]['bbx']")
        if bbx.size != 4:
            raise PixretError(gnd_path, f"gnd[{q}]['bbx'] has {bbx.size} values, expected 4")
        mask = qdir / f"{q}.json"
        queries.append(
            Query(
                index=q,
                name=str(qname),
                box=tuple(float(v) for v in bbx),
                easy=_index_array(g.get("easy"), gnd_path, f"gnd[{q}]['easy']", n_db),
                hard=_index_array(g.get("hard"), gnd_path, f"gnd[{q}]['hard']", n_db),
                junk=_index_array(g.get("junk"), gnd_path, f"gnd[{q}]['junk']", n_db),
                mask_path=mask if mask.exists() else None,
            )
        )

    pairs_path = base / f"{spec.prefix}_pair2labelpath.npy"
    pair_labels: dict[tuple[int, int], Path] = {}
    if pairs_path.exists():
        raw = load_npy(pairs_path)
        if not isinstance(raw, dict):
            raise PixretError(pairs_path, "expected a dict '{q}_{i}' -> label path")
        for key, rel in raw.items():
            try:
                q, i = (int(v) for v in str(key).split("_"))
            except ValueError:
                raise PixretError(pairs_path, f"key {quoted(key)} is not '{{q}}_{{i}}'") from None
            pair_labels[(q, i)] = _resolve_label(base, str(rel))
    elif any(len(q.easy) or len(q.hard) for q in queries):
        warnings.warn(
            f"{pairs_path}: not found: no pixel labels, so every pixel metric (mIoU, pixel mAP) "
            "scores 0; image-level metrics are unaffected",
            BenchmarkWarning,
            stacklevel=2,
        )

    database = [str(n) for n in imlist]
    image_dirs = [data / spec.gnd / "jpg", data / "datasets" / spec.gnd / "jpg"]
    if spec.r1m:
        txt = data / "revisitop1m.txt"
        if not txt.exists():
            raise PixretError(txt, "R1M distractor list not found (try `pixret download r1m-list`)")
        regular_file(txt)
        names = [ln.strip() for ln in txt.read_text().splitlines() if ln.strip()]
        database += names
        image_dirs += [data / "revisitop1m" / "jpg", data / "datasets" / "revisitop1m" / "jpg"]

    return Benchmark(
        name=name,
        root=base,
        queries=queries,
        database=database,
        pair_labels=pair_labels,
        image_dirs=image_dirs,
        n_labelled_database=n_db,
        compat_ignored_queries=spec.compat_ignored,
    )
