"""Benchmark routes: queries, their ranked results with ground truth and predictions, images.

The benchmark is read once per server, the method's results (``--results``) again whenever
their files change (state.State.refresh). Answers name the generation of both (state.BenchRun:
the benchmark, the results folder, its files' stamps) and image addresses carry it, so that a
page left open while the results were replaced, or the server was started again on another
benchmark, gets a 409, not another image or other predictions under the same id. Each request
reads one BenchRun throughout. Answers name the method whose predictions they show, and mark
an oracle (results built from the benchmark's labels: ``oracle``, what they carry).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import Response

from ..datasets.model import Benchmark
from ..evaluation.evaluator import THRESHOLDS
from ..evaluation.iou import strict_iou
from ..geometry import polygons_as_lists as polys
from ..imageio import image_size, load_image
from ..viz.show import status_of
from .state import BenchRun, State, check_generation, get_state, jpeg

router = APIRouter(prefix="/api/benchmark")
GEN = Query(None, max_length=200, description="the benchmark generation the id comes from (a 409 if not the one served)")


def need_bench(st: State = Depends(get_state)) -> Benchmark:
    if st.bench is None:
        raise HTTPException(404, "no benchmark loaded (start with --root and --dataset)")
    return st.bench


def method_of(run: BenchRun) -> dict:
    """Whose predictions the answers show: the method's name (None without results) and, for
    results built from the benchmark's labels, what they carry from them (``oracle``)."""
    return {"method": run.method, "oracle": run.oracle}


@router.get("/queries")
def bench_queries(b: Benchmark = Depends(need_bench), st: State = Depends(get_state)) -> dict:
    run = st.run
    return {"generation": run.generation, **method_of(run), "queries": [{"index": q.index, "name": q.name, "box": list(q.box), "easy": len(q.easy),
                         "hard": len(q.hard), "junk": len(q.junk)} for q in b.queries]}  # fmt: skip


@router.get("/queries/{q}")
def bench_query(
    q: int,
    top: int = Query(24, ge=1, le=200),
    gen: str | None = GEN,
    b: Benchmark = Depends(need_bench),
    st: State = Depends(get_state),
) -> dict:
    run = st.run  # one generation throughout
    check_generation("benchmark", gen, run.generation)
    if not 0 <= q < b.n_queries:
        raise HTTPException(404, f"no query {q}")
    query = b.queries[q]
    items = run.ranks[:top, q].tolist() if run.ranks is not None else query.positives.tolist()[:top]
    out = []
    for rank, i in enumerate(items):
        gt = b.gt(q, int(i))
        pred = (run.pixels or {}).get((q, int(i)))
        status = status_of(query, int(i))
        out.append({"rank": rank, "id": int(i), "name": b.database[int(i)], "status": status,
                    "url": f"/api/benchmark/images/{int(i)}?gen={run.generation}",
                    "gt": polys(gt.polygons) if gt else [], "pred": polys(pred.polygons) if pred else [],
                    **_counts(b, int(i), status, gt, pred, run.pixels is not None)})  # fmt: skip
    return {"generation": run.generation, **method_of(run), "results": out,
            "query": {"index": q, "name": query.name, "box": list(query.box),
                      "url": f"/api/benchmark/queries/{q}/image?gen={run.generation}"},
            "thresholds": [round(100 * t) for t in THRESHOLDS]}  # fmt: skip


def _counts(b: Benchmark, i: int, status: str, gt, pred, has_pixels: bool) -> dict:
    """A result's mask IoU with the ground truth (strict protocol, the report's "IoU") and the
    pixel mAP thresholds (50, 55, ..., 95) at which it counts as found: IoU above the threshold.
    Only true positives have an IoU; junk is ignored, a false result never counts."""
    if status != "true" or gt is None or not has_pixels:
        return {"iou": None, "counts_at": []}
    path = b.database_image(i)  # its size is the canvas the strict protocol scores on
    w, h = image_size(path) if path is not None else (gt.width, gt.height)
    if not (w and h):
        return {"iou": None, "counts_at": []}
    iou = strict_iou(pred, gt.polygons, h, w)[1]
    return {"iou": round(iou, 4), "counts_at": [round(100 * t) for t in THRESHOLDS if iou > t]}


def _bench_jpeg(path_of, n: int, k: int, size: int | None, gen: str | None, st: State) -> Response:
    generation = st.run.generation
    check_generation("benchmark", gen, generation)
    path = path_of(k) if 0 <= k < n else None
    if path is None:
        raise HTTPException(404, f"no image {k}")
    return jpeg(load_image(path), size, generation, pinned=gen is not None)


@router.get("/queries/{q}/image")
def bench_query_image(
    q: int, size: int | None = Query(None, ge=32, le=2048), gen: str | None = GEN,
    b: Benchmark = Depends(need_bench), st: State = Depends(get_state),
) -> Response:  # fmt: skip
    return _bench_jpeg(b.query_image, b.n_queries, q, size, gen, st)


@router.get("/images/{i}")
def bench_image(
    i: int, size: int | None = Query(None, ge=32, le=2048), gen: str | None = GEN,
    b: Benchmark = Depends(need_bench), st: State = Depends(get_state),
) -> Response:  # fmt: skip
    return _bench_jpeg(b.database_image, b.n_database, i, size, gen, st)
