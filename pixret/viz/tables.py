"""A comparison as the paper's tables: rows are methods, columns dataset then Medium / Hard.

One table per (protocol, metric); values in %. With a baseline, a dagger marks the cells where
a method differs from it significantly (paired randomization test over queries, p < 0.05).
Exports: rich (terminal), Markdown, LaTeX (booktabs; best per column bold, second underlined),
CSV (one row per cell).
"""

from __future__ import annotations

import csv
import io
import math

from rich.table import Table

from ..evaluation.compare import LABELS, METRICS, SUBSETS, Comparison

METRIC_NAMES = {
    "pixel_mAP": "pixel mAP@50:5:95",
    "mIoU_box": "mIoU (box)",
    "mIoU_mask": "mIoU (mask)",
    "image_mAP": "image mAP",
}
DAGGER = "†"


def _columns(cmp: Comparison) -> list[tuple[str, str]]:
    return [(d, s) for d in cmp.datasets for s in SUBSETS]


def _cells(cmp: Comparison, protocol: str, metric: str, baseline: str | None):
    """rows[method] = [(value in % or None, significant vs baseline), ...] per column."""
    rows = {}
    for m in cmp.methods:
        row = []
        for d, s in _columns(cmp):
            v = cmp.value(m, d, protocol, metric, s)
            sig = False
            if baseline and m != baseline and v is not None:
                t = cmp.test(m, baseline, d, protocol, metric, s)
                sig = bool(t and t.significant())
            row.append((None if v is None or math.isnan(v) else 100 * v, sig))
        rows[m] = row
    return rows


def _ranks(rows: dict, n_cols: int) -> list[list[int]]:
    """Per column, the best and second-best distinct values (higher is better)."""
    out = []
    for c in range(n_cols):
        vals = sorted({round(r[c][0], 1) for r in rows.values() if r[c][0] is not None}, reverse=True)
        out.append(vals[:2])
    return out


def _fmt(v: float | None, sig: bool, mark: str = DAGGER) -> str:
    return "-" if v is None else f"{v:.1f}{mark if sig else ''}"


def title(cmp: Comparison, protocol: str, metric: str) -> str:
    return f"{METRIC_NAMES[metric]} (%), {protocol} protocol"


def rich_table(cmp: Comparison, protocol: str, metric: str, baseline: str | None = None) -> Table:
    t = Table(title=title(cmp, protocol, metric))
    t.add_column("method")
    for d, s in _columns(cmp):
        t.add_column(f"{LABELS[d]}\n{s[0].upper()}", justify="right")
    rows = _cells(cmp, protocol, metric, baseline)
    best = _ranks(rows, len(_columns(cmp)))
    for m, row in rows.items():
        cells = []
        for c, (v, sig) in enumerate(row):
            txt = _fmt(v, sig)
            if v is not None and best[c] and round(v, 1) == best[c][0]:
                txt = f"[bold]{txt}[/bold]"
            cells.append(txt)
        t.add_row(m + (" (baseline)" if m == baseline else ""), *cells)
    return t


def markdown(cmp: Comparison, baseline: str | None = None) -> str:
    """Every (protocol, metric) table as Markdown, best per column in bold."""
    cols = _columns(cmp)
    out = []
    for p in cmp.protocols:
        for metric in METRICS:
            rows = _cells(cmp, p, metric, baseline)
            best = _ranks(rows, len(cols))
            out.append(f"### {title(cmp, p, metric)}\n")
            out.append("| method | " + " | ".join(f"{LABELS[d]} {s[0].upper()}" for d, s in cols) + " |")
            out.append("|---|" + "---:|" * len(cols))
            for m, row in rows.items():
                cells = []
                for c, (v, sig) in enumerate(row):
                    txt = _fmt(v, sig)
                    cells.append(f"**{txt}**" if v is not None and round(v, 1) == best[c][0] else txt)
                out.append(f"| {m} | " + " | ".join(cells) + " |")
            out.append("")
    if baseline:
        out.append(f"{DAGGER} differs from {baseline} (paired randomization test over queries, p < 0.05).\n")
    return "\n".join(out)


def _tex(s: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("$", r"\$"), ("#", r"\#"),
                 ("_", r"\_"), ("{", r"\{"), ("}", r"\}"), ("~", r"\textasciitilde{}"), ("^", r"\^{}")):  # fmt: skip
        s = s.replace(a, b)
    return s


def latex(cmp: Comparison, baseline: str | None = None) -> str:
    """Every (protocol, metric) table as a booktabs tabular: grouped dataset headers over M / H,
    the best value per column in bold, the second underlined."""
    cols = _columns(cmp)
    out = [r"% needs \usepackage{booktabs}"]
    for p in cmp.protocols:
        for metric in METRICS:
            rows = _cells(cmp, p, metric, baseline)
            best = _ranks(rows, len(cols))
            out.append(f"% {title(cmp, p, metric)}")
            out.append(r"\begin{tabular}{l" + "rr" * len(cmp.datasets) + "}")
            out.append(r"\toprule")
            out.append(
                "Method & "
                + " & ".join(rf"\multicolumn{{2}}{{c}}{{{_tex(LABELS[d])}}}" for d in cmp.datasets)
                + r" \\"
            )
            out.append(
                " ".join(rf"\cmidrule(lr){{{2 + 2 * n}-{3 + 2 * n}}}" for n in range(len(cmp.datasets)))
            )
            out.append(" & " + " & ".join("M & H" for _ in cmp.datasets) + r" \\")
            out.append(r"\midrule")
            for m, row in rows.items():
                cells = []
                for c, (v, sig) in enumerate(row):
                    txt = _fmt(v, sig, r"$^\dagger$")
                    if v is not None and best[c] and round(v, 1) == best[c][0]:
                        txt = rf"\textbf{{{txt}}}"
                    elif v is not None and len(best[c]) > 1 and round(v, 1) == best[c][1]:
                        txt = rf"\underline{{{txt}}}"
                    cells.append(txt)
                out.append(f"{_tex(m)} & " + " & ".join(cells) + r" \\")
            out.append(r"\bottomrule")
            out.append(r"\end{tabular}")
            if baseline:
                out.append(
                    rf"% $^\dagger$: differs from {_tex(baseline)} (paired randomization test over queries, $p<0.05$)"
                )
            out.append("")
    return "\n".join(out)


def csv_text(cmp: Comparison, baseline: str | None = None) -> str:
    """One row per (method, dataset, subset, protocol, metric), with the test against the baseline."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["method", "dataset", "subset", "protocol", "metric", "value", "diff_vs_baseline",
                "ci95_low", "ci95_high", "p_value"])  # fmt: skip
    for m in cmp.methods:
        for d, s in _columns(cmp):
            for p in cmp.protocols:
                for metric in METRICS:
                    v = cmp.value(m, d, p, metric, s)
                    t = cmp.test(m, baseline, d, p, metric, s) if baseline and m != baseline else None
                    extra = [t.mean_diff, t.ci_low, t.ci_high, t.p_value] if t else ["", "", "", ""]
                    w.writerow([m, d, s, p, metric, "" if v is None else v, *extra])
    return buf.getvalue()
