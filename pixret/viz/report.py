"""A self-contained HTML report of a method's results (images inlined; opens without a server)."""

from __future__ import annotations

import base64
import datetime as dt
import os
from pathlib import Path

from .. import escape
from ..evaluation.evaluator import PixelEval
from ..evaluation.metrics import METRICS, percent
from ..imageio import encode, thumbnail
from ..io import atomic_open
from .overlay import STATUS_COLORS, frame
from .plots import per_query_bars, pr_curves
from .show import render_pair, render_query, status_of

_CSS = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;background:#fafafa}
h1{font-size:22px;margin:0 0 4px} h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd}
table.sum{border-collapse:collapse;font-size:13px} .sum td,.sum th{border:1px solid #ccc;padding:4px 8px;text-align:right}
.sum th{background:#eee} .sum td:first-child{text-align:left;font-weight:600}
.row{display:flex;flex-wrap:wrap;gap:8px;align-items:flex-start}
figure{margin:0;font-size:11px;text-align:center;width:256px;overflow-wrap:anywhere} figure img{display:block;max-width:256px;height:auto}
.key{font-size:12px;color:#444;max-width:900px} .key dt{font-weight:600;float:left;clear:left;width:150px} .key dd{margin:0 0 4px 160px}
table.toc{border-collapse:collapse;font-size:12px} .toc td,.toc th{border:1px solid #ddd;padding:2px 8px;text-align:right} .toc td:nth-child(2){text-align:left}
.charts img{max-width:100%;height:auto} .wide{overflow-x:auto;max-width:100%} .wide img{max-width:none}
@media (max-width:700px){body{margin:10px} table.sum,table.toc{display:block;overflow-x:auto} figure{width:46vw} figure img{max-width:100%}
 .key dt{float:none;width:auto} .key dd{margin:0 0 6px 0}}
.query figure img{outline:3px solid #3b7dd8;outline-offset:-3px} .meta{color:#666;font-size:12px}
.oracle{background:#fff4d6;border:1px solid #e0b84c;padding:6px 10px;max-width:900px}
.legend span{display:inline-block;padding:2px 8px;margin-right:6px;border-radius:3px;color:#fff;font-size:12px}
"""

_KEY = """<dl class="key">
<dt>E, M, H</dt><dd>Easy, Medium, Hard (revisitop protocols): Easy counts the easy positives (hard ones
ignored); Medium counts easy and hard; Hard counts the hard ones only (easy ones ignored).</dd>
<dt>mIoU, box / mask</dt><dd>per query, the mean IoU between predicted and true object over its
positives (box: the boxes around them; mask: the pixels), then the mean over queries.</dd>
<dt>pixel mAP@50:5:95</dt><dd>mean average precision of the ranking when a positive counts only
if its IoU exceeds the threshold, averaged over thresholds 0.50, 0.55, ..., 0.95 (mask IoU in
strict; the release's scripts use the box IoU: the next column).</dd>
<dt>image mAP</dt><dd>mean average precision of the image ranking alone (revisitop).</dd>
<dt>compat / strict</dt><dd>compat reproduces the release's scripts, quirks included;
strict is the corrected protocol (every positive counts, mask IoU, the image's own canvas).</dd>
<dt>-</dt><dd>not measured (no ranking given, or no positives in that subset).</dd>
</dl>"""


def img_tag(data: bytes, mime: str, alt: str) -> str:
    """An <img> holding ``data`` inline (reports open without a server)."""
    return f'<img alt="{escape.html(alt)}" src="data:{mime};base64,{base64.b64encode(data).decode()}">'


def _hex(bgr: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*bgr[::-1])


def summary_html(summary: dict[str, dict]) -> str:
    """The headline numbers: grouped headers (each metric of the registry over its subsets), one
    row per protocol, a key."""
    metrics = list(METRICS.values())
    top = "".join(f"<th colspan='{len(m.subsets)}'>{escape.html(m.label)}</th>" for m in metrics)
    sub = "".join(f"<th>{letter}</th>" for m in metrics for _, letter in m.columns())
    rows = "".join(
        f"<tr><td>{escape.html(p)}</td>"
        + "".join(f"<td>{percent(m.value(r, s))}</td>" for m in metrics for s in m.subsets)
        + "</tr>"
        for p, r in summary.items()
    )
    return (
        f"<table class='sum'><tr><th rowspan='2'>protocol</th>{top}</tr><tr>{sub}</tr>{rows}</table>"
        f"<div class='meta'>Values in %.</div>{_KEY}"
    )


def contents_html(ev: PixelEval, queries: list[int]) -> str:
    """One line per query, linking to its section: positives and its APs (strict)."""
    strict = ev.results.get("strict") or next(iter(ev.results.values()))
    rows = []
    for q in queries:
        query, pq = ev.bench.queries[q], strict.per_query[q]
        rows.append(
            f"<tr><td><a href='#q{q}'>{q}</a></td><td>{escape.html(query.name)}</td><td>{len(query.easy)}</td>"
            f"<td>{len(query.hard)}</td><td>{percent(pq['pixel_AP']['medium'])}</td><td>{percent(pq['pixel_AP']['hard'])}</td>"
            f"<td>{percent(pq['mIoU']['medium_mask'])}</td><td>{percent(pq['image_AP']['medium'])}</td></tr>"
        )
    head = ("<tr><th>#</th><th>query</th><th>easy</th><th>hard</th><th>pixel AP M</th><th>pixel AP H</th>"
            "<th>mask mIoU M</th><th>image AP M</th></tr>")  # fmt: skip
    return f"<table class='toc'>{head}{''.join(rows)}</table>"


def write_report(
    ev: PixelEval,
    out: str | os.PathLike,
    method: str = "method",
    top: int = 10,
    queries: list[int] | None = None,
    oracle: str | None = None,
) -> Path:
    """Write the report for an evaluated ``ev`` (after ``run()``) to ``out``. ``oracle``: what
    the results carry from the benchmark's labels when they were built from them
    (``results.oracle_of``): the title marks the run and a line under it says so."""
    bench, summary = ev.bench, ev.summarize()
    name = escape.html(method) + (" (oracle)" if oracle else "")
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>pixret: {name} on "
        f"{escape.html(bench.name)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{name} on {escape.html(bench.name)}</h1>",
        *([f"<p class='oracle'><b>An oracle, not a method:</b> these results are built from the benchmark's "
           f"labels ({escape.html(oracle)}).</p>"] if oracle else []),  # fmt: skip
        f"<div class='meta'>{bench.n_queries} queries, {bench.n_database} database images, "
        f"{len(bench.pairs())} labelled pairs; pixret report {dt.date.today().isoformat()}. "
        "Values in %. compat = the release's scripts; strict = corrected protocol "
        "(every positive counts, mask IoU).</div>",
        "<h2>Summary</h2>",
        summary_html(summary),
        "<h2>Contents: queries (strict protocol, %)</h2>",
        contents_html(ev, list(queries) if queries is not None else list(range(bench.n_queries))),
        "<h2>Curves</h2><div class='row charts'>",
        img_tag(pr_curves(ev, stacked=True), "image/png", "precision-recall curves, Medium and Hard"),
        # one bar pair per query: as wide as the queries need, scrolled sideways on a narrow screen
        "</div><div class='wide'>",
        img_tag(per_query_bars(ev), "image/png", "per-query bars"),
        "</div>",
    ]
    legend = "".join(f"<span style='background:{_hex(c)}'>{k}</span>" for k, c in STATUS_COLORS.items())
    parts.append(
        f"<h2>Queries</h2><div class='legend'>frame: {legend} &nbsp; green outline = ground truth, "
        "red = predicted pixels</div>"
    )
    strict = ev.results.get("strict") or next(iter(ev.results.values()))
    for q in queries if queries is not None else range(bench.n_queries):
        query = bench.queries[q]
        pq = strict.per_query[q]
        parts.append(
            f"<h3 id='q{q}'>query {q}: {escape.html(query.name)}</h3><div class='meta'>"
            f"{len(query.easy)} easy, {len(query.hard)} hard, {len(query.junk)} junk; "
            f"pixel AP M {percent(pq['pixel_AP']['medium'])}, image AP M {percent(pq['image_AP']['medium'])}, "
            f"mask mIoU M {percent(pq['mIoU']['medium_mask'])}</div><div class='row'>"
        )
        qimg = render_query(bench, query)
        if qimg is not None:
            parts.append(f"<div class='query'><figure>{img_tag(encode(thumbnail(qimg, 256)), 'image/jpeg', 'query')}"
                         "query</figure></div>")  # fmt: skip
        items = ev.ranks[:top, q].tolist() if ev.ranks is not None else query.positives.tolist()[:top]
        for rank, i in enumerate(items):
            st = status_of(query, int(i))
            img = render_pair(bench, query, int(i), ev.pixels.get((q, int(i))))
            iou = ev.strict_pairs.get((q, int(i)))
            cap = f"#{rank + 1} {st}" + (f", IoU {100 * iou[1]:.0f}" if iou is not None else "")
            if img is None:
                parts.append(f"<figure>{escape.html(bench.database[int(i)])}<br>{cap}</figure>")
                continue
            tile = frame(thumbnail(img, 248), STATUS_COLORS[st], 4)
            parts.append(
                f"<figure>{img_tag(encode(tile), 'image/jpeg', bench.database[int(i)])}{cap}</figure>"
            )
        parts.append("</div>")
    parts.append("</body></html>")
    out = Path(out)
    with atomic_open(out, "w") as fh:
        fh.write("\n".join(parts))
    return out
