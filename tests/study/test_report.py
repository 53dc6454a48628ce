"""Study reports (study/report.py): estimates that match a hand computation."""

import numpy as np
import pytest

from pixret.study.report import analyse
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
