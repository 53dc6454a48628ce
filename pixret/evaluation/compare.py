"""Several methods on several benchmarks, the way papers compare them.

Where a method's results come from:

- the release's results tree (its "testing your own method" layout)::

    RESULTS/image-level/METHOD/{roxford,rparis,R1Moxford,R1Mparis}.npy
    RESULTS/pixel-level/METHOD/matching_result/{proxford,prparis}.npy
                                              (pR1Moxford.npy, pR1Mparis.npy: per-R1M pixels,
                                               as the release's unified.py reads them)

  and, for any other benchmark NAME (``make-benchmark``, ``pixret demo``), ``NAME.npy`` (or
  ``.json``) in the same two places;
- run folders (``ranks.npy`` + ``pixels.json``, as `pixret run`, `pixret import-hloc` and
  `pixret reference-results` write them; ``results.RunFolder``), each named by the caller or
  by the method its files name, for the benchmark its scores.json names (or the one given).

A run built from the benchmark's labels (an oracle: ``import-hloc --carry mask``,
``reference-results``; ``results.oracle_of``) is scored like a method but kept apart from the
methods: ``Comparison.oracles`` names it, it is never the best of a cell, never a baseline or
the reference of a paired test, and every table marks it.

Each (method, dataset) is scored once by the one evaluator (``evaluate_files``); its summary,
per-query values included, is cached (``cache.ScoreCache``) under a key of everything it
depends on: a second compare after adding a method scores only that method.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..datasets import load_benchmark
from ..datasets.model import Benchmark
from ..datasets.release import KNOWN, find_datasets
from ..errors import PixretError, quoted
from . import cache as _cache
from .evaluator import evaluate_files
from .metrics import COMPARED, METRICS, PAPER_SUBSETS
from .results import RunFolder, check_pixel_file, check_ranks_file, oracle_of
from .significance import ALPHA, PairedTest, min_p, paired_test, queries_needed

# dataset -> (image-level file stem, pixel-level file stems, first found wins), the release's names
RELEASE_STEMS: dict[str, tuple[str, tuple[str, ...]]] = {
    "proxford": ("roxford", ("proxford",)),
    "prparis": ("rparis", ("prparis",)),
    "r1m-proxford": ("R1Moxford", ("pR1Moxford", "proxford")),
    "r1m-prparis": ("R1Mparis", ("pR1Mparis", "prparis")),
}
DATASETS = RELEASE_STEMS  # the release's four (older name)
LABELS = {"proxford": "PROxf", "prparis": "PRPar", "r1m-proxford": "PROxf+R1M", "r1m-prparis": "PRPar+R1M"}
SUBSETS = PAPER_SUBSETS
CACHE = ".pixret-cache"
_EXT = (".npy", ".json")


def dataset_label(dataset: str) -> str:
    """A dataset's column label: the paper's for the release's datasets, else its name."""
    return LABELS.get(dataset, dataset)


def result_stems(dataset: str) -> tuple[str, tuple[str, ...]]:
    """(image-level stem, pixel-level stems) of ``dataset`` in a results tree."""
    return RELEASE_STEMS.get(dataset, (dataset, (dataset,)))


@dataclass(frozen=True)
class MethodFiles:
    """The files one method has for one dataset (None where missing), and where they are from."""

    method: str
    dataset: str
    image: Path | None
    pixel: Path | None
    source: str = "results tree"


def find_methods(results: Path) -> list[str]:
    """Every method with a folder under image-level/ or pixel-level/, sorted."""
    names = set()
    for level in ("image-level", "pixel-level"):
        d = results / level
        if d.is_dir():
            names |= {p.name for p in d.iterdir() if p.is_dir() and not p.name.startswith(".")}
    return sorted(names)


def _first(folder: Path, stems: Sequence[str]) -> Path | None:
    for stem in stems:
        for ext in _EXT:
            if (folder / f"{stem}{ext}").is_file():
                return folder / f"{stem}{ext}"
    return None


def method_files(results: Path, method: str, dataset: str) -> MethodFiles:
    image_stem, pixel_stems = result_stems(dataset)
    image = _first(results / "image-level" / method, [image_stem])
    pixel = _first(results / "pixel-level" / method / "matching_result", pixel_stems)
    if image is None and pixel is not None and pixel.stem != pixel_stems[0]:
        pixel = None  # R1M differs from its base set by the ranking alone: without it, nothing to score
    return MethodFiles(method, dataset, image, pixel)


def tree_datasets(results: Path) -> list[str]:
    """Datasets a results tree has files for (file stems read back through the release's names)."""
    by_stem = {image: d for d, (image, _) in RELEASE_STEMS.items()}
    by_stem |= {pixel[0]: d for d, (_, pixel) in RELEASE_STEMS.items()}
    stems = {p.stem for ext in _EXT for p in results.glob(f"image-level/*/*{ext}")}
    stems |= {p.stem for ext in _EXT for p in results.glob(f"pixel-level/*/matching_result/*{ext}")}
    return sorted({by_stem.get(s, s) for s in stems})


@dataclass
class Comparison:
    """Scores of every (method, dataset): ``scores[(m, d)]`` = evaluate's summary (per protocol,
    per-query values included), or absent with a line in ``notes``. ``files`` and ``benches``
    keep what was scored (the HTML comparison draws from them)."""

    methods: list[str]
    datasets: list[str]
    protocols: tuple[str, ...]
    scores: dict[tuple[str, str], dict] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    evaluated: list[tuple[str, str]] = field(default_factory=list)  # not from the cache
    files: dict[tuple[str, str], MethodFiles] = field(default_factory=dict)
    benches: dict[str, Benchmark] = field(default_factory=dict)
    points: str = "xy"
    one_based: bool = False  # the rankings hold indices 1..n (MATLAB)
    oracles: dict[str, str] = field(default_factory=dict)  # method -> what it carries from the labels
    _tests: dict = field(default_factory=dict, repr=False)

    def oracle_notes(self) -> list[str]:
        """One sentence per oracle: what it is built from, and how the tables treat it."""
        return [f"{m} (oracle) is built from the benchmark's labels ({what}): not a method; it is never bold, "
                "never a baseline and not tested" for m, what in self.oracles.items() if m in self.methods]  # fmt: skip

    def check_baseline(self, baseline: str | None) -> None:
        """PixretError (one line) when ``baseline`` is not a method here, or is an oracle."""
        if baseline is None:
            return
        if baseline not in self.methods:
            raise PixretError(None, f"baseline {quoted(baseline)} is not among the methods: {', '.join(self.methods)}")
        if baseline in self.oracles:
            raise PixretError(None, f"baseline {quoted(baseline)} is an oracle, built from the benchmark's labels "
                              f"({self.oracles[baseline]}): a significance test needs a method as its baseline")  # fmt: skip

    def value(self, method: str, dataset: str, protocol: str, metric: str, subset: str) -> float | None:
        s = self.scores.get((method, dataset))
        return None if s is None else METRICS[metric].value(s.get(protocol), subset)

    def per_query(self, method: str, dataset: str, protocol: str, metric: str, subset: str) -> np.ndarray | None:
        s = self.scores.get((method, dataset))
        if s is None or protocol not in s:
            return None
        return METRICS[metric].per_query(s[protocol], subset)

    def test(self, a: str, b: str, dataset: str, protocol: str, metric: str, subset: str) -> PairedTest | None:
        """Paired test of method ``a`` against ``b`` on one cell (None if either is missing, or
        is an oracle: labels are no method to test against)."""
        if a in self.oracles or b in self.oracles:
            return None
        key = (a, b, dataset, protocol, metric, subset)
        if key not in self._tests:
            qa = self.per_query(a, dataset, protocol, metric, subset)
            qb = self.per_query(b, dataset, protocol, metric, subset)
            missing = qa is None or qb is None or self.value(a, dataset, protocol, metric, subset) is None
            self._tests[key] = None if missing else paired_test(qa, qb)
        return self._tests[key]

    def best(self, dataset: str, protocol: str, metric: str, subset: str) -> str | None:
        """The method with the highest value in a cell (the first of ties; None if none has one);
        oracles are not methods and never the best."""
        vals = [(v, -k, m) for k, m in enumerate(self.methods) if m not in self.oracles
                and (v := self.value(m, dataset, protocol, metric, subset)) is not None]  # fmt: skip
        return max(vals)[2] if vals else None

    def n_queries(self, dataset: str) -> int:
        return self.benches[dataset].n_queries if dataset in self.benches else 0

    def power_notes(self) -> list[str]:
        """One sentence per dataset with too few queries for a paired test to mean much."""
        out = []
        for d in self.datasets:
            n = self.n_queries(d)
            if n < queries_needed(ALPHA):
                out.append(f"{dataset_label(d)}: with {n} queries no paired test can reach p < {ALPHA:g} (the smallest "
                           f"p {n} queries allow is {min_p(n):.3g}): no difference can be marked significant, "
                           "whatever its size; score more queries")  # fmt: skip
            elif n < 10:
                out.append(f"{dataset_label(d)}: with {n} queries a paired test reaches p < {ALPHA:g} only when "
                           "(nearly) every query moves the same way")  # fmt: skip
        return out

    def contrasts(self, baseline: str | None = None) -> list[tuple[str, str, str, str, str, str]]:
        """(a, b, dataset, protocol, metric, subset) of the paired tests to report: every method
        against the baseline, or, without one, against the best method of each cell (a number of
        tests that grows with the methods, not with their pairs). Oracles take no part."""
        self.check_baseline(baseline)
        methods = [m for m in self.methods if m not in self.oracles]
        out = []
        for d in self.datasets:
            for p in self.protocols:
                for metric in COMPARED:
                    for s in SUBSETS:
                        ref = baseline or self.best(d, p, metric, s)
                        out += [(m, ref, d, p, metric, s) for m in methods if ref and m != ref]
        return out

    def as_dict(self, baseline: str | None = None) -> dict:
        """JSON-ready: every score (per-query values included), notes, and paired tests of every
        method against the baseline (without one: against each cell's best method)."""
        tests = []
        for a, b, d, p, metric, s in self.contrasts(baseline):
            t = self.test(a, b, d, p, metric, s)
            if t is not None:
                tests.append({"a": a, "b": b, "dataset": d, "protocol": p, "metric": metric, "subset": s,
                              **t.as_dict()})  # fmt: skip
        return {
            "methods": self.methods,
            "datasets": self.datasets,
            "protocols": list(self.protocols),
            "baseline": baseline,
            "oracles": {m: what for m, what in self.oracles.items() if m in self.methods},
            "tests_against": "baseline" if baseline else "best method of each cell",
            "scores": {m: {d: self.scores.get((m, d)) for d in self.datasets} for m in self.methods},
            "paired_tests": tests,
            "notes": self.notes + self.oracle_notes() + self.power_notes(),
        }


def _score(bench: Benchmark, bench_digest: str, files: MethodFiles, protocols: tuple[str, ...], points: str,
           store: _cache.ScoreCache, one_based: bool = False) -> tuple[dict, bool, list[str]]:  # fmt: skip
    """evaluate_files' summary for one (method, dataset), through the cache: (summary, from the
    cache, warnings seen). The files' sizes are checked before they are hashed or read."""
    if files.image is not None:
        check_ranks_file(files.image, bench.n_database, bench.n_queries)
    check_pixel_file(files.pixel)
    key = _cache.entry_key(bench_digest, files.dataset, _cache.file_digest(files.image),
                           _cache.file_digest(files.pixel), protocols, points, one_based)  # fmt: skip
    hit = store.get(key, protocols, bench.n_queries, f"{files.method} on {dataset_label(files.dataset)}")
    if hit is not None:
        return hit[0], True, hit[1]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ev = evaluate_files(bench, files.image, files.pixel, protocols, points, one_based)
    summary = ev.summarize()
    # what was not scored (the input report) travels with the warnings, into the notes and the cache
    seen = list(dict.fromkeys([*(str(w.message) for w in caught), *ev.input_report()["notes"]]))
    store.put(key, summary, seen)
    return summary, False, seen


def _runs_by_dataset(
    runs: Sequence[tuple[str | None, str | Path]], datasets: list[str] | None, on_disk: list[str], notes: list[str]
) -> list[tuple[str, RunFolder, str]]:  # fmt: skip
    """(method name, run folder, dataset) of every run given as (name or None, folder)."""
    out = []
    for name, folder in runs:
        rf = RunFolder(folder).check()
        named = rf.dataset()
        if named is None and rf.scores.is_file():  # there, but unreadable or naming no benchmark: said
            notes.append(f"{rf.scores}: names no benchmark (damaged, or not pixret's scores file): the run's "
                         "benchmark is taken from --dataset or the root")  # fmt: skip
        if datasets and len(datasets) == 1:
            d = datasets[0]
            if named and named != d:
                notes.append(f"run folder {rf.path} says it was made on {named}; compared on {d} as asked")
        elif named:
            d = named
        elif len(datasets or on_disk) == 1:
            d = (datasets or on_disk)[0]
        else:
            raise PixretError(rf.path, "does not say which benchmark it was run on (no scores.json): pass --dataset NAME")
        out.append((name or rf.method(), rf, d))
    return out


def compare(
    root: str | Path,
    results: str | Path | None = None,
    methods: list[str] | None = None,
    datasets: list[str] | None = None,
    protocols: tuple[str, ...] = ("strict",),
    points: str = "xy",
    cache: bool | str | Path = True,
    runs: Sequence[tuple[str | None, str | Path]] = (),
    one_based: bool = False,
) -> Comparison:
    """Score every method (of the results tree ``results``, and the run folders ``runs``: (name
    or None, folder)) on every dataset it has files for, whose benchmark is under ``root``.

    ``datasets``: any names ``load_benchmark`` reads (default: every benchmark with results);
    ``cache``: True (``RESULTS/.pixret-cache``, or ``cache.default_folder()`` without a tree), a
    folder, or False. PixretError (one line) when nothing can be compared."""
    tree = Path(results) if results is not None else None
    notes: list[str] = []
    if tree is not None and RunFolder.is_run(tree):  # a run folder given as a tree: read as one
        notes.append(f"{tree} is a run folder (ranks.npy, pixels.*), not a results tree: read as --run {tree}")
        runs, tree = [*runs, (None, tree)], None
    tree_methods: list[str] = []
    if tree is not None:
        if not tree.is_dir():
            raise PixretError(tree, "results folder not found (expected image-level/ and pixel-level/ inside)")
        tree_methods = find_methods(tree)
        if not tree_methods and not runs:
            raise PixretError(tree, "no methods found: expected image-level/METHOD/ or pixel-level/METHOD/ folders")
    elif not runs:
        raise PixretError(None, "nothing to compare: give a results tree (--results) or run folders (--run)")
    on_disk = find_datasets(root)
    run_list = _runs_by_dataset(runs, datasets, on_disk, notes)
    found = list(dict.fromkeys(tree_methods + [n for n, _, _ in run_list]))
    unknown = [m for m in methods or () if m not in found]
    if unknown:
        raise PixretError(tree, f"no results for method(s) {', '.join(unknown)}; found: {', '.join(found)}")
    chosen = list(dict.fromkeys(methods)) if methods else found
    if datasets:
        targets = list(dict.fromkeys(datasets))
    else:
        runs_for = [d for _, _, d in run_list]
        in_tree = tree_datasets(tree) if tree is not None else []
        targets = list(dict.fromkeys([*KNOWN, *on_disk, *runs_for, *in_tree]))
    if cache is True:
        folder = tree / CACHE if tree is not None else _cache.default_folder()
    else:
        folder = Path(cache) if cache else None
    store = _cache.ScoreCache(folder)
    cmp = Comparison(chosen, [], tuple(protocols), notes=notes, points=points, one_based=one_based)
    for d in targets:
        files = [method_files(tree, m, d) for m in tree_methods if m in chosen] if tree is not None else []
        for name, rf, rd in run_list:
            if rd != d or name not in chosen:
                continue
            if any(f.method == name and (f.image or f.pixel) for f in files):
                raise PixretError(rf.path, f"method {name!r} has results on {d} in the results tree too: "
                                  "name the run otherwise (--run OTHER=FOLDER)")  # fmt: skip
            files = [f for f in files if f.method != name]
            image = rf.ranks if rf.ranks.is_file() else None
            files.append(MethodFiles(name, d, image, rf.pixels, f"run folder {rf.path}"))
        if not any(f.image or f.pixel for f in files):
            continue
        try:
            bench = load_benchmark(root, d)
        except PixretError as exc:
            if datasets:
                raise
            cmp.notes.append(f"{dataset_label(d)}: benchmark not available ({exc}); its columns are left out")
            continue
        cmp.datasets.append(d)
        cmp.benches[d] = bench
        digest = _cache.benchmark_digest(bench)
        for f in sorted(files, key=lambda f: chosen.index(f.method)):
            _score_one(cmp, bench, digest, f, store)
    cmp.notes += store.notes
    if not cmp.datasets:
        have = ", ".join(on_disk) or "none"
        raise PixretError(tree or root, f"no dataset has both results and a benchmark under the root "
                          f"(benchmarks found under {root}: {have}); name one with --dataset")  # fmt: skip
    return cmp


def _score_one(cmp: Comparison, bench: Benchmark, digest: str, f: MethodFiles, store: _cache.ScoreCache) -> None:
    label = dataset_label(f.dataset)
    if f.pixel is None:
        what = "pixel-level file" + ("" if f.image else " and image-level file")
        cmp.notes.append(f"{f.method} on {label}: no {what}; shown as -")
        return
    if f.image is None:
        cmp.notes.append(f"{f.method} on {label}: no image-level ranks; pixel and image mAP shown as -")
    try:
        summary, cached, seen = _score(bench, digest, f, cmp.protocols, cmp.points, store, cmp.one_based)
    except PixretError as exc:
        cmp.notes.append(f"{f.method} on {label}: {exc}; shown as -")
        return
    if f.image is None:  # without ranks pixel/image mAP are not measured: blank, not 0
        for p in summary.values():
            for k in ("pixel_mAP", "pixel_mAP_box", "image_mAP"):
                p[k] = {s: None for s in p[k]}
    cmp.scores[(f.method, f.dataset)] = summary
    cmp.files[(f.method, f.dataset)] = f
    oracle = oracle_of(f.pixel)
    if oracle:  # a method whose results on any dataset come from the labels is an oracle throughout
        cmp.oracles.setdefault(f.method, oracle)
    if not cached:
        cmp.evaluated.append((f.method, f.dataset))
    cmp.notes += [f"{f.method} on {label}: {w}" for w in seen]
