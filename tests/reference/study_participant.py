"""A scripted participant for the study page (Playwright): tests and demonstrations.

It reads what the page shows (the trial's position and condition), looks the truth up in the
study file (which the page never has), and answers through the page like a person: Yes then a
click on the object, or No. Playwright is a development dependency: import this module only
where it is installed.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import cv2
import numpy as np

from pixret.datasets.model import Benchmark
from pixret.geometry import fill_polygons
from pixret.imageio import image_size


class ScriptedParticipant:
    """One participant's browser page, driven step by step."""

    def __init__(self, page, study_file: str | Path, bench: Benchmark, touch: bool = False):
        """``touch``: answer by tapping (the page's context needs has_touch), as on a phone."""
        self.page, self.bench, self.touch = page, bench, touch
        self.truth = sqlite3.connect(study_file)
        self.pid: str | None = None

    def press(self, selector: str) -> None:
        (self.page.tap if self.touch else self.page.click)(selector)

    def start(self, url: str) -> None:
        self.page.goto(url)
        self.press("#start")
        self.page.wait_for_selector("#i-canvas[data-position]")
        self.pid = self.page.evaluate("new URLSearchParams(location.search).get('p')")

    @property
    def done(self) -> bool:
        return self.page.is_visible("#done")

    def trial(self) -> tuple[int, str, str, list, int]:
        """(position, condition, kind, ground-truth polygons, database image) of the shown trial."""
        pos = int(self.page.get_attribute("#i-canvas", "data-position"))
        cond = self.page.get_attribute("#i-canvas", "data-condition")
        kind, gt, image = self.truth.execute(
            "SELECT t.kind, t.gt, t.image FROM assignments a JOIN trials t ON t.id = a.trial "
            "WHERE a.participant = ? AND a.position = ?", (self.pid, pos),
        ).fetchone()  # fmt: skip
        return pos, cond, kind, json.loads(gt), image

    def answer(self, right: bool, reload_midway: bool = False) -> None:
        """Answer the shown trial rightly or wrongly; optionally reload after pressing Yes."""
        pos, _, kind, gt, image = self.trial()
        w, h = image_size(self.bench.database_image(image))
        positive = kind != "negative"
        if positive == right:  # say yes: click on the object (right) or in a corner (wrong)
            self.press("#yes")
            if reload_midway:
                self.page.reload()
                self.page.wait_for_selector(f"#i-canvas[data-position='{pos}']")
                self.press("#yes")
            x, y = inside_point(gt, w, h) if positive else (3.0, 3.0)
            bb = self.page.locator("#i-canvas").bounding_box()
            at = (bb["x"] + x * bb["width"] / w, bb["y"] + y * bb["height"] / h)
            (self.page.touchscreen.tap if self.touch else self.page.mouse.click)(*at)
        else:
            self.press("#no")
        # the next trial, or the end (polling needs the page's CSP bypassed: it evaluates a string)
        self.page.wait_for_function(
            "document.getElementById('done').hidden === false || "
            f"document.getElementById('i-canvas').dataset.position !== '{pos}'"
        )


def inside_point(polys: list, w: int, h: int) -> tuple[float, float]:
    """A point well inside the object: the deepest pixel of its mask."""
    m = fill_polygons([np.asarray(p) for p in polys], h, w)
    dist = cv2.distanceTransform(m, cv2.DIST_L2, 5)
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return float(x), float(y)
