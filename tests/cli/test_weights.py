"""`pixret weights` (cli/weights.py): where each weights file is found, and whether it is the right one."""

import pytest
from typer.testing import CliRunner

from pixret.cli import app
from pixret.engine.learned import weights as W
from tests.engine.learned.test_weights import _put, _toy


@pytest.fixture
def env(tmp_path, monkeypatch):
    """No weights anywhere but the toy file's known places (tests/engine/learned/test_weights.py)."""
    for var in ("PIXRET_WEIGHTS", "PIXRET_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("PIXRET_CACHE", str(tmp_path / "pixret-cache"))
    monkeypatch.setitem(W.WEIGHTS, "toy", _toy())
    return tmp_path


def test_weights_command_lists_where_each_file_is(env, monkeypatch):
    monkeypatch.setenv("PIXRET_WEIGHTS", str(_put(env / "mine" / "toy.pt").parent))
    r = CliRunner().invoke(app, ["weights", "--check"], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    line = next(ln for ln in r.output.splitlines() if ln.strip("│ ").startswith("toy "))
    assert "PIXRET_WEIGHTS" in line and "ok" in line
