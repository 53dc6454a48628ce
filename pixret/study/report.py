"""What a study shows, with its uncertainty.

Per condition: accuracy (a positive answered yes, a negative no), click-hit rate (of the
positives answered yes, the share whose click fell on the object) and median response time.
95% intervals come from a two-stage bootstrap that respects how the data were gathered:
participants are resampled, then each resampled participant's trials (2,000 draws, seeded).
A difference between conditions is computed inside each draw, on the same resampled people,
and only on the people who answered under both conditions (the pairs): a paired difference.

What the data cannot carry, the report does not claim. An interval needs at least
MIN_PARTICIPANTS (6) participants (for a difference: pairs), its statistic defined in 99% of
the resamples, and answers that vary (all right, or all alike, gives every resample the same
value: no interval, not a zero-width one). Without an interval a value is shown as measured,
with the reason, and no conclusion is drawn from it. No output ever shows "nan".
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import escape
from ..evaluation.significance import ALPHA, queries_needed
from ..io import atomic_open

DRAWS = 2000
METRICS = ("accuracy", "hit_rate", "median_rt")
# the fewest participants an interval over participants needs: with 5 or fewer, no paired test
# over them can reach p < 0.05 whatever the gap (2 / 2^5 > 0.05: evaluation/significance.py), so
# a resampling interval that excluded zero would claim what no exact test could show
MIN_PARTICIPANTS = queries_needed(ALPHA)
DEFINED = 0.99  # an interval needs its statistic defined in this share of the resamples at least
_CHUNK = 4_000_000  # resample weights held at once (draws x answers): bounds the memory


@dataclass(frozen=True)
class Estimate:
    """A statistic and its 95% interval.

    ``value`` None: no answer that the statistic counts. ``low``/``high`` None: no interval,
    and ``why`` says why (too few participants, too few answers, answers that do not vary).
    ``people``: the participants it comes from (for a difference, those who answered under
    both conditions: the pairs)."""

    value: float | None
    low: float | None = None
    high: float | None = None
    people: int = 0
    why: str = ""


class _Answers:
    """The answers as arrays (one entry per answer) and, per statistic, which answers it counts
    and what it averages: accuracy (every answer: right or not), click-hit rate (positives
    answered yes whose click was scored: on the object or not), median response time (every
    answer, in s)."""

    def __init__(self, rows: list[dict], conditions: tuple[str, ...]):
        people = sorted({r["participant"] for r in rows})
        where = {p: k for k, p in enumerate(people)}
        self.person = np.array([where[r["participant"]] for r in rows], dtype=np.int64)
        self.condition = np.array([r["condition"] for r in rows], dtype=object)
        hit_counts = np.array([r["kind"] != "negative" and r["answer"] == 1 and r["hit"] is not None for r in rows],
                              dtype=bool)  # fmt: skip
        self.counts = {"accuracy": np.ones(len(rows), bool), "hit_rate": hit_counts,
                       "median_rt": np.ones(len(rows), bool)}  # fmt: skip
        self.values = {"accuracy": np.array([float(r["correct"]) for r in rows]),
                       "hit_rate": np.array([float(r["hit"] or 0) for r in rows]),
                       "median_rt": np.array([float(r["rt_ms"]) / 1000 for r in rows])}  # fmt: skip
        self.n_people = len(people)
        self.rows_of = [np.flatnonzero(self.person == k) for k in range(self.n_people)]

    def sel(self, metric: str, condition: str) -> np.ndarray:
        """The answers ``metric`` counts under ``condition`` (a boolean mask)."""
        return self.counts[metric] & (self.condition == condition)

    def people(self, sel: np.ndarray) -> set[int]:
        return set(self.person[sel].tolist())


def _statistic(metric: str, w: np.ndarray, sel: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``metric`` of the answers ``sel`` under resample weights ``w`` (draws, answers: how often
    each answer is drawn): (draws,), NaN where none of them is drawn. The median is that of the
    drawn answers (two middle values averaged, as np.median of the expanded sample)."""
    ws, v = w[:, sel], values[sel]
    total = ws.sum(axis=1)
    out = np.full(len(w), np.nan)
    some = total > 0
    if not len(v) or not some.any():
        return out
    if metric != "median_rt":
        out[some] = (ws[some] @ v) / total[some]
        return out
    order = np.argsort(v, kind="stable")
    v, cum = v[order], np.cumsum(ws[some][:, order], axis=1)
    n = total[some][:, None]
    # the sorted expanded sample's element at position k is v[j], j the first index with cum[j] > k
    lo = np.minimum((cum <= (n - 1) // 2).sum(axis=1), len(v) - 1)
    hi = np.minimum((cum <= n // 2).sum(axis=1), len(v) - 1)
    out[some] = (v[lo] + v[hi]) / 2
    return out


def _stats(ans: _Answers, w: np.ndarray, conditions: tuple[str, ...]) -> np.ndarray:
    """(draws, n_conditions, 3): each statistic of each condition under resample weights ``w``."""
    out = np.empty((len(w), len(conditions), len(METRICS)))
    for c, cond in enumerate(conditions):
        for k, m in enumerate(METRICS):
            out[:, c, k] = _statistic(m, w, ans.sel(m, cond), ans.values[m])
    return out


def _bootstrap(ans: _Answers, people: tuple[int, ...], conditions: tuple[str, ...], draws: int,
               seed: int) -> np.ndarray:  # fmt: skip
    """(draws, n_conditions, 3) statistics over two-stage bootstrap resamples of ``people``:
    as many participants drawn from them with replacement, then each drawn participant's
    answers drawn with replacement from their own (all in one: a participant drawn t times
    contributes t x n_p answers drawn from their n_p, a multinomial)."""
    rng = np.random.default_rng(seed)
    n, k_people = len(ans.person), len(people)
    step = max(1, _CHUNK // max(1, n))
    out = []
    for start in range(0, draws, step):
        k = min(step, draws - start)
        times = rng.multinomial(k_people, np.full(k_people, 1 / k_people), size=k)
        w = np.zeros((k, n), np.int64)
        for j, p in enumerate(people):
            idx = ans.rows_of[p]
            w[:, idx] = rng.multinomial(times[:, j] * len(idx), np.full(len(idx), 1 / len(idx)))
        out.append(_stats(ans, w, conditions))
    return np.concatenate(out)


def _interval(values: np.ndarray, people: int, pairs: bool) -> tuple[float | None, float | None, str]:
    """The 95% percentile interval of bootstrap ``values``, or (None, None, why) where the data
    cannot give one: fewer than MIN_PARTICIPANTS participants (pairs: who answered under both
    conditions), the statistic undefined in more than 1% of the resamples (too few answers it
    counts), or no spread at all (answers that do not vary show no uncertainty)."""
    if people < MIN_PARTICIPANTS and pairs:
        return None, None, f"a paired comparison needs at least {MIN_PARTICIPANTS} participants who answered under both"
    if people < MIN_PARTICIPANTS:
        return None, None, f"{people} participant{'s' if people != 1 else ''}; an interval needs at least {MIN_PARTICIPANTS}"
    v = values[np.isfinite(values)]
    if len(v) < DEFINED * len(values):
        return None, None, "too few answers it counts to resample"
    lo, hi = (float(x) for x in np.percentile(v, [2.5, 97.5]))
    if hi - lo <= 1e-9 * max(1.0, abs(hi)):
        return None, None, "the answers do not vary, so resampling them shows no uncertainty"
    return lo, hi, ""


def analyse(rows: list[dict], conditions: tuple[str, ...], draws: int = DRAWS, seed: int = 0) -> dict:
    """Per-condition estimates and paired differences (each condition against the first).

    A difference counts only the participants who gave answers that its statistic counts under
    both conditions (the pairs), for its value and for its interval. Returns {"per_condition":
    {cond: {metric: Estimate, "n": answers}}, "differences": {(cond, first): {metric:
    Estimate}}, "participants", "responses", "min_participants"}."""
    ans = _Answers(rows, conditions)
    boots: dict[tuple[int, ...], np.ndarray] = {}

    def boot(people: tuple[int, ...]) -> np.ndarray:
        if people not in boots:
            boots[people] = _bootstrap(ans, people, conditions, draws, seed)
        return boots[people]

    def point(people: tuple[int, ...]) -> np.ndarray:
        return _stats(ans, np.isin(ans.person, people)[None].astype(np.int64), conditions)[0]

    everyone = tuple(range(ans.n_people))
    whole = point(everyone)
    per, diffs = {}, {}
    for c, cond in enumerate(conditions):
        per[cond] = {}
        for k, m in enumerate(METRICS):
            people = len(ans.people(ans.sel(m, cond)))
            if not people:
                per[cond][m] = Estimate(None, why="no answer that it counts")
                continue
            lo, hi, why = _interval(boot(everyone)[:, c, k], people, False)
            per[cond][m] = Estimate(float(whole[c, k]), lo, hi, people, why)
        per[cond]["n"] = int(np.count_nonzero(ans.condition == cond))
    base = conditions[0]
    for c, cond in enumerate(conditions[1:], 1):
        diffs[(cond, base)] = {}
        for k, m in enumerate(METRICS):
            pairs = tuple(sorted(ans.people(ans.sel(m, cond)) & ans.people(ans.sel(m, base))))
            if not pairs:
                diffs[(cond, base)][m] = Estimate(None, why="no participant gave such answers under both")
                continue
            here = point(pairs)
            b = boot(pairs)
            lo, hi, why = _interval(b[:, c, k] - b[:, 0, k], len(pairs), True)
            diffs[(cond, base)][m] = Estimate(float(here[c, k] - here[0, k]), lo, hi, len(pairs), why)
    return {"per_condition": per, "differences": diffs, "participants": ans.n_people, "responses": len(rows),
            "min_participants": MIN_PARTICIPANTS}  # fmt: skip


def _signed(v: float, digits: int = 0) -> str:
    r = round(v, digits)
    return f"{r + 0.0:+.{digits}f}" if r else f"{0:.{digits}f}"  # no "-0"


def _fmt_pts(e: Estimate) -> str:
    text = f"{_signed(100 * e.value)} points"
    return text + (f" ({_signed(100 * e.low)} to {_signed(100 * e.high)})" if e.low is not None else "")


LABELS = {"median_rt": "time", "accuracy": "accuracy", "hit_rate": "clicks"}


def _names(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def sentence(a: str, b: str, d: dict) -> str:
    """The result of one comparison, stated with its uncertainty; a conclusion only from an
    interval that the data can give (enough pairs of answers, answers that vary)."""
    t, acc, hit = d["median_rt"], d["accuracy"], d["hit_rate"]
    if t.value is None or acc.value is None:
        return f"{a} vs {b}: no participant has answered under both yet, so there is nothing to compare."
    time = f"{_signed(t.value, 1)} s median time"
    if t.low is not None:
        time += f" (95% CI {_signed(t.low, 1)} to {_signed(t.high, 1)} s)"
    clicks = f"clicks on the object {_fmt_pts(hit)}" if hit.value is not None else "no clicks on the object to compare"
    if hit.value is not None and hit.people != acc.people:  # fewer people clicked under both than answered
        clicks += f" from {hit.people} participant{'s' if hit.people != 1 else ''}"
    pairs = f"{acc.people} participant{'s' if acc.people != 1 else ''}"
    out = f"{a} vs {b}: {time}, accuracy {_fmt_pts(acc)}, {clicks} ({pairs} answered under both)."
    clear, unclear, missing = [], [], {}
    for e, better, worse, name in ((t, "were faster", "were slower", "median_rt"),
                                   (acc, "were more accurate", "were less accurate", "accuracy"),
                                   (hit, "clicked on the object more often", "clicked on the object less often", "hit_rate")):  # fmt: skip
        if e.value is None:
            continue
        if e.low is None:
            missing.setdefault(e.why, []).append(LABELS[name])
        elif e.high < 0 or e.low > 0:
            clear.append(better if (e.high < 0) == (name == "median_rt") else worse)
        else:
            unclear.append(LABELS[name])
    if clear:
        those = "those intervals exclude" if len(clear) > 1 else "its interval excludes"
        out += f" With {a}, people {' and '.join(clear)} than with {b} ({those} zero)."
    if unclear:
        many = len(unclear) > 1
        out += (f" The {_names(unclear)} difference{'s' if many else ''} could be zero "
                f"({'their intervals include' if many else 'its interval includes'} it).")  # fmt: skip
    for why, names in missing.items():
        out += f" No interval for the {_names(names)} ({why}): no conclusion on {'them' if len(names) > 1 else 'it'}."
    if not clear:
        out += f" This study cannot tell {a} from {b}{' yet' if missing else ''}."
    return out


def too_few(result: dict) -> str:
    """A sentence when the study has fewer participants than an interval needs ("" otherwise)."""
    n = result["participants"]
    if not n or n >= MIN_PARTICIPANTS:
        return ""
    return (f"{n} participant{'s' if n != 1 else ''} counted, fewer than the {MIN_PARTICIPANTS} that an interval "
            "over participants needs: this report shows what was measured and draws no conclusion yet.")


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
    vals = np.array([np.nan if e.value is None else 100 * e.value for e in acc])  # no bar where nothing was measured
    a2.bar(x, vals, color="#3b7dd8")
    # whiskers only where the report has an interval: none at all (not zero-length caps) where it
    # has none, and the axis says which
    ci = np.array([e.low is not None for e in acc], dtype=bool)
    if ci.any():
        err = np.array([[100 * (e.value - e.low), 100 * (e.high - e.value)] for e in acc if e.low is not None]).T
        a2.errorbar(x[ci], vals[ci], yerr=err, fmt="none", color="#222", capsize=6)
    a2.set_xticks(x, conditions)
    a2.set_ylim(0, 105)
    a2.set_xlabel("condition")
    a2.set_ylabel("accuracy (%), 95% CI" if ci.all() else "accuracy (%), 95% CI where drawn" if ci.any() else "accuracy (%)")
    a2.set_title("accuracy" if ci.any() else "accuracy (no interval)")
    why = "; ".join(sorted({e.why for e in acc if e.low is None and e.why}))
    missing = "" if ci.all() else f"no interval{'' if not ci.any() else ' for some conditions'}: {why}"
    alt = "accuracy per condition" + (f" ({missing})" if missing else "")
    caption = f"<figcaption class='ci'>accuracy, {escape.html(missing)}</figcaption>" if missing else ""
    return first + "<figure>" + img_tag(figure_png(fig), "image/png", alt) + caption + "</figure>"


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


GROUND_TRUTH = "the ground truth"  # what a study made without --pixel-results shows: the labels themselves


def study_oracle(meta: dict) -> str | None:
    """What the study's masks carry from the benchmark's labels when they come from them (an
    oracle: no --pixel-results, or a run built from the labels), None for a method's results.
    From the study file's ``oracle`` setting (`study create` writes it); for a file made before
    that setting, "oracle (ground truth)" as its method, or the ``"oracle"`` mark of the results
    file it names (``evaluation.results.oracle_of``; None when that file is gone)."""
    from ..evaluation.results import oracle_of

    if meta.get("oracle"):
        return meta["oracle"]
    method = meta.get("method", "")
    if method.startswith("oracle"):
        return GROUND_TRUTH
    return oracle_of(method) if method else None


def method_label(meta: dict) -> str:
    """The label given at create time, else the results file's name (never its whole path)."""
    label = meta.get("label")
    if label:
        return label
    method = meta.get("method", "")
    return method if method.startswith("oracle") else Path(method).name


def shown_as(meta: dict) -> str:
    """What the study showed, as its report and admin page name it: "method NAME", or for an
    oracle "oracle (ground truth)" / "oracle (built from the labels: WHAT)" whatever its label,
    the label beside it (as given: callers escape it for their format)."""
    oracle, label = study_oracle(meta), method_label(meta)
    if oracle is None:
        return f"method {label}"
    what = "oracle (ground truth)" if oracle == GROUND_TRUTH else f"oracle (built from the labels: {oracle})"
    return what if label.casefold() in ("oracle", "oracle (ground truth)") else f'{what}, labelled "{label}"'


def oracle_note(meta: dict) -> str:
    """A sentence for a study whose masks come from the labels ("" for a method's)."""
    oracle = study_oracle(meta)
    if oracle is None:
        return ""
    return (f"The boxes and masks shown come from the benchmark's labels ({oracle}), not from a method's "
            "predictions: this study measures what exact pixel-level results would do, not what a method does.")


_CSS = (
    "body{font-family:system-ui,sans-serif;margin:24px;max-width:1000px;color:#222}"
    "table{border-collapse:collapse;display:block;overflow-x:auto;max-width:100%}"
    "td,th{border:1px solid #ccc;padding:4px 10px;text-align:right} td:first-child{text-align:left}"
    ".ci{color:#666;font-size:12px} li{margin:6px 0} .plots{display:flex;flex-wrap:wrap;gap:12px}"
    ".plots img{max-width:100%;height:auto} .plots figure{margin:0;max-width:100%}"
    ".note{background:#fff6db;border:1px solid #e0b84a;padding:8px 12px}"
    "@media (max-width:700px){body{margin:10px} td,th{padding:3px 5px}}"
)


def render_report(
    rows: list[dict], meta: dict, complete_only: bool = True, pointer: str | None = None
) -> tuple[str, dict]:
    """The HTML report (self-contained, every string from the study file escaped) and its
    analysis. ``complete_only``: count only participants who answered every trial (the report
    says how many it left out); ``pointer``: only answers given with that pointer."""
    e = escape.html

    def name(text: str) -> str:  # a name from the study file: its bidi and control characters shown
        return escape.terminal(text, one_line=True)

    conditions = tuple(meta["conditions"].split(","))
    trials = int(meta.get("pairs") or 0)
    all_people = len({r["participant"] for r in rows})
    rows, dropped = select(rows, trials, complete_only, pointer)
    result = analyse(rows, conditions, seed=int(meta.get("seed", 0)))
    result["dropped"] = dropped
    per = result["per_condition"]

    def cell(est: Estimate, pct: bool) -> str:
        if est.value is None:
            return f"- <span class='ci'>({e(est.why)})</span>"
        f = (lambda v: f"{100 * v:.1f}%") if pct else (lambda v: f"{v:.2f} s")
        if est.low is None:
            return f"{f(est.value)} <span class='ci'>(no interval: {e(est.why)})</span>"
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
        f"<h1>User study: {e(name(meta.get('dataset', '')))}, {e(name(shown_as(meta)))}</h1>",
        f"<p class='note oracle'>{e(name(oracle_note(meta)))}</p>" if oracle_note(meta) else "",
        f"<p>{result['participants']} participants, {result['responses']} answers; conditions "
        f"{e(', '.join(conditions))}; trials {e(str(meta.get('pairs', '')))} (mix easy, hard, negative = "
        f"{e(str(meta.get('mix', '')))}); answers by pointer: "
        f"{e(', '.join(f'{k} {v}' for k, v in sorted(devices.items())) or 'none')}.</p>",
        (f"<p class='note'>Counted: {result['participants']} of {all_people} participants. "
         f"{'; '.join(left_out)}.</p>") if left_out else "",
        f"<p class='note'>{e(too_few(result))}</p>" if too_few(result) else "",
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
