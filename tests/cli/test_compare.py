"""`pixret compare` as a user runs it: its cache (keyed by everything a score depends on, its
entries checked like any input), names escaped in every output, any benchmark and run folders."""

import csv
import io
import json
import re
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from pixret.cli import app
from pixret.datasets import load_benchmark
from pixret.evaluation import write_pixel_results, write_ranks
from pixret.evaluation.perturbed import perturbed_results
from pixret.evaluation.results import RunFolder
from tests.helpers import blob, write_release

MAIN = [sys.executable, "-c", "from pixret.cli import main; main()"]


def _bench(root: Path, name: str = "proxford", queries: int = 8, n_db: int = 30, seed: int = 0):
    """A hand-made benchmark ``name`` under ``root``: ``queries`` queries, 2 easy + 2 hard each."""
    rng = np.random.default_rng(seed)
    qs, labels = [], {}
    for q in range(queries):
        perm = rng.permutation(n_db)
        qs.append({"easy": perm[:2].tolist(), "hard": perm[2:4].tolist(), "junk": perm[4:5].tolist()})
        for i in perm[:4]:
            labels[(q, int(i))] = [blob(rng, 320, 240)]
    write_release(root, name, qs, n_db, labels, size=(320, 240))
    return load_benchmark(root, name)


STEMS = {"proxford": ("roxford", "proxford"), "prparis": ("rparis", "prparis")}


def _method(results: Path, bench, name: str, shift: float, seed: int) -> None:
    """A method's files in the release's results tree (the dataset's own name for other benchmarks)."""
    image, pixel = STEMS.get(bench.name, (bench.name, bench.name))
    ranks, pixels = perturbed_results(bench, shift, 0.1, shift, seed)
    write_ranks(results / "image-level" / name / f"{image}.npy", ranks)
    write_pixel_results(results / "pixel-level" / name / "matching_result" / f"{pixel}.npy", pixels)


@pytest.fixture
def two(tmp_path):
    """(root, results): methods good and poor on a hand-made proxford."""
    bench = _bench(tmp_path)
    results = tmp_path / "results"
    _method(results, bench, "good", 0.0, 1)
    _method(results, bench, "poor", 0.4, 2)
    return tmp_path, results


def _json(root, results, out, *extra):
    res = CliRunner().invoke(app, ["compare", "--root", str(root), "--results", str(results), "--json", str(out),
                                   *extra])  # fmt: skip
    assert res.exit_code == 0, res.output
    return json.loads(out.read_text()), res.output


def _value(doc, method, dataset="proxford", metric=("pixel_mAP", "medium")):
    return doc["scores"][method][dataset]["strict"][metric[0]][metric[1]]


def _move_labels(root: Path, dx: float) -> None:
    for f in (root / "pixel_retrieval_benchmarks" / "labels").rglob("*.json"):
        doc = json.loads(f.read_text())
        for shape in doc["shapes"]:
            shape["points"] = [[x + dx, y] for x, y in shape["points"]]
        f.write_text(json.dumps(doc))


def test_the_cache_follows_the_ground_truth(two, tmp_path):
    root, results = two
    first, _ = _json(root, results, tmp_path / "a.json")
    assert _value(first, "good") > 0.5
    _move_labels(root, 200.0)  # every polygon moved: the same results are now wrong
    moved, out = _json(root, results, tmp_path / "b.json")
    assert _value(moved, "good") < 0.1, "cached scores came back for other labels"
    assert "scored 2 (method, dataset) pair(s), 0 from the cache" in out
    # another benchmark of the same name (other positives): scored again too
    shutil.rmtree(root / "pixel_retrieval_benchmarks")
    _bench(root, seed=5)
    _, out = _json(root, results, tmp_path / "c.json")
    assert "0 from the cache" in out


def test_cache_entries_are_checked_like_any_input(two, tmp_path):
    root, results = two
    first, out = _json(root, results, tmp_path / "a.json")
    entries = sorted(p for p in (results / ".pixret-cache").iterdir() if p.suffix == ".json")
    assert len(entries) == 2
    again, out = _json(root, results, tmp_path / "b.json")
    assert "scored 0 (method, dataset) pair(s), 2 from the cache" in out
    for damage in ("edit", "[]", "null", '"a string"', "[" * 100_000 + "]" * 100_000, '{"summary": 1}'):
        for e in entries:
            if damage == "edit":  # a hand edit that keeps the file valid JSON
                doc = json.loads(e.read_text())
                doc["summary"]["strict"]["pixel_mAP"]["medium"] = 0.999
                e.write_text(json.dumps(doc))
            else:
                e.write_text(damage)
        if damage.startswith("[["):  # as a user runs it: no traceback
            p = subprocess.run([*MAIN, "compare", "--root", str(root), "--results", str(results), "--json",
                                str(tmp_path / "d.json")], capture_output=True, text=True)  # fmt: skip
            assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr[-2000:]
            out = p.stderr
        else:
            doc, out = _json(root, results, tmp_path / "d.json")
        assert "scored 2 (method, dataset) pair(s), 0 from the cache" in out, damage[:20]
        assert "not used" in out, damage[:20]
        doc = json.loads((tmp_path / "d.json").read_text())
        assert doc["scores"] == first["scores"], damage[:20]


def _unwritable(results: Path, how: str, monkeypatch) -> None:
    cache = results / ".pixret-cache"
    if how == "cache is a file":
        shutil.rmtree(cache)
        cache.write_text("not a folder")
    elif how == "entries are folders":
        for e in list(cache.iterdir()):
            e.unlink()
            e.mkdir()
    else:  # a read-only tree: chmod, and (as root, whom chmod does not stop) a read-only file system
        shutil.rmtree(cache)
        for p in [results, *results.rglob("*")]:
            p.chmod(0o555 if p.is_dir() else 0o444)
        mkstemp = tempfile.mkstemp

        def refuse(*args, dir=None, **kwargs):
            if dir is not None and Path(results) in [Path(dir), *Path(dir).parents]:
                raise OSError(30, "Read-only file system")
            return mkstemp(*args, dir=dir, **kwargs)

        monkeypatch.setattr(tempfile, "mkstemp", refuse)


@pytest.mark.parametrize("how", ["read-only tree", "cache is a file", "entries are folders"])
def test_a_cache_that_cannot_be_written_is_scored_without_it(two, tmp_path, how, monkeypatch):
    root, results = two
    first, _ = _json(root, results, tmp_path / "a.json")
    _unwritable(results, how, monkeypatch)
    try:
        doc, out = _json(root, results, tmp_path / "b.json")
    finally:
        for p in [results, *results.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
    assert doc["scores"] == first["scores"], "cells became '-'"
    assert "scored 2 (method, dataset) pair(s), 0 from the cache" in out and "not cached" in out, out


NASTY = ['=HYPERLINK("x","y")', "+1-2", "@SUM(A1)", "\tTAB", "<img src=x onerror=alert(1)>",
         "a|b\nc", "[opt]\\back", "\x1b[31mred\u202eevil"]  # fmt: skip


def test_method_names_are_escaped_in_every_output(tmp_path):
    bench = _bench(tmp_path, queries=6)
    results = tmp_path / "results"
    for n, name in enumerate(NASTY):
        _method(results, bench, name, 0.1 * n, n)
    out = tmp_path / "o"
    p = subprocess.run([*MAIN, "compare", "--root", str(tmp_path), "--results", str(results), "--baseline", NASTY[0],
                        "--markdown", str(out / "t.md"), "--latex", str(out / "t.tex"), "--csv", str(out / "t.csv"),
                        "--json", str(out / "t.json")], capture_output=True, text=True)  # fmt: skip
    assert p.returncode == 0, p.stderr[-3000:]
    for shown in (p.stdout, p.stderr):  # the tables (stdout) and the notes (stderr) alike
        assert "\x1b" not in shown and "\u202e" not in shown and "<U+001B>[31mred<U+202E>evil" in shown
        assert "a|b<U+000A>c" in shown and "<U+0009>TAB" in shown  # a name's newline or tab fakes no line
        assert not any(ln.lstrip().startswith("c ") for ln in shown.splitlines())
    cells = [row[0] for row in csv.reader(io.StringIO((out / "t.csv").read_text()))][1:]
    assert cells and not any(c.startswith(("=", "+", "-", "@", "\t")) for c in cells)
    assert "'=HYPERLINK(\"x\",\"y\")" in cells
    md = (out / "t.md").read_text()
    assert "<img" not in md and "&lt;img src=x onerror=alert(1)&gt;" in md
    table = [ln for ln in md.split("### ")[1].splitlines() if ln.startswith("| ")][1:]  # one table's rows
    assert len(table) == len(NASTY) and all(_cells(r) == 3 for r in table), table  # method, M, H: a name's | and newline break nothing
    assert json.loads((out / "t.json").read_text())["methods"] == sorted(NASTY)
    if shutil.which("pdflatex"):
        _compiles(out / "t.tex", tmp_path)


def _cells(row: str) -> int:
    """Cells of a Markdown table row, not counting escaped pipes."""
    return len([c for c in row.replace("\\|", "").strip().strip("|").split("|")])


def _compiles(tex: Path, tmp_path: Path) -> None:
    doc = tmp_path / "doc.tex"
    doc.write_text("\\documentclass{article}\\usepackage{booktabs}\\begin{document}\n" + tex.read_text()
                   + "\n\\end{document}\n")  # fmt: skip
    proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:]


def test_a_long_method_name_is_scored(two, tmp_path):
    root, results = two
    long = "m" * 240
    shutil.move(results / "image-level" / "poor", results / "image-level" / long)
    shutil.move(results / "pixel-level" / "poor", results / "pixel-level" / long)
    doc, out = _json(root, results, tmp_path / "a.json")
    assert _value(doc, long) is not None and "too long" not in out


def test_json_without_a_baseline_grows_linearly_with_the_methods(tmp_path):
    bench = _bench(tmp_path, queries=6, n_db=20)
    results = tmp_path / "results"
    counts = {}
    for n in range(8):
        _method(results, bench, f"m{n}", 0.05 * n, n)
        if n in (3, 7):
            doc, _ = _json(tmp_path, results, tmp_path / f"{n}.json")
            counts[n + 1] = len(doc["paired_tests"])
    cells = 4 * 2  # metrics x subsets, one dataset and protocol
    assert counts[8] <= 8 * cells and counts[4] <= 4 * cells, counts  # every pair would be 28 x 8


def _bytes_read() -> int:
    with open("/proc/self/io") as fh:
        return int(next(ln for ln in fh if ln.startswith("rchar:")).split()[1])


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux's /proc/self/io")
@pytest.mark.parametrize("which", ["image", "pixel"])
def test_a_huge_result_file_is_refused_before_it_is_read(two, tmp_path, which):
    root, results = two
    f = results / ("image-level/poor/roxford.npy" if which == "image" else "pixel-level/poor/matching_result/proxford.npy")
    head = f.read_bytes()[:4096]
    with open(f, "r+b") as fh:  # its own header, then 4 GiB that take no disk (a sparse file)
        fh.write(head)
        fh.truncate(4 << 30)
    before = _bytes_read()
    res = CliRunner().invoke(app, ["compare", "--root", str(root), "--results", str(results), "--no-cache"])
    assert res.exit_code == 0, res.output
    assert _bytes_read() - before < 256 << 20, "the 4 GiB file was read"
    assert "poor on PROxf" in res.output and "GiB" in res.output, res.output


def test_bad_arguments_are_one_line(tree, tmp_path):
    root, results = tree
    res = CliRunner().invoke(
        app, ["compare", "--root", str(root), "--results", str(results), "--method", "nope"]
    )
    assert res.exit_code != 0 and "no results for method(s) nope; found: fair, good, poor, twin" in str(
        res.exception
    )
    res = CliRunner().invoke(app, ["compare", "--root", str(root), "--results", str(tmp_path)])
    assert "no methods found" in str(res.exception)


def _runs(root: Path, dataset: str, shifts: dict[str, float]) -> dict[str, Path]:
    """Run folders as `pixret run` writes them (ranks.npy, pixels.json, pixels.npy), of methods
    that perturb the labels by known amounts (`reference-results` would write the same results,
    marked as oracles)."""
    bench = load_benchmark(root, dataset)
    out = {}
    for name, shift in shifts.items():
        out[name] = root / f"run-{name}"
        ranks, pixels = perturbed_results(bench, shift, 0.1, 0.0, 3)
        RunFolder(out[name]).write_results(ranks, pixels, f"reference shift={shift} drop=0.1")
    return out


def test_any_benchmark_and_run_folders_in_one_table(tmp_path):
    bench = _bench(tmp_path, name="mine", queries=12, n_db=24)
    write_release(tmp_path, "mine", [{"easy": q.easy.tolist(), "hard": q.hard.tolist(), "junk": q.junk.tolist()}
                                     for q in bench.queries], 24, {p: bench.gt(*p).polygons for p in bench.pairs()},
                  size=(320, 240), images=True)  # fmt: skip
    results = tmp_path / "results"
    for n, name in enumerate(("a", "b", "c")):
        _method(results, bench, name, 0.1 * n, n)
    runs = _runs(tmp_path, "mine", {"fast": 0.02, "sp": 0.3})
    out = tmp_path / "o"
    args = ["compare", "--root", str(tmp_path), "--results", str(results), "--run", f"fast={runs['fast']}",
            "--run", f"sp={runs['sp']}", "--baseline", "sp", "--cache", str(tmp_path / "cache"),
            "--markdown", str(out / "t.md"), "--latex", str(out / "t.tex"), "--html", str(out / "t.html"),
            "--json", str(out / "t.json")]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "t.json").read_text())
    assert doc["methods"] == ["a", "b", "c", "fast", "sp"] and doc["datasets"] == ["mine"], res.output
    # the methods drop some predictions on purpose: the notes say so, and say nothing else
    assert all("positives have no prediction" in n for n in doc["notes"]), doc["notes"]
    fast, sp = _value(doc, "fast", "mine"), _value(doc, "sp", "mine")
    assert fast > sp + 0.2
    assert {t["b"] for t in doc["paired_tests"]} == {"sp"}
    assert "| fast | **" in (out / "t.md").read_text()
    assert r"\multicolumn{2}{c}{mine}" in (out / "t.tex").read_text()
    page = _Page()
    page.feed((out / "t.html").read_text())
    assert page.captions[:4] == ["pixel mAP@50:5:95 (%), strict protocol", "mIoU (box) (%), strict protocol",
                                 "mIoU (mask) (%), strict protocol", "image mAP (%), strict protocol"]  # fmt: skip
    assert len(page.sections) == 12 and all(s.startswith("query ") for s in page.sections)
    # per query, AP of sp, a, b, c, fast, then each one's difference to sp (the baseline), sorted by a's
    rows = re.findall(r"<tr><td><a href='#mine-q(\d+)'>.*?</td>(.*?)</tr>", (out / "t.html").read_text())
    assert sorted(int(q) for q, _ in rows) == list(range(12))
    table = [re.findall(r"<td[^>]*>([^<]*)</td>", cells) for _, cells in rows]
    assert all(len(r) == 5 + 4 for r in table)
    diff_a = [float(r[5]) for r in table if r[5] != "-"]
    assert diff_a == sorted(diff_a, reverse=True), diff_a
    for r in table:  # a difference is the APs' difference
        if "-" not in (r[0], r[4], r[8]):
            assert float(r[8]) == pytest.approx(float(r[4]) - float(r[0]), abs=0.11)
    # per query: the query, then for each drawn positive one image per method, the same image
    assert len(page.images) == 1 + 12 * (1 + 4 * 5)  # chart, then per query: query + 4 positives x 5 methods
    assert all(src.startswith("data:image/") for src in page.images)
    # the run folders alone, on the only benchmark under the root
    res = CliRunner().invoke(app, ["compare", "--root", str(tmp_path), "--run", str(runs["fast"]), "--run",
                                   f"sp={runs['sp']}", "--cache", str(tmp_path / "cache")])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "reference shift=0.02 drop=0.1" in res.output and "2 from the cache" in res.output
    # a run folder given where a results tree goes is read as one, and said so
    res = CliRunner().invoke(app, ["compare", "--root", str(tmp_path), "--results", str(runs["fast"]), "--cache",
                                   str(tmp_path / "cache")])  # fmt: skip
    assert res.exit_code == 0 and "is a run folder" in res.output and "1 from the cache" in res.output, res.output


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.captions, self.sections, self.images = [], [], []
        self._in = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.images.append(a["src"])
        self._in = tag if tag in ("caption", "h3") else None

    def handle_data(self, data):
        if self._in == "caption":
            self.captions.append(data)
        elif self._in == "h3":
            self.sections.append(data)
        self._in = None


def test_few_queries_say_no_test_can_reach_significance(tmp_path):
    bench = _bench(tmp_path, queries=4)
    results = tmp_path / "results"
    _method(results, bench, "good", 0.0, 1)
    _method(results, bench, "poor", 0.5, 2)
    doc, out = _json(tmp_path, results, tmp_path / "a.json", "--baseline", "poor")
    assert "with 4 queries no paired test can reach p < 0.05" in out and "0.125" in out
    test = next(t for t in doc["paired_tests"] if t["metric"] == "pixel_mAP" and t["subset"] == "medium")
    assert test["p_value"] == 0.125 and test["ci95"] == [None, None] and test["min_p"] == 0.125
    assert tables_dagger_free(out)


def tables_dagger_free(out: str) -> bool:
    return all("†" not in ln for ln in out.splitlines() if ln.startswith("│"))


def test_run_folder_errors_are_one_line(tmp_path):
    _bench(tmp_path, name="one")
    _bench(tmp_path, name="two")
    runs = _runs(tmp_path, "one", {"x": 0.1})
    for args, message in (
        (["--run", str(tmp_path)], "not a run folder"),
        (["--run", f"x={runs['x']}"], "does not say which benchmark it was run on"),
        (["--run", f"x={runs['x']}", "--dataset", "nope"], "ground truth of 'nope' not found"),
        ([], "nothing to compare"),
    ):
        res = CliRunner().invoke(app, ["compare", "--root", str(tmp_path), *args])
        assert res.exit_code != 0 and message in str(res.exception), (args, res.output)
    p = subprocess.run([*MAIN, "compare", "--root", str(tmp_path), "--run", str(tmp_path)], capture_output=True,
                       text=True)  # fmt: skip
    assert p.returncode == 2 and "not a run folder" in p.stderr and "Traceback" not in p.stderr, p.stderr


def test_a_damaged_scores_file_is_said_not_skipped(tmp_path):
    """The outside check of issue 32: a run folder whose scores.json was damaged was compared as
    if it had none, with no word; the note names the file."""
    from tests.helpers import run_cli

    _bench(tmp_path, name="one")
    runs = _runs(tmp_path, "one", {"x": 0.1})
    (runs["x"] / "scores.json").write_text('{"dataset": "one", "strict": ')  # cut short
    r = run_cli(["compare", "--root", tmp_path, "--run", f"x={runs['x']}", "--dataset", "one", "--no-cache"])
    assert r.returncode == 0, r.stderr
    assert f"{runs['x'] / 'scores.json'}: names no benchmark (damaged" in r.stderr and "Traceback" not in r.stderr


def test_a_run_named_longer_than_a_path_can_be(tmp_path):
    from pixret.cli.compare import parse_run

    name = "m" * 300  # a file name of this length makes is_dir() raise: read as NAME=FOLDER
    assert parse_run(f"{name}={tmp_path}") == (name, tmp_path)
    assert parse_run(str(tmp_path)) == (None, tmp_path)


def test_an_output_given_as_a_dash_is_stdout(two, tmp_path):
    """The breaker's example: `compare --json -` wrote a file named '-' ("wrote -"). '-' is stdout,
    for every text output (the tables then go to stderr: stdout is the document alone)."""
    from tests.helpers import run_cli

    root, results = two
    doc, _ = _json(root, results, tmp_path / "file.json", "--no-cache")
    base = ["compare", "--root", root, "--results", results, "--no-cache"]
    r = run_cli([*base, "--json", "-"], cwd=tmp_path)
    assert r.returncode == 0 and not (tmp_path / "-").exists() and "wrote -" not in r.stderr, r.stderr
    assert json.loads(r.stdout)["scores"] == doc["scores"] and "pixel mAP" in r.stderr
    r = run_cli([*base, "--csv", "-", "--markdown", tmp_path / "t.md"], cwd=tmp_path)
    assert r.returncode == 0 and not (tmp_path / "-").exists(), r.stderr
    assert next(csv.reader(io.StringIO(r.stdout)))[:2] == ["method", "dataset"] and (tmp_path / "t.md").is_file()
    for extra in (["--markdown", "-"], ["--latex", "-"]):
        r = run_cli([*base, *extra], cwd=tmp_path)
        assert r.returncode == 0 and r.stdout.strip() and not (tmp_path / "-").exists(), r.stderr
    r = run_cli([*base, "--json", "-", "--csv", "-"], cwd=tmp_path)
    assert r.returncode == 2 and "one output at most can go to stdout" in r.stderr and not r.stdout
    r = run_cli([*base, "--html", "-"], cwd=tmp_path)
    assert r.returncode == 2 and "--html -: this output is written to a file only" in r.stderr
