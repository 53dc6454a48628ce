"""The HTML comparison (viz/compare_page.py) on tiny exact values: what the differences are taken
against, their order, and names shown as text."""

import math

import pytest

from pixret.evaluation.compare import Comparison
from pixret.viz.compare_page import query_order, reference
from tests.conftest import ARTIFACTS
from tests.helpers import needs_chromium


def _summary(aps):
    return {"strict": {"pixel_mAP": {"medium": sum(a for a in aps if a is not None) / len(aps), "hard": None},
                       "per_query": [{"query": q, "pixel_AP": {"medium": a, "hard": None}} for q, a in enumerate(aps)]}}  # fmt: skip


def test_differences_against_the_baseline_or_the_best_sorted_largest_first():
    cmp = Comparison(["a", "b", "c"], ["d"], ("strict",))
    cmp.scores = {("a", "d"): _summary([0.5, 0.5, 0.5, None]), ("b", "d"): _summary([0.9, 0.2, 0.6, 0.4]),
                  ("c", "d"): _summary([0.1, 0.1, 0.1, 0.1])}  # fmt: skip
    assert reference(cmp, "d", "strict", None) == "b"  # the best pixel mAP
    assert reference(cmp, "d", "strict", "c") == "c"
    # a - c per query: +0.4, +0.4, +0.4, undefined (last); ties by query
    assert query_order(cmp, "d", "strict", "c", "a") == [0, 1, 2, 3]
    # b - a: +0.4, -0.3, +0.1, undefined
    assert query_order(cmp, "d", "strict", "a", "b") == [0, 2, 1, 3]
    assert math.isnan(cmp.per_query("a", "d", "strict", "pixel_mAP", "medium")[3])


def _runs(bench, tmp_path, shifts: dict[str, float]) -> list[str]:
    """Run folders (ranks.npy + pixels.json) of methods whose masks are the truth moved sideways."""
    from pixret.evaluation import write_pixel_results, write_ranks
    from pixret.evaluation.perturbed import perturbed_results

    args = []
    for k, (name, shift) in enumerate(shifts.items()):
        ranks, pixels = perturbed_results(bench, shift=shift, swap=0.2, seed=k)
        folder = tmp_path / f"run{k}"
        folder.mkdir()
        write_ranks(folder / "ranks.npy", ranks)
        write_pixel_results(folder / "pixels.json", pixels)
        args += ["--run", f"{name}={folder}"]
    return args


def test_the_per_query_chart_titles_start_on_a_phone_screen(bench, tmp_path):
    from matplotlib.text import Text

    from pixret.evaluation.compare import compare
    from pixret.viz.compare_page import chart_figure

    runs = [(name, tmp_path / f"run{k}") for k, name in enumerate(("method_one", "the_baseline"))]
    _runs(bench, tmp_path, {"method_one": 0.05, "the_baseline": 0.3})
    cmp = compare(bench.root, runs=runs, datasets=["eng"], cache=False)
    fig = chart_figure(cmp, "eng", "strict", "the_baseline", ["method_one"])
    fig.set_dpi(110)
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    left = (fig.get_tightbbox(r).x0 - 0.1) * fig.dpi  # where figure_png's PNG begins
    texts = [t for t in fig.findobj(Text) if "per query" in t.get_text()]
    assert texts and all(t.get_window_extent(r).x1 - left <= 390 - 20 for t in texts), [t.get_text() for t in texts]


@pytest.mark.browser
@needs_chromium
def test_the_comparison_page_fits_every_screen(bench, tmp_path):
    """On a phone the per-query chart made the page 880 px wide, its title cut."""
    from tests.helpers import run_cli
    from tests.pagecheck import layout_problems, on_every_screen

    out = tmp_path / "compare.html"
    runs = _runs(bench, tmp_path, {"method_one": 0.05, "the_baseline": 0.3, "third <b>x</b>": 0.15})
    r = run_cli(["compare", "--root", bench.root, "--dataset", "eng", *runs, "--baseline", "the_baseline",
                 "--html", out])  # fmt: skip
    assert r.returncode == 0, r.stderr
    chart = "img[alt='per-query differences, sorted']"
    for name, page in on_every_screen(out.as_uri()):
        assert page.locator(chart).count() == 1 and page.locator("figure img").count() > 3
        assert layout_problems(page) == [], name
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.locator(chart).scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / f"compare-chart-{name}.png"))
