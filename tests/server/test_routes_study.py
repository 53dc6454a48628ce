"""The study's routes (server/routes_study.py): the admin's login and views, and a study server
that never serves the ground truth, whatever else it was started with."""

from fastapi.testclient import TestClient

from pixret.server import create_app
from pixret.study.service import Study

BEARER = {"Authorization": "Bearer tok"}


def test_with_a_study_loaded_the_ground_truth_and_the_search_need_the_admin(bench, index, results, study_file):
    # pixret serve --index IDX --root BENCH --dataset eng --results RES --study s.db
    app = create_app(index.root, bench.root, "eng", results, study=study_file, study_token="tok")
    c = TestClient(app, base_url="http://127.0.0.1:8000", follow_redirects=False)
    closed = ["/api/benchmark/queries", "/api/benchmark/queries/0", "/api/benchmark/queries/0/image",
              "/api/benchmark/images/0", "/api/info", "/api/images", "/api/images/0?size=64"]  # fmt: skip
    for path in closed:
        r = c.get(path)
        assert r.status_code == 401, (path, r.status_code)
        assert "polygon" not in r.text and "gt" not in r.json()
    r = c.post("/api/search", data={"box": "0,0,50,50", "image_id": "0"})
    assert r.status_code == 401
    assert c.get("/").headers["location"] == "/study"  # the search page is the admin's too
    assert c.get("/study").status_code == 200 and c.post("/api/study/participants").status_code == 200
    # the admin, by token or by the login cookie, reaches all of it
    assert c.get("/api/benchmark/queries/0", headers=BEARER).json()["results"][0]["gt"] is not None
    r = c.post("/study/admin/login", data={"token": "tok"})
    assert r.status_code == 303 and "tok" not in r.headers["set-cookie"].split(";")[0]
    assert "HttpOnly" in r.headers["set-cookie"] and "SameSite=strict" in r.headers["set-cookie"]
    assert c.get("/api/benchmark/queries/0").status_code == 200 and c.get("/").status_code == 200
    # without a study, the same routes are open as before
    plain = TestClient(create_app(index.root, bench.root, "eng", results), base_url="http://127.0.0.1:8000")
    assert plain.get("/api/benchmark/queries/0").status_code == 200


def test_login_logout_and_the_live_report(study_file):
    c = TestClient(create_app(None, study=study_file, study_token="tok"), base_url="http://127.0.0.1:8000",
                   follow_redirects=False)  # fmt: skip
    assert 'action="/study/admin/login"' in c.get("/study/admin").text  # the form, not the page
    r = c.post("/study/admin/login", data={"token": "nope"})
    assert r.status_code == 401 and 'id="login-error" class="error">' in r.text and "set-cookie" not in r.headers
    assert c.post("/study/admin/login", data={"token": "t\u00f6k"}).status_code == 401
    assert c.get("/study/admin/report").status_code == 401
    c.post("/study/admin/login", data={"token": "tok"})
    assert 'src="/static/admin.js"' in c.get("/study/admin").text
    s = Study(study_file)
    pid = s.new_participant()
    s.record(pid, 0, 0, None, 1000, [390, 844], "touch")
    r = c.get("/study/admin/report")
    assert r.status_code == 200 and "script-src" not in r.headers["content-security-policy"]
    assert r.headers["content-security-policy"].startswith("default-src 'none'")
    assert "0 participants, 0 answers" in r.text and "1 participant who answered fewer than all 6" in r.text
    assert "1 participants, 1 answers" in c.get("/study/admin/report?include_incomplete=true").text
    prog = c.get("/api/study/admin/progress").json()
    assert prog["participants"][0]["pointers"] == ["touch"]
    assert {d["condition"]: d["answered"] for d in prog["conditions"]} .keys() == {"image", "box", "mask"}
    assert c.post("/api/study/admin/settings", json={"open": False}).json() == {"open": False, "cap": 100}
    assert c.post("/api/study/participants").status_code == 409
    assert c.get("/api/study/status").json()["open"] is False
    assert c.post("/api/study/admin/settings", json={"cap": "x"}).status_code == 422
    c.post("/study/admin/logout")
    assert c.get("/api/study/admin/progress").status_code == 401
    assert c.post("/api/study/admin/settings", json={"open": True}).status_code == 401
