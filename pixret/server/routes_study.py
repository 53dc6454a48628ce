"""Study routes: the participant page's API, and the admin views behind a token.

A participant is known by the token in their link and reaches only their own next trial and its
two images; the ground truth, other participants' rows and the admin views are out of reach.
"""

from __future__ import annotations

import csv
import hmac
import io

from fastapi import APIRouter, Body, Depends, Header, HTTPException, Request
from fastapi.responses import FileResponse, Response

from ..imageio import load_image
from ..study.service import Study
from .state import STATIC_DIR, jpeg

router = APIRouter()


def get_study(request: Request) -> Study:
    study = getattr(request.app.state, "study", None)
    if study is None:
        raise HTTPException(404, "no study loaded (start with --study STUDY.db)")
    return study


def admin(request: Request, authorization: str | None = Header(None)) -> Study:
    study = get_study(request)
    token = (authorization or "").removeprefix("Bearer ").strip()
    if not token or not hmac.compare_digest(token, request.app.state.study_token):
        raise HTTPException(401, "the admin views need the token printed when the server started")
    return study


@router.get("/study", include_in_schema=False)
def page() -> FileResponse:
    return FileResponse(STATIC_DIR / "study.html")


@router.post("/api/study/participants")
def new_participant(study: Study = Depends(get_study)) -> dict:
    return {"id": study.new_participant()}


@router.get("/api/study/p/{pid}/next")
def next_trial(pid: str, study: Study = Depends(get_study)) -> dict:
    return study.next_trial(pid)


@router.get("/api/study/p/{pid}/trials/{position}/{which}.jpg")
def trial_image(pid: str, position: int, which: str, study: Study = Depends(get_study)) -> Response:
    return jpeg(load_image(study.image_path(pid, position, which)), 1024)


@router.post("/api/study/p/{pid}/responses")
def respond(pid: str, body: dict = Body(...), study: Study = Depends(get_study)) -> dict:
    return study.record(pid, body.get("position"), body.get("answer"), body.get("click"), body.get("rt_ms"))


@router.get("/api/study/admin/progress")
def progress(study: Study = Depends(admin)) -> dict:
    return {"participants": study.progress(), "trials": int(study.meta["pairs"])}


@router.get("/api/study/admin/export.csv")
def export(study: Study = Depends(admin)) -> Response:
    rows = study.rows()
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return Response(buf.getvalue(), media_type="text/csv")
