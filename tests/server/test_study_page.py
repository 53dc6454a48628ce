"""The study's pages in Chromium: people taking a study at once on a desktop, one on a phone
(390x844, touch), and the admin page behind its login form. One live server and one browser
for the module; the tests run in order on one study file (participants 0 and 1, then 2 on the
phone, then the admin closes the study)."""

import re
import shutil

import numpy as np
import pytest

from pixret.server import create_app
from pixret.study.report import write_report
from pixret.study.service import Study, create_study
from tests.conftest import ARTIFACTS
from tests.helpers import needs_chromium, serve_app
from tests.reference.study_participant import ScriptedParticipant

pytestmark = [pytest.mark.browser, needs_chromium]
TOKEN = "admin-token-for-tests"


@pytest.fixture(scope="module")
def study(bench, tmp_path_factory):
    """A study of ``bench`` (6 trials, the oracle's masks, labelled), served on 127.0.0.1."""
    path = create_study(tmp_path_factory.mktemp("study") / "s.db", bench.root, "eng", pairs=6,
                        mix=(0.5, 0.17, 0.33), seed=3, label="oracle masks")  # fmt: skip
    with serve_app(create_app(None, study=path, study_token=TOKEN)) as url:
        yield path, url


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name))


def test_two_participants_at_once_one_reloads_one_answers_wrong(bench, study, browser, tmp_path):
    path, url = study
    people, contexts = [], []
    for _ in range(2):
        # bypass_csp: only so that the test may poll with wait_for_function (the CSP forbids eval)
        ctx = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
        contexts.append(ctx)
        person = ScriptedParticipant(ctx.new_page(), path, bench)
        person.page.goto(url + "/")  # redirects to /study
        assert "click" in person.page.inner_text("#intro") and "tap" not in person.page.inner_text("#intro")
        person.start(url + "/")
        people.append(person)
    step = 0
    while not all(person.done for person in people):  # turn by turn: two people at once
        for who, person in enumerate(people):
            if not person.done:  # participant 0 answers rightly (and reloads once); 1 wrongly
                if who == 0 and step == 0:
                    _fits(person.page, 1280, 800)
                    _shot(person.page, "study-desktop.png")
                person.answer(right=who == 0, reload_midway=who == 0 and step == 1)
        step += 1
    for ctx in contexts:
        ctx.close()
    s = Study(path)
    rows = s.rows()
    assert len(rows) == 12 and len({(r["participant"], r["position"]) for r in rows}) == 12  # nothing twice
    honest = [r for r in rows if r["participant"] == 0]
    liar = [r for r in rows if r["participant"] == 1]
    assert all(r["correct"] == 1 for r in honest) and all(r["correct"] == 0 for r in liar)
    assert all(r["hit"] == 1 for r in honest if r["kind"] != "negative")
    assert all(0 < r["rt_ms"] < 120_000 for r in rows)
    assert {(r["viewport_w"], r["viewport_h"], r["pointer"]) for r in rows} == {(1280, 800, "mouse")}
    res = write_report(rows, s.meta, tmp_path / "report.html", tmp_path / "rows.csv")
    for cond in s.conditions:
        mine = [r for r in rows if r["condition"] == cond]
        assert res["per_condition"][cond]["accuracy"].value == pytest.approx(
            np.mean([r["correct"] for r in mine])
        )
    text = (tmp_path / "report.html").read_text()
    assert "mask vs image:" in text and "data:image/png;base64" in text
    # two people: what was measured, and no conclusion (an interval needs six), never "nan"
    assert "2 participants counted, fewer than the 6" in text and "cannot tell mask from image yet" in text
    assert not re.search(r"\bnan\b", text.split("<h2>Plots</h2>")[0], re.IGNORECASE)
    # the ground truth's masks: an oracle, whatever its label (issue 32, item 3)
    assert "User study: eng, oracle (ground truth), labelled &quot;oracle masks&quot;" in text
    if ARTIFACTS.is_dir():
        shutil.copy(tmp_path / "report.html", ARTIFACTS / "study-report.html")


def _fits(page, width: int, height: int) -> None:
    """The whole trial is on screen: both photos and the answer buttons (44 px at least), with
    nothing to scroll."""
    assert page.evaluate("document.documentElement.scrollHeight") <= height
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    bar = page.locator("#answer-bar").bounding_box()
    for sel in ("#yes", "#no"):
        bb = page.locator(sel).bounding_box()
        assert bb["height"] >= 44 and bb["width"] >= 44, (sel, bb)
        assert bb["y"] >= 0 and bb["y"] + bb["height"] <= height, (sel, bb)
    for sel in ("#q-canvas", "#i-canvas"):
        bb = page.locator(sel).bounding_box()
        assert bb["x"] >= 0 and bb["x"] + bb["width"] <= width and bb["y"] + bb["height"] <= bar["y"] + 1, (sel, bb)
        assert bb["width"] >= 150  # a photo, not a stamp


def test_a_participant_on_a_phone_sees_whole_trials_and_taps(bench, study, browser):
    path, url = study
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                              device_scale_factor=2, bypass_csp=True)  # fmt: skip
    person = ScriptedParticipant(ctx.new_page(), path, bench, touch=True)
    person.page.goto(url + "/study")
    intro = person.page.inner_text("#intro")
    assert "tap" in intro and "click" not in intro  # the wording of a touch screen
    _shot(person.page, "study-phone-intro.png")
    person.press("#start")
    person.page.wait_for_selector("#i-canvas[data-position]")
    person.pid = person.page.evaluate("new URLSearchParams(location.search).get('p')")
    k = 0
    while not person.done:
        _fits(person.page, 390, 844)
        assert person.page.locator("#q-canvas").bounding_box()["y"] < person.page.locator("#i-canvas").bounding_box()["y"]
        if k == 0:
            _shot(person.page, "study-phone.png")
            person.press("#yes")
            assert "Tap on the object" in person.page.inner_text("#i-caption")
            _fits(person.page, 390, 844)  # nothing moved
            _shot(person.page, "study-phone-yes.png")
            person.page.reload()
            person.page.wait_for_selector("#i-canvas[data-position]")
        person.answer(right=True)
        k += 1
    ctx.close()
    mine = [r for r in Study(path).rows() if r["participant"] == 2]
    assert len(mine) == 6 and all(r["correct"] for r in mine)
    assert {(r["viewport_w"], r["viewport_h"], r["pointer"]) for r in mine} == {(390, 844, "touch")}


def test_the_admin_page_signs_in_by_form_shows_progress_and_closes_the_study(study, browser):
    path, url = study
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    page = ctx.new_page()
    visited = []
    page.on("request", lambda r: visited.append(r.url))
    page.goto(url + "/study/admin")
    assert page.is_visible("#token") and page.locator("#participants").count() == 0
    page.fill("#token", "wrong")
    page.click("#sign-in")
    page.wait_for_selector("#login-error:not([hidden])")
    page.fill("#token", TOKEN)
    page.click("#sign-in")
    page.wait_for_selector("body[data-loaded='1']")
    assert not any(TOKEN in u for u in visited)  # never in an address
    cookie = next(c for c in ctx.cookies() if c["name"] == "pixret_admin")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and TOKEN not in cookie["value"]
    rows = page.locator("#participants tbody tr")
    assert rows.count() == 3 and "6 / 6" in rows.nth(2).inner_text()
    assert page.locator("#conditions tbody tr").count() == 3
    assert page.inner_text("#what").startswith('eng: oracle (ground truth), labelled "oracle masks"')
    assert page.is_visible("#oracle-note") and "from the benchmark's labels" in page.inner_text("#oracle-note")
    _shot(page, "study-admin.png")
    # the live report, in a new tab, behind the same cookie
    with ctx.expect_page() as tab:
        page.click("#report")
    report = tab.value
    report.wait_for_load_state()
    assert report.inner_text("h1") == 'User study: eng, oracle (ground truth), labelled "oracle masks"'
    assert report.evaluate("document.documentElement.scrollWidth") <= 1280
    report.close()
    # close the study: the participants' page says so and takes no one
    page.uncheck("#open")
    page.wait_for_function("document.getElementById('saved').textContent.includes('closed')")
    other = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True).new_page()
    other.goto(url + "/study")
    other.wait_for_selector("#closed:not([hidden])")
    assert other.is_disabled("#start")
    assert Study(path).settings() == {"open": False, "cap": 100}
    page.check("#open")
    page.fill("#cap", "3")
    page.click("#save-cap")
    page.wait_for_function("document.getElementById('saved').textContent.includes('cap 3')")
    other.reload()
    other.wait_for_selector("#closed:not([hidden])")  # open, but full: 3 of 3
    other.context.close()
    # signed out: the cookie is gone and the admin views refuse
    page.click("text=Sign out")
    page.wait_for_selector("#token")
    assert page.evaluate("fetch('/api/study/admin/progress').then(r => r.status)") == 401
    ctx.close()


def _sign_in(page, url: str) -> None:
    page.goto(url + "/study/admin")
    page.fill("#token", TOKEN)
    page.click("#sign-in")
    page.wait_for_selector("body[data-loaded='1']")


def test_the_admin_page_on_a_phone_hides_nothing_off_to_the_side(study, browser):
    """On a phone the participants' table scrolled sideways with no cue (its last columns out of
    sight): each row is now a card, every cell under its column's name, nothing wider than the screen."""
    _, url = study
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                              device_scale_factor=2, bypass_csp=True)  # fmt: skip
    page = ctx.new_page()
    _sign_in(page, url)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    for table in ("#participants", "#conditions"):
        width = page.evaluate(f"(() => {{ const t = document.querySelector('{table}'); "
                              "return [t.scrollWidth, t.clientWidth]; })()")  # fmt: skip
        assert width[0] <= width[1] + 1, (table, width)  # no hidden part to scroll to
    last = page.locator("#participants tbody tr").nth(2)
    cells = last.locator("td")
    assert cells.count() == 6
    for k in range(6):  # each cell on screen, after its column's name
        bb = cells.nth(k).bounding_box()
        assert bb["x"] >= 0 and bb["x"] + bb["width"] <= 390, bb
        label = cells.nth(k).evaluate("td => getComputedStyle(td, '::before').content")
        assert label.strip('"') == ["#", "answered", "progress", "pointer", "started", "last answer"][k]
    assert cells.nth(3).inner_text() == "touch" and cells.nth(1).inner_text() == "6 / 6"  # participant 2, the phone
    last.scroll_into_view_if_needed()
    _shot(page, "study-admin-phone.png")
    ctx.close()
