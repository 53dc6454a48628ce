"""Search routes: the collection's images, a search by image + box, and its results.

Each request works on one index (the one served when it began: a swap during it does not mix
two), and every answer that holds image ids names that index's ``generation``; a ``gen`` that
names another one is refused (state.Stale, a 409): a page never gets another image than the
one it means.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, UploadFile
from fastapi.responses import Response

from ..engine import Index
from ..geometry import Box, fill_polygons
from ..imageio import encode, load_image
from .state import MAX_UPLOAD_BYTES, State, check_generation, check_upload, get_state, jpeg

router = APIRouter(prefix="/api")
GEN = Query(None, max_length=200, description="the index generation the id comes from (a 409 if it is not the one served)")


def get_index(st: State = Depends(get_state)) -> Index:
    """The index this request works on throughout (State.index may be swapped meanwhile)."""
    return st.index


def image_url(ix: Index, i: int) -> str:
    return f"/api/images/{i}?gen={ix.generation}"


@router.get("/info")
def info(st: State = Depends(get_state), ix: Index = Depends(get_index)) -> dict:
    run = st.run
    bench = None if st.bench is None else {"name": st.bench.name, "queries": st.bench.n_queries,
                                           "results": run.ranks is not None, "generation": run.generation,
                                           "method": run.method, "oracle": run.oracle}  # fmt: skip
    return {"images": len(ix), "config": ix.cfg.name, "generation": ix.generation, "warm": dict(st.warming),
            "benchmark": bench}


def db_image(ix: Index, i: int) -> np.ndarray:
    if not 0 <= i < len(ix):
        raise HTTPException(404, f"no image {i}")
    return load_image(ix.image_path(i))


@router.get("/images")
def images(
    offset: int = Query(0, ge=0, le=2**40),
    limit: int = Query(60, ge=1, le=500),
    name: str = Query("", max_length=200, description="only images whose name contains this (any case)"),
    gen: str | None = GEN,
    ix: Index = Depends(get_index),
) -> dict:
    """A page of the collection's images; with ``name``, of those whose name contains it
    (a scan of the mapped image list: about a second per million images). Each image's
    ``url`` names the generation; with ``gen``, a page of another generation is a 409."""
    check_generation("index", gen, ix.generation)

    def item(k: int, im) -> dict:
        return {"id": k, "name": im["name"], "w": im["size"][0], "h": im["size"][1], "url": image_url(ix, k)}

    if not name:
        ims = ix.images[offset : offset + limit]
        return {"total": len(ix), "generation": ix.generation, "images": [item(offset + k, im) for k, im in enumerate(ims)]}
    needle, found, page = name.casefold(), 0, []
    for k, im in enumerate(ix.images):
        if needle in str(im["name"]).casefold():
            if offset <= found < offset + limit:
                page.append(item(k, im))
            found += 1
    return {"total": found, "generation": ix.generation, "images": page}


@router.get("/images/{image_id}")
def image(
    image_id: int,
    size: int | None = Query(None, ge=32, le=2048),
    gen: str | None = GEN,
    ix: Index = Depends(get_index),
) -> Response:
    """A database image (JPEG). Without ``gen`` it is whatever has that id now (not cached)."""
    check_generation("index", gen, ix.generation)
    return jpeg(db_image(ix, image_id), size, ix.generation, pinned=gen is not None)


@router.post("/search")
def search(
    box: str = Form(..., description="x1,y1,x2,y2 in query pixels"),
    file: UploadFile | None = File(None),
    image_id: int | None = Form(None),
    gen: str | None = Form(None, max_length=200, description="the generation image_id comes from"),
    top: int = Form(24, ge=1, le=200),
    exclude_query: bool = Form(False, description="leave the query image itself out of the results "
                               "(Index.search_full: the collection image picked, or an image of the same pixels)"),
    st: State = Depends(get_state),
    ix: Index = Depends(get_index),
) -> dict:
    exclude: bool | Path = exclude_query
    if file is not None:
        img = check_upload(file.file.read(MAX_UPLOAD_BYTES + 1))
    elif image_id is not None:
        check_generation("index", gen, ix.generation)
        img = db_image(ix, image_id)
        exclude = exclude_query and ix.image_path(image_id)  # that collection image, and copies of its pixels
    else:
        raise HTTPException(422, "give an uploaded file or an image_id")
    vals = Box.parse(box)
    res = ix.search_full(img, vals, exclude_query=exclude)
    sid = st.remember(img, res, ix.generation)
    # the one serialiser of a search (Hit.to_json), as `pixret search --json` prints it; ranks
    # count from 1, and /api/searches/{sid}/hits/{rank - 1}/... addresses a hit; each hit's
    # ``url`` is its image in this generation
    doc = res.to_json(top=top, rle=False)
    for h in doc["hits"]:
        h["url"] = image_url(ix, h["index"])
    return {"search_id": sid, "generation": ix.generation,
            "query": {"w": img.shape[1], "h": img.shape[0], "box": list(vals)}, "config": ix.cfg.name, **doc}  # fmt: skip


def _hit(st: State, sid: str, rank: int):
    _, res, _ = st.search(sid)
    if not 0 <= rank < len(res.hits):
        raise HTTPException(404, f"no hit {rank}")
    return res.hits[rank]


@router.get("/searches/{sid}/query")
def search_query(
    sid: str, size: int | None = Query(None, ge=32, le=2048), st: State = Depends(get_state)
) -> Response:
    img, _, generation = st.search(sid)
    return jpeg(img, size, generation)  # a search's id is its own: pinned


@router.get("/searches/{sid}/hits/{rank}/mask.png")
def mask(sid: str, rank: int, st: State = Depends(get_state)) -> Response:
    h = _hit(st, sid, rank)
    m = fill_polygons(h.polygons, h.size[1], h.size[0], min_points=3) * 255
    return Response(encode(m, ".png"), media_type="image/png")


@router.get("/searches/{sid}/hits/{rank}/matches")
def matches(sid: str, rank: int, st: State = Depends(get_state)) -> dict:
    h = _hit(st, sid, rank)
    return {"generation": st.search(sid)[2], "matches": [] if h.matches is None else np.round(h.matches, 1).tolist()}
