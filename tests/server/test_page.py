"""The search page in a real browser (Playwright + Chromium): drawing a box by mouse, touch and keyboard."""

import contextlib
import math
import shutil
import unicodedata

import cv2
import numpy as np
import pytest

from pixret.server import create_app
from tests.conftest import ARTIFACTS
from tests.helpers import needs_chromium, serve_app

pytestmark = pytest.mark.browser


@contextlib.contextmanager
def _context(browser, **kw):
    """A browser context of the module's Chromium, closed after (bypass_csp only lets the
    tests poll with wait_for_function: the CSP forbids the eval it uses)."""
    ctx = browser.new_context(**{"bypass_csp": True, **kw})
    try:
        yield ctx
    finally:
        ctx.close()


@contextlib.contextmanager
def _page(browser, width: int, height: int):
    with _context(browser, viewport={"width": width, "height": height}) as ctx:
        yield ctx.new_page()


@needs_chromium
def test_page_search_by_drawing_a_box(live_server, bench, browser):
    q = bench.queries[0]
    with _page(browser, 1400, 1100) as page:
        page.goto(live_server)
        page.wait_for_selector("#thumbs .thumb img")
        page.set_input_files("#upload", str(bench.query_image(0)))
        page.wait_for_selector("#box-fields:not([disabled])")
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
        # every verified tile drawn (tiles paint as their images arrive, in any order: reading the
        # first verified tile as soon as some other tile was drawn raced its image on a busy CI machine)
        page.wait_for_selector(".tile[data-verified='true']", timeout=20000)
        page.wait_for_function(
            "[...document.querySelectorAll(\".tile[data-verified='true']\")].every((t) => t.dataset.drawn === '1')",
            timeout=20000,
        )
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


@needs_chromium
def test_benchmark_names_are_shown_as_text_never_run(bench, index, tmp_path, browser):
    import pickle

    root = tmp_path / "b"
    shutil.copytree(bench.root, root)
    gnd_path = next(root.rglob("gnd_eng.pkl"))
    gnd = pickle.loads(gnd_path.read_bytes())
    evil = '<img src=x onerror="window.__xss=1">'
    gnd["qimlist"] = [evil + "\u202egpj.exe_" + n for n in gnd["qimlist"]]  # markup, and a bidi override
    gnd_path.write_bytes(pickle.dumps(gnd))
    with serve_app(create_app(index.root, root, "eng")) as url, _page(browser, 1280, 800) as page:
        page.goto(url + "/")
        page.wait_for_selector("#bench-query option", state="attached")
        text = page.eval_on_selector("#bench-query option", "o => o.textContent")
        assert evil + "<U+202E>gpj.exe_" in text and "\u202e" not in text
        page.wait_for_timeout(500)
        assert page.evaluate("window.__xss") is None
        assert page.locator("#bench-query img").count() == 0


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


@needs_chromium
def test_page_on_a_phone_draws_the_box_by_touch(live_server, bench, browser):
    q = bench.queries[0]
    img_w = cv2.imread(str(bench.query_image(0))).shape[1]
    with _context(browser, **PHONE) as ctx:
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
        page.wait_for_selector("#box-fields:not([disabled])")
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


@needs_chromium
def test_page_by_keyboard_alone(live_server, bench, browser):
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
    with _page(browser, 1366, 900) as page:
        page.goto(live_server)
        page.wait_for_selector("#thumbs .thumb img")
        assert page.get_attribute("#thumbs .thumb img", "alt").startswith("use ")
        tab_to(page, f"#thumbs .thumb[data-id='{i}']")
        page.keyboard.press("Enter")
        page.wait_for_selector("#box-fields:not([disabled])")
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


@needs_chromium
def test_page_says_no_match_keeps_candidates_apart_and_a_double_click_searches_once(
    live_server, bench, tmp_path, browser
):
    noise = tmp_path / "noise.png"
    cv2.imwrite(str(noise), np.random.default_rng(5).integers(0, 255, (300, 400, 3), dtype=np.uint8))
    with _page(browser, 1366, 900) as page:
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
        page.wait_for_selector("#box-fields:not([disabled])")
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
        page.wait_for_selector("#box-fields:not([disabled])")
        box = bench.queries[0].box
        for k, v in zip(("bx1", "by1", "bx2", "by2"), box, strict=True):
            page.fill(f"#{k}", str(round(v)))
        page.dblclick("#search-btn")
        page.wait_for_selector(".tile[data-verified='true'][data-drawn='1']", timeout=20000)
        page.wait_for_timeout(1500)
        ranks = page.eval_on_selector_all("#results .tile", "ts => ts.map(t => t.dataset.rank)")
        assert ranks and len(ranks) == len(set(ranks)) and ranks[0] == "1"  # ranks count from 1, as in `pixret search --json`


# ---------------------------------------------------------------- the newer page: camera photos, waiting, benchmark tiles, the picker
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}


def _camera_photo(bench, path) -> tuple[float, ...]:
    """A 50 MP JPEG (8160x6120) holding query 0's photo scaled 7.5 times, as a phone camera
    would take it; returns the query's box in its pixels."""
    img = cv2.imread(str(bench.query_image(0)))
    k, (ox, oy) = 7.5, (300, 60)
    big = np.full((6120, 8160, 3), 90, np.uint8)
    up = cv2.resize(img, None, fx=k, fy=k, interpolation=cv2.INTER_LINEAR)
    big[oy : oy + up.shape[0], ox : ox + up.shape[1]] = up[: 6120 - oy, : 8160 - ox]
    assert cv2.imwrite(str(path), big, [cv2.IMWRITE_JPEG_QUALITY, 85])
    b = bench.queries[0].box
    return (b[0] * k + ox, b[1] * k + oy, b[2] * k + ox, b[3] * k + oy)


@needs_chromium
def test_a_50_mp_camera_photo_is_scaled_down_and_the_box_stays_in_its_pixels(live_server, bench, browser, tmp_path):
    photo = tmp_path / "IMG_0001.jpg"
    box = _camera_photo(bench, photo)
    assert 8160 * 6120 > 40_000_000  # over the server's limit: the page must not send it as it is
    page = browser.new_page(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    sent = []
    page.on("request", lambda r: sent.append(len(r.post_data_buffer or b"")) if r.url.endswith("/api/search") else None)
    page.goto(live_server)
    page.wait_for_selector("#thumbs .thumb img")
    page.set_input_files("#upload", str(photo))
    page.wait_for_selector("#box-fields:not([disabled])", timeout=60000)
    note = page.inner_text("#photo-note")
    assert "8160 × 6120 pixels (50 MP), sent at 3072 × 2304" in note
    for k, v in zip(("bx1", "by1", "bx2", "by2"), box, strict=True):
        page.fill(f"#{k}", str(round(v)))
    assert page.inner_text("#box-text") == "box " + ", ".join(str(round(v)) for v in box)  # the photo's pixels
    page.click("#search-btn")
    page.wait_for_selector(".tile[data-verified='true'][data-drawn='1']", timeout=60000)
    d = page.evaluate("state.search")
    assert (d["query"]["w"], d["query"]["h"]) == (3072, 2304) and sent and max(sent) < 20 * 1024 * 1024
    k = 3072 / 8160
    assert np.allclose(d["query"]["box"], [round(v * k) for v in box], atol=1)  # sent scaled, shown as given
    assert [float(page.input_value(f"#{f}")) for f in ("bx1", "by1", "bx2", "by2")] == [round(v) for v in box]
    found = {h["index"] for h in d["hits"] if h["verified"]}
    assert found & set(bench.queries[0].positives.tolist())
    page.close()


class _Slow:
    """The app with every search held back 1.5 s (a slow index), to watch the page wait."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        import asyncio

        if scope["type"] == "http" and scope["path"] == "/api/search":
            await asyncio.sleep(1.5)
        await self.app(scope, receive, send)


def _search_query_0(page, url, bench) -> None:
    """Open the page, upload query 0's photo, type its box and press Search."""
    page.goto(url)
    page.wait_for_selector("#thumbs .thumb img")
    page.set_input_files("#upload", str(bench.query_image(0)))
    page.wait_for_selector("#box-fields:not([disabled])")
    for k, v in zip(("bx1", "by1", "bx2", "by2"), bench.queries[0].box, strict=True):
        page.fill(f"#{k}", str(round(v)))
    page.click("#search-btn")


@needs_chromium
def test_a_slow_search_shows_its_stage_and_time_and_can_be_cancelled(bench, index, browser):
    with serve_app(_Slow(create_app(index.root))) as url:
        page = browser.new_page(viewport={"width": 1280, "height": 800}, bypass_csp=True)
        _search_query_0(page, url, bench)
        page.wait_for_selector("#status[data-stage='searching']")
        first = page.inner_text("#status")
        page.wait_for_timeout(600)
        later = page.inner_text("#status")
        assert first.startswith("searching: features, shortlist, matching, verification, expansion, masks · ")
        assert float(later.split("· ")[1].rstrip(" s")) > float(first.split("· ")[1].rstrip(" s"))  # the clock runs
        _shot(page, "search-waiting.png")
        assert page.is_visible("#cancel-btn")
        page.click("#cancel-btn")
        assert page.inner_text("#status") == "cancelled" and page.is_enabled("#search-btn")
        page.wait_for_timeout(2000)  # the server's answer comes, and is dropped
        assert page.locator("#results .tile").count() == 0 and page.inner_text("#status") == "cancelled"
        page.click("#search-btn")
        page.wait_for_selector(".tile[data-verified='true'][data-drawn='1']", timeout=30000)
        status = page.inner_text("#status")
        assert status.startswith("found in ") and "verification" in status and not page.is_visible("#cancel-btn")
        text = page.inner_text("body")
        assert "matching points" not in text and "inliers" in page.get_attribute(".tile[data-verified='true']", "aria-label")
        page.close()


def _shot(page, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name))


@needs_chromium
def test_benchmark_tiles_show_iou_and_whether_they_count_and_open_the_detail_view(live_server, bench, browser):
    import json
    import urllib.request

    with urllib.request.urlopen(live_server + "/api/benchmark/queries/0?top=24", timeout=30) as r:
        truth = json.loads(r.read())
    true = [r for r in truth["results"] if r["status"] == "true" and r["iou"] is not None]
    assert true and all(0 <= r["iou"] <= 1 for r in true)
    assert all(r["counts_at"] == [t for t in range(50, 100, 5) if r["iou"] > t / 100] for r in true)
    for name, kw in (("desktop", {"viewport": {"width": 1280, "height": 800}}), ("phone", PHONE)):
        ctx = browser.new_context(bypass_csp=True, **kw)
        page = ctx.new_page()
        page.goto(live_server)
        page.click("#tab-bench")
        page.wait_for_selector("#bench-results .tile.true[data-drawn='1']")
        tile = page.locator("#bench-results .tile.true").first
        r = next(x for x in truth["results"] if x["status"] == "true")
        assert f"IoU {round(100 * r['iou'])}" in tile.inner_text() and "counts at" in tile.inner_text()
        assert page.evaluate("document.documentElement.scrollWidth") <= kw["viewport"]["width"]
        _shot(page, f"bench-{name}.png")
        tile.click()
        page.wait_for_selector("#detail-canvas[data-drawn='1']")
        layout = page.get_attribute("#detail-canvas", "data-layout")
        assert layout == ("stacked" if name == "phone" else "side")
        assert page.is_hidden("#matches-toggle")  # no inliers for a benchmark's method
        bb = page.locator("#detail-canvas").bounding_box()
        assert bb["width"] <= kw["viewport"]["width"]
        _shot(page, f"bench-detail-{name}.png")
        page.keyboard.press("Escape")
        assert page.is_hidden("#detail")
        ctx.close()


@needs_chromium
def test_the_collection_picker_filters_by_name(live_server, bench, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    page.goto(live_server)
    page.wait_for_selector("#thumbs .thumb img")
    assert page.locator("#thumbs .thumb-name").first.inner_text() == bench.database[0]
    name = bench.database[7]
    page.fill("#filter", name[-3:].upper())  # any case
    page.wait_for_function("document.getElementById('thumbs-count').textContent.startsWith('1 image')")
    assert page.locator("#thumbs .thumb").count() == 1 and page.inner_text("#thumbs .thumb-name") == name
    page.fill("#filter", "no-such-name")
    page.wait_for_function("document.getElementById('thumbs-count').textContent.startsWith('0 images')")
    assert page.locator("#thumbs .thumb").count() == 0
    page.close()


@needs_chromium
def test_the_page_says_when_the_index_changed_under_it_and_searches_again(bench, tmp_path, browser, monkeypatch):
    # the example, in the browser: a page shows hits, the index is rebuilt under the
    # running server, and id 0 names another photo. The page must never show another image for
    # a hit; it says the index changed and offers to search again (the same pixels and box)
    from pixret.server import state as st_mod
    from tests.helpers import run_cli

    monkeypatch.setattr(st_mod, "POLL_SECONDS", 0.0)
    q = bench.queries[0]
    positives = [int(i) for i in q.easy[:3]]
    others = [i for i in range(bench.n_database) if i not in q.positives]

    def photos(name, ids, with_query):
        folder = tmp_path / name
        folder.mkdir()
        if with_query:
            shutil.copy(bench.query_image(0), folder / "aa_query.jpg")  # id 0, first by name
        for k, i in enumerate(ids):
            shutil.copy(bench.database_image(i), folder / f"{name}_{k:02d}.jpg")
        return folder

    idx = tmp_path / "idx"
    r = run_cli(["index", photos("old", positives + others[:3], True), "--index", idx, "--workers", "1"])
    assert r.returncode == 0, r.stderr
    with serve_app(create_app(idx)) as url, _page(browser, 1280, 1000) as page:
        page.goto(url)
        page.wait_for_selector("#thumbs .thumb img")
        page.click("#thumbs .thumb[data-id='0']")  # the query, picked from the collection
        page.wait_for_selector("#box-fields:not([disabled])")
        for k, v in zip(("bx1", "by1", "bx2", "by2"), q.box, strict=True):
            page.fill(f"#{k}", str(round(v)))
        page.click("#search-btn")
        page.wait_for_selector(".tile[data-verified='true'][data-drawn='1']", timeout=30000)
        before = page.eval_on_selector_all("#results .tile", "ts => ts.map(t => t.getAttribute('aria-label'))")
        assert any("old_0" in t for t in before)
        assert page.is_hidden("#index-changed")

        # rebuilt: other photos first, the object's last, no query image: every id means another photo
        r = run_cli(["index", photos("new", others[3:6] + positives[::-1], False), "--index", idx, "--workers", "1"])
        assert r.returncode == 0, r.stderr
        page.wait_for_selector("#index-changed:not([hidden])", timeout=20000)  # the page looks every 4 s
        assert "The index changed while this page was open (now 6 images)" in page.inner_text("#index-changed")
        assert page.is_visible("#search-again") and "stale" in page.get_attribute("#results-panel", "class")
        page.wait_for_function("[...document.querySelectorAll('#thumbs .thumb-name')].some(n => n.textContent.startsWith('new_'))")
        assert not page.eval_on_selector_all("#thumbs .thumb-name", "ns => ns.filter(n => n.textContent.startsWith('old_')).length")
        _shot(page, "index-changed.png")
        # an old result's tile opens no image of the new index: a clear line instead
        page.locator("#results .tile").first.click()
        page.wait_for_selector("#error:not([hidden])")
        assert page.is_hidden("#detail") and "comes from the earlier index" in page.inner_text("#error")

        page.click("#search-again")  # the same pixels and box, now on the new index
        page.wait_for_function("!document.getElementById('results-panel').classList.contains('stale')", timeout=30000)
        page.wait_for_selector("#results .tile[data-verified='true'][data-drawn='1']", timeout=30000)
        assert page.is_hidden("#index-changed") and page.is_hidden("#error")
        after = page.eval_on_selector_all("#results .tile", "ts => ts.map(t => t.getAttribute('aria-label'))")
        assert after and all("old_" not in t for t in after) and any("new_" in t for t in after)
        assert "stale" not in (page.get_attribute("#results-panel", "class") or "")
        page.locator("#results .tile[data-verified='true']").first.click()
        page.wait_for_selector("#detail-canvas[data-drawn='1']")
        _shot(page, "index-changed-searched-again.png")


# ---------------------------------------------------------------- what the screenshots show (issue 32)
class _Responses:
    """The app, with the path and status of every response it sends kept in ``log``."""

    def __init__(self, app):
        self.app, self.log = app, []

    async def __call__(self, scope, receive, send):
        async def keep(msg):
            if msg["type"] == "http.response.start":
                self.log.append((scope["path"], msg["status"]))
            await send(msg)

        await self.app(scope, receive, keep if scope["type"] == "http" else send)


@needs_chromium
def test_no_page_asks_for_a_file_the_server_lacks(bench, index, results, study_file, browser):
    """Each page asked for /favicon.ico, a 404. Every page, on a desktop and on a phone, in a
    browser of its own (Chromium remembers a missing icon across pages)."""
    from tests.helpers import ARGS, CHROMIUM

    token = "tok-for-pages"
    search = _Responses(create_app(index.root, bench.root, "eng", results))
    study = _Responses(create_app(None, study=study_file, study_token=token))
    pages = [(search, "/", None), (search, "/", "#tab-bench"), (study, "/study", None),
             (study, "/study/admin", None), (study, "/study/admin", "login")]  # fmt: skip
    with serve_app(search) as search_url, serve_app(study) as study_url:
        urls = {id(search): search_url, id(study): study_url}
        for app, path, then in pages:
            for kw in ({"viewport": {"width": 1280, "height": 800}}, PHONE):
                b = browser.browser_type.launch(executable_path=CHROMIUM, args=ARGS)  # the module's Playwright
                page = b.new_context(**kw).new_page()
                page.goto(urls[id(app)] + path)
                if then == "login":
                    page.fill("input[name=token]", token)
                    page.click("button[type=submit]")
                    page.wait_for_selector("#what")
                elif then:
                    page.click(then)
                page.wait_for_load_state("networkidle")
                icon = page.evaluate("[...document.querySelectorAll('link[rel~=icon]')].map(l => l.href)")
                b.close()
                assert icon, f"{path} {then}: no icon declared"
                missing = [(u, s) for u, s in app.log if s == 404]
                assert not missing, f"{path} {then} ({kw['viewport']['width']} px): {missing}"


@needs_chromium
def test_thumbnail_names_show_their_underscores(live_server, browser):
    """The names under the collection's thumbnails are cut at the bottom: an underscore drawn
    below the baseline did not show ("demo_000001" read "demo 000001")."""
    for kw in ({"viewport": {"width": 1280, "height": 800}}, PHONE):
        with _context(browser, **kw) as ctx:
            page = ctx.new_page()
            page.goto(live_server)
            page.wait_for_selector("#thumbs .thumb img")
            name = page.locator("#thumbs .thumb-name").first
            page.evaluate("document.querySelector('#thumbs .thumb-name').textContent = 'a_b_c'")
            shown = name.screenshot()
            hidden = "a<span style='color:transparent'>_</span>b<span style='color:transparent'>_</span>c"
            page.evaluate(f"document.querySelector('#thumbs .thumb-name').innerHTML = {hidden!r}")  # same layout
            drawn = name.screenshot() != shown
            assert drawn, "the underscores are not drawn"


@needs_chromium
def test_the_timing_line_names_every_stage_the_engine_timed(live_server, bench, browser):
    with _page(browser, 1280, 900) as page:
        _search_query_0(page, live_server, bench)
        page.wait_for_selector("#status[data-stage='done']", timeout=30000)
        timings = page.evaluate("state.search.timings")
        status = page.inner_text("#status")
        stages = [k for k in timings if k != "total"]
        assert {"matching", "verification", "expansion"} <= set(stages)
        shown = status.split(" ms searching (")[1].rstrip(" ms)").split(", ")
        assert shown == [f"{k} {math.floor(timings[k] * 1000 + 0.5)}" for k in stages], status  # JS's Math.round


# ---------------------------------------------------------------- an outside check of issue 32's fix
def _photos(tmp_path, bench, names: dict[int, str]):
    """A folder of ``bench``'s database images under names of the test's own; returns it."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, name in names.items():
        shutil.copy(bench.database_image(i), folder / name)
    return folder


def _index(folder, idx):
    from tests.helpers import run_cli

    r = run_cli(["index", folder, "--index", idx, "--workers", "1"])
    assert r.returncode == 0, r.stderr
    return idx


def _gt_box(bench, q, i):
    pts = bench.gt(q, i).all_points
    return [int(pts[:, 0].min()), int(pts[:, 1].min()), int(pts[:, 0].max()), int(pts[:, 1].max())]


def _search_thumb(page, image_id, box):
    """Pick a collection image as the query, type its box, search, wait for the results."""
    page.click(f"#thumbs .thumb[data-id='{image_id}']")
    page.wait_for_selector("#box-fields:not([disabled])")
    for k, v in zip(("bx1", "by1", "bx2", "by2"), box, strict=True):
        page.fill(f"#{k}", str(v))
    page.click("#search-btn")
    page.wait_for_selector("#status[data-stage='done']", timeout=30000)


LONG = "a_photo_with_a_very_long_name_" + "0123456789" * 15  # 180 characters, no space to wrap at
BIDI = "bidi\u202egpj.exe_b"  # shows as "bidib_exe.jpg" where the override is obeyed


@needs_chromium
def test_names_show_invisible_characters_and_long_names_stay_in_their_column(bench, tmp_path, browser):
    """An image named bidi<U+202E>gpj.exe_b.jpg showed as "bidib_exe.jpg" in the thumbnails (the
    terminal escapes it); a long name stretched the thumbnail grid into the query panel. Every
    name the page shows shows format and bidi characters as <U+XXXX>; long names are cut with an
    ellipsis (the whole name in the title) or wrap, at 1280 and 390 px."""
    from pixret import escape

    q = bench.queries[0]
    pos = [int(i) for i in q.positives[:4]]
    names = {pos[0]: LONG + ".jpg", pos[1]: BIDI + ".jpg", pos[2]: "plain_2.jpg", pos[3]: "plain_3.jpg"}
    idx = _index(_photos(tmp_path, bench, names), tmp_path / "idx")
    shown = escape.terminal(BIDI, one_line=True)
    assert shown == "bidi<U+202E>gpj.exe_b"
    with serve_app(create_app(idx)) as url:
        for width, kw in ((1280, {"viewport": {"width": 1280, "height": 900}}), (390, PHONE)):
            with _context(browser, **kw) as ctx:
                page = ctx.new_page()
                page.goto(url)
                page.wait_for_selector("#thumbs .thumb img")
                caps = page.eval_on_selector_all("#thumbs .thumb", "ts => ts.map(t => [t.dataset.id, "
                                                 "t.querySelector('.thumb-name').textContent, t.title])")  # fmt: skip
                by_name = {c[1]: c for c in caps}
                assert shown in by_name and by_name[shown][2] == shown, caps
                long_id, cut = next((c[0], c) for c in caps if c[1] == LONG)
                assert cut[2] == LONG  # the whole name in the title
                long_cap = f"#thumbs .thumb[data-id='{long_id}'] .thumb-name"
                assert page.eval_on_selector(long_cap, "n => n.scrollWidth > n.clientWidth && "
                                             "getComputedStyle(n).textOverflow === 'ellipsis'")  # fmt: skip
                grid, picker = page.locator("#thumbs").bounding_box(), page.locator("#picker").bounding_box()
                panel = page.locator("#query-panel").bounding_box()
                assert grid["x"] + grid["width"] <= picker["x"] + picker["width"] + 1, (grid, picker)
                if width > 700:  # side by side: the grid stays left of the query panel
                    assert grid["x"] + grid["width"] <= panel["x"], (grid, panel)
                assert page.evaluate("document.documentElement.scrollWidth") <= width
                # hits: the query is the long-named photo; the bidi-named one is found
                _search_thumb(page, int(long_id), _gt_box(bench, 0, pos[0]))
                page.wait_for_selector("#results .tile[data-drawn='1']")
                tiles = page.eval_on_selector_all("#results .tile", "ts => ts.map(t => t.textContent)")
                assert any(shown in t for t in tiles), tiles
                assert page.evaluate("document.documentElement.scrollWidth") <= width
                page.locator("#results .tile", has_text=shown).click()
                page.wait_for_selector("#detail-canvas[data-drawn='1']")
                assert shown in page.inner_text("#detail-title")
                page.keyboard.press("Escape")
                text = page.evaluate("document.body.innerText + [...document.querySelectorAll('[title],[alt],"
                                     "[aria-label]')].map(e => e.title + e.alt + e.getAttribute('aria-label')).join()")
                assert "\u202e" not in text
                _shot(page, f"names-{width}.png")
        # the page's rule is the terminal's (escape.terminal): every character the terminal shows
        # as <U+XXXX> the page shows so too; beyond it only format characters (Cf)
        with _page(browser, 800, 600) as page:
            page.goto(url)
            page.wait_for_selector("#thumbs .thumb img")
            page_escapes = set(page.evaluate("""() => { const out = [];
                for (let c = 0; c < 0x10000; c++) { if (c >= 0xd800 && c < 0xe000) continue;
                  const ch = String.fromCodePoint(c); if (visible(ch) !== ch) out.push(c); } return out; }"""))
    terminal_escapes = {c for c in range(0x10000) if not 0xD800 <= c < 0xE000
                        and escape.terminal(chr(c), one_line=True) != chr(c)}  # fmt: skip
    assert terminal_escapes <= page_escapes
    assert {unicodedata.category(chr(c)) for c in page_escapes - terminal_escapes} <= {"Cf", "Cn"}


@needs_chromium
def test_the_admin_page_and_live_report_show_a_bidi_label_escaped(bench, tmp_path, browser):
    from pixret.study.service import create_study

    study = create_study(tmp_path / "s.db", bench.root, "eng", pairs=3, label="fast\u202ev2")
    with serve_app(create_app(None, study=study, study_token="tok")) as url, _page(browser, 1280, 800) as page:
        page.goto(url + "/study/admin")
        page.fill("#token", "tok")
        page.click("#sign-in")
        page.wait_for_selector("body[data-loaded='1']")
        assert 'labelled "fast<U+202E>v2"' in page.inner_text("#what")
        page.goto(url + "/study/admin/report")
        assert 'labelled "fast<U+202E>v2"' in page.inner_text("h1") and "\u202e" not in page.content()


@needs_chromium
def test_search_again_without_a_box_says_what_is_missing_and_keeps_old_results_marked(
    bench, tmp_path, browser, monkeypatch
):
    """After an index swap: pick a new image, click "Search again" with no box: the banner went,
    no search ran, and the earlier index's results and status line stayed as if current."""
    from pixret.server import state as st_mod

    monkeypatch.setattr(st_mod, "POLL_SECONDS", 0.0)
    q = bench.queries[0]
    pos = [int(i) for i in q.positives[:3]]
    others = [i for i in range(bench.n_database) if i not in q.positives]
    idx = _index(_photos(tmp_path, bench, {i: f"old_{k}.jpg" for k, i in enumerate(pos + others[:2])}), tmp_path / "idx")
    with serve_app(create_app(idx)) as url, _page(browser, 1280, 1000) as page:
        page.goto(url)
        page.wait_for_selector("#thumbs .thumb img")
        _search_thumb(page, 0, _gt_box(bench, 0, pos[0]))
        page.wait_for_selector("#results .tile[data-verified='true'][data-drawn='1']")
        assert page.is_hidden("#stale-results")
        new = tmp_path / "new"
        new.mkdir()
        for k, i in enumerate(others[2:5] + pos):  # every id names another photo now
            shutil.copy(bench.database_image(i), new / f"new_{k}.jpg")
        from tests.helpers import run_cli

        assert run_cli(["index", new, "--index", idx, "--workers", "1"]).returncode == 0
        page.wait_for_selector("#index-changed:not([hidden])", timeout=20000)
        # the earlier results: faded, under a note of their own, their status line gone
        assert page.is_visible("#stale-results") and "earlier index" in page.inner_text("#stale-results")
        assert page.inner_text("#status") == ""
        page.wait_for_function("[...document.querySelectorAll('#thumbs .thumb-name')].some(n => n.textContent === 'new_3')")
        new_id = page.get_attribute("#thumbs .thumb:has(.thumb-name:text-is('new_3'))", "data-id")
        page.click(f"#thumbs .thumb[data-id='{new_id}']")  # a new query, without a box yet
        page.wait_for_selector("#box-fields:not([disabled])")
        page.click("#search-again")
        page.wait_for_selector("#error:not([hidden])")
        assert "Search again needs a box" in page.inner_text("#error")
        assert page.is_visible("#index-changed") and page.is_visible("#stale-results")  # nothing pretends
        assert "stale" in page.get_attribute("#results-panel", "class") and page.inner_text("#status") == ""
        _shot(page, "search-again-without-a-box.png")
        # with a box: the new index's results, nothing stale left
        for k, v in zip(("bx1", "by1", "bx2", "by2"), _gt_box(bench, 0, pos[0]), strict=True):
            page.fill(f"#{k}", str(v))
        page.click("#search-again")
        page.wait_for_selector("#status[data-stage='done']", timeout=30000)
        assert page.is_hidden("#stale-results") and page.is_hidden("#index-changed") and page.is_hidden("#error")
        labels = page.eval_on_selector_all("#results .tile", "ts => ts.map(t => t.getAttribute('aria-label'))")
        assert labels and all("old_" not in t for t in labels)


@needs_chromium
def test_a_collection_image_leaves_itself_out_by_default(live_server, bench, browser):
    """Searching a collection image returned the image itself as #1 ("object found, 486
    inliers"): the page has "leave the query image out", on for a collection image."""
    i = int(bench.queries[1].easy[0])
    box = _gt_box(bench, 1, i)
    with _page(browser, 1280, 900) as page:
        page.goto(live_server)
        page.wait_for_selector("#thumbs .thumb img")
        _search_thumb(page, i, box)
        assert page.is_checked("#exclude-query")
        ranked = page.evaluate("state.search.hits.map(h => h.index)")
        assert i not in ranked and page.evaluate("state.search.excluded") == [i]
        assert "the query image left out" in page.inner_text("#status")
        assert page.locator("#results .tile[data-verified='true']").count() >= 1  # its other views are found
        _shot(page, "exclude-query.png")
        page.uncheck("#exclude-query")
        page.click("#search-btn")
        page.wait_for_function(f"state.search && state.search.hits.length && state.search.hits[0].index === {i}",
                               timeout=30000)  # fmt: skip
        page.set_input_files("#upload", str(bench.query_image(1)))  # a photo of one's own: off
        page.wait_for_selector("#box-fields:not([disabled])")
        assert not page.is_checked("#exclude-query")


@needs_chromium
def test_the_benchmark_view_names_the_method_marks_an_oracle_and_follows_replaced_results(
    bench, index, results, tmp_path, browser, monkeypatch
):
    """`serve --results runs/oracle` showed IoU 99 predictions with no oracle mark and never named
    the method; results replaced under the server were served as before."""
    from pixret.server import state as st_mod
    from tests.helpers import run_cli

    served = tmp_path / "served"
    shutil.copytree(results, served)
    assert run_cli(["reference-results", "--root", bench.root, "--dataset", "eng", "--out", tmp_path / "oracle"]).returncode == 0
    monkeypatch.setattr(st_mod, "POLL_SECONDS", 0.0)
    with serve_app(create_app(index.root, bench.root, "eng", served)) as url:
        for name, kw in (("phone", PHONE), ("desktop", {"viewport": {"width": 1280, "height": 900}})):
            with _context(browser, **kw) as ctx:
                page = ctx.new_page()
                page.goto(url)
                page.click("#tab-bench")
                page.wait_for_selector("#bench-results .tile.true[data-drawn='1']")
                assert page.inner_text("#bench-method") == "Predictions (red) of fast"
                assert page.locator("#bench-method .badge").count() == 0
                if name == "phone":
                    assert page.evaluate("document.documentElement.scrollWidth") <= 390
                    continue
                gen = page.evaluate("state.benchGen")
                # the run folder replaced by the oracle's while the page is open
                shutil.rmtree(served)
                shutil.copytree(tmp_path / "oracle", served, ignore=shutil.ignore_patterns(".pixret-run.json"))
                page.wait_for_selector("#bench-changed:not([hidden])", timeout=20000)  # the page looks every 4 s
                page.wait_for_selector("#bench-method .badge")
                page.wait_for_function(f"document.getElementById('bench-results').dataset.generation !== {gen!r}")
                page.wait_for_selector("#bench-results .tile.true[data-drawn='1']")
                line = page.inner_text("#bench-method")
                assert line.startswith("Predictions (red) of reference shift=0.0 drop=0.0") and "ORACLE" in line.upper()
                assert "built from the benchmark's labels" in line
                worth = page.eval_on_selector_all("#bench-results .tile.true .worth", "ws => ws.map(w => w.textContent)")
                assert worth and all(w.startswith("oracle IoU 100") for w in worth), worth
                _shot(page, "bench-oracle.png")
                page.locator("#bench-results .tile.true").first.click()
                page.wait_for_selector("#detail-canvas[data-drawn='1']")
                assert page.inner_text("#detail-title").startswith("reference shift=0.0 drop=0.0 (oracle): query ")


@needs_chromium
def test_the_page_says_while_the_index_is_read_into_memory(live_server, browser):
    """Issue 33 (newcomer check): `pixret serve` warms its index in the background, and the page
    said nothing of it. While /api/info reports warming, the collection line says how far it got,
    and looks again until it is done. (The server's own warm-up is too quick to watch on a test
    index: its answer is rewritten on the way to the page, the page and server are real.)"""
    import httpx

    real = httpx.get(live_server + "/api/info", timeout=10).json()
    steps = iter([{**real, "warm": {"state": "warming", "stage": "features", "done_bytes": 1, "total_bytes": 4}},
                  {**real, "warm": {"state": "done"}}])  # fmt: skip
    with _page(browser, 1280, 800) as page:
        page.route("**/api/info", lambda route: route.fulfill(json=next(steps, {**real, "warm": {"state": "done"}})))
        page.goto(live_server)
        page.wait_for_function("document.getElementById('info').textContent.includes('features 25%')")
        assert "searches run meanwhile" in page.text_content("#info")
        page.wait_for_function("!document.getElementById('info').textContent.includes('memory')", timeout=10000)
        assert page.text_content("#info") == f"{real['images']} images indexed ({real['config']})"
