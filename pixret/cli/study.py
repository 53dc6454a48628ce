"""`pixret study create | report`: a user study on any benchmark and method (served by `pixret serve --study`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import app, console
from .options import DatasetOpt, PointOrder, PointsOpt, RootOpt

study_app = typer.Typer(help="User studies: does showing the pixels help people?", no_args_is_help=True)
app.add_typer(study_app, name="study")


@study_app.command("create")
def create(
    study: Annotated[Path, typer.Argument(metavar="STUDY.db", help="The study file to create (SQLite).")],
    root: RootOpt,
    dataset: DatasetOpt,
    pixel_results: Annotated[
        Path | None, typer.Option(help="The method's pixel results; without: the ground truth (an oracle).")
    ] = None,
    pairs: Annotated[int, typer.Option(help="Trials (query, image pairs).")] = 24,
    conditions: Annotated[
        str, typer.Option(help="Conditions, comma-separated: image, box, mask.")
    ] = "image,box,mask",
    mix: Annotated[str, typer.Option(help="Shares of easy, hard positives and negatives.")] = "0.4,0.3,0.3",
    seed: Annotated[int, typer.Option(help="Seed for the trials and each participant's order.")] = 0,
    points: PointsOpt = PointOrder.xy,
) -> None:
    """Sample trials from a benchmark and write a new study file."""
    from ..errors import PixretError
    from ..study.design import parse_conditions
    from ..study.service import create_study

    try:
        shares = tuple(float(v) for v in mix.split(","))
    except ValueError:
        raise PixretError(None, f"--mix {mix!r}: three numbers, e.g. 0.4,0.3,0.3") from None
    path = create_study(
        study, root, dataset, pixel_results, pairs, parse_conditions(conditions), shares, seed, points.value
    )  # type: ignore[arg-type]
    console.print(f"wrote {path}: {pairs} trials; serve it with `pixret serve --study {path}`")


@study_app.command("report")
def report(
    study: Annotated[Path, typer.Argument(metavar="STUDY.db", help="A study file.")],
    out: Annotated[Path, typer.Argument(metavar="OUT.html", help="The report to write.")],
    csv: Annotated[Path | None, typer.Option("--csv", help="Also write every answer as CSV.")] = None,
) -> None:
    """Accuracy, clicks on the object and response times per condition, with 95% intervals."""
    from ..study.report import sentence, write_report
    from ..study.service import Study

    s = Study(study)
    try:
        result = write_report(s.rows(), s.meta, out, csv)
    finally:
        s.close()
    for (a, b), d in result["differences"].items():
        typer.echo(sentence(a, b, d))
    console.print(f"wrote {out}" + (f" and {csv}" if csv else ""))
