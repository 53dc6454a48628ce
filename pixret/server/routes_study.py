"""Study routes: the participant page's API, and the admin page and views behind a token.

A participant is known by the token in their link and reaches only their own next trial and its
two images; the ground truth, other participants' rows and the admin views are out of reach.

The admin signs in once with the token printed at start, through a form (POST), which sets a
cookie: the token never appears in a URL (where browser history, proxies and the Referer
header would keep it). Scripts may send it as ``Authorization: Bearer TOKEN`` instead. The
cookie holds an HMAC of the token, not the token; it is HttpOnly and SameSite=Strict, and
every write needs a same-origin request (security.Guard).
"""

from __future__ import annotations

import hashlib
import hmac
import io

from fastapi import APIRouter, Body, Depends, Form, HTTPException, Path, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from ..imageio import load_image
from ..study.report import render_report, shown_as, study_oracle, write_csv
from ..study.service import MAX_POSITION, Study
from .state import STATIC_DIR, jpeg

router = APIRouter()
COOKIE = "pixret_admin"
# the live report inlines its styles and PNGs and runs no script
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"


def get_study(request: Request) -> Study:
    study = getattr(request.app.state, "study", None)
    if study is None:
        raise HTTPException(404, "no study loaded (start with --study STUDY.db)")
    return study


def _session(token: str) -> str:
    """The cookie's value: an HMAC of the token (the cookie never holds the token itself)."""
    return hmac.new(token.encode(), b"pixret study admin session", hashlib.sha256).hexdigest()


def _same(a: str, b: str) -> bool:
    # bytes: compare_digest refuses str with non-ASCII characters (a TypeError, a 500)
    return hmac.compare_digest(a.encode("utf-8", "surrogateescape"), b.encode("utf-8", "surrogateescape"))


def is_admin(request: Request) -> bool:
    """Whether the request carries the admin token (Bearer header) or the admin cookie."""
    token = getattr(request.app.state, "study_token", None)
    if not token:
        return False
    auth = request.headers.get("authorization", "")
    if auth.startswith("Bearer ") and _same(auth[7:].strip(), token):
        return True
    cookie = request.cookies.get(COOKIE, "")
    return bool(cookie) and _same(cookie, _session(token))


def need_admin(request: Request) -> None:
    """A dependency: 401 without the admin token or cookie."""
    if not is_admin(request):
        raise HTTPException(401, "this needs the admin token printed when the server started (sign in at /study/admin)")


def admin(request: Request) -> Study:
    study = get_study(request)
    need_admin(request)
    return study


# ---------------------------------------------------------------- participants
@router.get("/study", include_in_schema=False)
def page() -> FileResponse:
    return FileResponse(STATIC_DIR / "study.html")


@router.get("/api/study/status")
def status(study: Study = Depends(get_study)) -> dict:
    """Whether the study takes new participants (the page says so before anyone starts)."""
    s = study.settings()
    full = s["cap"] is not None and study.participants() >= s["cap"]
    return {"open": s["open"] and not full, "trials": study.pairs}


@router.post("/api/study/participants")
def new_participant(study: Study = Depends(get_study)) -> dict:
    return {"id": study.new_participant()}


@router.get("/api/study/p/{pid}/next")
def next_trial(pid: str, study: Study = Depends(get_study)) -> dict:
    return study.next_trial(pid)


@router.get("/api/study/p/{pid}/trials/{position}/{which}.jpg")
def trial_image(
    pid: str, which: str, position: int = Path(ge=0, le=MAX_POSITION), study: Study = Depends(get_study)
) -> Response:
    return jpeg(load_image(study.image_path(pid, position, which)), 1024)


@router.post("/api/study/p/{pid}/responses")
def respond(pid: str, body: dict = Body(...), study: Study = Depends(get_study)) -> dict:
    return study.record(pid, body.get("position"), body.get("answer"), body.get("click"), body.get("rt_ms"),
                        body.get("viewport"), body.get("pointer"))  # fmt: skip


# ---------------------------------------------------------------- admin
@router.get("/study/admin", include_in_schema=False)
def admin_page(request: Request, study: Study = Depends(get_study)) -> FileResponse:
    return FileResponse(STATIC_DIR / ("admin.html" if is_admin(request) else "login.html"))


@router.post("/study/admin/login", include_in_schema=False)
def login(request: Request, token: str = Form(""), study: Study = Depends(get_study)) -> Response:
    expected = request.app.state.study_token
    if not _same(token.strip(), expected):
        return HTMLResponse((STATIC_DIR / "login.html").read_text().replace(
            "<p id=\"login-error\" class=\"error\" hidden>", "<p id=\"login-error\" class=\"error\">"), 401)  # fmt: skip
    out = RedirectResponse("/study/admin", status_code=303)
    out.set_cookie(COOKIE, _session(expected), httponly=True, samesite="strict", path="/")
    return out


@router.post("/study/admin/logout", include_in_schema=False)
def logout() -> Response:
    out = RedirectResponse("/study/admin", status_code=303)
    out.delete_cookie(COOKIE, path="/")
    return out


@router.get("/study/admin/report", include_in_schema=False)
def live_report(study: Study = Depends(admin), include_incomplete: bool = False) -> Response:
    """The study's report as it stands (the same page as `pixret study report`)."""
    text, _ = render_report(study.rows(), study.meta, complete_only=not include_incomplete)
    return HTMLResponse(text, headers={"Content-Security-Policy": REPORT_CSP, "Cache-Control": "no-store"})


@router.get("/api/study/admin/progress")
def progress(study: Study = Depends(admin)) -> dict:
    # "shown": what the study shows, as the report names it ("method NAME", or "oracle (...)"
    # whatever the label); "oracle": what its masks carry from the labels, null for a method's
    return {**study.progress(), "trials": study.pairs, "settings": study.settings(),
            "label": study.meta.get("label") or study.meta.get("method"), "dataset": study.meta.get("dataset"),
            "shown": shown_as(study.meta), "oracle": study_oracle(study.meta)}  # fmt: skip


@router.post("/api/study/admin/settings")
def settings(body: dict = Body(...), study: Study = Depends(admin)) -> dict:
    """{"open": true|false} closes or reopens the study; {"cap": N|null} sets the cap."""
    return study.configure(body.get("open"), body.get("cap", "keep"))


@router.get("/api/study/admin/export.csv")
def export(study: Study = Depends(admin)) -> Response:
    buf = io.StringIO()
    write_csv(study.rows(), buf)
    return Response(buf.getvalue(), media_type="text/csv", headers={"Cache-Control": "no-store"})
