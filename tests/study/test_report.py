"""Study reports (study/report.py): estimates that match a hand computation."""

import csv
import html
import io
import sqlite3

import numpy as np
import pytest

from pixret.study.report import analyse, method_label, render_report, write_csv, write_report
from pixret.study.service import Study


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
