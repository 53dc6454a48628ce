"""Start-up of the `pixret` command (issue 32: `pixret --help` took 0.64-1.06 s and a command's
help up to 1.8 s, because the CLI imported the whole package before parsing its arguments).

Times whole processes, as a user waits for them (interpreter start, imports, typer, the help
rendered), each run a fresh process, the commands taken in turn so that a change in the
machine's load reaches all of them alike:
  * pixret: ``pixret --help``, ``pixret --version``, ``pixret COMMAND --help`` for every
    command, and two small commands (``download --list``, ``weights``);
  * baselines, in the same run: ``python -c pass`` (the interpreter alone), ``python -c "import
    numpy, cv2"`` (the least any command that touches an image imports), and ``pixret --help``
    with every lazily loaded name imported first (``EAGER_IMPORT=1``, lazy_loader's switch: the
    package as the CLI imported it before).

Prints each command's median wall time (and the median CPU time: user + system, less moved by
other work on the machine), and the ratio of each to ``import numpy, cv2``. The target: under
0.3 s for every help and small command.

    python benchmarks/bench_startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET_S = 0.3


def pixret_command() -> list[str]:
    """The `pixret` a user runs: the console script beside this interpreter (a venv's bin/)."""
    script = Path(sys.executable).with_name("pixret")
    if script.is_file():
        return [str(script)]
    found = shutil.which("pixret")
    if found:
        return [found]
    return [sys.executable, "-c", "from pixret.cli import main; main()"]


def commands() -> list[tuple[str, list[str]]]:
    """(name, argv) of every subcommand, from the CLI itself (so a new command is timed too)."""
    import typer

    from pixret.cli import app

    def walk(group, prefix: tuple[str, ...] = ()):
        for name, cmd in group.commands.items():
            yield (*prefix, name)
            if hasattr(cmd, "commands"):  # a group (typer's own copy of click)
                yield from walk(cmd, (*prefix, name))

    return [(" ".join(path) + " --help", [*path, "--help"]) for path in walk(typer.main.get_command(app))]


def once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, cpu) seconds of one run of ``argv`` to its exit; its output is thrown away."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, timeout=120)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.decode()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7, help="Timed runs of each command (after one warm-up).")
    args = ap.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "EAGER_IMPORT"}
    env["COLUMNS"] = "100"  # the help is rendered to the same width in every run
    pixret = pixret_command()
    py = sys.executable
    runs: list[tuple[str, list[str], dict[str, str], str]] = [
        ("python -c pass", [py, "-c", "pass"], env, "baseline"),
        ("python -c 'import numpy, cv2'", [py, "-c", "import numpy, cv2"], env, "baseline"),
        ("pixret --help, package imported first", [*pixret, "--help"], {**env, "EAGER_IMPORT": "1"}, "baseline"),
        ("pixret --help", [*pixret, "--help"], env, "help"),
        ("pixret --version", [*pixret, "--version"], env, "small"),
        ("pixret download --list", [*pixret, "download", "--list"], env, "small"),
        ("pixret weights", [*pixret, "weights"], env, "small"),
    ]
    runs += [(f"pixret {name}", [*pixret, *argv], env, "help") for name, argv in commands()]
    for _, argv, e, _ in runs:  # warm-up: the files in the page cache, .pyc written
        once(argv, e)
    walls: dict[str, list[float]] = {name: [] for name, *_ in runs}
    cpus: dict[str, list[float]] = {name: [] for name, *_ in runs}
    for _ in range(args.runs):  # in turn: each round runs every command once
        for name, argv, e, _ in runs:
            wall, cpu = once(argv, e)
            walls[name].append(wall)
            cpus[name].append(cpu)
    med = {name: statistics.median(v) for name, v in walls.items()}
    yard = med["python -c 'import numpy, cv2'"]
    width = max(len(name) for name in med)
    print(f"whole processes, median of {args.runs} runs ({os.cpu_count()} cores); ratio: against "
          f"`import numpy, cv2` ({yard:.3f} s) in the same run")
    print(f"{'command':<{width}}  {'wall s':>7}  {'cpu s':>6}  {'ratio':>6}  {'max s':>6}")
    for name, _, _, kind in runs:
        flag = "" if kind == "baseline" else ("  ok" if med[name] < TARGET_S else f"  over {TARGET_S} s")
        print(f"{name:<{width}}  {med[name]:7.3f}  {statistics.median(cpus[name]):6.3f}  {med[name] / yard:6.2f}  "
              f"{max(walls[name]):6.3f}{flag}")
    mine = [name for name, _, _, kind in runs if kind != "baseline"]
    slowest = max(mine, key=med.__getitem__)
    eager = med["pixret --help, package imported first"]
    print(f"slowest: {slowest} {med[slowest]:.3f} s (target {TARGET_S} s); `pixret --help` {med['pixret --help']:.3f} s "
          f"against {eager:.3f} s with the package imported first ({eager / med['pixret --help']:.1f}x)")


if __name__ == "__main__":
    main()
