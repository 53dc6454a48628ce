"""What a study shows, with its uncertainty.

Per condition: accuracy (a positive answered yes, a negative no), click-hit rate (of the
positives answered yes, the share whose click fell on the object) and median response time.
95% intervals come from a two-stage bootstrap that respects how the data were gathered:
participants are resampled, then each resampled participant's trials (2,000 draws, seeded).
A difference between conditions is computed inside each draw, on the same resampled people,
so it is a paired difference: every participant saw every condition (design.py).
"""

from __future__ import annotations

import csv
import html
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..io import atomic_open

DRAWS = 2000
METRICS = ("accuracy", "hit_rate", "median_rt")


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float
    high: float


def _stats(rows: list[dict], condition: str) -> tuple[float, float, float]:
    """(accuracy, click-hit rate, median response time in s) of one condition's rows."""
    sel = [r for r in rows if r["condition"] == condition]
    acc = float(np.mean([r["correct"] for r in sel])) if sel else math.nan
    hits = [r["hit"] for r in sel if r["kind"] != "negative" and r["answer"] == 1 and r["hit"] is not None]
    hit = float(np.mean(hits)) if hits else math.nan
    rt = float(np.median([r["rt_ms"] for r in sel]) / 1000) if sel else math.nan
    return acc, hit, rt


def _draws(rows: list[dict], conditions: tuple[str, ...], draws: int, seed: int) -> np.ndarray:
    """(draws, n_conditions, 3) statistics over two-stage bootstrap resamples."""
    by_p: dict[int, list[dict]] = {}
    for r in rows:
        by_p.setdefault(r["participant"], []).append(r)
    people = list(by_p.values())
    rng = np.random.default_rng(seed)
    out = np.full((draws, len(conditions), 3), np.nan)
    for d in range(draws):
        sample = []
        for k in rng.integers(0, len(people), len(people)):
            mine = people[k]
            sample += [mine[j] for j in rng.integers(0, len(mine), len(mine))]
        for c, cond in enumerate(conditions):
            out[d, c] = _stats(sample, cond)
    return out


def _interval(values: np.ndarray) -> tuple[float, float]:
    v = values[np.isfinite(values)]
    if not len(v):
        return math.nan, math.nan
    lo, hi = np.percentile(v, [2.5, 97.5])
    return float(lo), float(hi)


def analyse(rows: list[dict], conditions: tuple[str, ...], draws: int = DRAWS, seed: int = 0) -> dict:
    """Per-condition estimates and paired differences (each condition against the first)."""
    boot = _draws(rows, conditions, draws, seed) if rows else np.full((0, len(conditions), 3), np.nan)
    per, diffs = {}, {}
    for c, cond in enumerate(conditions):
        point = _stats(rows, cond)
        per[cond] = {m: Estimate(point[k], *_interval(boot[:, c, k])) for k, m in enumerate(METRICS)}
        n = sum(r["condition"] == cond for r in rows)
        per[cond]["n"] = n
    base = conditions[0]
    for c, cond in enumerate(conditions[1:], 1):
        diffs[(cond, base)] = {
            m: Estimate(per[cond][m].value - per[base][m].value, *_interval(boot[:, c, k] - boot[:, 0, k]))
            for k, m in enumerate(METRICS)
        }
    return {"per_condition": per, "differences": diffs, "participants": len({r["participant"] for r in rows}),
            "responses": len(rows)}  # fmt: skip


def _signed(v: float, digits: int = 0) -> str:
    r = round(v, digits)
    return f"{r + 0.0:+.{digits}f}" if r else f"{0:.{digits}f}"  # no "-0"


def _fmt_pts(e: Estimate) -> str:
    return f"{_signed(100 * e.value)} points ({_signed(100 * e.low)} to {_signed(100 * e.high)})"


def sentence(a: str, b: str, d: dict) -> str:
    """The result of one comparison, stated with its uncertainty."""
    t, acc, hit = d["median_rt"], d["accuracy"], d["hit_rate"]
    if math.isnan(t.value) or math.isnan(acc.value):
        return f"{a} vs {b}: not enough answers under both conditions yet."
    text = (f"{a} vs {b}: {_signed(t.value, 1)} s median time (95% CI {_signed(t.low, 1)} to {_signed(t.high, 1)} s), "
            f"accuracy {_fmt_pts(acc)}, clicks on the object {_fmt_pts(hit)}.")  # fmt: skip
    clear, unclear = [], []
    for e, better, worse, name in ((t, "faster", "slower", "time"), (acc, "more accurate", "less accurate", "accuracy"),
                                   (hit, "clicked on the object more often", "clicked on the object less often", "clicks")):  # fmt: skip
        lower_is_better = name == "time"
        if math.isnan(e.low):
            continue
        if e.high < 0 or e.low > 0:
            good = (e.high < 0) == lower_is_better
            clear.append(better if good else worse)
        else:
            unclear.append(name)
    out = text
    if clear:
        out += f" With {a}, people were {' and '.join(clear)} than with {b} (those intervals exclude zero)."
    if unclear:
        many = len(unclear) > 1
        names = unclear[0] if len(unclear) == 1 else ", ".join(unclear[:-1]) + " and " + unclear[-1]
        out += (f" The {names} difference{'s' if many else ''} could be zero "
                f"({'their intervals include' if many else 'its interval includes'} it).")  # fmt: skip
    if not clear:
        out += f" This study cannot tell {a} from {b} apart."
    return out


def _plots(rows: list[dict], result: dict, conditions: tuple[str, ...]) -> str:
    import matplotlib.pyplot as plt

    from ..viz.plots import figure_png  # sets the Agg backend
    from ..viz.report import img_tag

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
    times = [[r["rt_ms"] / 1000 for r in rows if r["condition"] == c] for c in conditions]
    a1.boxplot([t or [np.nan] for t in times], showfliers=True)
    a1.set_xticks(range(1, len(conditions) + 1), conditions)
    a1.set_xlabel("condition")
    a1.set_ylabel("response time (s)")
    a1.set_title("response times")
    per = result["per_condition"]
    acc = [per[c]["accuracy"] for c in conditions]
    x = np.arange(len(conditions))
    vals = [100 * e.value for e in acc]
    err = np.array([[100 * (e.value - e.low), 100 * (e.high - e.value)] for e in acc]).T
    a2.bar(x, vals, color="#3b7dd8")
    a2.errorbar(x, vals, yerr=np.nan_to_num(err), fmt="none", color="#222", capsize=6)
    a2.set_xticks(x, conditions)
    a2.set_ylim(0, 105)
    a2.set_xlabel("condition")
    a2.set_ylabel("accuracy (%), 95% CI")
    a2.set_title("accuracy")
    return img_tag(figure_png(fig), "image/png", "response times and accuracy per condition")


def write_report(rows: list[dict], meta: dict, out: str | Path, csv_out: str | Path | None = None) -> dict:
    """The HTML report (self-contained) and, optionally, the rows as CSV; returns the analysis."""
    conditions = tuple(meta["conditions"].split(","))
    result = analyse(rows, conditions, seed=int(meta.get("seed", 0)))
    per = result["per_condition"]

    def cell(e: Estimate, pct: bool) -> str:
        if math.isnan(e.value):
            return "-"
        f = (lambda v: f"{100 * v:.1f}%") if pct else (lambda v: f"{v:.2f} s")
        return f"{f(e.value)} <span class='ci'>({f(e.low)} to {f(e.high)})</span>"

    rows_html = "".join(
        f"<tr><td>{html.escape(c)}</td><td>{per[c]['n']}</td><td>{cell(per[c]['accuracy'], True)}</td>"
        f"<td>{cell(per[c]['hit_rate'], True)}</td><td>{cell(per[c]['median_rt'], False)}</td></tr>"
        for c in conditions
    )
    sentences = "".join(
        f"<li>{html.escape(sentence(a, b, d))}</li>" for (a, b), d in result["differences"].items()
    )
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'><title>pixret study report</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:24px;max-width:1000px} table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 10px;text-align:right} td:first-child{text-align:left}"
        ".ci{color:#666;font-size:12px} li{margin:6px 0}</style></head><body>",
        f"<h1>User study: {html.escape(meta.get('dataset', ''))}, method {html.escape(meta.get('method', ''))}</h1>",
        f"<p>{result['participants']} participants, {result['responses']} answers; conditions "
        f"{', '.join(conditions)}; trials {meta.get('pairs')} (mix easy, hard, negative = {meta.get('mix')}).</p>",
        "<h2>Result</h2><ul>" + (sentences or "<li>Only one condition: nothing to compare.</li>") + "</ul>",
        "<h2>Per condition (95% intervals: bootstrap over participants, then their trials)</h2>",
        "<table><tr><th>condition</th><th>answers</th><th>accuracy</th><th>clicks on the object</th>"
        f"<th>median response time</th></tr>{rows_html}</table>",
        "<p class='ci'>accuracy: positives answered yes and negatives answered no; clicks on the object: of the "
        "positives answered yes, the share clicked inside the true object.</p>",
        "<h2>Plots</h2>",
        _plots(rows, result, conditions) if rows else "<p>No answers yet.</p>",
        "</body></html>",
    ]
    with atomic_open(out, "w") as fh:
        fh.write("\n".join(parts))
    if csv_out is not None:
        with atomic_open(csv_out, "w") as fh:
            if rows:
                w = csv.DictWriter(fh, fieldnames=list(rows[0]))
                w.writeheader()
                w.writerows(rows)
    return result
