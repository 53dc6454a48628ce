"""`pixret study create | serve | report` as the README runs them, and what they refuse."""

import json
import os
import re
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.helpers import run_cli

CLI = [sys.executable, "-c", "from pixret.cli import main; main()"]


def _run(args, cwd=None, timeout=180):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd, timeout=timeout)


def _call(url, method="GET", body=None, token=None):
    req = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})  # fmt: skip
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


@pytest.mark.slow
def test_the_readme_study_runs_from_create_to_serve_to_report(bench, tmp_path):
    r = _run(["study", "create", "study.db", "--root", str(bench.root), "--dataset", "eng", "--pairs", "6",
              "--label", "oracle"], cwd=tmp_path)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "serve it with: pixret study serve study.db" in r.stderr
    server = subprocess.Popen([*CLI, "study", "serve", "study.db", "--port", "0"], cwd=tmp_path,
                              stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)  # fmt: skip
    try:
        lines = []
        while not any("admin page" in ln for ln in lines):
            line = server.stderr.readline()
            assert line, "".join(lines)
            lines.append(line)
        text = "".join(lines)
        base = re.search(r"participants: (http://\S+)/study", text).group(1)
        token = re.search(r"login form\): (\S+)", text).group(1)
        assert "pixret on http" not in text  # no search page without an index
        pid = _call(base + "/api/study/participants", "POST")["id"]
        while not (t := _call(f"{base}/api/study/p/{pid}/next"))["done"]:
            _call(f"{base}/api/study/p/{pid}/responses", "POST",
                  {"position": t["position"], "answer": 0, "click": None, "rt_ms": 1500.5, "viewport": [390, 844],
                   "pointer": "touch"})  # fmt: skip
        prog = _call(base + "/api/study/admin/progress", token=token)
        assert prog["participants"][0]["answered"] == 6 and prog["label"] == "oracle"
    finally:
        server.terminate()
        server.wait(30)
    r = _run(["study", "report", "study.db", "study.html", "--csv", "answers.csv"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "mask vs image:" in r.stdout and "wrote study.html and answers.csv" in r.stderr
    assert "<h1>User study: eng, oracle (ground truth)</h1>" in (tmp_path / "study.html").read_text()
    assert ",1500.5,390,844,touch," in (tmp_path / "answers.csv").read_text()
    # '-' is stdout (it wrote a file named '-'): the CSV alone there, the sentences on stderr
    r = run_cli(["study", "report", "study.db", "again.html", "--csv", "-"], cwd=tmp_path)
    assert r.returncode == 0 and not (tmp_path / "-").exists(), r.stderr
    assert r.stdout == (tmp_path / "answers.csv").read_bytes().decode() and "mask vs image:" in r.stderr
    r = run_cli(["study", "report", "study.db", "-"], cwd=tmp_path)
    assert r.returncode == 2 and "OUT.html -: this output is written to a file only" in r.stderr


def test_a_bad_mix_is_refused_before_any_work(tmp_path):
    for k, mix in enumerate(("1,nan,0", "1,inf,0", "0,0,0", "1,-1,1", "a,b,c", "1,1")):
        run = _run if k == 0 else run_cli  # one in a process of its own, the rest in this one
        r = run(["study", "create", "s.db", "--root", str(tmp_path / "no-such-root"), "--dataset", "eng",
                 "--mix", mix], cwd=tmp_path)  # fmt: skip
        assert r.returncode == 2 and f"mix '{mix}'" in r.stderr and "no-such-root" not in r.stderr, r.stderr
        assert "Traceback" not in r.stderr and not (tmp_path / "s.db").exists()


def test_paths_with_brackets_and_control_characters_print_as_plain_text(tmp_path):
    (tmp_path / "m" / "[").mkdir(parents=True)
    r = run_cli(["study", "report", "m/[/x].db", "out.html"], cwd=tmp_path)  # rich.errors.MarkupError before
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "m/[/x].db: study file not found" in r.stderr
    evil = "a\x1b[31mred\x1b[0m\u202egpj.db"
    r = run_cli(["study", "report", evil, "out.html"], cwd=tmp_path)
    assert r.returncode == 2 and "\x1b" not in r.stderr and "\u202e" not in r.stderr
    assert "a<U+001B>[31mred<U+001B>[0m<U+202E>gpj.db: study file not found" in r.stderr
    r = run_cli(["study", "create", str(tmp_path / "nowhere" / "s.db"), "--root", str(tmp_path), "--dataset", "eng"])
    assert r.returncode == 2 and "nowhere: no such folder" in r.stderr and "not a pixret study" not in r.stderr
    os.makedirs(tmp_path / "d.db")
    r = run_cli(["study", "report", "d.db", "out.html"], cwd=tmp_path)
    assert r.returncode == 2 and "d.db: a folder, not a study file" in r.stderr


def test_a_waiting_server_can_be_stopped(tmp_path):
    # (a study file that is not one: the server refuses it before binding, in one line)
    (tmp_path / "s.db").write_bytes(b"")
    t0 = time.perf_counter()
    r = _run(["study", "serve", "s.db", "--port", "0"], cwd=tmp_path)
    assert r.returncode == 2 and "s.db: not a pixret study file" in r.stderr and time.perf_counter() - t0 < 60
    assert (tmp_path / "s.db").stat().st_size == 0


# ---------------------------------------------------------------- what a study showed (issue 32, item 3)
def _report_of(study, tmp_path) -> str:
    r = run_cli(["study", "report", study, "report.html"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    return (tmp_path / "report.html").read_text()


def _admin_progress(study) -> dict:
    from fastapi.testclient import TestClient

    from pixret.server import create_app

    with TestClient(create_app(None, study=study, study_token="tok"), base_url="http://127.0.0.1:8000") as c:
        return c.get("/api/study/admin/progress", headers={"Authorization": "Bearer tok"}).json()


def test_a_study_of_an_oracle_run_is_called_an_oracle_whatever_its_label(bench, tmp_path):
    """An outside check: `study create or-study.db ... --pixel-results runs/oracle/pixels.json
    --label "fast v2"` reported "User study: demo, method fast v2". The run was built from the
    labels (reference-results): the report and the admin page say it is an oracle, the label beside."""
    r = run_cli(["reference-results", "--root", bench.root, "--dataset", "eng", "--out", "runs/oracle"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = run_cli(["study", "create", "or-study.db", "--root", bench.root, "--dataset", "eng", "--pairs", "6",
                 "--pixel-results", "runs/oracle/pixels.json", "--label", "fast v2"], cwd=tmp_path)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "note: The boxes and masks shown come from the benchmark's labels (the ground truth, perturbed" in r.stderr
    text = _report_of("or-study.db", tmp_path)
    h1 = re.search(r"<h1>(.*?)</h1>", text).group(1)
    assert h1.startswith("User study: eng, oracle (built from the labels: the ground truth, perturbed: shift=0.0")
    assert h1.endswith("labelled &quot;fast v2&quot;") and "method fast v2" not in text
    assert "not from a method&#x27;s predictions" in text
    prog = _admin_progress(tmp_path / "or-study.db")
    assert prog["shown"].startswith("oracle (built from the labels") and prog["oracle"].startswith("the ground truth")
    assert prog["label"] == "fast v2"


def test_a_study_of_the_ground_truth_says_oracle_whatever_its_label(bench, tmp_path):
    """Without --pixel-results the ground truth stands in; with --label fast the report said
    "method fast". It says "oracle (ground truth)", the label beside it."""
    r = run_cli(["study", "create", "gt.db", "--root", bench.root, "--dataset", "eng", "--pairs", "6",
                 "--label", "fast"], cwd=tmp_path)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "the benchmark's labels (the ground truth)" in r.stderr
    text = _report_of("gt.db", tmp_path)
    assert "<h1>User study: eng, oracle (ground truth), labelled &quot;fast&quot;</h1>" in text
    assert "method fast" not in text
    prog = _admin_progress(tmp_path / "gt.db")
    assert prog["shown"] == 'oracle (ground truth), labelled "fast"' and prog["oracle"] == "the ground truth"
    # a method's results are a method's: named as such, no oracle note
    r = run_cli(["run", "--root", bench.root, "--dataset", "eng", "--out", "fast-run", "--workers", "1"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = run_cli(["study", "create", "m.db", "--root", bench.root, "--dataset", "eng", "--pairs", "6",
                 "--pixel-results", "fast-run/pixels.json", "--label", "fast"], cwd=tmp_path)  # fmt: skip
    assert r.returncode == 0 and "labels" not in r.stderr, r.stderr
    text = _report_of("m.db", tmp_path)
    assert "<h1>User study: eng, method fast</h1>" in text and "oracle" not in text
    assert _admin_progress(tmp_path / "m.db")["oracle"] is None


def test_the_accuracy_plot_draws_no_interval_where_the_report_has_none(bench, tmp_path, monkeypatch):
    """Two participants: the table says there is no interval, while the plot was labelled
    "accuracy (%), 95% CI" and drew zero-length whisker caps. It draws none, and says so."""
    from pixret.study.service import Study
    from pixret.viz import plots

    r = run_cli(["study", "create", "s.db", "--root", bench.root, "--dataset", "eng", "--pairs", "6"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    s = Study(tmp_path / "s.db")
    try:
        for right in (True, False):  # two people: below what an interval needs
            pid = s.new_participant()
            while not (t := s.next_trial(pid))["done"]:
                kind = s.db.execute("SELECT t.kind FROM assignments a JOIN trials t ON t.id = a.trial "
                                    "WHERE a.participant = ? AND a.position = ?", (pid, t["position"])).fetchone()[0]  # fmt: skip
                yes = (kind != "negative") == right
                s.record(pid, t["position"], int(yes), [1.0, 1.0] if yes else None, 900.0 + 100 * t["position"])
    finally:
        s.close()
    figures = []
    png = plots.figure_png
    monkeypatch.setattr(plots, "figure_png", lambda fig, *a, **kw: (figures.append(fig), png(fig, *a, **kw))[1])
    text = _report_of("s.db", tmp_path)
    assert "no interval: 2 participants; an interval needs at least 6" in text
    acc = next(f.axes[0] for f in figures if "accuracy" in f.axes[0].get_title())
    assert acc.get_ylabel() == "accuracy (%)" and "no interval" in acc.get_title()
    assert not acc.containers[1:] and not acc.lines and not acc.collections  # bars only: no whiskers, no caps
    assert "<figcaption class='ci'>accuracy, no interval: 2 participants" in text
