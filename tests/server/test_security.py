"""What the server trusts and refuses (server/security.py): hosts, cross-origin writes, body limits, headers."""

import socket


def test_other_hosts_and_cross_origin_writes_are_refused(client):
    assert client.get("/api/info", headers={"Host": "evil.example.com"}).status_code == 400  # DNS rebinding
    assert client.get("/api/info", headers={"Host": "localhost:8000"}).status_code == 200
    form = {"box": "0,0,5000,5000", "image_id": "0"}  # the whole image
    r = client.post("/api/search", data=form, headers={"Origin": "http://evil.example.com"})
    assert r.status_code == 403 and "cross-origin" in r.json()["detail"]
    assert client.post("/api/search", data=form, headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert (
        client.post("/api/search", data=form, headers={"Origin": "http://127.0.0.1:8000"}).status_code == 200
    )
    # the breaker's example (issue 32, class 8): a port with a leading zero is no origin a browser
    # sends (RFC 6454 6.1), so it is not this server's
    for origin in ("http://127.0.0.1:08000", "http://127.0.0.1:008000"):
        r = client.post("/api/search", data=form, headers={"Origin": origin})
        assert r.status_code == 403, origin


def test_security_headers(client):
    for path in ("/", "/api/info", "/static/app.js"):
        h = client.get(path).headers
        assert (
            "script-src 'self'" in h["content-security-policy"] and h["x-content-type-options"] == "nosniff"
        )
    assert client.get("/docs").status_code == 404  # it would load Swagger UI from a CDN: blank offline
    assert client.get("/openapi.json").json()["info"]["title"] == "pixret"


def test_a_huge_body_is_refused_before_it_is_read(live_server):
    host, port = live_server.rsplit("/", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"POST /api/search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=x\r\n"
                  b"Content-Length: 600000000\r\n\r\n")  # fmt: skip
        reply = s.recv(4096).decode()  # answered without sending a byte of the 600 MB
    assert reply.startswith("HTTP/1.1 413")


def test_a_chunked_body_is_cut_off_at_the_limit(client):
    from pixret.server import MAX_UPLOAD_BYTES

    def body():
        head = b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'
        yield head
        for _ in range(MAX_UPLOAD_BYTES // (1 << 20) + 3):
            yield b"\0" * (1 << 20)

    r = client.post(
        "/api/search", content=body(), headers={"Content-Type": "multipart/form-data; boundary=x"}
    )
    assert r.status_code == 413


def test_a_form_post_with_origin_null_passes_only_as_same_origin(client):
    # Chromium sends "Origin: null" with a form's POST under Referrer-Policy: no-referrer
    form = {"box": "0,0,5000,5000", "image_id": "0"}
    same = {"Origin": "null", "Sec-Fetch-Site": "same-origin"}
    assert client.post("/api/search", data=form, headers=same).status_code == 200
    assert client.post("/api/search", data=form, headers={"Origin": "null"}).status_code == 403
    r = client.post("/api/search", data=form, headers={"Origin": "http://127.0.0.1:8001", "Sec-Fetch-Site": "same-site"})
    assert r.status_code == 403
    assert client.post("/api/search", data=form, headers={"Origin": "http://[::1"}).status_code == 403  # a 500 before


def _admin(study_file, index=None, bench=None, results=None):
    """A client of a study server (with an index and a benchmark when given), signed in as the
    admin through the login form: it holds the admin cookie."""
    from fastapi.testclient import TestClient

    from pixret.server import create_app

    app = create_app(index.root if index else None, bench.root if bench else None, "eng" if bench else None, results,
                     study=study_file, study_token="tok")  # fmt: skip
    c = TestClient(app, base_url="http://127.0.0.1:8000", follow_redirects=False)
    assert c.post("/study/admin/login", data={"token": "tok"}).status_code == 303
    return c


OTHER_ORIGINS = ["http://localhost:9999", "https://127.0.0.1", "http://127.0.0.1:9999", "http://localhost:8000",
                 "https://127.0.0.1:8000", "http://127.0.0.1:8000.evil.example", "http://127.0.0.1:8000@evil.example",
                 "http://user@127.0.0.1:8000", "http://127.0.0.1:8000/x", "ftp://127.0.0.1:8000",
                 "http://[::1]:8000", "http://127.0.0.1:08000x", "127.0.0.1:8000", ""]  # fmt: skip


def test_an_admin_write_from_another_port_or_scheme_is_refused(study_file):
    # the example: the admin cookie, and an Origin of another port or scheme, changed the
    # cap (only the host name was compared; SameSite=Strict does not stop another port: same site)
    c = _admin(study_file)
    for origin in OTHER_ORIGINS:
        r = c.post("/api/study/admin/settings", json={"cap": 7}, headers={"Origin": origin})
        assert r.status_code == 403 and "cross-origin" in r.json()["detail"], (origin, r.status_code)
        assert c.get("/api/study/admin/progress").json()["settings"]["cap"] == 100, origin
    own = {"Origin": "http://127.0.0.1:8000"}
    assert c.post("/api/study/admin/settings", json={"cap": 7}, headers=own).json()["cap"] == 7
    # the default port of the scheme, written or not, is the same origin
    c80 = TestClientFor(c.app, "http://127.0.0.1")
    assert c80.post("/api/study/participants", headers={"Origin": "http://127.0.0.1:80"}).status_code == 200
    assert c80.post("/api/study/participants", headers={"Origin": "http://127.0.0.1"}).status_code == 200
    assert c80.post("/api/study/participants", headers={"Origin": "http://127.0.0.1:8000"}).status_code == 403


def TestClientFor(app, base):  # noqa: N802 (a client of the same app at another address)
    from fastapi.testclient import TestClient

    return TestClient(app, base_url=base, follow_redirects=False)


def test_without_origin_the_referer_is_compared(study_file):
    c = _admin(study_file)
    for referer in ("http://localhost:9999/page", "https://127.0.0.1/study/admin", "http://evil.example/x"):
        r = c.post("/api/study/admin/settings", json={"open": False}, headers={"Referer": referer})
        assert r.status_code == 403, referer
    assert c.get("/api/study/admin/progress").json()["settings"]["open"] is True
    r = c.post("/api/study/admin/settings", json={"open": False}, headers={"Referer": "http://127.0.0.1:8000/study/admin"})
    assert r.status_code == 200 and r.json()["open"] is False
    # neither header (a script, curl): not a browser's cross-site request
    assert c.post("/api/study/admin/settings", json={"open": True}).json()["open"] is True
    # two Origin headers: refused, whichever comes last
    two = [("origin", "http://127.0.0.1:8000"), ("origin", "http://localhost:9999")]
    assert c.post("/api/study/admin/settings", json={"cap": 9}, headers=two).status_code == 403
    assert c.post("/api/study/admin/settings", json={"cap": 9}, headers=two[::-1]).status_code == 403


def test_every_state_changing_route_refuses_another_origin(bench, index, results, study_file):
    # every route of a server with an index, a benchmark and a study, and every method but the
    # safe ones, whatever the path: a write from another origin never reaches a route
    c = _admin(study_file, index, bench, results)
    from pixret.server import routes_bench, routes_search, routes_study

    routes = [*c.app.routes, *(r for m in (routes_search, routes_bench, routes_study) for r in m.router.routes)]
    writes = [(m, r.path) for r in routes for m in getattr(r, "methods", None) or () if m not in ("GET", "HEAD")]
    assert {p for _, p in writes} >= {"/api/search", "/api/study/participants", "/api/study/admin/settings",
                                      "/study/admin/login", "/study/admin/logout", "/api/study/p/{pid}/responses"}
    before = c.get("/api/study/admin/progress").json()
    for method, path in [*writes, ("PUT", "/api/study/admin/settings"), ("DELETE", "/api/images/0"),
                         ("PATCH", "/"), ("PROPFIND", "/")]:  # fmt: skip
        url = path.replace("{pid}", "x").replace("{sid}", "x")
        for origin in ("http://localhost:9999", "https://127.0.0.1"):
            r = c.request(method, url, headers={"Origin": origin}, data={"token": "tok", "box": "0,0,50,50"})
            assert r.status_code == 403, (method, path, origin, r.status_code)
    assert c.get("/api/study/admin/progress").json() == before


def test_a_host_header_must_be_well_formed(client):
    for host in ("127.0.0.1:8000, evil.example", "127.0.0.1:abc", "127.0.0.1:8000:9000", "127.0.0.1:99999",
                 "127.0.0.1:0", "evil@127.0.0.1", "127.0.0.1/x", "localhost.", "[::1", "::1", "", "127.0.0.1 :80"):  # fmt: skip
        assert client.get("/api/info", headers={"Host": host}).status_code == 400, host
    for host in ("127.0.0.1", "LOCALHOST:8000", "[::1]:8000", "[::1]", "127.0.0.1:65535"):
        assert client.get("/api/info", headers={"Host": host}).status_code == 200, host
    two = [("host", "127.0.0.1:8000"), ("host", "evil.example")]
    assert client.get("/api/info", headers=two).status_code == 400


def test_behind_a_tls_proxy_the_origin_is_https_and_the_forwarded_host(study_file):
    # a proxy on this machine passes the browser's Host and says https in X-Forwarded-Proto
    # (uvicorn believes it from 127.0.0.1): the page's own writes pass, plain http ones do not
    import httpx

    from pixret.server import create_app
    from tests.helpers import serve_app

    with serve_app(create_app(None, study=study_file, study_token="tok", hosts=("pixret.example",))) as url:
        proxied = {"Host": "pixret.example", "X-Forwarded-Proto": "https"}
        for origin, status in (("https://pixret.example", 200), ("https://pixret.example:443", 200),
                               ("http://pixret.example", 403), ("https://pixret.example:8443", 403)):  # fmt: skip
            r = httpx.post(url + "/api/study/participants", headers={**proxied, "Origin": origin}, timeout=30)
            assert r.status_code == status, (origin, r.status_code)
