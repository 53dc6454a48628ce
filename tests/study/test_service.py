"""User studies: design balance, the participant API's refusals, the report's numbers, and two
people taking a study at once in Chromium."""

import hashlib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pixret.server import create_app
from pixret.study.service import Conflict, Invalid, Study
from tests.helpers import run_cli


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_page_api_shows_no_ground_truth_and_refuses_what_it_must(study_file):
    c = TestClient(create_app(None, study=study_file, study_token="tok"), base_url="http://127.0.0.1:8000")
    pid = c.post("/api/study/participants").json()["id"]
    t = c.get(f"/api/study/p/{pid}/next").json()
    assert set(t) == {"done", "position", "total", "answered", "condition", "query_box", "query_size",
                      "image_size", "overlay"}  # fmt: skip
    assert t["total"] == 6 and t["position"] == 0
    assert c.get(f"/api/study/p/{pid}/trials/0/image.jpg").headers["content-type"] == "image/jpeg"
    before = _digest(study_file)
    n_rows = lambda: len(Study(study_file).rows())  # noqa: E731
    bad = [
        ({"position": 99, "answer": 0, "click": None, "rt_ms": 900}, 404),  # a tampered trial id
        ({"position": 3, "answer": 0, "click": None, "rt_ms": 900}, 409),  # not the next one
        ({"position": 0, "answer": 1, "click": None, "rt_ms": 900}, 422),  # yes without a click
        ({"position": 0, "answer": 2, "click": None, "rt_ms": 900}, 422),
        ({"position": "0", "answer": 0, "click": None, "rt_ms": 900}, 422),
        ({"position": 0, "answer": 0, "click": None, "rt_ms": -5}, 422),
    ]
    for body, status in bad:
        r = c.post(f"/api/study/p/{pid}/responses", json=body)
        assert r.status_code == status, (body, r.text)
        assert "\n" not in r.json()["detail"]
    assert n_rows() == 0
    ok = {"position": 0, "answer": 0, "click": None, "rt_ms": 900}
    assert c.post(f"/api/study/p/{pid}/responses", json=ok).status_code == 200
    r = c.post(f"/api/study/p/{pid}/responses", json=ok)  # replayed
    assert r.status_code == 409 and "already recorded" in r.json()["detail"] and n_rows() == 1
    assert c.get("/api/study/p/nobody/next").status_code == 404
    assert c.get(f"/api/study/p/{pid}/trials/5/query.jpg").status_code == 200
    assert c.get(f"/api/study/p/{pid}/trials/77/query.jpg").status_code == 404
    # admin views: a token, or nothing
    assert c.get("/api/study/admin/progress").status_code == 401
    assert c.get("/api/study/admin/export.csv", headers={"Authorization": "Bearer nope"}).status_code == 401
    prog = c.get("/api/study/admin/progress", headers={"Authorization": "Bearer tok"}).json()
    assert [{k: p[k] for k in ("participant", "trials", "answered")} for p in prog["participants"]] == [
        {"participant": 0, "trials": 6, "answered": 1}
    ]
    csv_text = c.get("/api/study/admin/export.csv", headers={"Authorization": "Bearer tok"}).text
    assert csv_text.startswith("participant,position,trial") and pid not in csv_text  # tokens never exported
    del before


def test_many_participants_at_once_lose_nothing(study_file):
    from concurrent.futures import ThreadPoolExecutor

    c = TestClient(create_app(None, study=study_file, study_token="tok"), base_url="http://127.0.0.1:8000")

    def take(_):
        pid = c.post("/api/study/participants").json()["id"]
        while not (t := c.get(f"/api/study/p/{pid}/next").json())["done"]:
            body = {"position": t["position"], "answer": 0, "click": None, "rt_ms": 500}
            assert c.post(f"/api/study/p/{pid}/responses", json=body).status_code == 200
            assert c.post(f"/api/study/p/{pid}/responses", json=body).status_code == 409  # a replay, at once
        return pid

    with ThreadPoolExecutor(6) as pool:
        pids = list(pool.map(take, range(12)))
    rows = Study(study_file).rows()
    assert len(set(pids)) == 12 and len(rows) == 12 * 6
    assert len({(r["participant"], r["position"]) for r in rows}) == 72
    assert sorted({r["participant"] for r in rows}) == list(range(12))


def test_numbers_a_database_cannot_hold_and_odd_tokens_are_4xx_not_500(study_file):
    c = TestClient(create_app(None, study=study_file, study_token="tok"), base_url="http://127.0.0.1:8000")
    pid = c.post("/api/study/participants").json()["id"]
    post = lambda body: c.post(f"/api/study/p/{pid}/responses", json=body)  # noqa: E731
    ok = {"position": 0, "answer": 0, "click": None, "rt_ms": 900}
    for body in (
        {**ok, "position": 2**63},  # past SQLite's integers: OverflowError before the fix
        {**ok, "position": 2**64 + 5},
        {**ok, "position": -(2**63) - 1},
        {**ok, "answer": 1, "click": [10**400, 5]},  # float(10**400): OverflowError before the fix
        {**ok, "answer": 1, "click": [5, -(10**400)]},
        {**ok, "rt_ms": 10**400},
        {**ok, "viewport": [10**400, 800]},
        {**ok, "viewport": "390x844"},
        {**ok, "pointer": "<script>"},
    ):
        r = post(body)
        assert 400 <= r.status_code < 500, (body, r.status_code, r.text)
        assert "\n" not in r.json()["detail"]
    for position in (2**63, 2**64, 10**30):
        r = c.get(f"/api/study/p/{pid}/trials/{position}/query.jpg")
        assert 400 <= r.status_code < 500, (position, r.text)
    # a bearer token with characters outside ASCII: hmac.compare_digest raised TypeError (a 500)
    for token in ("tök", "\u202etok", "t" * 5000):
        r = c.get("/api/study/admin/progress", headers={"Authorization": f"Bearer {token}".encode()})
        assert r.status_code == 401
    r = c.get("/api/study/admin/progress", headers={"Cookie": "pixret_admin=\u00e9t\u00e9".encode()})
    assert r.status_code == 401
    assert len(Study(study_file).rows()) == 0  # none of it was recorded
    assert post(ok).status_code == 200


def test_device_and_pointer_are_recorded_per_answer_and_exported(study_file):
    c = TestClient(create_app(None, study=study_file, study_token="tok"), base_url="http://127.0.0.1:8000")
    pid = c.post("/api/study/participants").json()["id"]
    body = {"position": 0, "answer": 0, "click": None, "rt_ms": 2682.1999999999534, "viewport": [390, 844],
            "pointer": "touch"}  # fmt: skip
    assert c.post(f"/api/study/p/{pid}/responses", json=body).status_code == 200
    row = Study(study_file).rows()[0]
    assert (row["viewport_w"], row["viewport_h"], row["pointer"], row["rt_ms"]) == (390, 844, "touch", 2682.2)
    text = c.get("/api/study/admin/export.csv", headers={"Authorization": "Bearer tok"}).text
    header, line = text.splitlines()[:2]
    assert header.split(",")[-4:] == ["viewport_w", "viewport_h", "pointer", "correct"]
    assert ",2682.2,390,844,touch," in line


def test_a_closed_or_full_study_takes_no_one_new_but_lets_people_finish(study_file):
    s = Study(study_file)
    first = s.new_participant()
    assert s.configure(False) == {"open": False, "cap": 100}
    with pytest.raises(Conflict, match="closed"):
        s.new_participant()
    t = s.next_trial(first)  # someone already in may finish
    assert s.record(first, t["position"], 0, None, 800)["recorded"]
    s.configure(True, 2)
    s.new_participant()
    with pytest.raises(Conflict, match=r"all the participants it needs \(2\)"):
        s.new_participant()
    assert s.configure(cap=None)["cap"] is None
    s.new_participant()
    for bad in ({"open_": "yes"}, {"cap": 0}, {"cap": 10**400}, {"cap": True}, {"cap": "5"}):
        with pytest.raises(Invalid):
            s.configure(**bad)
    assert s.participants() == 3


def test_damaged_trials_and_odd_settings_are_one_line_or_4xx(study_file, bench, tmp_path):
    import sqlite3

    from pixret.errors import PixretError
    from pixret.study.service import create_study

    c = TestClient(create_app(None, study=study_file, study_token="tok"), base_url="http://127.0.0.1:8000")
    pid = c.post("/api/study/participants").json()["id"]
    r = c.post(f"/api/study/p/{pid}/responses", json={"position": 0, "answer": 0, "rt_ms": 900, "viewport": [1.5, 2.5]})
    assert r.status_code == 422 and "whole CSS pixels" in r.json()["detail"]  # not stored as 1 x 2
    for sql, message in (("UPDATE trials SET image = -5 WHERE id = 1", "a trial names image -5"),
                         ("UPDATE trials SET query = 9999 WHERE id = 1", "a trial names query 9999"),
                         ("UPDATE trials SET gt = '" + "[" * 100_000 + "'", "polygons are not a JSON list")):  # fmt: skip
        copy = tmp_path / f"c{abs(hash(sql))}.db"
        copy.write_bytes(study_file.read_bytes())
        db = sqlite3.connect(copy)
        db.execute(sql)
        db.commit()
        db.close()
        app = TestClient(create_app(None, study=copy, study_token="tok"), base_url="http://127.0.0.1:8000")
        p = app.post("/api/study/participants").json()["id"]
        answers = [app.get(f"/api/study/p/{p}/next")]
        if "polygons" in message:
            pos = answers[0].json()["position"]
            answers.append(app.post(f"/api/study/p/{p}/responses", json={"position": pos, "answer": 1, "click": [1, 1],
                                                                        "rt_ms": 900}))  # fmt: skip
        assert any(message in a.text for a in answers) and all(a.status_code < 500 for a in answers), [
            a.text for a in answers]
    for kwargs, message in (({"pairs": 10**20}, "a study holds 1 to"), ({"seed": -1}, "--seed -1")):
        with pytest.raises(PixretError, match=message):
            create_study(tmp_path / "new.db", bench.root, "eng", **kwargs)
    assert not (tmp_path / "new.db").exists()
    db = sqlite3.connect(study_file)
    db.execute("UPDATE meta SET value = '-1' WHERE key = 'seed'")
    db.commit()
    db.close()
    with pytest.raises(PixretError, match="seed '-1' is not a whole number of 0 or more"):
        Study(study_file)


def test_creating_a_study_touches_no_file_but_its_own(bench, tmp_path, monkeypatch):
    import pixret.study.service as service

    theirs = tmp_path / ".mine.db.creating"  # named as pixret's temporary file once was: removed unseen
    theirs.write_text("a file of the user's")
    args = ["--root", bench.root, "--dataset", "eng", "--pairs", "4"]
    r = run_cli(["study", "create", "mine.db", *args], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert theirs.read_text() == "a file of the user's"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".mine.db.creating", "mine.db"]  # nothing else left
    write_trials = service.write_trials

    def meanwhile(db, *a, **kw):  # another program writes the study file while this one is made
        (tmp_path / "late.db").write_text("someone else's study")
        return write_trials(db, *a, **kw)

    monkeypatch.setattr(service, "write_trials", meanwhile)
    r = run_cli(["study", "create", "late.db", *args], cwd=tmp_path)
    assert r.returncode == 2 and "late.db: a file of that name exists" in r.stderr
    assert (tmp_path / "late.db").read_text() == "someone else's study"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".mine.db.creating", "late.db", "mine.db"]
