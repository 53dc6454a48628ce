"""`pixret make-benchmark`, `reference-results` and `report` as a user runs them."""

from html.parser import HTMLParser

from typer.testing import CliRunner

from pixret.cli import app


def test_make_benchmark_and_report_cli(tmp_path):
    r = CliRunner()
    res = r.invoke(app, ["make-benchmark", str(tmp_path), "--name", "cli", "--queries", "2", "--positives", "3",
                         "--distractors", "3", "--workers", "1"])  # fmt: skip
    assert res.exit_code == 0, res.output
    res = r.invoke(app, ["reference-results", "--root", str(tmp_path), "--dataset", "cli", "--out", str(tmp_path / "ref"),
                         "--shift", "0.1"])  # fmt: skip
    assert res.exit_code == 0, res.output
    out = tmp_path / "report.html"
    res = r.invoke(app, ["report", str(out), "--root", str(tmp_path), "--dataset", "cli", "--image-results",
                         str(tmp_path / "ref/ranks.npy"), "--pixel-results", str(tmp_path / "ref/pixels.json"), "--top", "4"])  # fmt: skip
    assert res.exit_code == 0, res.output
    p = _Imgs()
    p.feed(out.read_text())
    # 2 charts + per query (query image + top 4 results)
    assert len(p.srcs) == 2 + 2 * (1 + 4)
    assert all(s.startswith("data:image/") for s in p.srcs)  # self-contained
    text = out.read_text()
    assert "strict" in text and "compat" in text
    # readable: a viewport, grouped headers over M / H with a key, a contents list linking each query
    assert "name='viewport'" in text and "<th colspan='2'>pixel mAP@50:5:95</th>" in text
    assert "<dt>E, M, H</dt>" in text and "<a href='#q1'>1</a>" in text and "<h3 id='q1'>" in text


class _Imgs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.srcs = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.srcs.append(dict(attrs)["src"])


def test_make_benchmark_refuses_reserved_names_before_writing(tmp_path):
    import subprocess
    import sys

    reserved = {"proxford", "r1m-prparis", "oxford", "roxford5k", "paris", "revisitop1m"}
    for name in ("proxford", "r1m-prparis", "oxford", "roxford5k", "Paris", "revisitop1m", "../up", "a b", ""):
        out = tmp_path / f"out{abs(hash(name))}"
        res = CliRunner().invoke(app, ["make-benchmark", str(out), "--name", name, "--queries", "1", "--workers", "1"])
        assert res.exit_code != 0 and ("is reserved" in str(res.exception)) == (name.lower() in reserved), name
        assert not out.exists(), f"{name}: something was written"
    p = subprocess.run([sys.executable, "-c", "from pixret.cli import main; main()", "make-benchmark",
                        str(tmp_path / "o"), "--name", "proxford"], capture_output=True, text=True)  # fmt: skip
    assert p.returncode == 2 and "--name 'proxford' is reserved" in p.stderr and "Traceback" not in p.stderr


def test_report_and_evaluate_read_a_run_folder(tmp_path):
    import json

    from tests.helpers import SQ, write_release

    queries = [{"easy": [0, 1], "hard": [2], "junk": [3]}, {"easy": [4], "hard": [5], "junk": []}]
    labels = {(q, i): [SQ] for q, i in [(0, 0), (0, 1), (0, 2), (1, 4), (1, 5)]}
    write_release(tmp_path, "tiny", queries, 6, labels, images=True)
    r = CliRunner()
    res = r.invoke(app, ["reference-results", "--root", str(tmp_path), "--dataset", "tiny", "--out", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    res = r.invoke(app, ["evaluate", "--root", str(tmp_path), "--dataset", "tiny", "--run", str(tmp_path / "run"),
                         "--json", str(tmp_path / "s.json")])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "s.json").read_text())["strict"]["pixel_mAP"]["medium"] == 1.0
    out = tmp_path / "r.html"
    res = r.invoke(app, ["report", str(out), "--root", str(tmp_path), "--dataset", "tiny", "--run", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    assert "<h1>reference shift=0.0 drop=0.0 (oracle) on tiny</h1>" in out.read_text()  # built from the labels
    res = r.invoke(app, ["report", str(out), "--root", str(tmp_path), "--dataset", "tiny"])
    assert res.exit_code != 0 and "--run FOLDER" in str(res.exception)


def test_make_benchmark_where_no_folder_can_be_made_is_one_line(tmp_path):
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-c", "from pixret.cli import main; main()", "make-benchmark",
                        "/proc/pixret-cannot-be-here", "--queries", "2", "--positives", "2", "--distractors", "2"],
                       capture_output=True, text=True)  # fmt: skip
    assert p.returncode == 2 and "cannot make the folder here" in p.stderr and "Traceback" not in p.stderr


def test_reference_results_are_an_oracle_wherever_they_are_shown(tmp_path):
    """Issue 32 item 3, its other way: `reference-results` writes the ground truth perturbed, a
    run built from the labels like `import-hloc --carry mask`. compare, evaluate and the run
    folder say so; it is no baseline."""
    import json

    from pixret.evaluation.results import RunFolder
    from tests.helpers import SQ, write_release

    queries = [{"easy": [0, 1], "hard": [2], "junk": [3]}, {"easy": [4], "hard": [5], "junk": []}]
    labels = {(q, i): [SQ] for q, i in [(0, 0), (0, 1), (0, 2), (1, 4), (1, 5)]}
    write_release(tmp_path, "tiny", queries, 6, labels, images=True)
    r = CliRunner()
    for name, shift in (("ref", "0.0"), ("off", "0.4")):
        res = r.invoke(app, ["reference-results", "--root", str(tmp_path), "--dataset", "tiny", "--out",
                             str(tmp_path / name), "--shift", shift])  # fmt: skip
        assert res.exit_code == 0 and "an oracle" in res.output, res.output
    assert RunFolder(tmp_path / "ref").oracle() == "the ground truth, perturbed: shift=0.0 drop=0.0 swap=0.0 seed=0"
    res = r.invoke(app, ["compare", "--root", str(tmp_path), "--dataset", "tiny", "--run", f"ref={tmp_path / 'ref'}",
                         "--run", f"off={tmp_path / 'off'}", "--no-cache", "--json", str(tmp_path / "c.json")])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "ref (oracle)" in res.output and "off (oracle)" in res.output
    assert set(json.loads((tmp_path / "c.json").read_text())["oracles"]) == {"ref", "off"}
    res = r.invoke(app, ["compare", "--root", str(tmp_path), "--dataset", "tiny", "--run", f"ref={tmp_path / 'ref'}",
                         "--run", f"off={tmp_path / 'off'}", "--no-cache", "--baseline", "ref"])  # fmt: skip
    assert res.exit_code != 0 and "is an oracle" in str(res.exception)
    res = r.invoke(app, ["evaluate", "--root", str(tmp_path), "--dataset", "tiny", "--image-results",
                         str(tmp_path / "off" / "ranks.npy"), "--pixel-results", str(tmp_path / "off" / "pixels.npy")])  # fmt: skip
    assert res.exit_code == 0 and "pixels.npy (oracle)" in res.output and "is an oracle" in res.output, res.output


def test_reference_results_over_a_run_folder_leave_no_stale_scores(tmp_path):
    """The breaker's example: `reference-results --out runcopy` over a `run` folder left its
    scores.json (method fast, fast's scores) beside the oracle's ranks and pixels, without a
    word. pixret's own recorded scores.json is removed, and said; a scores.json of the user's is
    never touched (refused before anything is written)."""
    import json

    import numpy as np

    from pixret.datasets import load_benchmark
    from pixret.evaluation.perturbed import perturbed_results
    from pixret.evaluation.results import RunFolder
    from pixret.pipelines.benchmark import record_run
    from tests.helpers import SQ, run_cli, write_release

    queries = [{"easy": [0, 1], "hard": [2], "junk": [3]}, {"easy": [4], "hard": [5], "junk": []}]
    labels = {(q, i): [SQ] for q, i in [(0, 0), (0, 1), (0, 2), (1, 4), (1, 5)]}
    write_release(tmp_path, "tiny", queries, 6, labels, images=True)
    bench = load_benchmark(tmp_path, "tiny")
    run = tmp_path / "runcopy"  # as `pixret run` leaves a folder: its four files, recorded
    ranks, pixels = perturbed_results(bench, 0.3, 0.0, 0.0, 1)
    RunFolder(run).write_results(ranks, pixels, "fast")
    RunFolder(run).write_scores({"dataset": "tiny", "method": "fast", "strict": {"pixel_mAP": {"medium": 0.42}}})
    record_run(run, ["ranks.npy", "pixels.json", "pixels.npy", "scores.json"])
    r = run_cli(["reference-results", "--root", tmp_path, "--dataset", "tiny", "--out", run])
    assert r.returncode == 0, r.stderr
    assert not (run / "scores.json").exists() and f"note: removed {run / 'scores.json'}" in r.stderr, r.stderr
    assert RunFolder(run).oracle() and RunFolder(run).method().startswith("reference")
    assert sorted(json.loads((run / ".pixret-run.json").read_text())["files"]) == ["pixels.json", "pixels.npy",
                                                                                  "ranks.npy"]  # fmt: skip
    (run / "scores.json").write_text('{"mine": true}')  # the user's own, not recorded: refused, kept
    r = run_cli(["reference-results", "--root", tmp_path, "--dataset", "tiny", "--out", run, "--shift", "0.2"])
    assert r.returncode == 2 and "scores.json: not written by a pixret run" in r.stderr
    assert "nothing was written" in r.stderr and (run / "scores.json").read_text() == '{"mine": true}'
    assert np.array_equal(np.load(run / "ranks.npy"), perturbed_results(bench, 0.0, 0.0, 0.0, 0)[0])
    # the breaker's example (issue 32, class 1): a planted .pixret-run.json naming the user's
    # scores.json with its sha256 made reference-results remove it; only a ledger sealed with
    # this user's key is pixret's (keys.py)
    from pixret.fetch import sha256_of

    mine = tmp_path / "run-z"
    mine.mkdir()
    (mine / "scores.json").write_text('{"my": "scores"}')
    (mine / ".pixret-run.json").write_text(json.dumps({"format": "pixret-run", "files": {
        "scores.json": sha256_of(mine / "scores.json")}}))  # fmt: skip
    r = run_cli(["reference-results", "--root", tmp_path, "--dataset", "tiny", "--out", mine])
    assert r.returncode == 2 and "scores.json: not written by a pixret run" in r.stderr, r.stderr
    assert (mine / "scores.json").read_text() == '{"my": "scores"}' and not (mine / "ranks.npy").exists()
