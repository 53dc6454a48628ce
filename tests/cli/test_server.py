"""`pixret serve` (and the help of every command, fixed once in pixret/cli/__init__.py)."""

import subprocess
import sys
from pathlib import Path

import click
import typer

from pixret.cli import app


def test_serve_without_the_server_extra_says_what_to_install(tmp_path):
    code = "import sys; sys.modules['uvicorn'] = None; from pixret.cli import main; main()"
    r = subprocess.run([sys.executable, "-c", code, "serve", "--index", str(tmp_path)], capture_output=True,
                       text=True, timeout=120)  # fmt: skip
    assert r.returncode == 2 and "Traceback" not in r.stderr
    root = Path(__file__).resolve().parents[2]  # the checkout: the hint is the README's command, run there
    assert f"needs the server extra (uvicorn missing): cd {root} && .venv/bin/pip install -e '.[server]'" in r.stderr \
        or f"cd {root} && " in r.stderr and "install -e '.[server]'" in r.stderr  # another environment's pip
    assert "Invalid value" not in r.stderr


def _commands(group: click.Group, prefix=()):
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):  # a group (typer's own copy of click: not a click.Group)
            yield from _commands(cmd, (*prefix, name))
        else:
            yield (*prefix, name)


def test_help_shows_no_type_for_flags_and_plain_argument_names():
    from typer.testing import CliRunner

    group = typer.main.get_command(app)
    seen = 0
    for path in _commands(group):
        out = CliRunner().invoke(app, [*path, "--help"], terminal_width=120).output
        usage = next(line for line in out.splitlines() if "Usage:" in line)
        assert "<bool>" not in out and "{" not in usage, (path, out)
        seen += 1
    assert seen >= 14
    out = CliRunner().invoke(app, ["index", "--help"], terminal_width=120).output
    assert "index [OPTIONS] FOLDER" in out and "--add " in out
    out = CliRunner().invoke(app, ["study", "serve", "--help"], terminal_width=120).output
    assert "STUDY.db" in out and "/study/admin" in out
