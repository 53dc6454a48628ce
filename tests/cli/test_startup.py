"""`pixret --help`, a command's help and `--version` import none of the heavy libraries: they
start in a fraction of the time (issue 32: 0.64-1.8 s before; benchmarks/bench_startup.py
measures it). Checked by what they import, not by a clock, so a busy machine cannot fail it."""

import json
import os
import subprocess
import sys

# what the package imports for its work; a help screen needs none of it (pydantic: typer's own
# coercion, which `pixret.cli._flags_without_pydantic` keeps off the help path)
HEAVY = ["numpy", "cv2", "faiss", "torch", "kornia", "dask", "distributed", "matplotlib", "fastapi", "uvicorn",
         "scipy", "shapely", "h5py", "skimage", "PIL", "pycocotools", "pydantic"]  # fmt: skip

# in one fresh interpreter: every help screen in turn; after each, the heavy modules loaded so far
PROBE = """
import contextlib, io, json, sys
heavy, runs, out = json.loads(sys.argv[1]), json.loads(sys.argv[2]), []
from pixret.cli import app, main
import typer
def walk(group, prefix=()):
    for name, cmd in group.commands.items():
        yield [*prefix, name, "--help"]
        if hasattr(cmd, "commands"):
            yield from walk(cmd, (*prefix, name))
for argv in runs + list(walk(typer.main.get_command(app))):
    sys.argv = ["pixret", *argv]
    text = io.StringIO()
    with contextlib.redirect_stdout(text), contextlib.redirect_stderr(text):
        try:
            main()
        except SystemExit as exc:
            code = exc.code
    out.append([" ".join(argv), code, len(text.getvalue()), sorted(m for m in heavy if m in sys.modules)])
print(json.dumps(out))
"""


def test_help_and_version_import_nothing_heavy():
    p = subprocess.run([sys.executable, "-c", PROBE, json.dumps(HEAVY), json.dumps([["--help"], ["--version"]])],
                       capture_output=True, text=True, timeout=300)  # fmt: skip
    assert p.returncode == 0, p.stderr[-3000:]
    seen = json.loads(p.stdout)
    assert len(seen) >= 2 + 19, seen  # the root, --version, every command and sub-command
    for argv, code, printed, loaded in seen:
        assert code in (0, None) and printed >= 10, (argv, code)
        assert loaded == [], f"`pixret {argv}` imported {', '.join(loaded)}"


def test_small_commands_import_nothing_heavy(tmp_path):
    """The listings (download --list, weights) read JSON and file names: no array library, no
    image library (pydantic is typer's, for their options' values)."""
    heavy = [m for m in HEAVY if m != "pydantic"]
    p = subprocess.run([sys.executable, "-c", PROBE, json.dumps(heavy), json.dumps([["download", "--list"], ["weights"]])],
                       capture_output=True, text=True, timeout=300, env={**os.environ, "PIXRET_CACHE": str(tmp_path)})  # fmt: skip
    assert p.returncode == 0, p.stderr[-3000:]
    for argv, code, printed, loaded in json.loads(p.stdout)[:2]:
        assert code in (0, None) and printed > 100, (argv, code)
        assert loaded == [], f"`pixret {argv}` imported {', '.join(loaded)}"


def test_the_package_names_still_resolve():
    """The lazily loaded names (pixret, pixret.engine, .evaluation, .datasets) all import, and
    `compare` is the function (not its module) however it was reached."""
    code = ("import pixret, pixret.datasets, pixret.engine, pixret.evaluation\n"
            "import pixret.evaluation.compare\n"
            "from pixret.evaluation import compare\n"
            "assert callable(compare) and callable(pixret.compare) and pixret.compare is compare\n"
            "for mod in (pixret, pixret.datasets, pixret.engine, pixret.evaluation):\n"
            "    for name in mod.__all__:\n"
            "        assert getattr(mod, name) is not None, (mod.__name__, name)\n")  # fmt: skip
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
