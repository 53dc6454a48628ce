"""The HTML report (viz/report.py) on a phone: nothing wider than the screen but the one chart
that scrolls sideways inside its own box."""

import pytest

from pixret.datasets import load_benchmark
from pixret.evaluation import evaluate_files
from pixret.viz.report import write_report
from tests.conftest import ARTIFACTS
from tests.helpers import ARGS, CHROMIUM, needs_chromium


@pytest.mark.browser
@needs_chromium
def test_the_report_reads_on_a_phone(tree, tmp_path):
    from playwright.sync_api import sync_playwright

    root, results = tree
    bench = load_benchmark(root, "proxford")
    ev = evaluate_files(bench, results / "image-level" / "fair" / "roxford.npy",
                        results / "pixel-level" / "fair" / "matching_result" / "proxford.npy")  # fmt: skip
    out = write_report(ev, tmp_path / "r.html", "fair <b>method</b>", top=4, queries=[0, 1])
    assert "fair &lt;b&gt;method&lt;/b&gt;" in out.read_text()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = b.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True).new_page()
        page.goto(out.as_uri())
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # 954 before
        bb = page.locator("img[alt='precision-recall curves, Medium and Hard']").bounding_box()
        assert 200 < bb["width"] <= 390 - 16
        wide = page.locator(".wide").bounding_box()
        assert wide["width"] <= 390 and page.evaluate("document.querySelector('.wide').scrollWidth") > wide["width"]
        page.locator("h2", has_text="Curves").scroll_into_view_if_needed()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report-phone.png"))
        b.close()


@pytest.mark.browser
@needs_chromium
def test_the_report_of_a_benchmark_with_photos_covers_no_caption_on_any_screen(bench, tmp_path):
    """The report's tiles (the query's outline) covered each query's caption, on a desktop and
    a phone. `pixret report` as a user runs it, then every text, picture and tile measured."""
    from pixret.evaluation import write_pixel_results, write_ranks
    from pixret.evaluation.perturbed import perturbed_results
    from tests.helpers import run_cli
    from tests.pagecheck import layout_problems, on_every_screen

    ranks, pixels = perturbed_results(bench, shift=0.1, swap=0.2, seed=1)
    write_ranks(tmp_path / "ranks.npy", ranks)
    write_pixel_results(tmp_path / "pixels.json", pixels)
    out = tmp_path / "my_report.html"
    r = run_cli(["report", out, "--root", bench.root, "--dataset", "eng", "--image-results", tmp_path / "ranks.npy",
                 "--pixel-results", tmp_path / "pixels.json", "--method", "my_method", "--top", "6"])  # fmt: skip
    assert r.returncode == 0, r.stderr
    for name, page in on_every_screen(out.as_uri()):
        assert page.locator(".query figure img").count() == bench.n_queries
        assert layout_problems(page) == [], name
        page.locator("h3").first.scroll_into_view_if_needed()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"report-query-{name}.png"))
