"""scripts/simulate_study.py as the README runs it, after the quick start's install alone."""

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "simulate_study.py"
# the quick start installs neither the test tools nor the web page's extra nor Playwright
QUICK_START = ("import runpy, sys; sys.modules.update(dict.fromkeys(['pytest', 'playwright', 'fastapi', 'uvicorn']));"
               f"sys.argv[0] = {str(SCRIPT)!r}; runpy.run_path(sys.argv[0], run_name='__main__')")  # fmt: skip


def test_the_simulated_study_runs_on_the_quick_starts_install(bench, tmp_path):
    """Issue 32 (W3): it failed with ModuleNotFoundError: No module named 'pytest' (it imported
    tests.helpers). Without Playwright and the server extra the simulated people answer through
    the study's service, and the report is written."""
    out = tmp_path / "sim"
    r = subprocess.run([sys.executable, "-c", QUICK_START, "--root", str(bench.root), "--dataset", "eng",
                        "--out", str(out), "--participants", "2", "--pairs", "6"],
                       capture_output=True, text=True, timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and "through the study's service" in r.stderr.splitlines()[0]
    assert "participant 2/2 done" in r.stderr and (out / "report.html").is_file()
    answers = (out / "answers.csv").read_text().splitlines()
    assert len(answers) == 1 + 2 * 6  # every trial of both people answered
