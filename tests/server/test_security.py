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
