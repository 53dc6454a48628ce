"""Per-query pictures (viz/show.py): ground truth and predictions on the database images."""

import numpy as np

from pixret.evaluation import PixelPrediction
from pixret.imageio import load_image
from pixret.viz.show import render_pair, results_figure, show_query, status_of


def test_status_and_pictures_of_a_query(bench, tmp_path):
    q = bench.queries[0]
    pos, junk = int(q.positives[0]), (int(q.junk[0]) if len(q.junk) else None)
    assert status_of(q, pos) == "true" and (junk is None or status_of(q, junk) == "junk")
    gt = bench.gt(q.index, pos)
    pred = PixelPrediction([gt.polygons[0] + [15, 0]])
    drawn = render_pair(bench, q, pos, pred)
    plain = load_image(bench.database_image(pos))
    assert drawn.shape == plain.shape and (drawn != plain).any()
    written = show_query(bench, q.index, {(q.index, pos): pred}, tmp_path, top=3)
    assert [p.name for p in written][0] == "q000_query.png" and len(written) == 4
    assert all(load_image(p).ndim == 3 for p in written)
    assert np.asarray(load_image(written[1])).shape[0] > plain.shape[0]  # framed and labelled


def test_the_results_figure_shows_a_positive_without_a_mask(bench, tmp_path):
    """The best-ranked positives are drawn whether or not the method gave them pixels: a miss
    ranked first is not replaced by a lower-ranked hit."""
    q = bench.queries[0]
    first, second = (int(i) for i in q.positives[:2])
    rest = [i for i in range(bench.n_database) if i not in (first, second)]
    ranks = np.tile(np.array([first, second, *rest])[:, None], (1, bench.n_queries))
    hit = PixelPrediction([bench.gt(q.index, second).polygons[0]])
    widths = {}
    for name, pixels, per_query in (("none", {}, 0), ("second", {(q.index, second): hit}, 1), ("empty", {}, 1)):
        out = results_figure(bench, pixels, ranks, tmp_path / f"{name}.png", queries=[q.index], per_query=per_query)
        widths[name] = load_image(out).shape[1]
    assert widths["none"] < widths["second"] == widths["empty"]
    # the one tile after the query is the first-ranked positive, unmasked, either way
    assert np.array_equal(load_image(tmp_path / "second.png"), load_image(tmp_path / "empty.png"))
