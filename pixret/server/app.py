"""FastAPI app: search an index by image + box, fetch masks, browse a benchmark and its results.

JSON API (all under /api; OpenAPI docs at /docs):
  GET  /api/info                          index size, benchmark mode
  GET  /api/images?offset=&limit=         database images (id, name, w, h)
  GET  /api/images/{id}                   a database image (JPEG); ?size= for a thumbnail
  POST /api/search                        multipart: file (upload) or image_id, box=x1,y1,x2,y2, top
  GET  /api/searches/{sid}/query          the query image of a search (JPEG)
  GET  /api/searches/{sid}/hits/{rank}/mask.png   a result's mask (PNG, 255 = object)
  GET  /api/searches/{sid}/hits/{rank}/matches    inlier correspondences [[qx, qy, x, y], ...]
  GET  /api/benchmark/queries             benchmark queries (benchmark mode)
  GET  /api/benchmark/queries/{q}         a query's ranked results with GT and predicted polygons
  GET  /api/benchmark/queries/{q}/image   the query image

Safety: uploads are held in memory, never written under a client-given name; their size and
pixel count are checked from the header before decoding (decompression bombs are refused);
images are addressed by integer id only; the search store is locked and bounded.
"""

from __future__ import annotations

import io
import secrets
import threading
from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np
from fastapi import FastAPI, File, Form, HTTPException, Query, UploadFile
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from PIL import Image

from ..datasets import load_benchmark
from ..engine import Index, SearchResult
from ..engine.features import decode_image, load_image
from ..evaluation import load_pixel_results, read_ranks
from ..evaluation.iou import fill_polygons
from ..io import PixretError
from ..viz.overlay import encode, thumbnail
from ..viz.show import status_of

STATIC = Path(__file__).parent / "static"
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 40_000_000
MAX_SEARCHES = 64


def _polys(polys) -> list[list[list[float]]]:
    return [np.round(np.asarray(p, float), 1).tolist() for p in polys]


def check_upload(data: bytes) -> np.ndarray:
    """Decode an uploaded image after checking its size and pixel count from the header."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise HTTPException(413, f"upload larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
    try:
        with Image.open(io.BytesIO(data)) as im:  # reads the header only
            w, h = im.size
            fmt = im.format
    except Exception:
        raise HTTPException(415, "not an image (JPEG, PNG, WebP, BMP or TIFF)") from None
    if w * h > MAX_PIXELS:
        raise HTTPException(413, f"image of {w}x{h} pixels is over the {MAX_PIXELS // 1_000_000} MP limit")
    if fmt not in {"JPEG", "PNG", "WEBP", "BMP", "TIFF", "MPO"}:
        raise HTTPException(415, f"unsupported image format {fmt}")
    try:
        return decode_image(data, "upload")
    except PixretError as exc:
        raise HTTPException(415, exc.problem) from None


def _jpeg(img: np.ndarray, size: int | None = None) -> Response:
    if size:
        img = thumbnail(img, max(32, min(size, 2048)))
    return Response(
        encode(img, ".jpg", 88), media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"}
    )


class State:
    """Everything the app serves from; searches are kept in a small, locked LRU store."""

    def __init__(self, index: Index, bench=None, ranks=None, pixels=None):
        self.index, self.bench, self.ranks, self.pixels = index, bench, ranks, pixels
        self.searches: OrderedDict[str, tuple[np.ndarray, SearchResult]] = OrderedDict()
        self.lock = threading.Lock()

    def remember(self, img: np.ndarray, res: SearchResult) -> str:
        sid = secrets.token_urlsafe(12)
        with self.lock:
            self.searches[sid] = (img, res)
            while len(self.searches) > MAX_SEARCHES:
                self.searches.popitem(last=False)
        return sid

    def search(self, sid: str) -> tuple[np.ndarray, SearchResult]:
        with self.lock:
            if sid not in self.searches:
                raise HTTPException(404, "unknown or expired search")
            return self.searches[sid]


def create_app(
    index_dir: str | Path,
    root: str | Path | None = None,
    dataset: str | None = None,
    results: str | Path | None = None,
    device: str | None = None,
) -> FastAPI:
    """The app for an index (and, optionally, a benchmark and a method's result folder)."""
    index = Index.open(index_dir, device)
    bench = ranks = pixels = None
    if root and dataset:
        bench = load_benchmark(root, dataset)
        if results:
            results = Path(results)
            ranks = read_ranks(results / "ranks.npy", bench.n_database, bench.n_queries)
            pix = results / "pixels.json" if (results / "pixels.json").exists() else results / "pixels.npy"
            pixels = load_pixel_results(bench, pix)
    st = State(index, bench, ranks, pixels)
    app = FastAPI(
        title="pixret", description="Pixel retrieval: search by image + box, see the object's pixels."
    )
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/api/info")
    def info() -> dict:
        return {"images": len(st.index), "config": st.index.cfg.name,
                "benchmark": None if st.bench is None else {"name": st.bench.name, "queries": st.bench.n_queries,
                                                            "results": st.ranks is not None}}  # fmt: skip

    def db_image(i: int) -> np.ndarray:
        if not 0 <= i < len(st.index):
            raise HTTPException(404, f"no image {i}")
        return load_image(st.index.images[i]["path"])

    @app.get("/api/images")
    def images(offset: int = Query(0, ge=0), limit: int = Query(60, ge=1, le=500)) -> dict:
        ims = st.index.images[offset : offset + limit]
        return {"total": len(st.index), "images": [
            {"id": offset + k, "name": im["name"], "w": im["size"][0], "h": im["size"][1]} for k, im in enumerate(ims)
        ]}  # fmt: skip

    @app.get("/api/images/{image_id}")
    def image(image_id: int, size: int | None = Query(None, ge=32, le=2048)) -> Response:
        return _jpeg(db_image(image_id), size)

    @app.post("/api/search")
    def search(
        box: str = Form(..., description="x1,y1,x2,y2 in query pixels"),
        file: UploadFile | None = File(None),
        image_id: int | None = Form(None),
        top: int = Form(24, ge=1, le=200),
    ) -> dict:
        if file is not None:
            img = check_upload(file.file.read(MAX_UPLOAD_BYTES + 1))
        elif image_id is not None:
            img = db_image(image_id)
        else:
            raise HTTPException(422, "give an uploaded file or an image_id")
        try:
            vals = [float(v) for v in box.split(",")]
            res = st.index.search_full(img, vals)
        except ValueError:
            raise HTTPException(422, "box must be x1,y1,x2,y2") from None
        except PixretError as exc:
            raise HTTPException(422, exc.problem) from None
        sid = st.remember(img, res)
        hits = [
            {"rank": r, "id": h.index, "name": h.name, "score": h.score, "inliers": h.inliers,
             "verified": h.verified, "w": h.size[0], "h": h.size[1], "polygons": _polys(h.polygons),
             "box_polygons": _polys(h.box_polygons)}
            for r, h in enumerate(res.hits[:top])
        ]  # fmt: skip
        return {"search_id": sid, "query": {"w": img.shape[1], "h": img.shape[0], "box": vals},
                "support": _polys(res.query_support), "hits": hits,
                "timings": {k: round(v, 4) for k, v in res.timings.items()}}  # fmt: skip

    def hit(sid: str, rank: int):
        _, res = st.search(sid)
        if not 0 <= rank < len(res.hits):
            raise HTTPException(404, f"no hit {rank}")
        return res.hits[rank]

    @app.get("/api/searches/{sid}/query")
    def search_query(sid: str, size: int | None = Query(None, ge=32, le=2048)) -> Response:
        return _jpeg(st.search(sid)[0], size)

    @app.get("/api/searches/{sid}/hits/{rank}/mask.png")
    def mask(sid: str, rank: int) -> Response:
        h = hit(sid, rank)
        m = fill_polygons(h.polygons, h.size[1], h.size[0], min_points=3) * 255
        return Response(cv2.imencode(".png", m)[1].tobytes(), media_type="image/png")

    @app.get("/api/searches/{sid}/hits/{rank}/matches")
    def matches(sid: str, rank: int) -> dict:
        h = hit(sid, rank)
        return {"matches": [] if h.matches is None else np.round(h.matches, 1).tolist()}

    def need_bench():
        if st.bench is None:
            raise HTTPException(404, "no benchmark loaded (start with --root and --dataset)")
        return st.bench

    @app.get("/api/benchmark/queries")
    def bench_queries() -> dict:
        b = need_bench()
        return {"queries": [{"index": q.index, "name": q.name, "box": list(q.box), "easy": len(q.easy),
                             "hard": len(q.hard), "junk": len(q.junk)} for q in b.queries]}  # fmt: skip

    @app.get("/api/benchmark/queries/{q}")
    def bench_query(q: int, top: int = Query(24, ge=1, le=200)) -> dict:
        b = need_bench()
        if not 0 <= q < b.n_queries:
            raise HTTPException(404, f"no query {q}")
        query = b.queries[q]
        items = st.ranks[:top, q].tolist() if st.ranks is not None else query.positives.tolist()[:top]
        out = []
        for rank, i in enumerate(items):
            gt = b.gt(q, int(i))
            pred = (st.pixels or {}).get((q, int(i)))
            out.append({"rank": rank, "id": int(i), "name": b.database[int(i)], "status": status_of(query, int(i)),
                        "gt": _polys(gt.polygons) if gt else [], "pred": _polys(pred.polygons) if pred else []})  # fmt: skip
        return {"query": {"index": q, "name": query.name, "box": list(query.box)}, "results": out}

    def bench_jpeg(path_of, n: int, k: int, size: int | None) -> Response:
        path = path_of(k) if 0 <= k < n else None
        if path is None:
            raise HTTPException(404, f"no image {k}")
        return _jpeg(load_image(path), size)

    @app.get("/api/benchmark/queries/{q}/image")
    def bench_query_image(q: int, size: int | None = Query(None, ge=32, le=2048)) -> Response:
        b = need_bench()
        return bench_jpeg(b.query_image, b.n_queries, q, size)

    @app.get("/api/benchmark/images/{i}")
    def bench_image(i: int, size: int | None = Query(None, ge=32, le=2048)) -> Response:
        b = need_bench()
        return bench_jpeg(b.database_image, b.n_database, i, size)

    return app
