"""Results made from the ground truth by known perturbations (evaluation/perturbed.py) score as predicted."""

import pytest

from pixret.datasets import load_benchmark
from pixret.evaluation import PixelEval
from pixret.evaluation.perturbed import perturbed_results


def test_reference_results_give_known_scores(mini):
    bench = load_benchmark(mini, "mini")
    ranks, pixels = perturbed_results(bench)
    s = PixelEval(bench, ranks, pixels).run()
    assert s["strict"]["mIoU"]["medium_mask"] == 1.0 and s["strict"]["image_mAP"]["hard"] == 1.0
    assert s["strict"]["pixel_mAP"]["medium"] == 1.0
    # compat scores only the first polygon of a pair: occluded objects split in two lose
    multi = [p for p in bench.pairs() if len(bench.gt(*p).polygons) > 1]
    assert (s["compat"]["mIoU"]["medium_mask"] < 1.0) == bool(multi)
    ranks, pixels = perturbed_results(bench, shift=0.2)
    s = PixelEval(bench, ranks, pixels).run()
    assert s["strict"]["mIoU"]["medium_box"] == pytest.approx(0.8 / 1.2, abs=0.01)
    ranks, pixels = perturbed_results(bench, drop=1.0)
    assert not pixels
