"""User studies: design balance, the participant API's refusals, the report's numbers, and two
people taking a study at once in Chromium."""

import hashlib
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from pixret.errors import PixretError
from pixret.server import create_app
from pixret.study.design import assign
from pixret.study.report import analyse, write_report
from pixret.study.service import Conflict, Study, create_study
from tests.helpers import serve_app
from tests.reference.study_participant import ScriptedParticipant
from tests.test_server import ARGS, CHROMIUM

MIX = (0.5, 0.17, 0.33)  # 6 pairs: 3 easy, 1 hard, 2 negatives


@pytest.fixture
def study_file(bench, tmp_path):
    return create_study(tmp_path / "s.db", bench.root, "eng", pairs=6, mix=MIX, seed=3)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_conditions_are_balanced_by_a_rotating_latin_square(tmp_path):
    db = sqlite3.connect(tmp_path / "d.db")
    db.execute("CREATE TABLE trials (id INTEGER PRIMARY KEY)")
    db.execute("CREATE TABLE assignments (participant, position, trial, condition)")
    db.executemany("INSERT INTO trials VALUES (?)", [(i,) for i in range(1, 13)])
    conds = ("image", "box", "mask")
    for k in range(3):
        assign(db, f"p{k}", k, conds, seed=0)
    rows = db.execute("SELECT participant, trial, condition FROM assignments").fetchall()
    for k in range(3):
        mine = [c for p, _, c in rows if p == f"p{k}"]
        assert sorted(mine.count(c) for c in conds) == [4, 4, 4]  # balanced within each participant
    for t in range(1, 13):
        assert sorted(c for _, tr, c in rows if tr == t) == sorted(conds)  # every trial under every condition


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
    assert prog["participants"] == [{"participant": 0, "trials": 6, "answered": 1}]
    csv_text = c.get("/api/study/admin/export.csv", headers={"Authorization": "Bearer tok"}).text
    assert csv_text.startswith("participant,position,trial") and pid not in csv_text  # tokens never exported
    del before


def test_a_study_file_from_a_newer_schema_is_refused_untouched(study_file):
    db = sqlite3.connect(study_file)
    db.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    before = _digest(study_file)
    with pytest.raises(PixretError, match="schema version 2; this pixret reads version 1: upgrade pixret"):
        Study(study_file)
    assert _digest(study_file) == before
    with pytest.raises(PixretError, match="exists"):
        create_study(study_file, "x", "eng")


def test_the_report_matches_a_hand_computation(study_file):
    s = Study(study_file)
    rng = np.random.default_rng(0)
    for _ in range(4):
        pid = s.new_participant()
        while not (t := s.next_trial(pid))["done"]:
            answer = int(rng.integers(2))
            click = [float(rng.uniform(0, 100)), float(rng.uniform(0, 100))] if answer else None
            s.record(pid, t["position"], answer, click, float(rng.uniform(500, 4000)))
    rows = s.rows()
    res = analyse(rows, s.conditions, draws=200)
    for cond in s.conditions:
        mine = [r for r in rows if r["condition"] == cond]
        right = [(r["answer"] == 1) == (r["kind"] != "negative") for r in mine]
        assert res["per_condition"][cond]["accuracy"].value == pytest.approx(np.mean(right))
        assert res["per_condition"][cond]["median_rt"].value == pytest.approx(
            np.median([r["rt_ms"] for r in mine]) / 1000
        )
        e = res["per_condition"][cond]["median_rt"]
        assert e.low <= e.value <= e.high
    for cond in s.conditions:
        mine = [r for r in rows if r["condition"] == cond and r["kind"] != "negative" and r["answer"] == 1]
        if mine:
            assert res["per_condition"][cond]["hit_rate"].value == pytest.approx(
                np.mean([r["hit"] for r in mine])
            )
    d = res["differences"][("box", "image")]["accuracy"]
    assert d.value == pytest.approx(
        res["per_condition"]["box"]["accuracy"].value - res["per_condition"]["image"]["accuracy"].value
    )


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium not installed (apt-get install chromium)")
def test_two_participants_at_once_one_reloads_one_answers_wrong(bench, study_file, tmp_path):
    from playwright.sync_api import sync_playwright

    app = create_app(None, study=study_file, study_token="tok")
    with serve_app(app) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        people = []
        for _ in range(2):
            # bypass_csp: only so that the test may poll with wait_for_function (the CSP forbids eval)
            page = browser.new_page(viewport={"width": 1300, "height": 900}, bypass_csp=True)
            person = ScriptedParticipant(page, study_file, bench)
            person.start(url + "/")  # redirects to /study
            people.append(person)
        step = 0
        while not all(person.done for person in people):  # turn by turn: two people at once
            for who, person in enumerate(people):
                if not person.done:  # participant 0 answers rightly (and reloads once); 1 wrongly
                    person.answer(right=who == 0, reload_midway=who == 0 and step == 1)
            step += 1
        browser.close()
    s = Study(study_file)
    rows = s.rows()
    assert len(rows) == 12 and len({(r["participant"], r["position"]) for r in rows}) == 12  # nothing twice
    honest = [r for r in rows if r["participant"] == 0]
    liar = [r for r in rows if r["participant"] == 1]
    assert all(r["correct"] == 1 for r in honest) and all(r["correct"] == 0 for r in liar)
    assert all(r["hit"] == 1 for r in honest if r["kind"] != "negative")
    assert all(0 < r["rt_ms"] < 120_000 for r in rows)
    res = write_report(rows, s.meta, tmp_path / "report.html", tmp_path / "rows.csv")
    for cond in s.conditions:
        mine = [r for r in rows if r["condition"] == cond]
        assert res["per_condition"][cond]["accuracy"].value == pytest.approx(
            np.mean([r["correct"] for r in mine])
        )
    text = (tmp_path / "report.html").read_text()
    assert "mask vs image:" in text and "95% CI" in text and "data:image/png;base64" in text
    shutil.copy(
        tmp_path / "report.html", Path(__file__).resolve().parents[1] / "artifacts" / "study-report.html"
    ) if (Path(__file__).resolve().parents[1] / "artifacts").is_dir() else None
    assert str(Conflict("x")) == "x"


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
