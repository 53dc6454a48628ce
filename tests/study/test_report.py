"""Study reports (study/report.py): estimates that match a hand computation."""

import csv
import html
import io
import re
import sqlite3

import numpy as np
import pytest

from pixret.study.report import (
    MIN_PARTICIPANTS,
    analyse,
    method_label,
    render_report,
    sentence,
    write_csv,
    write_report,
)
from pixret.study.service import Study
from tests.helpers import run_cli


def test_the_report_matches_a_hand_computation(study_file):
    s = Study(study_file)
    rng = np.random.default_rng(0)
    for _ in range(MIN_PARTICIPANTS):  # enough for intervals
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


def _take(s, n_people, stop_at=None, rng=None):
    rng = rng or np.random.default_rng(1)
    for k in range(n_people):
        pid = s.new_participant()
        answered = 0
        while not (t := s.next_trial(pid))["done"] and (stop_at is None or k != 0 or answered < stop_at):
            s.record(pid, t["position"], 0, None, float(rng.uniform(500, 4000)) + 0.1999999999534)
            answered += 1


def test_incomplete_participants_are_left_out_and_counted(study_file, tmp_path):
    s = Study(study_file)
    _take(s, 3, stop_at=2)  # participant 0 stops after 2 of 6 trials
    rows = s.rows()
    assert len(rows) == 2 + 6 + 6
    res = write_report(rows, s.meta, tmp_path / "r.html", tmp_path / "r.csv")
    assert res["participants"] == 2 and res["responses"] == 12
    assert res["dropped"] == {"participants": 1, "answers": 2, "pointer": 0}
    text = (tmp_path / "r.html").read_text()
    assert "Counted: 2 of 3 participants. 1 participant who answered fewer than all 6 trials (2 answers) left out" in text
    every = write_report(rows, s.meta, tmp_path / "all.html", complete_only=False)
    assert every["participants"] == 3 and every["dropped"]["participants"] == 0
    # times rounded, as measured (0.1 ms), in the CSV and the rows
    lines = (tmp_path / "r.csv").read_text().splitlines()
    assert len(lines) == 15 and all(len(r["rt_ms"].split(".")[-1]) <= 1 for r in csv.DictReader(lines))
    assert "99999" not in (tmp_path / "r.csv").read_text()


def test_the_method_is_named_by_its_label_and_every_string_from_the_file_is_escaped(study_file, tmp_path):
    evil = '<img src=x onerror="alert(1)">'
    _take(Study(study_file), 1)
    db = sqlite3.connect(study_file)
    for key, value in (("label", evil), ("mix", evil), ("dataset", "eng" + evil)):
        db.execute("UPDATE meta SET value = ? WHERE key = ?", (value, key))
    db.commit()
    db.close()
    s = Study(study_file, readonly=True)
    text, _ = render_report(s.rows(), s.meta)
    assert evil not in text and html.escape(evil) in text and "<img src=x" not in text
    assert text.count("<img") == 2  # the two plots, nothing else
    assert method_label({"method": "/home/me/results/ssp/pixels.npy"}) == "pixels.npy"  # never the whole path
    assert method_label({"method": "/x/p.npy", "label": "SSP masks"}) == "SSP masks"


def test_csv_cells_a_spreadsheet_would_run_are_text():
    buf = io.StringIO()
    row = {"participant": 0, "condition": "=HYPERLINK(\"http://x\")", "pointer": "+1", "kind": "@SUM(A1)",
           "rt_ms": -5.0, "click_x": None}  # fmt: skip
    write_csv([row], buf)
    got = next(csv.DictReader(io.StringIO(buf.getvalue())))
    assert got["condition"].startswith("'=") and got["pointer"] == "'+1" and got["kind"] == "'@SUM(A1)"
    assert got["rt_ms"] == "-5.0"  # a number stays a number


NAN = re.compile(r"\bnan\b", re.IGNORECASE)
CLAIMS = ("exclude", "faster", "slower", "more accurate", "less accurate", "more often", "less often")


def test_one_participant_with_one_answer_per_condition_gets_no_conclusion_and_no_nan(bench, tmp_path):
    # the example: one person, one answer per condition (a "no" to a positive: no click,
    # so no click-hit rate anywhere) gave "clicks on the object +nan points (+nan to +nan). With
    # mask, people were faster than with image (those intervals exclude zero)"
    r = run_cli(["study", "create", "one.db", "--root", bench.root, "--dataset", "eng", "--pairs", "3",
                 "--mix", "1,0,0", "--seed", "3"], cwd=tmp_path)  # fmt: skip
    assert r.returncode == 0, r.stderr
    s = Study(tmp_path / "one.db")
    pid = s.new_participant()
    times = iter([3000.0, 2000.0, 1000.0])  # a different time under each condition
    while not (t := s.next_trial(pid))["done"]:
        s.record(pid, t["position"], 0, None, next(times))
    s.close()
    r = run_cli(["study", "report", "one.db", "one.html"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    page = (tmp_path / "one.html").read_text()
    for text in (r.stdout, r.stderr, page):
        assert not NAN.search(text), text
        assert not any(claim in text for claim in CLAIMS), text
    assert r.stdout.count("cannot tell") == 2 and "no clicks on the object to compare" in r.stdout
    assert f"a paired comparison needs at least {MIN_PARTICIPANTS} participants who answered under both" in r.stdout
    assert "1 participant counted, fewer than the 6 that an interval over participants needs" in page
    assert "draws no conclusion yet" in page and "no interval: 1 participant; an interval needs at least 6" in page


def _answers(people, conditions=("image", "box", "mask"), right=lambda p, t: True, rt=lambda p, t, c: 1500.0,
             start=0, trials=6):  # fmt: skip
    """Rows as Study.rows gives them: participant p's trial t under condition (t + p) mod C, a
    positive for even t (a right answer: yes, clicked on the object), a negative for odd t."""
    rows = []
    for p in range(start, start + people):
        for t in range(trials):
            cond = conditions[(t + p) % len(conditions)]
            kind = "easy" if t % 2 == 0 else "negative"
            ok = right(p, t)
            answer = int(ok == (kind != "negative"))
            rows.append({"participant": p, "position": t, "trial": t, "query": 0, "image": t, "kind": kind,
                         "condition": cond, "answer": answer, "hit": 1 if answer and kind != "negative" else None,
                         "rt_ms": rt(p, t, cond), "correct": int(ok)})  # fmt: skip
    return rows


def _check_honest(rows, meta_conditions="image,box,mask"):
    meta = {"conditions": meta_conditions, "pairs": "6", "seed": "0", "dataset": "eng", "label": "m"}
    text, res = render_report(rows, meta, complete_only=False)
    said = [sentence(a, b, d) for (a, b), d in res["differences"].items()]
    for t in (text, *said):
        assert not NAN.search(t), t
    return text, res, said


def test_answers_that_do_not_vary_give_no_interval_and_no_conclusion():
    # eight people, every answer right and each taking the same time: a bootstrap gives
    # "100% (100% to 100%)", a zero-width interval that claims certainty the data cannot give
    text, res, said = _check_honest(_answers(8))
    acc = res["per_condition"]["mask"]["accuracy"]
    assert acc.value == 1.0 and acc.low is None and "do not vary" in acc.why
    assert "100.0% <span class='ci'>(no interval: the answers do not vary" in text
    assert all("cannot tell" in t and not any(c in t for c in CLAIMS) for t in said), said
    # all right under mask, all wrong under image, for eight people: that interval varies
    # nowhere either (every resample: +100 points), so it is stated, not concluded from
    text, res, said = _check_honest(_answers(8, right=lambda p, t: (t + p) % 3 != 0))
    d = res["differences"][("mask", "image")]["accuracy"]
    assert d.value == 1.0 and d.low is None and "accuracy +100 points (" not in said[1]


def test_a_difference_is_paired_only_over_people_who_answered_under_both():
    # eight people answered only under image (slowly), eight others only under mask (fast): the
    # unpaired gap looks certain, but no one saw both conditions, so nothing is compared
    slow = _answers(8, conditions=("image",), rt=lambda p, t, c: 4000.0 + 100 * p + 10 * t)
    fast = _answers(8, conditions=("mask",), rt=lambda p, t, c: 1000.0 + 100 * p + 10 * t, start=8)
    _, res, said = _check_honest(slow + fast)
    d = res["differences"][("mask", "image")]
    assert d["median_rt"].value is None and d["accuracy"].value is None
    assert "no participant has answered under both yet" in said[1] and not any(c in said[1] for c in CLAIMS)
    # with five pairs and many unpaired people, the difference still needs six pairs
    both = _answers(5, rt=lambda p, t, c: {"image": 4000.0, "box": 3000.0, "mask": 1000.0}[c] + 37 * p + 11 * t)
    alone = _answers(8, conditions=("image",), rt=lambda p, t, c: 2000.0 + 300 * p + 70 * t, start=20)
    _, res, said = _check_honest(both + alone)
    d = res["differences"][("mask", "image")]["median_rt"]
    assert d.people == 5 and d.low is None and "needs at least 6" in d.why and "faster" not in said[1]
    assert res["per_condition"]["image"]["median_rt"].low is not None  # 13 people answered under image


def test_with_enough_pairs_a_clear_difference_is_concluded():
    rows = _answers(8, rt=lambda p, t, c: {"image": 4000.0, "box": 3000.0, "mask": 1000.0}[c] + 37 * p + 11 * t)
    _, res, said = _check_honest(rows)
    d = res["differences"][("mask", "image")]["median_rt"]
    assert d.people == 8 and d.high < 0
    assert "With mask, people were faster than with image (its interval excludes zero)" in said[1]


def test_a_click_hit_rate_needs_enough_people_who_clicked():
    # only participant 0 ever answers yes (and clicks): the click-hit rate rests on one person
    rows = _answers(8, right=lambda p, t: p == 0 or t % 2 == 1)
    _, res, said = _check_honest(rows)
    hit = res["per_condition"]["mask"]["hit_rate"]
    assert hit.people == 1 and hit.low is None and hit.why == "1 participant; an interval needs at least 6"
    assert all("more often" not in t and "less often" not in t for t in said)
