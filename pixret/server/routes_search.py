"""Search routes: the collection's images, a search by image + box, and its results."""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, UploadFile
from fastapi.responses import Response

from ..geometry import Box, fill_polygons
from ..imageio import encode, load_image
from .state import MAX_UPLOAD_BYTES, State, check_upload, get_state, jpeg

router = APIRouter(prefix="/api")


@router.get("/info")
def info(st: State = Depends(get_state)) -> dict:
    return {"images": len(st.index), "config": st.index.cfg.name,
            "benchmark": None if st.bench is None else {"name": st.bench.name, "queries": st.bench.n_queries,
                                                        "results": st.ranks is not None}}  # fmt: skip


def db_image(st: State, i: int) -> np.ndarray:
    if not 0 <= i < len(st.index):
        raise HTTPException(404, f"no image {i}")
    return load_image(st.index.image_path(i))


@router.get("/images")
def images(
    offset: int = Query(0, ge=0, le=2**40),
    limit: int = Query(60, ge=1, le=500),
    name: str = Query("", max_length=200, description="only images whose name contains this (any case)"),
    st: State = Depends(get_state),
) -> dict:
    """A page of the collection's images; with ``name``, of those whose name contains it
    (a scan of the mapped image list: about a second per million images)."""
    if not name:
        ims = st.index.images[offset : offset + limit]
        return {"total": len(st.index), "images": [
            {"id": offset + k, "name": im["name"], "w": im["size"][0], "h": im["size"][1]} for k, im in enumerate(ims)
        ]}  # fmt: skip
    needle, found, page = name.casefold(), 0, []
    for k, im in enumerate(st.index.images):
        if needle in str(im["name"]).casefold():
            if offset <= found < offset + limit:
                page.append({"id": k, "name": im["name"], "w": im["size"][0], "h": im["size"][1]})
            found += 1
    return {"total": found, "images": page}


@router.get("/images/{image_id}")
def image(
    image_id: int, size: int | None = Query(None, ge=32, le=2048), st: State = Depends(get_state)
) -> Response:
    return jpeg(db_image(st, image_id), size)


@router.post("/search")
def search(
    box: str = Form(..., description="x1,y1,x2,y2 in query pixels"),
    file: UploadFile | None = File(None),
    image_id: int | None = Form(None),
    top: int = Form(24, ge=1, le=200),
    st: State = Depends(get_state),
) -> dict:
    if file is not None:
        img = check_upload(file.file.read(MAX_UPLOAD_BYTES + 1))
    elif image_id is not None:
        img = db_image(st, image_id)
    else:
        raise HTTPException(422, "give an uploaded file or an image_id")
    vals = Box.parse(box)
    res = st.index.search_full(img, vals)
    sid = st.remember(img, res)
    # the one serialiser of a search (Hit.to_json), as `pixret search --json` prints it; ranks
    # count from 1, and /api/searches/{sid}/hits/{rank - 1}/... addresses a hit
    return {"search_id": sid, "query": {"w": img.shape[1], "h": img.shape[0], "box": list(vals)},
            "config": st.index.cfg.name, **res.to_json(top=top, rle=False)}  # fmt: skip


def _hit(st: State, sid: str, rank: int):
    _, res = st.search(sid)
    if not 0 <= rank < len(res.hits):
        raise HTTPException(404, f"no hit {rank}")
    return res.hits[rank]


@router.get("/searches/{sid}/query")
def search_query(
    sid: str, size: int | None = Query(None, ge=32, le=2048), st: State = Depends(get_state)
) -> Response:
    return jpeg(st.search(sid)[0], size)


@router.get("/searches/{sid}/hits/{rank}/mask.png")
def mask(sid: str, rank: int, st: State = Depends(get_state)) -> Response:
    h = _hit(st, sid, rank)
    m = fill_polygons(h.polygons, h.size[1], h.size[0], min_points=3) * 255
    return Response(encode(m, ".png"), media_type="image/png")


@router.get("/searches/{sid}/hits/{rank}/matches")
def matches(sid: str, rank: int, st: State = Depends(get_state)) -> dict:
    h = _hit(st, sid, rank)
    return {"matches": [] if h.matches is None else np.round(h.matches, 1).tolist()}
