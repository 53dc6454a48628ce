"""An HTML page of a comparison (self-contained: images inlined; opens without a server).

1. The tables (one per protocol and metric; best bold, second underlined with three or more
   methods, the dagger against the baseline) and the notes.
2. Per dataset, where each method wins and loses: per-query pixel AP (Medium) differences
   against a reference (the baseline, else the method with the best pixel mAP), sorted, as a
   chart and a table linking to each query.
3. Per query, in that order: the query with its box, then for a few of its positives (those
   where the methods' IoUs differ most) the methods' masks side by side on the same image:
   ground truth green, prediction red, the mask IoU under each.

Every name a user gave (methods, datasets, images) is escaped for HTML (``pixret.escape``). An
oracle (a run built from the labels) is marked " (oracle)" wherever its name appears, is never
bold, and is never the reference the differences are taken against.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .. import escape
from ..errors import PixretError
from ..evaluation.compare import SUBSETS, Comparison, dataset_label
from ..evaluation.metrics import COMPARED, SUBSET_LETTERS, percent
from ..evaluation.protocols.strict import pair_iou
from ..evaluation.results import PixelResults, load_pixel_results
from ..imageio import encode, thumbnail
from ..io import atomic_open
from .overlay import STATUS_COLORS, frame
from .plots import figure_png, plt
from .report import img_tag
from .show import render_pair, render_query, status_of
from .tables import DAGGER, ORACLE_TAG, cells, footnotes, ranks, title

_CSS = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;background:#fafafa}
h1{font-size:22px;margin:0 0 4px} h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd}
h3{font-size:15px;margin:20px 0 6px}
table{border-collapse:collapse;font-size:13px;margin:6px 0 14px} td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#eee} td:first-child{text-align:left} caption{text-align:left;font-weight:600;padding:4px 0;white-space:nowrap}
.tables{display:flex;flex-wrap:wrap;gap:0 28px}
.best{font-weight:700} .second{text-decoration:underline} .win{color:#1a7f37} .loss{color:#c62828}
.meta,.notes{color:#555;font-size:12px} .grid{display:grid;gap:6px;align-items:start;margin:4px 0 12px}
figure{margin:0;font-size:11px;text-align:center;overflow-wrap:anywhere} figure img{display:block;max-width:100%;height:auto}
.rowlabel{font-size:11px;color:#444;align-self:center;overflow-wrap:anywhere}
.wide,.grid{overflow-x:auto;max-width:100%} .wide img{display:block}
@media (max-width:700px){body{margin:10px} table{display:block;overflow-x:auto}}
"""
THUMB = 240
CANDIDATES = 24  # positives per query (hard ones first) among which those drawn are chosen
PRIMARY = ("pixel_mAP", "medium")  # the per-query value the page sorts by: pixel AP, Medium


def _name(cmp: Comparison, m: str) -> str:
    """A method's name for HTML, an oracle's marked."""
    return escape.html(m) + (ORACLE_TAG if m in cmp.oracles else "")


def _table(cmp: Comparison, protocol: str, metric: str, baseline: str | None) -> str:
    rows = cells(cmp, protocol, metric, baseline)
    cols = [(d, s) for d in cmp.datasets for s in SUBSETS]
    head = "".join(f"<th colspan='2'>{escape.html(dataset_label(d))}</th>" for d in cmp.datasets)
    sub = "".join(f"<th>{SUBSET_LETTERS[s]}</th>" for _, s in cols)
    body = []
    for m, row in rows.items():
        tds = []
        for c, (v, sig) in enumerate(row):
            best, second = ranks(rows, c, cmp.oracles)
            shown = v is not None and m not in cmp.oracles
            cls = "best" if shown and round(v, 1) == best else (
                "second" if shown and round(v, 1) == second else "")  # fmt: skip
            txt = "-" if v is None else f"{v:.1f}{DAGGER if sig else ''}"
            tds.append(f"<td class='{cls}'>{txt}</td>")
        tag = " (baseline)" if m == baseline else ""
        body.append(f"<tr><td>{_name(cmp, m)}{tag}</td>{''.join(tds)}</tr>")
    return (f"<table><caption>{escape.html(title(cmp, protocol, metric))}</caption><tr><th rowspan='2'>method</th>"
            f"{head}</tr><tr>{sub}</tr>{''.join(body)}</table>")  # fmt: skip


def reference(cmp: Comparison, dataset: str, protocol: str, baseline: str | None) -> str | None:
    """What per-query differences are taken against: the baseline, else the best method."""
    if baseline and (baseline, dataset) in cmp.scores:
        return baseline
    return cmp.best(dataset, protocol, *PRIMARY)


def query_order(cmp: Comparison, dataset: str, protocol: str, ref: str, other: str) -> list[int]:
    """Queries by the difference other - ref of their pixel AP (Medium), largest first;
    undefined differences last."""
    a = cmp.per_query(other, dataset, protocol, *PRIMARY)
    b = cmp.per_query(ref, dataset, protocol, *PRIMARY)
    diff = a - b
    return sorted(range(len(diff)), key=lambda q: (math.isnan(diff[q]), -np.nan_to_num(diff[q]), q))


def _chart(cmp: Comparison, dataset: str, protocol: str, ref: str, others: list[str]) -> bytes:
    """Per-query differences of each method against ``ref``, each sorted (matplotlib, PNG)."""
    return figure_png(chart_figure(cmp, dataset, protocol, ref, others))


def chart_figure(cmp: Comparison, dataset: str, protocol: str, ref: str, others: list[str]):
    """The figure of ``_chart``: one panel per method of ``others``."""
    fig, axes = plt.subplots(len(others), 1, figsize=(8, 2.4 * len(others)), squeeze=False)
    b = cmp.per_query(ref, dataset, protocol, *PRIMARY)
    for ax, m in zip(axes[:, 0], others, strict=True):
        d = 100 * (cmp.per_query(m, dataset, protocol, *PRIMARY) - b)
        d = np.sort(d[np.isfinite(d)])[::-1]
        ax.bar(np.arange(len(d)), d, color=["#1a7f37" if v > 0 else "#c62828" for v in d])
        ax.axhline(0, color="#444", lw=0.8)
        ax.set_ylabel("points")
        ax.set_xticks([])
        # at the left, in short lines: a phone shows the chart at its size, scrolled sideways
        ax.set_title(f"{escape.chart(m)}{ORACLE_TAG if m in cmp.oracles else ''} - {escape.chart(ref)}\npixel AP Medium per query, sorted\n"
                     f"{(d > 0).sum()} better, {(d < 0).sum()} worse, {(d == 0).sum()} equal", fontsize=9,
                     loc="left")  # fmt: skip
    fig.tight_layout()
    return fig


def _pixels(cmp: Comparison, dataset: str, notes: list[str]) -> dict[str, PixelResults]:
    """Each method's predictions on ``dataset`` (read again; warnings were noted when scored)."""
    out = {}
    for m in cmp.methods:
        f = cmp.files.get((m, dataset))
        if f is None or f.pixel is None:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out[m] = load_pixel_results(cmp.benches[dataset], f.pixel, cmp.points)
        except PixretError as exc:
            notes.append(f"{m} on {dataset_label(dataset)}: {exc}")
    return out


def _pair_cells(cmp: Comparison, dataset: str, q: int, pixels: dict[str, PixelResults], top: int) -> str:
    """Up to ``top`` positives of query q where the methods' mask IoUs differ most (among its
    first ``CANDIDATES``, hard ones first), one row each: the image name, then each method's
    mask on it."""
    bench = cmp.benches[dataset]
    query = bench.queries[q]
    methods = [m for m in cmp.methods if m in pixels]
    ious = {}
    for i in (*query.hard, *query.easy)[:CANDIDATES]:  # a bound on the IoUs computed per query
        pair = (q, int(i))
        ious[int(i)] = [pair_iou(bench, pixels[m].get(pair), pair)[0][1] for m in methods]
    chosen = sorted(ious, key=lambda i: (-(max(ious[i]) - min(ious[i])) if ious[i] else 0, i))[:top]
    cols = f"grid-template-columns:minmax(80px,140px) repeat({len(methods)},minmax(120px,{THUMB}px))"
    parts = [f"<div class='grid' style='{cols}'><div></div>"]
    parts += [f"<div class='rowlabel'><b>{_name(cmp, m)}</b></div>" for m in methods]
    for i in chosen:
        st = status_of(query, i)
        hard = "hard" if i in set(query.hard.tolist()) else "easy"
        parts.append(f"<div class='rowlabel'>{escape.html(bench.database[i])}<br>{hard} positive</div>")
        for m, iou in zip(methods, ious[i], strict=True):
            img = render_pair(bench, query, i, pixels[m].get((q, i)))
            cap = f"{_name(cmp, m)}: mask IoU {100 * iou:.0f}"
            if img is None:
                parts.append(f"<figure>{cap}</figure>")
                continue
            tile = frame(thumbnail(img, THUMB - 8), STATUS_COLORS[st], 3)
            parts.append(f"<figure>{img_tag(encode(tile, '.jpg', 80), 'image/jpeg', bench.database[i])}{cap}</figure>")
    parts.append("</div>")
    return "".join(parts)


def _dataset_section(cmp: Comparison, dataset: str, protocol: str, baseline: str | None, top: int,
                     notes: list[str]) -> list[str]:  # fmt: skip
    bench = cmp.benches[dataset]
    label = escape.html(dataset_label(dataset))
    ref = reference(cmp, dataset, protocol, baseline)
    others = [m for m in cmp.methods if m != ref and cmp.per_query(m, dataset, protocol, *PRIMARY) is not None]
    out = [f"<h2 id='d-{escape.html(dataset)}'>{label}: where each method wins and loses</h2>"]
    if ref is None or not others:
        return [*out, "<p class='meta'>Fewer than two methods have scores here: nothing to set side by side.</p>"]
    out.append(f"<p class='meta'>Per-query pixel AP, Medium ({escape.html(protocol)} protocol), in points, "
               f"against {escape.html(ref)}{' (the baseline)' if ref == baseline else ' (the best pixel mAP)'}; "
               f"queries sorted by the difference of {escape.html(others[0])}.</p>")  # fmt: skip
    chart = img_tag(_chart(cmp, dataset, protocol, ref, others), "image/png", "per-query differences, sorted")
    out.append(f"<div class='wide'>{chart}</div>")
    order = query_order(cmp, dataset, protocol, ref, others[0])
    values = {m: cmp.per_query(m, dataset, protocol, *PRIMARY) for m in [ref, *others]}
    head = "".join(f"<th>{_name(cmp, m)}</th>" for m in [ref, *others])
    head += "".join(f"<th>{_name(cmp, m)} &minus; {escape.html(ref)}</th>" for m in others)
    rows = []
    for q in order:
        diffs = []
        for m in others:
            d = values[m][q] - values[ref][q]
            cls = "" if not np.isfinite(d) or d == 0 else ("win" if d > 0 else "loss")
            diffs.append(f"<td class='{cls}'>{'-' if not np.isfinite(d) else f'{100 * d:+.1f}'}</td>")
        aps = "".join(f"<td>{percent(_finite(values[m][q]))}</td>" for m in [ref, *others])
        rows.append(f"<tr><td><a href='#{escape.html(dataset)}-q{q}'>{q}</a> {escape.html(bench.queries[q].name)}"
                    f"</td>{aps}{''.join(diffs)}</tr>")  # fmt: skip
    out.append(f"<table><tr><th>query</th>{head}</tr>{''.join(rows)}</table>")
    pixels = _pixels(cmp, dataset, notes)
    for q in order:
        query = bench.queries[q]
        aps = ", ".join(f"{_name(cmp, m)} {percent(_finite(values[m][q]))}" for m in [ref, *others])
        out.append(f"<h3 id='{escape.html(dataset)}-q{q}'>query {q}: {escape.html(query.name)}</h3>"
                   f"<div class='meta'>pixel AP Medium: {aps}; {len(query.easy)} easy, {len(query.hard)} hard "
                   "positives. Green: ground truth; red: the method's prediction.</div>")  # fmt: skip
        qimg = render_query(bench, query)
        if qimg is not None:
            out.append(f"<figure style='width:{THUMB}px'>{img_tag(encode(thumbnail(qimg, THUMB), '.jpg', 80), 'image/jpeg', 'query')}"
                       "query and its box</figure>")  # fmt: skip
        if top and pixels:
            out.append(_pair_cells(cmp, dataset, q, pixels, top))
    return out


def _finite(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def write_compare_page(cmp: Comparison, out: str | os.PathLike, baseline: str | None = None,
                       metrics: Sequence[str] = COMPARED, images: int = 4) -> Path:  # fmt: skip
    """Write the page for ``cmp`` to ``out``; ``images``: positives drawn per query (0: none)."""
    protocol = "strict" if "strict" in cmp.protocols else cmp.protocols[0]
    notes = list(cmp.notes)
    names = ", ".join(_name(cmp, m) for m in cmp.methods)
    parts = ["<!doctype html><html><head><meta charset='utf-8'>"
             "<meta name='viewport' content='width=device-width, initial-scale=1'>"
             f"<title>pixret compare: {names}</title><style>{_CSS}</style></head><body>",
             f"<h1>{names}</h1>",
             f"<div class='meta'>on {', '.join(escape.html(dataset_label(d)) for d in cmp.datasets)}; values in %; "
             f"M: Medium, H: Hard; best bold, second underlined (three or more methods); pixret compare "
             f"{dt.date.today().isoformat()}</div>", "<h2>Tables</h2>"]  # fmt: skip
    for p in cmp.protocols:
        parts.append("<div class='tables'>" + "".join(_table(cmp, p, m, baseline) for m in metrics) + "</div>")
    sections = []
    for d in cmp.datasets:
        sections += _dataset_section(cmp, d, protocol, baseline, images, notes)
    marks = footnotes(cmp, baseline)
    parts.append("<div class='notes'>" + "".join(f"<p>{escape.html(n)}</p>" for n in marks) + "</div>")
    if notes:
        parts.append("<h2>Notes</h2><ul class='notes'>" + "".join(f"<li>{escape.html(n)}</li>" for n in notes)
                     + "</ul>")  # fmt: skip
    parts += sections
    parts.append("</body></html>")
    out = Path(out)
    with atomic_open(out, "w") as fh:
        fh.write("\n".join(parts))
    return out


