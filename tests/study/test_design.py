"""Study design (study/design.py): trials and a rotating Latin square."""

import sqlite3

from pixret.study.design import assign


def test_conditions_are_balanced_by_a_rotating_latin_square(tmp_path):
    db = sqlite3.connect(tmp_path / "d.db")
    db.execute("CREATE TABLE trials (id INTEGER PRIMARY KEY)")
    db.execute("CREATE TABLE assignments (participant, position, trial, condition)")
    db.executemany("INSERT INTO trials VALUES (?)", [(i,) for i in range(1, 13)])
    conds = ("image", "box", "mask")
    for k in range(3):
        assign(db, f"p{k}", k, conds, seed=0)
    rows = db.execute("SELECT participant, trial, condition FROM assignments").fetchall()
    for k in range(3):
        mine = [c for p, _, c in rows if p == f"p{k}"]
        assert sorted(mine.count(c) for c in conds) == [4, 4, 4]  # balanced within each participant
    for t in range(1, 13):
        assert sorted(c for _, tr, c in rows if tr == t) == sorted(conds)  # every trial under every condition
