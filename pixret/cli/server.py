"""`pixret serve`: the web page and JSON API (and `pixret study serve`, which shares `run_server`)."""

from __future__ import annotations

import importlib.util
import secrets
import socket
from pathlib import Path
from typing import Annotated

import typer

from ..errors import PixretError, install_hint
from . import app, say
from .options import OneBasedOpt

HostOpt = Annotated[str, typer.Option(help="Address to bind; 127.0.0.1 keeps it on this machine.")]
PortOpt = Annotated[int, typer.Option(help="Port (0: any free one, printed at start).")]
AllowHostOpt = Annotated[
    list[str] | None,
    typer.Option(
        metavar="NAME",
        help="Another host name clients may use (repeatable), e.g. the machine's "
        "address when --host is 0.0.0.0; requests for other names are refused (DNS rebinding).",
    ),
]
# the server extra's modules (python-multipart imports as python_multipart, or multipart before 0.0.13)
_EXTRA = {"fastapi": ("fastapi",), "uvicorn": ("uvicorn",), "python-multipart": ("python_multipart", "multipart")}


def need_server_extra() -> None:
    """One line naming what to install when the server extra is missing (not a traceback)."""
    missing = [pkg for pkg, mods in _EXTRA.items() if not any(_importable(m) for m in mods)]
    if missing:
        raise PixretError(
            None, f"the web page needs the server extra ({', '.join(missing)} missing): {install_hint('server')}"
        )


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a module set to None in sys.modules, or a broken install
        return False


def run_server(make_app, host: str, port: int, allow_host: list[str] | None, study: Path | None) -> None:
    """Build the app (``make_app(hosts, token)``), bind, announce, serve until interrupted."""
    need_server_extra()
    import uvicorn

    token = secrets.token_urlsafe(24)
    web = make_app((host, *(allow_host or ())), token)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))  # bound and listening before the address is announced: a client
        sock.listen(128)  # that connects at once waits in the backlog until uvicorn accepts
    except OSError as exc:
        sock.close()
        raise PixretError(None, f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    port = sock.getsockname()[1]  # the port the system chose, for --port 0
    if host not in ("127.0.0.1", "localhost", "::1"):
        say(f"serving on {host}: anyone who can reach it can use the page", "warning:", "yellow")
    shown = f"[{host}]" if ":" in host else host
    base = f"http://{shown}:{port}"
    if getattr(web.state, "pixret", None) is not None and web.state.pixret.index is not None:
        say(f"pixret on {base}/  (API schema at /openapi.json)")
    if study is not None:
        say(f"participants: {base}/study")
        say(f"admin page:   {base}/study/admin   token (paste it into the login form): {token}")
    uvicorn.Server(uvicorn.Config(web, log_level="warning")).run(sockets=[sock])


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
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8000,
    device: Annotated[str, typer.Option(help="Learned features: auto, cpu, cuda or cuda:N.")] = "auto",
    allow_host: AllowHostOpt = None,
    study: Annotated[
        Path | None,
        typer.Option(help="A study file (`pixret study create`): serve its participant page; everything "
                     "else then needs the admin token."),
    ] = None,  # fmt: skip
    one_based: OneBasedOpt = False,
    warm: Annotated[
        bool,
        typer.Option(help="Read the index into memory in the background at start (the inverted files, then "
                     "the features if the machine has the memory), so that the first searches do not wait "
                     "on the disk; progress on stderr and in /api/info."),
    ] = True,  # fmt: skip
) -> None:
    """Serve the search page: pick or upload a photo, draw a box, see the object in every result.

    The page notices `pixret index --add` on its own (it checks index.json before each request)."""
    need_server_extra()
    from ..server import create_app

    def make(hosts, token):
        return create_app(index_dir, root, dataset, results, device, hosts=hosts, study=study, study_token=token,
                          one_based=one_based, warm=warm, on_warm=say)  # fmt: skip

    run_server(make, host, port, allow_host, study)
