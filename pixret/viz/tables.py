"""A comparison as the paper's tables: rows are methods, columns dataset then Medium / Hard.

Values in %. With a baseline, a dagger marks the cells where a method differs from it
significantly (paired randomization test over queries, p < 0.05). The best value of a column
is bold; the second best is underlined (LaTeX) only where three or more methods have a value
(with two, "second" is only "the other one").

Exports: rich (terminal; one table per protocol and metric), Markdown (the same), LaTeX (one
``table`` per protocol in the paper's layout: methods as rows, dataset x (M, H) columns under
``\\multicolumn``, one block per metric, the dagger explained in the caption), CSV (one row per
cell with the test against the baseline). Every name a user gave (methods, datasets) goes
through that format's escaper (``pixret.escape``). An oracle (a run built from the labels,
``Comparison.oracles``) is marked " (oracle)" in every table and explained under it (the LaTeX
caption, a CSV column); it is never bold or underlined.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from rich.table import Table
from rich.text import Text

from .. import escape
from ..evaluation.compare import SUBSETS, Comparison, dataset_label
from ..evaluation.metrics import COMPARED, METRICS, SUBSET_LETTERS
from ..evaluation.significance import ALPHA

DAGGER = "†"
ORACLE_TAG = " (oracle)"  # after an oracle's name, in every format
Cell = tuple[float | None, bool]  # (value in %, significantly different from the baseline)


def _columns(cmp: Comparison) -> list[tuple[str, str]]:
    return [(d, s) for d in cmp.datasets for s in SUBSETS]


def cells(cmp: Comparison, protocol: str, metric: str, baseline: str | None) -> dict[str, list[Cell]]:
    """rows[method] = [(value in % or None, significant vs baseline), ...] per column;
    PixretError when ``baseline`` is no method here (or an oracle)."""
    cmp.check_baseline(baseline)
    rows = {}
    for m in cmp.methods:
        row = []
        for d, s in _columns(cmp):
            v = cmp.value(m, d, protocol, metric, s)
            sig = False
            if baseline and m != baseline and v is not None:
                t = cmp.test(m, baseline, d, protocol, metric, s)
                sig = bool(t and t.significant())
            row.append((None if v is None else 100 * v, sig))
        rows[m] = row
    return rows


def ranks(rows: dict[str, list[Cell]], column: int, oracles=()) -> tuple[float | None, float | None]:
    """(best, second best) distinct value of a column, as shown (one decimal); the second only
    where three or more methods have a value, the best only where two or more do. The rows of
    ``oracles`` are no methods: they take no part."""
    shown = [round(r[column][0], 1) for m, r in rows.items() if r[column][0] is not None and m not in oracles]
    distinct = sorted(set(shown), reverse=True)
    best = distinct[0] if len(shown) >= 2 else None
    second = distinct[1] if len(shown) >= 3 and len(distinct) > 1 else None
    return best, second


def _fmt(v: float | None, sig: bool, mark: str = DAGGER) -> str:
    return "-" if v is None else f"{v:.1f}{mark if sig else ''}"


def title(cmp: Comparison, protocol: str, metric: str) -> str:
    return f"{METRICS[metric].label} (%), {protocol} protocol"


def footnotes(cmp: Comparison, baseline: str | None) -> list[str]:
    """Plain sentences under every table: the dagger's meaning, and what few queries allow."""
    out = []
    if baseline:
        out.append(f"{DAGGER} differs from {baseline}: paired randomization test over queries, p < {ALPHA:g}")
    return out + cmp.oracle_notes() + cmp.power_notes()


def _best(v: float | None, rows: dict[str, list[Cell]], c: int, cmp: Comparison, m: str) -> bool:
    return v is not None and m not in cmp.oracles and round(v, 1) == ranks(rows, c, cmp.oracles)[0]


def rich_table(cmp: Comparison, protocol: str, metric: str, baseline: str | None = None) -> Table:
    """One (protocol, metric) table for the terminal; names shown, never interpreted."""
    t = Table(title=title(cmp, protocol, metric))
    t.add_column("method")
    for d, s in _columns(cmp):
        t.add_column(Text(f"{escape.terminal(dataset_label(d), one_line=True)}\n{SUBSET_LETTERS[s]}"), justify="right")
    rows = cells(cmp, protocol, metric, baseline)
    for m, row in rows.items():
        out = []
        for c, (v, sig) in enumerate(row):
            txt = _fmt(v, sig)
            out.append(f"[bold]{txt}[/bold]" if _best(v, rows, c, cmp, m) else txt)
        tag = ORACLE_TAG if m in cmp.oracles else " (baseline)" if m == baseline else ""
        name = Text(escape.terminal(m, one_line=True) + tag)  # shown, never read as markup
        t.add_row(name, *out)
    return t


def markdown(cmp: Comparison, baseline: str | None = None, metrics: Sequence[str] = COMPARED) -> str:
    """Every (protocol, metric) table as Markdown, best per column in bold."""
    cols = _columns(cmp)
    out = []
    for p in cmp.protocols:
        for metric in metrics:
            rows = cells(cmp, p, metric, baseline)
            out.append(f"### {title(cmp, p, metric)}\n")
            head = " | ".join(f"{escape.markdown_cell(dataset_label(d))} {SUBSET_LETTERS[s]}" for d, s in cols)
            out.append(f"| method | {head} |")
            out.append("|---|" + "---:|" * len(cols))
            for m, row in rows.items():
                shown = []
                for c, (v, sig) in enumerate(row):
                    txt = _fmt(v, sig)
                    shown.append(f"**{txt}**" if _best(v, rows, c, cmp, m) else txt)
                tag = ORACLE_TAG if m in cmp.oracles else ""
                out.append(f"| {escape.markdown_cell(m)}{tag} | " + " | ".join(shown) + " |")
            out.append("")
    out += [f"{escape.markdown_cell(n)}  " for n in footnotes(cmp, baseline)]
    return "\n".join(out) + "\n"


def latex(cmp: Comparison, baseline: str | None = None, metrics: Sequence[str] = COMPARED) -> str:
    """One ``table`` per protocol in the paper's layout: methods as rows; dataset x (M, H)
    columns under ``\\multicolumn``; one block per metric; best bold, second underlined (three
    or more methods); a caption that explains the marks. Needs ``\\usepackage{booktabs}``."""
    n = len(cmp.datasets)
    width = 1 + 2 * n
    out = [r"% needs \usepackage{booktabs}"]
    methods = len(set(cmp.methods) - set(cmp.oracles))  # an oracle is never bold or underlined
    for p in cmp.protocols:
        caption = [f"Comparison, {escape.latex(p)} protocol, in \\%; M: Medium, H: Hard.",
                   "Best per column in bold" + (", second best underlined." if methods >= 3 else ".")]  # fmt: skip
        if baseline:
            caption.append(f"$^\\dagger$: differs from {escape.latex(baseline)} (paired randomization test over "
                           f"queries, $p<{ALPHA:g}$).")  # fmt: skip
        caption += [escape.latex(s) + "." for s in cmp.oracle_notes() + cmp.power_notes()]
        out += [r"\begin{table}[t]", r"\centering", r"\caption{" + " ".join(caption) + "}",
                r"\begin{tabular}{l" + "rr" * n + "}", r"\toprule",
                " & " + " & ".join(rf"\multicolumn{{2}}{{c}}{{{escape.latex(dataset_label(d))}}}" for d in cmp.datasets)
                + r" \\",
                " ".join(rf"\cmidrule(lr){{{2 + 2 * k}-{3 + 2 * k}}}" for k in range(n)),
                "Method & " + " & ".join("M & H" for _ in cmp.datasets) + r" \\"]  # fmt: skip
        for metric in metrics:
            rows = cells(cmp, p, metric, baseline)
            out += [r"\midrule", rf"\multicolumn{{{width}}}{{l}}{{\textit{{{escape.latex(METRICS[metric].label)}}}}} \\"]
            for m, row in rows.items():
                shown = []
                for c, (v, sig) in enumerate(row):
                    txt = _fmt(v, sig, r"$^\dagger$")
                    best, second = ranks(rows, c, cmp.oracles)
                    if v is not None and m not in cmp.oracles and round(v, 1) == best:
                        txt = rf"\textbf{{{txt}}}"
                    elif v is not None and m not in cmp.oracles and round(v, 1) == second:
                        txt = rf"\underline{{{txt}}}"
                    shown.append(txt)
                tag = ORACLE_TAG if m in cmp.oracles else ""
                out.append(f"{escape.latex(m)}{tag} & " + " & ".join(shown) + r" \\")
        out += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return "\n".join(out)


def csv_text(cmp: Comparison, baseline: str | None = None, metrics: Sequence[str] = COMPARED) -> str:
    """One row per (method, dataset, subset, protocol, metric), with the test against the
    baseline (interval ends empty where unbounded) and, for an oracle, what it is built from
    (``oracle``; empty for a method); text cells never run as formulas."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["method", "dataset", "subset", "protocol", "metric", "value", "diff_vs_baseline",
                "ci95_low", "ci95_high", "p_value", "oracle"])  # fmt: skip
    for m in cmp.methods:
        for d, s in _columns(cmp):
            for p in cmp.protocols:
                for metric in metrics:
                    v = cmp.value(m, d, p, metric, s)
                    t = cmp.test(m, baseline, d, p, metric, s) if baseline and m != baseline else None
                    extra = [t.mean_diff, _blank(t.ci_low), _blank(t.ci_high), t.p_value] if t else ["", "", "", ""]
                    w.writerow([escape.csv_cell(m), escape.csv_cell(d), s, p, metric, "" if v is None else v, *extra,
                                escape.csv_cell(cmp.oracles.get(m, ""))])  # fmt: skip
    return buf.getvalue()


def _blank(v: float | None) -> float | str:
    return "" if v is None else v
