"""`pixret compare`: every method in a results tree, every dataset, one paper-style table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..evaluation import PROTOCOLS
from ..evaluation.compare import METRICS, compare
from ..io import write_bytes, write_json
from . import app, console
from .options import PointOrder, PointsOpt, Protocol, RootOpt


@app.command("compare")
def compare_cmd(
    root: RootOpt,
    results: Annotated[
        Path,
        typer.Option(
            help="Results tree: image-level/METHOD/*.npy, pixel-level/METHOD/matching_result/*.npy."
        ),
    ],
    method: Annotated[
        list[str] | None,
        typer.Option(metavar="METHOD", help="Method to include (repeatable); default: every method found."),
    ] = None,
    dataset: Annotated[
        list[str] | None,
        typer.Option(
            metavar="NAME",
            help="proxford, prparis, r1m-proxford, r1m-prparis (repeatable); default: all with files.",
        ),
    ] = None,
    protocol: Annotated[Protocol, typer.Option(help="compat, strict or both.")] = Protocol.strict,
    metric: Annotated[
        list[str] | None,
        typer.Option(
            metavar="METRIC", help=f"Tables to print (repeatable): {', '.join(METRICS)}; default all."
        ),
    ] = None,
    baseline: Annotated[
        str | None, typer.Option(help="Mark cells that differ significantly from this method (p < 0.05).")
    ] = None,
    markdown: Annotated[Path | None, typer.Option(help="Write every table as Markdown.")] = None,
    latex: Annotated[Path | None, typer.Option(help="Write every table as LaTeX (booktabs).")] = None,
    csv: Annotated[Path | None, typer.Option("--csv", help="Write one row per cell (CSV).")] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write all scores, per-query values and paired tests.")
    ] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Score every file again.")] = False,
    points: PointsOpt = PointOrder.xy,
) -> None:
    """Score several methods on several datasets, in the paper's table layout, with significance."""
    from ..viz import tables

    unknown = [m for m in metric or () if m not in METRICS]
    if unknown:
        raise typer.BadParameter(f"unknown metric {unknown[0]!r}; choose from {', '.join(METRICS)}")
    protos = PROTOCOLS if protocol is Protocol.both else (protocol.value,)
    cmp = compare(root, results, method, dataset, protos, points.value, cache=not no_cache)
    if baseline and baseline not in cmp.methods:
        raise typer.BadParameter(f"baseline {baseline!r} is not among the methods: {', '.join(cmp.methods)}")
    for p in protos:
        for m in metric or METRICS:
            console.print(tables.rich_table(cmp, p, m, baseline))
    if baseline:
        console.print(
            f"{tables.DAGGER} differs from {baseline}: paired randomization test over queries, p < 0.05"
        )
    fresh = len(cmp.evaluated)
    console.print(f"scored {fresh} (method, dataset) pair(s), {len(cmp.scores) - fresh} from the cache")
    for note in cmp.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    for path, text in ((markdown, tables.markdown), (latex, tables.latex), (csv, tables.csv_text)):
        if path:
            write_bytes(path, text(cmp, baseline).encode())
            console.print(f"wrote {path}")
    if json_out:
        write_json(json_out, cmp.as_dict(baseline))
        console.print(f"wrote {json_out}")
