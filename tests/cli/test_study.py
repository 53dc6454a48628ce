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
    assert "method oracle" in (tmp_path / "study.html").read_text()
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
