"""The benchmark scripts print a warning as one line, as pixret's commands do
(pixret.escape.one_line_warnings, called first by every script that evaluates)."""

import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def test_a_warning_is_one_line_without_file_and_source():
    code = (
        f"import sys, warnings; sys.path.insert(0, {str(BENCHMARKS)!r}); import bench_engine;"
        "from pixret.errors import ResultsWarning; bench_engine.one_line_warnings();"
        "warnings.warn('strict: 2 query subset(s) without positives', ResultsWarning)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stderr == "warning: strict: 2 query subset(s) without positives\n"


def test_every_script_that_evaluates_installs_it():
    for name in ("bench_engine", "bench_compact", "bench_scale", "bench_learned", "bench_iou"):
        text = (BENCHMARKS / f"{name}.py").read_text()
        assert "def main() -> None:\n    one_line_warnings()\n" in text, name
