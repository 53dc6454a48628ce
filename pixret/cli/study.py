"""`pixret study create | serve | report`: a user study on any benchmark and method."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from .. import escape
from . import app, console, note, say, stdout
from .options import (
    DatasetOpt,
    PointOrder,
    PointsOpt,
    RootOpt,
    check_outputs,
    is_stdout,
    not_stdout,
    write_output,
)
from .server import AllowHostOpt, HostOpt, PortOpt, need_server_extra, run_server

study_app = typer.Typer(help="User studies: does showing the pixels help people?", no_args_is_help=True)
app.add_typer(study_app, name="study")
StudyArg = Annotated[Path, typer.Argument(metavar="STUDY.db", help="A study file.")]


class Pointer(str, Enum):
    mouse = "mouse"
    touch = "touch"
    pen = "pen"


@study_app.command("create")
def create(
    study: Annotated[Path, typer.Argument(metavar="STUDY.db", help="The study file to create (SQLite).")],
    root: RootOpt,
    dataset: DatasetOpt,
    pixel_results: Annotated[
        Path | None, typer.Option(help="The method's pixel results; without: the ground truth (an oracle).")
    ] = None,
    label: Annotated[
        str | None, typer.Option(help="The method's name in the report (default: the results file's name).")
    ] = None,
    pairs: Annotated[int, typer.Option(help="Trials (query, image pairs).")] = 24,
    conditions: Annotated[
        str, typer.Option(help="Conditions, comma-separated: image, box, mask.")
    ] = "image,box,mask",
    mix: Annotated[str, typer.Option(help="Shares of easy, hard positives and negatives.")] = "0.4,0.3,0.3",
    seed: Annotated[int, typer.Option(help="Seed for the trials and each participant's order.")] = 0,
    cap: Annotated[
        int, typer.Option(help="The most participants it takes (0: no cap); the admin page can change it.")
    ] = 100,
    points: PointsOpt = PointOrder.xy,
) -> None:
    """Sample trials from a benchmark and write a new study file."""
    from ..study.design import parse_conditions, parse_mix
    from ..study.report import oracle_note
    from ..study.service import create_study, masks_oracle

    shares, conds = parse_mix(mix), parse_conditions(conditions)  # both refused before any work
    path = create_study(study, root, dataset, pixel_results, pairs, conds, shares, seed, points.value, label,
                        cap or None)  # fmt: skip
    oracle = masks_oracle(pixel_results)  # masks from the labels: said here, in the report and on the admin page
    if oracle:
        note(oracle_note({"oracle": oracle}))
    say(f"wrote {path}: {pairs} trials; serve it with: {escape.command('pixret', 'study', 'serve', path)}")


@study_app.command("serve")
def serve(
    study: StudyArg,
    root: Annotated[
        Path | None, typer.Option(help="The benchmark's folder, if it moved since `study create`.")
    ] = None,
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8000,
    allow_host: AllowHostOpt = None,
) -> None:
    """Serve the participants' page (/study) and the admin page (/study/admin, behind the token printed)."""
    need_server_extra()
    from ..server import create_app

    def make(hosts, token):
        return create_app(None, root, hosts=hosts, study=study, study_token=token)

    run_server(make, host, port, allow_host, study)


@study_app.command("report")
def report(
    study: StudyArg,
    out: Annotated[Path, typer.Argument(metavar="OUT.html", help="The report to write.")],
    csv: Annotated[Path | None, typer.Option("--csv", help="Also write every answer as CSV ('-': to stdout, the "
                                             "result sentences then to stderr).")] = None,
    include_incomplete: Annotated[
        bool, typer.Option(help="Also count participants who did not answer every trial (left out by default).")
    ] = False,
    pointer: Annotated[
        Pointer | None, typer.Option(help="Count only answers given with this pointer (e.g. touch: phones).")
    ] = None,
) -> None:
    """Accuracy, clicks on the object and response times per condition, with 95% intervals."""
    import io

    from ..study.report import sentence, write_csv, write_report
    from ..study.service import Study

    not_stdout("OUT.html", out)
    check_outputs(csv=csv, out=out)
    s = Study(study, readonly=True)  # a report only reads: a read-only file will do
    try:
        rows = s.rows()
        result = write_report(rows, s.meta, out, None if is_stdout(csv) else csv, not include_incomplete,
                              pointer.value if pointer else None)  # fmt: skip
    finally:
        s.close()
    if is_stdout(csv):
        text = io.StringIO()
        write_csv(rows, text)
        write_output(csv, text.getvalue())
    dropped = result["dropped"]
    if dropped["participants"]:
        note(f"left out {dropped['participants']} participant(s) who did not answer every trial "
             f"({dropped['answers']} answers; --include-incomplete counts them)")  # fmt: skip
    if dropped["pointer"]:
        note(f"left out {dropped['pointer']} answer(s) given with another pointer")
    for (a, b), d in result["differences"].items():  # the result sentences, for scripts
        say(sentence(a, b, d), to=console if is_stdout(csv) else stdout)
    say(f"wrote {out}" + (f" and {csv}" if csv and not is_stdout(csv) else ""))
