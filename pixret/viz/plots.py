"""Charts of an evaluation: per-query bars and precision-recall curves (matplotlib, PNG)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .. import escape  # noqa: E402
from ..errors import PixretError  # noqa: E402
from ..evaluation.evaluator import PixelEval  # noqa: E402
from ..evaluation.metrics import METRICS  # noqa: E402
from ..io import atomic_open

RECALL = np.linspace(0, 1, 101)


def figure_png(fig, path: str | os.PathLike | None = None) -> bytes:
    """A matplotlib figure as PNG bytes (closed after), also written to ``path`` if given."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    data = buf.getvalue()
    if path is not None:
        with atomic_open(path, "wb") as fh:
            fh.write(data)
    return data


def per_query_figure(ev: PixelEval):
    """The per-query figure: pixel AP (Medium) and mask mIoU per query, one panel per protocol.

    Laid out by matplotlib's constrained layout (no axis label runs into the next panel's
    title) with one legend above the panels, outside every axes (it never covers a bar). The
    figure grows with the queries and pages show it at its size, scrolled sideways on a phone:
    titles and legend sit at its left, on screen before any scroll."""
    protos = list(ev.results)
    fig, axes = plt.subplots(
        len(protos), 1, figsize=(max(8, ev.bench.n_queries * 0.18), 3.0 * len(protos) + 0.6), squeeze=False,
        layout="constrained",
    )
    for ax, proto in zip(axes[:, 0], protos, strict=True):
        pq = ev.results[proto].per_query
        x = np.arange(len(pq))
        ap = [METRICS["pixel_mAP"].query_value(r, "medium") or 0.0 for r in pq]
        miou = [METRICS["mIoU_mask"].query_value(r, "medium") or 0.0 for r in pq]
        ax.bar(x - 0.2, ap, 0.4, label="pixel AP (Medium)", color="#3b7dd8")
        ax.bar(x + 0.2, miou, 0.4, label="mask mIoU (Medium)", color="#e3873b")
        for n, r in enumerate(pq):
            if r["ignored_in_pixel_mAP"]:
                ax.text(n, 0.02, "ign", rotation=90, fontsize=7, ha="center")
        ax.set_ylim(0, 1)
        ax.set_xlim(-0.6, len(pq) - 0.4)
        ax.set_xticks(x)
        ax.set_xticklabels([str(r["query"]) for r in pq], fontsize=6)
        ax.set_title(f"{escape.chart(ev.bench.name)}: per query ({proto})", loc="left")
        ax.set_xlabel("query")
        ax.set_ylabel("Medium")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper left", ncols=2, fontsize=8, frameon=False)
    return fig


def per_query_bars(ev: PixelEval, path: str | os.PathLike | None = None) -> bytes:
    """Per-query pixel AP (medium) and mask mIoU, one panel per protocol (PNG bytes)."""
    return figure_png(per_query_figure(ev), path)


def _pr_curve(ev: PixelEval, relevant_of, subset: str) -> np.ndarray:
    """Mean interpolated precision over RECALL for all queries with positives."""
    curves = []
    for q in ev.bench.queries:
        ok, junk = q.protocol(subset)
        if not len(ok) or ev.ranks is None:
            continue
        rel = relevant_of(q, ok)
        pos = ev.positions(q.index, rel, junk)
        if not len(pos):
            curves.append(np.zeros_like(RECALL))
            continue
        prec = (np.arange(len(pos)) + 1) / (pos + 1)
        rec = (np.arange(len(pos)) + 1) / len(ok)
        interp = np.maximum.accumulate(prec[::-1])[::-1]
        idx = np.searchsorted(rec, RECALL, side="left")
        curves.append(np.where(idx < len(pos), interp[np.minimum(idx, len(pos) - 1)], 0.0))
    return np.mean(curves, axis=0) if curves else np.zeros_like(RECALL)


def pr_curves(ev: PixelEval, path: str | os.PathLike | None = None, stacked: bool = False) -> bytes:
    """Image-level and pixel-level (strict, mask IoU > t) PR curves, medium and hard: side by
    side, or ``stacked`` one above the other (a figure half as wide, for pages that must also
    read on a phone)."""
    subsets = ("medium", "hard")
    fig, axes = plt.subplots(2 if stacked else 1, 1 if stacked else 2, figsize=(5, 8) if stacked else (10, 4),
                             squeeze=False, layout="constrained")  # fmt: skip
    for ax, subset in zip(axes.ravel(), subsets, strict=True):
        ax.plot(RECALL, _pr_curve(ev, lambda q, ok: ok, subset), label="image level", lw=2)
        if ev.strict_pairs:
            for t in (0.5, 0.75):

                def rel(q, ok, t=t):
                    return np.array([i for i in ok if ev.strict_pairs[(q.index, int(i))][1] > t])

                ax.plot(RECALL, _pr_curve(ev, rel, subset), label=f"pixel, mask IoU > {t}")
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_title(f"{escape.chart(ev.bench.name)} {subset}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return figure_png(fig, path)


def write_plots(ev: PixelEval, folder: str | os.PathLike) -> list[Path]:
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PixretError(folder, f"cannot make the plots folder here ({exc.strerror or exc})") from None
    out = [folder / "per_query.png", folder / "pr_curves.png"]
    per_query_bars(ev, out[0])
    pr_curves(ev, out[1])
    return out
