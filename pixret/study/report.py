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
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import escape
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
    """Two charts, each its own figure (they sit side by side on a wide screen and one under
    the other on a phone, each at most the page's width)."""
    import matplotlib.pyplot as plt

    from ..viz.plots import figure_png  # sets the Agg backend
    from ..viz.report import img_tag

    fig, a1 = plt.subplots(figsize=(4.8, 3.6), layout="constrained")
    times = [[r["rt_ms"] / 1000 for r in rows if r["condition"] == c] for c in conditions]
    a1.boxplot([t or [np.nan] for t in times], showfliers=True)
    a1.set_xticks(range(1, len(conditions) + 1), conditions)
    a1.set_xlabel("condition")
    a1.set_ylabel("response time (s)")
    a1.set_title("response times")
    first = img_tag(figure_png(fig), "image/png", "response times per condition")
    fig, a2 = plt.subplots(figsize=(4.8, 3.6), layout="constrained")
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
    return first + img_tag(figure_png(fig), "image/png", "accuracy per condition")


CSV_FIELDS = ["participant", "position", "trial", "query", "image", "kind", "condition", "answer", "click_x",
              "click_y", "hit", "rt_ms", "viewport_w", "viewport_h", "pointer", "correct"]  # fmt: skip


def write_csv(rows: list[dict], fh) -> None:
    """Every answer as CSV, one row per answer (the columns of Study.rows, header always)."""
    w = csv.DictWriter(fh, fieldnames=CSV_FIELDS, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        # text cells that a spreadsheet would run as formulas get an apostrophe; numbers stay numbers
        w.writerow({k: escape.csv_cell(v) if isinstance(v := r.get(k), str) else v for k in CSV_FIELDS})


def select(rows: list[dict], trials: int, complete_only: bool = True, pointer: str | None = None) -> tuple[list[dict], dict]:
    """The answers the report counts: only participants who answered all ``trials`` (unless
    ``complete_only`` is False), only answers given with ``pointer`` (mouse, touch, pen) when
    given. Returns them and what was left out: {"participants": n, "answers": n, "pointer": n}."""
    dropped = {"participants": 0, "answers": 0, "pointer": 0}
    if pointer:
        kept = [r for r in rows if r.get("pointer") == pointer]
        dropped["pointer"] = len(rows) - len(kept)
        rows = kept
    if complete_only:
        count: dict[int, int] = {}
        for r in rows:
            count[r["participant"]] = count.get(r["participant"], 0) + 1
        short = {p for p, n in count.items() if n < trials}
        dropped["participants"] = len(short)
        dropped["answers"] = sum(count[p] for p in short)
        rows = [r for r in rows if r["participant"] not in short]
    return rows, dropped


def method_label(meta: dict) -> str:
    """The method's name as the report shows it: the label given at create time, else the
    results file's name (never its whole path)."""
    label = meta.get("label")
    if label:
        return label
    method = meta.get("method", "")
    return method if method.startswith("oracle") else Path(method).name


_CSS = (
    "body{font-family:system-ui,sans-serif;margin:24px;max-width:1000px;color:#222}"
    "table{border-collapse:collapse;display:block;overflow-x:auto;max-width:100%}"
    "td,th{border:1px solid #ccc;padding:4px 10px;text-align:right} td:first-child{text-align:left}"
    ".ci{color:#666;font-size:12px} li{margin:6px 0} .plots{display:flex;flex-wrap:wrap;gap:12px}"
    ".plots img{max-width:100%;height:auto} .note{background:#fff6db;border:1px solid #e0b84a;padding:8px 12px}"
    "@media (max-width:700px){body{margin:10px} td,th{padding:3px 5px}}"
)


def render_report(
    rows: list[dict], meta: dict, complete_only: bool = True, pointer: str | None = None
) -> tuple[str, dict]:
    """The HTML report (self-contained, every string from the study file escaped) and its
    analysis. ``complete_only``: count only participants who answered every trial (the report
    says how many it left out); ``pointer``: only answers given with that pointer."""
    e = escape.html
    conditions = tuple(meta["conditions"].split(","))
    trials = int(meta.get("pairs") or 0)
    all_people = len({r["participant"] for r in rows})
    rows, dropped = select(rows, trials, complete_only, pointer)
    result = analyse(rows, conditions, seed=int(meta.get("seed", 0)))
    result["dropped"] = dropped
    per = result["per_condition"]

    def cell(est: Estimate, pct: bool) -> str:
        if math.isnan(est.value):
            return "-"
        f = (lambda v: f"{100 * v:.1f}%") if pct else (lambda v: f"{v:.2f} s")
        return f"{f(est.value)} <span class='ci'>({f(est.low)} to {f(est.high)})</span>"

    rows_html = "".join(
        f"<tr><td>{e(c)}</td><td>{per[c]['n']}</td><td>{cell(per[c]['accuracy'], True)}</td>"
        f"<td>{cell(per[c]['hit_rate'], True)}</td><td>{cell(per[c]['median_rt'], False)}</td></tr>"
        for c in conditions
    )
    sentences = "".join(f"<li>{e(sentence(a, b, d))}</li>" for (a, b), d in result["differences"].items())
    left_out = []
    if dropped["participants"]:
        n = dropped["participants"]
        left_out.append(f"{n} participant{'s' if n != 1 else ''} who answered fewer than all {trials} trials "
                        f"({dropped['answers']} answers) left out")  # fmt: skip
    if dropped["pointer"]:
        left_out.append(f"{dropped['pointer']} answers given with another pointer than {e(pointer or '')} left out")
    devices: dict[str, int] = {}
    for r in rows:
        key = r.get("pointer") or "not recorded"
        devices[key] = devices.get(key, 0) + 1
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'><title>pixret study report</title>"
        f"<style>{_CSS}</style></head><body>",
        f"<h1>User study: {e(meta.get('dataset', ''))}, method {e(method_label(meta))}</h1>",
        f"<p>{result['participants']} participants, {result['responses']} answers; conditions "
        f"{e(', '.join(conditions))}; trials {e(str(meta.get('pairs', '')))} (mix easy, hard, negative = "
        f"{e(str(meta.get('mix', '')))}); answers by pointer: "
        f"{e(', '.join(f'{k} {v}' for k, v in sorted(devices.items())) or 'none')}.</p>",
        (f"<p class='note'>Counted: {result['participants']} of {all_people} participants. "
         f"{'; '.join(left_out)}.</p>") if left_out else "",
        "<h2>Result</h2><ul>" + (sentences or "<li>Only one condition: nothing to compare.</li>") + "</ul>",
        "<h2>Per condition (95% intervals: bootstrap over participants, then their trials)</h2>",
        "<table><tr><th>condition</th><th>answers</th><th>accuracy</th><th>clicks on the object</th>"
        f"<th>median response time</th></tr>{rows_html}</table>",
        "<p class='ci'>accuracy: positives answered yes and negatives answered no; clicks on the object: of the "
        "positives answered yes, the share clicked inside the true object.</p>",
        "<h2>Plots</h2>",
        f"<div class='plots'>{_plots(rows, result, conditions)}</div>" if rows else "<p>No answers yet.</p>",
        "</body></html>",
    ]  # fmt: skip
    return "\n".join(parts), result


def write_report(
    rows: list[dict],
    meta: dict,
    out: str | Path,
    csv_out: str | Path | None = None,
    complete_only: bool = True,
    pointer: str | None = None,
) -> dict:
    """The HTML report (self-contained) and, optionally, every answer as CSV (all of them,
    whatever the report counts); returns the analysis (with "dropped": what it left out)."""
    text, result = render_report(rows, meta, complete_only, pointer)
    with atomic_open(out, "w") as fh:
        fh.write(text)
    if csv_out is not None:
        with atomic_open(csv_out, "w") as fh:
            write_csv(rows, fh)
    return result
