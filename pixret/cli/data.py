"""`pixret download`: fetch, verify and extract the benchmark's files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from ..escape import terminal
from . import app, say, stdout


@app.command()
def download(
    what: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="NAME...", help="Resources or groups (proxford, prparis, r1m, labels, results, ...)."
        ),
    ] = None,
    root: Annotated[Path, typer.Option(help="Folder to put the release layout in.")] = Path("data"),
    from_file: Annotated[
        Path | None, typer.Option("--from-file", help="Use an archive fetched by hand (one resource).")
    ] = None,
    sources: Annotated[
        Path | None, typer.Option(help="JSON file overriding addresses/hashes (also $PIXRET_SOURCES).")
    ] = None,
    list_: Annotated[bool, typer.Option("--list", help="List what can be downloaded.")] = False,
    keep_archive: Annotated[bool, typer.Option(help="Keep downloaded archives in ROOT/.downloads.")] = True,
) -> None:
    """Download (resumable, sha256-checked) and extract benchmark files into ROOT."""
    from ..datasets.sources import GROUPS, load_sources, resolve

    table = load_sources(sources)
    if list_ or not what:
        t = Table("name", "description", "sha256")
        t.columns[0].no_wrap = True
        t.columns[1].overflow = "fold"  # an address wider than a terminal goes on in the next line, whole
        for s in table.values():
            if s.name.startswith("r1m-") and s.name not in ("r1m-list", "r1m-1"):
                continue
            # a sources file's names and addresses are shown as text, never read as rich markup
            t.add_row(Text(terminal(s.name, one_line=True)),
                      Text.assemble(terminal(s.description, one_line=True), (f" ({terminal(s.urls[0], one_line=True)})", "dim")),
                      "yes" if s.sha256 else "-")  # fmt: skip
        stdout.print(t)
        groups = "; ".join(
            f"{k} = {' + '.join(v[:3])}{' ...' if len(v) > 3 else ''}" for k, v in GROUPS.items()
        )
        say(f"groups: {groups}", to=stdout)
        return
    from ..datasets.download import install

    chosen = resolve(what, table)
    if from_file is not None and len(chosen) != 1:
        raise typer.BadParameter("--from-file goes with exactly one resource name")
    for src in chosen:
        say(f"{src.name} -> {root / src.dest}")
        placed = install(src, root, from_file=from_file, keep_archive=keep_archive)
        say(f"  {len(placed)} file(s) in place")
