"""The web API (FastAPI's client) and the page in a real browser (Playwright + Chromium)."""

import io
import shutil
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from pixret.pipelines.benchmark import run_engine, write_run
from pixret.server import create_app
from tests.conftest import ARTIFACTS
from tests.helpers import serve_app


@pytest.fixture(scope="module")
def results(bench, index, tmp_path_factory):
    out = tmp_path_factory.mktemp("res")
    write_run(out, bench, run_engine(bench, index.cfg, index.root, progress=False), "fast")
    return out


@pytest.fixture(scope="module")
def client(bench, index, results):
    return TestClient(create_app(index.root, bench.root, "eng", results), base_url="http://127.0.0.1:8000")


def _search(client, bench, q=0, **files):
    query = bench.queries[q]
    data = {"box": ",".join(f"{v:.1f}" for v in query.box), "top": "10"}
    if not files:
        files = {"file": ("q.jpg", bench.query_image(q).read_bytes(), "image/jpeg")}
    return client.post("/api/search", data=data, files=files)


def test_search_api_returns_ranked_hits_with_masks(client, bench):
    r = _search(client, bench)
    assert r.status_code == 200, r.text
    d = r.json()
    first = d["hits"][0]
    assert first["verified"] and first["id"] in set(bench.queries[0].positives.tolist())
    assert first["polygons"] and len(first["polygons"][0][0]) == 2
    m = client.get(f"/api/searches/{d['search_id']}/hits/0/mask.png")
    mask = cv2.imdecode(np.frombuffer(m.content, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert mask.shape == (first["h"], first["w"]) and mask.max() == 255
    assert client.get(f"/api/searches/{d['search_id']}/hits/0/matches").json()["matches"]
    assert client.get("/api/searches/nope/hits/0/mask.png").status_code == 404


def test_search_by_database_image_and_benchmark_mode(client, bench):
    q = bench.queries[1]
    i = int(q.easy[0])
    gt = bench.gt(1, i).all_points
    box = f"{gt[:, 0].min():.0f},{gt[:, 1].min():.0f},{gt[:, 0].max():.0f},{gt[:, 1].max():.0f}"
    r = client.post("/api/search", data={"box": box, "image_id": str(i)})
    assert r.status_code == 200 and r.json()["hits"][0]["id"] == i  # finds itself first
    qs = client.get("/api/benchmark/queries").json()["queries"]
    assert len(qs) == 3
    d = client.get("/api/benchmark/queries/0").json()
    assert {r["status"] for r in d["results"]} <= {"true", "false", "junk"}
    assert any(r["gt"] for r in d["results"]) and any(r["pred"] for r in d["results"])
    assert client.get("/api/benchmark/queries/0/image?size=200").headers["content-type"] == "image/jpeg"
    assert client.get("/api/images?limit=5").json()["total"] == bench.n_database


def test_uploads_are_checked(client, bench, monkeypatch):
    assert _search(client, bench, file=("x.jpg", b"hello", "image/jpeg")).status_code == 415
    big = io.BytesIO()
    Image.new("L", (9000, 9000)).save(big, "PNG")  # 81 MP of zeros: tiny file, huge decode
    r = _search(client, bench, file=("../../etc/passwd.png", big.getvalue(), "image/png"))
    assert r.status_code == 413 and "MP limit" in r.json()["detail"]
    assert client.post("/api/search", data={"box": "1,2,3"}).status_code == 422
    r = client.post("/api/search", data={"box": "10.4,10.6,5,5", "image_id": "0"})
    assert r.status_code == 422 and "box 10, 11, 5, 5 is empty" in r.json()["detail"]  # as the page shows it
    assert client.get("/api/images/99999").status_code == 404


def test_concurrent_searches_agree(client, bench):
    with ThreadPoolExecutor(4) as pool:
        out = list(pool.map(lambda _: _search(client, bench).json(), range(6)))
    firsts = {tuple(h["id"] for h in o["hits"]) for o in out}
    assert len(firsts) == 1 and len({o["search_id"] for o in out}) == 6


# ---------------------------------------------------------------- browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


def _desktop(p, width: int, height: int):
    """Chromium and a page; bypass_csp only lets the tests poll with wait_for_function (the CSP
    forbids the eval it uses), the page's own scripts run as they would anyway."""
    browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    return browser, browser.new_page(viewport={"width": width, "height": height}, bypass_csp=True)


@pytest.fixture(scope="module")
def live_server(bench, index, results):
    with serve_app(create_app(index.root, bench.root, "eng", results)) as url:
        yield url


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium not installed (apt-get install chromium)")
def test_page_search_by_drawing_a_box(live_server, bench):
    from playwright.sync_api import sync_playwright

    q = bench.queries[0]
    with sync_playwright() as p:
        browser, page = _desktop(p, 1400, 1100)
        page.goto(live_server)
        page.wait_for_selector("#thumbs .thumb img")
        page.set_input_files("#upload", str(bench.query_image(0)))
        page.wait_for_function("document.getElementById('query-canvas').width > 300")
        canvas = page.locator("#query-canvas")
        bb = canvas.bounding_box()
        cw = page.evaluate("document.getElementById('query-canvas').width")
        img = cv2.imread(str(bench.query_image(0)))
        s = bb["width"] / img.shape[1]
        assert abs(cw / img.shape[1] - s) < 0.02  # drawn at the scale we compute
        page.mouse.move(bb["x"] + q.box[0] * s, bb["y"] + q.box[1] * s)
        page.mouse.down()
        page.mouse.move(bb["x"] + (q.box[0] + q.box[2]) / 2 * s, bb["y"] + (q.box[1] + q.box[3]) / 2 * s)
        page.mouse.move(bb["x"] + q.box[2] * s, bb["y"] + q.box[3] * s)
        page.mouse.up()
        assert page.is_enabled("#search-btn")
        page.click("#search-btn")
        page.wait_for_selector(".tile[data-verified='true'][data-drawn='1']", timeout=20000)
        tiles = page.locator(".tile[data-verified='true']")
        assert tiles.count() >= 2
        # the mask is drawn: the tile has red-tinted pixels
        red = page.evaluate("""() => { const c = document.querySelector(".tile[data-verified='true'] canvas");
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
            for (let k = 0; k < d.length; k += 4) if (d[k] > 150 && d[k+1] < 110 && d[k+2] < 110) n++; return n; }""")
        assert red > 100
        tiles.first.click()
        page.wait_for_selector("#detail:not([hidden])")
        page.check("#show-matches")
        page.wait_for_function("+document.getElementById('detail-canvas').dataset.matches > 0")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "search-page.png"
        page.screenshot(path=str(shot))
        page.click("#close-detail")
        page.click("#tab-bench")
        page.wait_for_selector("#bench-results .tile.true")
        assert not page.is_visible("#search-view") and page.is_visible("#bench-view")
        page.screenshot(path=str(ARTIFACTS / "benchmark-page.png"))
        browser.close()


# ---------------------------------------------------------------- what the server refuses


def test_names_given_at_start_are_allowed(bench, index):
    c = TestClient(create_app(index.root, hosts=("lab.example",)), base_url="http://127.0.0.1:8000")
    assert c.get("/api/info", headers={"Host": "lab.example:8000"}).status_code == 200
    assert c.get("/api/info", headers={"Host": "other.example"}).status_code == 400


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


def test_the_search_store_is_bounded_by_bytes(monkeypatch):
    from pixret.server import state as st_mod

    monkeypatch.setattr(st_mod, "MAX_STORE_BYTES", 3_000_000)
    st = st_mod.State(index=None)
    ids = [st.remember(np.zeros((1000, 1000), np.uint8), None) for _ in range(5)]  # 1 MB each
    assert st.store_bytes <= 3_000_000 and len(st.searches) == 3 and ids[-1] in st.searches
    st.remember(np.zeros((3000, 2000), np.uint8), None)  # one larger than the cap: kept alone
    assert len(st.searches) == 1


def test_damaged_labels_and_missing_images_are_4xx_and_the_connection_lives(bench, index, tmp_path):
    root = tmp_path / "b"
    shutil.copytree(bench.root, root)
    for label in bench.pair_labels.values():
        (root / label.relative_to(bench.root)).write_text("{ not json")
    c = TestClient(create_app(index.root, root, "eng"), base_url="http://127.0.0.1:8000")
    r = c.get("/api/benchmark/queries/0")
    assert r.status_code == 422 and "unreadable JSON" in r.json()["detail"]
    assert c.get("/api/info").status_code == 200
    tiny = io.BytesIO()
    Image.new("RGB", (1, 1)).save(tiny, "PNG")
    r = c.post(
        "/api/search", data={"box": "0,0,1,1"}, files={"file": ("t.png", tiny.getvalue(), "image/png")}
    )
    assert r.status_code == 422 and "too small to search" in r.json()["detail"]


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium not installed (apt-get install chromium)")
def test_benchmark_names_are_shown_as_text_never_run(bench, index, tmp_path):
    import pickle

    from playwright.sync_api import sync_playwright

    root = tmp_path / "b"
    shutil.copytree(bench.root, root)
    gnd_path = next(root.rglob("gnd_eng.pkl"))
    gnd = pickle.loads(gnd_path.read_bytes())
    evil = '<img src=x onerror="window.__xss=1">'
    gnd["qimlist"] = [evil + n for n in gnd["qimlist"]]
    gnd_path.write_bytes(pickle.dumps(gnd))
    with serve_app(create_app(index.root, root, "eng")) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        page.goto(url + "/")
        page.wait_for_selector("#bench-query option", state="attached")
        text = page.eval_on_selector("#bench-query option", "o => o.textContent")
        assert evil in text
        page.wait_for_timeout(500)
        assert page.evaluate("window.__xss") is None
        assert page.locator("#bench-query img").count() == 0
        browser.close()


def test_an_image_deleted_after_indexing_is_a_4xx_naming_it(bench, tmp_path):
    from pixret.engine import Index, get_config

    photos = []
    for i in range(4):
        photos.append(tmp_path / f"p{i}.jpg")
        shutil.copy(bench.database_image(i), photos[-1])
    idx = Index.build(photos, get_config("fast"), tmp_path / "idx", progress=False)
    photos[2].unlink()
    c = TestClient(create_app(idx.root), base_url="http://127.0.0.1:8000")
    r = c.get("/api/images/2?size=100")
    assert r.status_code == 422 and "p2.jpg" in r.json()["detail"]
    assert c.get("/api/images/1?size=100").status_code == 200  # the connection and the app live on


# ---------------------------------------------------------------- the page as people use it


def _drag_box_by_touch(page, canvas_sel, box, img_w):
    """A finger drag over the canvas (CDP touch events: Chromium turns them into pointer events)."""
    bb = page.locator(canvas_sel).bounding_box()
    s = bb["width"] / img_w
    cdp = page.context.new_cdp_session(page)
    x0, y0 = bb["x"] + box[0] * s, bb["y"] + box[1] * s
    x1, y1 = bb["x"] + box[2] * s, bb["y"] + box[3] * s
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x0, "y": y0}]})
    for k in range(1, 6):
        x, y = x0 + (x1 - x0) * k / 5, y0 + (y1 - y0) * k / 5
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium not installed (apt-get install chromium)")
def test_page_on_a_phone_draws_the_box_by_touch(live_server, bench):
    from playwright.sync_api import sync_playwright

    q = bench.queries[0]
    img_w = cv2.imread(str(bench.query_image(0))).shape[1]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, bypass_csp=True,
                                  device_scale_factor=2)  # fmt: skip
        page = ctx.new_page()
        page.goto(live_server)
        page.wait_for_selector("#thumbs .thumb img")
        # laid out for the phone: one column, nothing wider than the screen
        assert (
            page.evaluate(
                "getComputedStyle(document.getElementById('search-view')).gridTemplateColumns.split(' ').length"
            )
            == 1
        )
        assert page.evaluate("document.documentElement.scrollWidth") <= 391
        page.set_input_files("#upload", str(bench.query_image(0)))
        page.wait_for_function("document.getElementById('query-canvas').width > 200")
        _drag_box_by_touch(page, "#query-canvas", q.box, img_w)
        assert page.is_enabled("#search-btn")
        got = [float(page.input_value(f"#{k}")) for k in ("bx1", "by1", "bx2", "by2")]
        assert np.allclose(got, q.box, atol=img_w / 390 * 3)  # the fields follow the finger
        # a click: Playwright's tap after raw CDP touches goes nowhere (a tap alone works)
        page.click("#search-btn")
        page.wait_for_selector(".tile[data-verified='true'][data-drawn='1']", timeout=20000)
        assert page.evaluate("document.documentElement.scrollWidth") <= 391
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "phone-page.png"))
        browser.close()


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium not installed (apt-get install chromium)")
def test_page_by_keyboard_alone(live_server, bench):
    from playwright.sync_api import sync_playwright

    def tab_to(page, selector, limit=80):
        for _ in range(limit):
            page.keyboard.press("Tab")
            if page.evaluate(f"document.activeElement.matches({selector!r})"):
                return
        raise AssertionError(f"Tab never reached {selector}")

    q = bench.queries[1]
    i = int(q.easy[0])
    gt = bench.gt(1, i).all_points
    box = [int(gt[:, 0].min()), int(gt[:, 1].min()), int(gt[:, 0].max()), int(gt[:, 1].max())]
    with sync_playwright() as p:
        browser, page = _desktop(p, 1366, 900)
        page.goto(live_server)
        page.wait_for_selector("#thumbs .thumb img")
        assert page.get_attribute("#thumbs .thumb img", "alt").startswith("use ")
        tab_to(page, f"#thumbs .thumb[data-id='{i}']")
        page.keyboard.press("Enter")
        page.wait_for_function("document.getElementById('query-canvas').width > 200")
        tab_to(page, "#bx1")
        for k, v in enumerate(box):
            page.keyboard.type(str(v))
            if k < 3:
                page.keyboard.press("Tab")
        page.keyboard.press("Enter")
        page.wait_for_selector(".tile[data-verified='true'][data-drawn='1']", timeout=20000)
        tab_to(page, ".tile[data-verified='true']")
        page.keyboard.press("Enter")
        page.wait_for_selector("#detail:not([hidden])")
        assert page.evaluate("document.activeElement.id") == "close-detail"
        for _ in range(5):  # focus stays inside the dialog
            page.keyboard.press("Tab")
            assert page.evaluate("document.getElementById('detail').contains(document.activeElement)")
        page.keyboard.press("Escape")
        assert page.is_hidden("#detail")
        assert page.evaluate("document.activeElement.matches('.tile')")  # back on the tile it opened
        browser.close()


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium not installed (apt-get install chromium)")
def test_page_says_no_match_keeps_candidates_apart_and_a_double_click_searches_once(
    live_server, bench, tmp_path
):
    from playwright.sync_api import sync_playwright

    noise = tmp_path / "noise.png"
    cv2.imwrite(str(noise), np.random.default_rng(5).integers(0, 255, (300, 400, 3), dtype=np.uint8))
    with sync_playwright() as p:
        browser, page = _desktop(p, 1366, 900)
        page.goto(live_server)
        page.wait_for_selector("#thumbs .thumb img")
        # feedback: a file that is no image says so, visibly
        bad = tmp_path / "notes.jpg"
        bad.write_text("not an image")
        page.set_input_files("#upload", str(bad))
        page.wait_for_selector("#error:not([hidden])")
        assert "notes.jpg could not be read as an image" in page.inner_text("#error")
        # a query of noise: nothing verified -> "No match found", candidates folded away
        page.set_input_files("#upload", str(noise))
        page.wait_for_function("document.getElementById('query-canvas').width > 200")
        page.fill("#bx1", "20"), page.fill("#by1", "20"), page.fill("#bx2", "380"), page.fill("#by2", "280")
        page.click("#search-btn")
        page.wait_for_selector("#no-match:not([hidden])", timeout=20000)
        assert page.locator("#results .tile").count() == 0
        assert page.is_visible("#unverified") and not page.evaluate(
            "document.getElementById('unverified').open"
        )
        assert "object not found in them" in page.inner_text("#unverified-summary")
        # a thumbnail after an upload: the file field no longer names the old query
        page.click(f"#thumbs .thumb[data-id='{int(bench.queries[0].easy[0])}']")
        assert page.input_value("#upload") == ""
        # a double click searches once: no repeated tiles
        page.set_input_files("#upload", str(bench.query_image(0)))
        page.wait_for_function("document.getElementById('query-canvas').width > 200")
        box = bench.queries[0].box
        for k, v in zip(("bx1", "by1", "bx2", "by2"), box, strict=True):
            page.fill(f"#{k}", str(round(v)))
        page.dblclick("#search-btn")
        page.wait_for_selector(".tile[data-verified='true'][data-drawn='1']", timeout=20000)
        page.wait_for_timeout(1500)
        ranks = page.eval_on_selector_all("#results .tile", "ts => ts.map(t => t.dataset.rank)")
        assert ranks and len(ranks) == len(set(ranks)) and ranks[0] == "0"
        browser.close()
