"""FastAPI app: search an index by image + box, fetch masks, browse a benchmark and its results.

JSON API (all under /api; its OpenAPI schema at /openapi.json):
  GET  /api/info                          index size, its generation, benchmark mode
  GET  /api/images?offset=&limit=         database images (id, name, w, h, url), the generation
  GET  /api/images/{id}?gen=G             a database image (JPEG); ?size= for a thumbnail
  POST /api/search                        multipart: file (upload) or image_id (and gen), box=x1,y1,x2,y2, top,
                                          exclude_query (leave the query image out)
  GET  /api/searches/{sid}/query          the query image of a search (JPEG)
  GET  /api/searches/{sid}/hits/{rank}/mask.png   a result's mask (PNG, 255 = object)
  GET  /api/searches/{sid}/hits/{rank}/matches    inlier correspondences [[qx, qy, x, y], ...]
  GET  /api/benchmark/queries             benchmark queries (benchmark mode)
  GET  /api/benchmark/queries/{q}         a query's ranked results with GT and predicted polygons
  GET  /api/benchmark/queries/{q}/image   the query image
  /study, /study/admin, /api/study/...    a user study (routes_study)

Image ids mean something within one generation of the index (a rebuild or an --add swapped in
under a running server may give an id to another photo): answers that hold ids name their
``generation``, image addresses carry it (``?gen=``), and a request for another generation
than the one served is a 409 with one JSON line ({"detail", "generation": the one served});
without ``gen`` an id means the generation served now. Benchmark ids likewise (state.py).

With a study loaded, every route but the participant's (the study page, its API and the static
files) needs the admin token: the search page and the benchmark views (ground truth included)
are the study's admin's alone, whatever else the server was started with.

Routes live in ``routes_search`` and ``routes_bench`` (APIRouters); ``security.Guard`` checks
hosts, cross-origin writes and body sizes and adds the security headers (docs/security.md).
Uploads are held in memory, never written under a client-given name; their size and pixel
count are checked from the header before decoding (decompression bombs are refused); images
are addressed by integer id only; the search store is locked and bounded by count and bytes.
A PixretError (bad box, unreadable image, damaged label) is a 422 with its one line; anything
else a 500 with one line naming the exception's type (the traceback goes to the log only).
"""

from __future__ import annotations

import contextlib
import secrets
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from ..datasets import load_benchmark
from ..engine import Index
from ..errors import PixretError
from ..study.service import Conflict, Invalid, NotFound, Study, StudyError
from . import routes_bench, routes_search, routes_study
from .security import LOOPBACK, Guard
from .state import MAX_PIXELS, MAX_UPLOAD_BYTES, Stale, State

STATIC = Path(__file__).parent / "static"
STUDY_STATUS = {NotFound: 404, Invalid: 422, Conflict: 409}  # the study's refusals, as HTTP
__all__ = ["MAX_PIXELS", "MAX_UPLOAD_BYTES", "create_app"]


def create_app(
    index_dir: str | Path | None,
    root: str | Path | None = None,
    dataset: str | None = None,
    results: str | Path | None = None,
    device: str | None = None,
    hosts: tuple[str, ...] = (),
    study: str | Path | None = None,
    study_token: str | None = None,
    one_based: bool = False,
    warm: bool = False,
    on_warm=None,
) -> FastAPI:
    """The app for an index (and, optionally, a benchmark and a method's result folder), and/or
    a user study (``study``: its file; the admin views need ``study_token``, made up if None).

    ``hosts``: names besides the loopback ones that requests may address (``--host``);
    ``one_based``: the results' ranking holds indices 1..n (MATLAB); ``warm``: read the index into
    the page cache in a background thread (state.py), its progress lines to ``on_warm``."""
    if index_dir is None and study is None:
        raise PixretError(None, "give an index (--index) or a study (--study)")
    index = Index.open(index_dir, device) if index_dir is not None else None  # reopened by State.refresh
    bench = load_benchmark(root, dataset) if root and dataset else None
    # the results (a run folder: ranks.npy + pixels.json, else pixels.npy) are read now, and again
    # whenever their files change (State.refresh)
    st = State(index, bench, results or None, one_based, device=device, warm=warm, on_warm=on_warm)
    study_handle = Study(study, root) if study is not None else None

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        _app.state.pixret.stop_warming()
        if study_handle is not None:  # closing the last connection moves the WAL's answers into the file
            study_handle.close()

    # no /docs or /redoc: both load their scripts from a CDN, blank offline and against the CSP;
    # the schema itself is served at /openapi.json
    app = FastAPI(
        title="pixret",
        description="Pixel retrieval: search by image + box, see the object's pixels.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.pixret = st
    app.add_middleware(Guard, hosts=(*LOOPBACK, *hosts), max_body=MAX_UPLOAD_BYTES + 64 * 1024)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    # a study's participants must never reach the ground truth: with a study, the rest is admin-only
    gate = [Depends(routes_study.need_admin)] if study is not None else []
    if index is not None:
        app.include_router(routes_search.router, dependencies=gate)
        app.include_router(routes_bench.router, dependencies=gate)
    if study is not None:
        app.state.study = study_handle
        app.state.study_token = study_token or secrets.token_urlsafe(24)
        app.include_router(routes_study.router)

    @app.exception_handler(PixretError)
    def user_error(request: Request, exc: PixretError) -> JSONResponse:
        status = next((code for kind, code in STUDY_STATUS.items() if isinstance(exc, kind)), 422)
        return JSONResponse({"detail": exc.problem if isinstance(exc, StudyError) else str(exc)}, status_code=status)

    @app.exception_handler(Stale)
    def stale(request: Request, exc: Stale) -> JSONResponse:
        return JSONResponse({"detail": exc.detail, "generation": exc.generation}, status_code=409,
                            headers={"Cache-Control": "no-store"})  # fmt: skip

    @app.exception_handler(Exception)
    def server_error(request: Request, exc: Exception) -> JSONResponse:
        # what no check foresaw: one line for the page, the traceback in the server's log only
        # (its text may hold paths a participant should not see)
        return JSONResponse({"detail": f"internal error ({type(exc).__name__}): the server's log has the details"},
                            status_code=500)  # fmt: skip

    @app.get("/", include_in_schema=False)
    def page(request: Request) -> Response:
        if index is None or (study is not None and not routes_study.is_admin(request)):
            return RedirectResponse("/study")
        return FileResponse(STATIC / "index.html")

    return app
