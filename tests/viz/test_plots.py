"""Charts (viz/plots.py): panels and legends that do not overlap what they explain."""

from pixret.datasets import load_benchmark
from pixret.evaluation import evaluate_files
from pixret.viz.plots import per_query_figure, pr_curves


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
        assert not text.get_window_extent(r).overlaps(lower.title.get_window_extent(r)), text.get_text()
        assert not text.get_window_extent(r).overlaps(lower.get_window_extent(r)), text.get_text()
    legend = fig.legends[0].get_window_extent(r)
    for ax in axes:  # one legend, outside every panel: it covers no bar
        assert not legend.overlaps(ax.get_window_extent(r))
        assert not legend.overlaps(ax.title.get_window_extent(r))
    assert all(ax.get_legend() is None for ax in axes)
    assert all(b.overlaps(fig.bbox) for b in (legend, *(ax.get_window_extent(r) for ax in axes)))


def test_pr_curves_stacked_are_half_as_wide(tree):
    import io

    from PIL import Image

    ev = _ev(tree)
    both = Image.open(io.BytesIO(pr_curves(ev)))
    one = Image.open(io.BytesIO(pr_curves(ev, stacked=True)))
    assert one.width < 0.6 * both.width and one.height > 1.5 * both.height
