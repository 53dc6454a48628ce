"""Per-query pictures (viz/show.py): ground truth and predictions on the database images."""

import numpy as np

from pixret.evaluation import PixelPrediction
from pixret.imageio import load_image
from pixret.viz.show import render_pair, show_query, status_of


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
