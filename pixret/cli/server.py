"""`pixret serve`: the web page and JSON API."""

from __future__ import annotations

import secrets
import socket
from pathlib import Path
from typing import Annotated

import typer

from ..errors import PixretError
from . import app, console


@app.command()
def serve(
    index_dir: Annotated[
        Path | None, typer.Option("--index", help="An index built by `pixret index` or `pixret run`.")
    ] = None,
    root: Annotated[Path | None, typer.Option(help="Benchmark release folder (benchmark mode).")] = None,
    dataset: Annotated[str | None, typer.Option(help="Benchmark name (benchmark mode).")] = None,
    results: Annotated[
        Path | None, typer.Option(help="A method's results folder (ranks.npy, pixels.*).")
    ] = None,
    host: Annotated[
        str, typer.Option(help="Address to bind; 127.0.0.1 keeps it on this machine.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    device: Annotated[str, typer.Option(help="Learned features: auto, cpu, cuda or cuda:N.")] = "auto",
    allow_host: Annotated[
        list[str] | None,
        typer.Option(
            metavar="NAME",
            help="Another host name clients may use (repeatable), e.g. the machine's "
            "address when --host is 0.0.0.0; requests for other names are refused (DNS rebinding).",
        ),
    ] = None,
    study: Annotated[
        Path | None, typer.Option(help="A study file (`pixret study create`): serve its participant page.")
    ] = None,
) -> None:
    """Serve the search page: pick or upload a photo, draw a box, see the object in every result."""
    try:
        import uvicorn

        from ..server import create_app
    except ImportError:
        raise typer.BadParameter("the server needs its extra: pip install 'pixret[server]'") from None
    token = secrets.token_urlsafe(24)
    web = create_app(
        index_dir,
        root,
        dataset,
        results,
        device,
        hosts=(host, *(allow_host or ())),
        study=study,
        study_token=token,
    )
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))  # bound before the address is announced
    except OSError as exc:
        sock.close()
        raise PixretError(None, f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    if host not in ("127.0.0.1", "localhost", "::1"):
        console.print(f"[yellow]warning:[/] serving on {host}: anyone who can reach it can search and upload")
    shown = f"[{host}]" if ":" in host else host
    console.print(f"pixret on http://{shown}:{port}/  (API schema at /openapi.json)")
    if study is not None:
        console.print(f"participants: http://{shown}:{port}/study   admin token (progress, export): {token}")
    uvicorn.Server(uvicorn.Config(web, log_level="warning")).run(sockets=[sock])
