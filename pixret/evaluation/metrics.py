"""One table of metrics, the way cocoeval's ``summarize`` keeps one table of (metric, area, ...).

Every place that shows a score (``pixret evaluate``'s table, ``pixret compare``'s tables and
exports, the HTML report's summary, the plots) reads the summary through this table, so a
metric is named, labelled and looked up in one place.

A summary is what ``PixelEval.summarize()`` returns for one protocol (the JSON of
``pixret evaluate --json``): ``{"mIoU": {"medium_box": v, ...}, "pixel_mAP": {"medium": v, ...},
..., "per_query": [record, ...]}``, values in 0..1 or None (docs/protocols.md, "What is
reported"). Each per-query record holds the same metrics per query (``pixel_AP`` for
``pixel_mAP`` and so on).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # NumPy is imported where it is used: `pixret compare --help` lists METRICS without it
    import numpy as np

SUBSET_LETTERS = {"easy": "E", "medium": "M", "hard": "H"}
# the columns of the paper's tables (the release's README and the ICCV 2023 paper): Medium, Hard
PAPER_SUBSETS = ("medium", "hard")


@dataclass(frozen=True)
class Metric:
    """One metric: where its value lives in a protocol's summary and in a per-query record.

    ``field`` names the summary's entry and ``subkey`` the key inside it, with ``{s}`` standing
    for the subset (``mIoU`` / ``{s}_box``: ``summary["mIoU"]["medium_box"]``); ``query_field``
    is the per-query record's entry holding the same metric for one query (AP for mAP).
    """

    name: str  # what --metric takes, and the key in JSON exports
    label: str  # as a table's title: "pixel mAP@50:5:95"
    short: str  # as a row or column label, before the subset: "pixel mAP"
    subsets: tuple[str, ...]
    field: str
    subkey: str
    query_field: str
    query_label: str  # the per-query value's name: "pixel AP"

    def value(self, summary: dict | None, subset: str) -> float | None:
        """The metric's value (0..1) in one protocol's summary, None where not measured."""
        return _number(_at(summary, self.field, self.subkey.format(s=subset)))

    def query_value(self, record: dict | None, subset: str) -> float | None:
        """The metric's value for one query (a record of ``per_query``), None where undefined."""
        return _number(_at(record, self.query_field, self.subkey.format(s=subset)))

    def per_query(self, summary: dict | None, subset: str) -> np.ndarray:
        """(n_queries,) float64 per-query values of one protocol's summary, NaN where undefined."""
        import numpy as np

        records = summary.get("per_query", []) if isinstance(summary, dict) else []
        vals = [self.query_value(r, subset) for r in records]
        return np.array([np.nan if v is None else v for v in vals], dtype=np.float64)

    def columns(self) -> list[tuple[str, str]]:
        """(subset, letter) of every subset this metric has: [("medium", "M"), ...]."""
        return [(s, SUBSET_LETTERS[s]) for s in self.subsets]


def _at(doc: object, field: str, key: str) -> object:
    inner = doc.get(field) if isinstance(doc, dict) else None
    return inner.get(key) if isinstance(inner, dict) else None


def _number(v: object) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return None if math.isnan(v) else float(v)


_MH = ("medium", "hard")
# The table. Order: as `pixret evaluate` prints its rows and the report its column groups.
METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("mIoU_box", "mIoU (box)", "mIoU box", _MH, "mIoU", "{s}_box", "mIoU", "mIoU box"),
        Metric("mIoU_mask", "mIoU (mask)", "mIoU mask", _MH, "mIoU", "{s}_mask", "mIoU", "mIoU mask"),
        Metric("pixel_mAP", "pixel mAP@50:5:95", "pixel mAP", _MH, "pixel_mAP", "{s}", "pixel_AP", "pixel AP"),
        Metric("pixel_mAP_box", "pixel mAP@50:5:95, box IoU", "pixel mAP (box IoU)", _MH, "pixel_mAP_box", "{s}",
               "pixel_AP_box", "pixel AP (box IoU)"),  # fmt: skip
        Metric("image_mAP", "image mAP", "image mAP", ("easy", "medium", "hard"), "image_mAP", "{s}", "image_AP",
               "image AP"),  # fmt: skip
    )
}
# The tables `pixret compare` writes by default, in the paper's order.
COMPARED = ("pixel_mAP", "mIoU_box", "mIoU_mask", "image_mAP")


def metric(name: str) -> Metric:
    """The metric called ``name``; ValueError naming the valid ones for any other."""
    if name not in METRICS:
        raise ValueError(f"unknown metric {name!r}; choose from {', '.join(METRICS)}")
    return METRICS[name]


def percent(v: float | None, decimals: int = 1) -> str:
    """A 0..1 value as a percentage (``decimals`` places); "-" where it is missing or NaN."""
    import numpy as np

    if v is None or isinstance(v, bool) or not isinstance(v, int | float | np.floating) or math.isnan(v):
        return "-"
    return f"{100 * v:.{decimals}f}"


def summary_rows() -> list[tuple[str, Metric, str]]:
    """(row label, metric, subset) for every value of a summary: what `pixret evaluate` prints."""
    return [(f"{m.short} {s.capitalize()}", m, s) for m in METRICS.values() for s in m.subsets]
