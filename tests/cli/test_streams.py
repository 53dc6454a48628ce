"""Every command's two streams, as a user who pipes or logs them sees them (pixret/cli/__init__.py):
the results (tables, JSON, lists, what a run measured) on stdout; progress, notes, warnings and
where files went on stderr, each said once, with no progress-bar frames in a log (`index`:
tests/cli/test_engine.py; `study report`: tests/cli/test_study.py)."""

import re

import pytest

from tests.helpers import run_cli

TABLE = re.compile("[\u2503\u2502\u250f\u2517\u2501]")  # rich's table borders


def results_only(r, *results: str) -> None:
    """Each of ``results`` on stdout and not on stderr; no table on stderr."""
    assert r.returncode == 0, r.stderr[-3000:]
    for text in results:
        assert text in r.stdout, (text, r.stdout[-3000:])
        assert text not in r.stderr, (text, r.stderr[-3000:])
    assert not TABLE.search(r.stderr), r.stderr[-3000:]


def notes_only(r, *notes: str) -> None:
    """Each of ``notes`` once on stderr, never on stdout; stderr holds no progress-bar frames and
    says no line twice."""
    for text in notes:
        assert r.stderr.count(text) == 1, (text, r.stderr[-3000:])
        assert text not in r.stdout, (text, r.stdout[-3000:])
    assert "\r" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == len(set(lines)), r.stderr[-3000:]


def test_run_prints_its_table_to_stdout_and_its_notes_to_stderr(bench, index_copy, tmp_path):
    r = run_cli(["run", "--root", bench.root, "--dataset", "eng", "--out", tmp_path / "run", "--index",
                 index_copy.root, "--workers", "1"])  # fmt: skip
    results_only(r, "pixret fast on eng", "image mAP Easy", "query p50")
    notes_only(r)
    assert "vocabulary" not in r.stdout  # the index's narration is not a result


def test_evaluate_report_and_show_print_scores_to_stdout(bench, tmp_path):
    r = run_cli(["reference-results", "--root", bench.root, "--dataset", "eng", "--out", tmp_path / "ref",
                 "--shift", "0.3", "--drop", "0.4"])  # fmt: skip
    assert r.returncode == 0 and r.stdout == "" and "wrote" in r.stderr, r.stderr
    r = run_cli(["evaluate", "--root", bench.root, "--dataset", "eng", "--run", tmp_path / "ref", "--json",
                 tmp_path / "s.json"])  # fmt: skip
    results_only(r, "eng: pixels.json", "pixel mAP Medium")
    notes_only(r, f"wrote {tmp_path / 's.json'}", "positives have no prediction")
    r = run_cli(["report", tmp_path / "r.html", "--root", bench.root, "--dataset", "eng", "--run", tmp_path / "ref"])
    results_only(r, "pixel mAP Medium")
    notes_only(r, f"wrote {tmp_path / 'r.html'}")
    r = run_cli(["show", "--root", bench.root, "--dataset", "eng", "--pixel-results", tmp_path / "ref" / "pixels.json",
                 "--query", "0", "--out", tmp_path / "show"])  # fmt: skip
    assert r.returncode == 0 and r.stdout == "", r.stdout
    notes_only(r, "PNG file(s) to")


def test_compare_prints_its_tables_and_their_footnotes_to_stdout(bench, tmp_path):
    from pixret.evaluation.perturbed import perturbed_results
    from pixret.evaluation.results import RunFolder

    for name, shift in (("near", 0.05), ("far", 0.4)):  # methods' run folders (reference-results: oracles)
        RunFolder(tmp_path / name).write_results(*perturbed_results(bench, shift, 0.0, 0.0, 0), f"shift {shift}")
    r = run_cli(["compare", "--root", bench.root, "--run", f"near={tmp_path / 'near'}", "--run",
                 f"far={tmp_path / 'far'}", "--baseline", "far", "--no-cache", "--markdown", tmp_path / "t.md"])  # fmt: skip
    results_only(r, "pixel mAP", "near", "differs from far")  # the dagger's meaning goes with the tables
    notes_only(r, "scored 2 (method, dataset) pair(s)", f"wrote {tmp_path / 't.md'}")


def test_search_prints_its_ranking_and_json_to_stdout(bench, index, tmp_path):
    box = ",".join(f"{v:.1f}" for v in bench.queries[0].box)
    r = run_cli(["search", bench.query_image(0), "--index", index.root, "--box", box, "--top", "3", "--out",
                 tmp_path / "o"])  # fmt: skip
    results_only(r, "tf-idf", "verified")
    notes_only(r, f"wrote png results to {tmp_path / 'o'}")
    r = run_cli(["search", bench.query_image(0), "--index", index.root, "--box", box, "--top", "3", "--json"])
    results_only(r, '"hits"')
    assert r.stderr == ""


def test_listings_go_to_stdout(tmp_path, monkeypatch):
    monkeypatch.setenv("PIXRET_CACHE", str(tmp_path / "cache"))
    r = run_cli(["download", "--list"])
    results_only(r, "labels", "groups: ")
    assert r.stderr == ""
    r = run_cli(["weights"])
    results_only(r, "xfeat")
    r = run_cli(["--version"])
    assert r.returncode == 0 and r.stdout.startswith("pixret ") and r.stderr == ""


def test_import_hloc_prints_its_table_to_stdout_and_each_note_once(tmp_path):
    from tests.pipelines.test_hloc import Scene

    scene = Scene(tmp_path)
    pairs, feats, matches = scene.write()
    with open(pairs, "a") as fh:
        fh.write(" ".join(scene.pairs[0]) + "\n")  # a pair given twice: the line is skipped, with a word
    r = run_cli(["import-hloc", "--root", tmp_path, "--dataset", "hl", "--pairs", pairs, "--features", feats,
                 "--matches", matches, "--out", tmp_path / "run", "--method", "sp+lg"])  # fmt: skip
    results_only(r, "sp+lg (hloc) on hl", "pixel mAP Medium")
    # raised as it happened and kept in scores.json: one line, not a warning and then the same note
    notes_only(r, "1 line(s) of the pairs file skipped", "pairs verified", "compare: pixret compare")


@pytest.mark.slow
def test_make_benchmark_prints_what_it_made_to_stdout(tmp_path):
    r = run_cli(["make-benchmark", tmp_path / "b", "--name", "tiny", "--queries", "2", "--positives", "2",
                 "--distractors", "2", "--workers", "1"])  # fmt: skip
    results_only(r, "wrote 2 queries, 6 images")
    notes_only(r)


@pytest.mark.slow
def test_the_demo_reassures_a_first_run(tmp_path):
    """`pixret demo > log 2>&1` as a newcomer runs it: the table on stdout, a clean log (no
    progress frames, no warning about the demo's own data, each note once). The demo's
    benchmark is made small here (the demo uses one it finds in OUT/data)."""
    from pixret.datasets.generate.synthetic import SyntheticConfig, make_benchmark

    make_benchmark(tmp_path / "demo" / "data", SyntheticConfig(name="demo", queries=3, positives=5, distractors=8,
                                                               seed=11), workers=1, progress=False)  # fmt: skip
    r = run_cli(["demo", "--out", tmp_path / "demo", "--workers", "1"])
    results_only(r, "pixret fast on the demo benchmark", "image mAP Easy", "query p50", "3 queries, 23 images")
    notes_only(r, "report: ")
    assert "warning:" not in r.stderr and "ZeroDivision" not in r.stderr and "divides by zero" not in r.stderr
    assert r.stderr.count("one polygon per pair") <= 1
    assert (tmp_path / "demo" / "report.html").is_file()
