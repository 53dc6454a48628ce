"""Charts (viz/plots.py): panels and legends that do not overlap what they explain."""

from pixret.datasets import load_benchmark
from pixret.evaluation import evaluate_files
from pixret.viz.plots import per_query_bars, per_query_figure, pr_curves


def _title(ax):
    """A panel's title, wherever it is placed (left, centre or right)."""
    from matplotlib.text import Text

    return next(t for t in ax.findobj(Text) if "per query" in t.get_text())


def _ev(tree):
    root, results = tree
    bench = load_benchmark(root, "proxford")
    return evaluate_files(bench, results / "image-level" / "fair" / "roxford.npy",
                          results / "pixel-level" / "fair" / "matching_result" / "proxford.npy")  # fmt: skip


def test_per_query_panels_and_legend_do_not_overlap(tree):
    fig = per_query_figure(_ev(tree))
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    axes = fig.axes
    assert len(axes) == 2  # compat and strict
    upper, lower = axes
    below = [upper.xaxis.label, *upper.get_xticklabels()]
    for text in below:  # the upper panel's axis label and ticks stay clear of the lower one's title
        assert not text.get_window_extent(r).overlaps(_title(lower).get_window_extent(r)), text.get_text()
        assert not text.get_window_extent(r).overlaps(lower.get_window_extent(r)), text.get_text()
    legend = fig.legends[0].get_window_extent(r)
    for ax in axes:  # one legend, outside every panel: it covers no bar
        assert not legend.overlaps(ax.get_window_extent(r))
        assert not legend.overlaps(_title(ax).get_window_extent(r))
    assert all(ax.get_legend() is None for ax in axes)
    assert all(b.overlaps(fig.bbox) for b in (legend, *(ax.get_window_extent(r) for ax in axes)))


def test_pr_curves_stacked_are_half_as_wide(tree):
    import io

    from PIL import Image

    ev = _ev(tree)
    both = Image.open(io.BytesIO(pr_curves(ev)))
    one = Image.open(io.BytesIO(pr_curves(ev, stacked=True)))
    assert one.width < 0.6 * both.width and one.height > 1.5 * both.height


PHONE_WIDTH = 390 - 2 * 10  # what a phone shows of a chart before it is scrolled: the report's margins aside


def _left_of_png(fig, r) -> float:
    """Where the PNG that figure_png writes begins, in the figure's pixels (bbox_inches="tight"
    crops the figure to what it draws, with a 0.1 inch pad)."""
    return (fig.get_tightbbox(r).x0 - 0.1) * fig.dpi


def test_per_query_title_and_legend_are_on_a_phone_screen_before_any_scroll(tree):
    """The chart grows with the queries and a phone scrolls it sideways: its title and legend,
    centred, were off-screen."""
    fig = per_query_figure(_ev(tree))
    fig.set_dpi(110)  # figure_png's
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    assert fig.get_figwidth() * 110 > 2 * PHONE_WIDTH  # the chart is far wider than the phone
    left = _left_of_png(fig, r)
    for what, text in [("legend", fig.legends[0]), *((_title(ax).get_text(), _title(ax)) for ax in fig.axes)]:
        assert text.get_window_extent(r).x1 - left <= PHONE_WIDTH, what


def test_chart_labels_are_never_read_as_math(tree, tmp_path):
    from pixret.viz.plots import per_query_bars

    ev = _ev(tree)
    ev.bench.name = r"$\undefinedcmd{x}$ bench"  # a benchmark is any NAME
    assert per_query_bars(ev, tmp_path / "q.png")[:4] == b"\x89PNG" and pr_curves(ev)[:4] == b"\x89PNG"


def test_chart_labels_have_every_glyph_the_font_draws_and_matplotlib_says_nothing(bench, tree, tmp_path):
    """Issue 32 (J4): labels with emoji, CJK or a tab printed 5 lines of matplotlib's "warning:
    Glyph ... missing from font(s) DejaVu Sans."; the characters the font lacks are written as
    <U+XXXX>, as in the terminal."""
    import warnings

    from pixret import escape
    from tests.helpers import run_cli
    from tests.viz.test_compare_page import _runs

    assert escape.chart("🚀 fast\t日本 café") == "<U+1F680> fast<U+0009><U+65E5><U+672C> café"
    runs = _runs(bench, tmp_path, {"🚀 rocket": 0.05, "日本\tbase": 0.3})
    r = run_cli(["compare", "--root", bench.root, "--dataset", "eng", *runs, "--baseline", "日本\tbase",
                 "--html", tmp_path / "compare.html"])  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "Glyph" not in r.stderr and "missing from font" not in r.stderr, r.stderr
    ev = _ev(tree)
    ev.bench.name = "🚀 日本\tbench"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib's glyph warning would raise
        assert per_query_bars(ev)[:4] == b"\x89PNG" and pr_curves(ev)[:4] == b"\x89PNG"
