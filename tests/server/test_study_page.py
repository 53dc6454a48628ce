"""The study's participant page in Chromium: people taking a study at once."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from pixret.server import create_app
from pixret.study.report import write_report
from pixret.study.service import Conflict, Study
from tests.helpers import ARGS, CHROMIUM, needs_chromium, serve_app
from tests.reference.study_participant import ScriptedParticipant

pytestmark = pytest.mark.browser


@needs_chromium
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
