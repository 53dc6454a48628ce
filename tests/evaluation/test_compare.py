"""`pixret compare`: a results tree of several methods, the paper's table, significance, caching."""

import shutil

from pixret.datasets import load_benchmark
from pixret.evaluation.compare import compare
from pixret.viz import tables
from tests.helpers import write_method


def test_the_table_orders_methods_as_their_perturbations(tree):
    root, results = tree
    cmp = compare(root, results, methods=["good", "fair", "poor"])
    assert cmp.datasets == ["proxford", "prparis"]
    # each method drops 10% of its predictions (METHODS): compare says so, and nothing else
    assert len(cmp.notes) == 6 and all("positives have no prediction" in n for n in cmp.notes)
    for d in cmp.datasets:
        for metric in ("pixel_mAP", "mIoU_box", "mIoU_mask", "image_mAP"):
            for s in ("medium", "hard"):
                v = [cmp.value(m, d, "strict", metric, s) for m in ("good", "fair", "poor")]
                # ranking swaps among positives leave image AP unchanged: ties allowed there
                assert v[0] >= v[1] >= v[2] and v[0] > v[2], (d, metric, s, v)
                assert metric == "image_mAP" or v[0] > v[1] > v[2], (d, metric, s, v)


def test_strong_gaps_are_significant_and_luck_is_not(tree):
    root, results = tree
    cmp = compare(root, results)
    strong = cmp.test("good", "poor", "proxford", "strict", "mIoU_box", "medium")
    assert strong.significant() and strong.ci_low > 0.3 and strong.n == 24
    luck = cmp.test("good", "twin", "proxford", "strict", "mIoU_box", "medium")
    assert abs(luck.mean_diff) < 0.05 and not luck.significant() and luck.ci_low < 0 < luck.ci_high
    table = tables.markdown(cmp, baseline="good").split("### ")
    box = next(t for t in table if t.startswith("mIoU (box) (%), strict")).splitlines()
    assert next(line for line in box if line.startswith("| poor |")).count(tables.DAGGER) == 4
    assert next(line for line in box if line.startswith("| twin |")).count(tables.DAGGER) <= 1


def test_missing_and_broken_files_are_dashes_and_notes(tree, tmp_path):
    root, results = tree
    mine = tmp_path / "results"
    shutil.copytree(results / "image-level" / "good", mine / "image-level" / "good")
    shutil.copytree(results / "pixel-level" / "good", mine / "pixel-level" / "good")
    (mine / "image-level" / "ranks-only").mkdir(parents=True)
    shutil.copy(results / "image-level" / "poor" / "roxford.npy", mine / "image-level" / "ranks-only")
    broken = mine / "pixel-level" / "broken" / "matching_result"
    broken.mkdir(parents=True)
    (broken / "proxford.npy").write_bytes(b"not a numpy file")
    cmp = compare(root, mine)
    assert cmp.value("good", "proxford", "strict", "pixel_mAP", "medium") is not None
    assert cmp.value("ranks-only", "proxford", "strict", "pixel_mAP", "medium") is None
    assert cmp.value("broken", "proxford", "strict", "mIoU_box", "medium") is None
    notes = "\n".join(cmp.notes)
    assert "ranks-only on PROxf: no pixel-level file" in notes
    assert "broken on PROxf: " in notes and "not a .npy file" in notes
    assert "broken on PROxf: no image-level ranks" in notes
    md = tables.markdown(cmp)
    assert "| broken | - | - |" in md


def test_a_second_compare_scores_only_the_new_method(tree, tmp_path):
    root, results = tree
    mine = tmp_path / "results"
    for level in ("image-level", "pixel-level"):
        shutil.copytree(results / level / "good", mine / level / "good")
    first = compare(root, mine)
    assert sorted(first.evaluated) == [("good", "proxford"), ("good", "prparis")]
    for level in ("image-level", "pixel-level"):
        shutil.copytree(results / level / "poor", mine / level / "poor")
    second = compare(root, mine)
    assert sorted(second.evaluated) == [("poor", "proxford"), ("poor", "prparis")]
    assert second.scores[("good", "proxford")] == first.scores[("good", "proxford")]
    # a changed file is scored again
    write_method(mine, load_benchmark(root, "proxford"), "good", 0.3, 0.1, 0.0, 9)
    third = compare(root, mine)
    assert third.evaluated == [("good", "proxford")]




def test_an_oracle_in_a_results_tree_is_kept_apart_from_the_methods(tree, tmp_path):
    """Results built from the labels, in a results tree as pixret JSON that says so: scored,
    but never a cell's best, never tested, never a baseline (issue 32 item 3)."""
    import pytest

    from pixret.errors import PixretError
    from pixret.evaluation import write_pixel_results, write_ranks
    from pixret.evaluation.perturbed import perturbed_results

    root, results = tree
    mine = tmp_path / "results"
    shutil.copytree(results, mine)
    bench = load_benchmark(root, "proxford")
    ranks, pixels = perturbed_results(bench)  # the labels themselves
    write_ranks(mine / "image-level" / "labels" / "roxford.npy", ranks)
    write_pixel_results(mine / "pixel-level" / "labels" / "matching_result" / "proxford.json", pixels, "labels",
                        oracle="the ground truth")  # fmt: skip
    cmp = compare(root, mine, methods=["good", "poor", "labels"], datasets=["proxford"], cache=False)
    assert cmp.oracles == {"labels": "the ground truth"}
    assert cmp.value("labels", "proxford", "strict", "mIoU_mask", "medium") == 1.0  # above every method
    assert cmp.best("proxford", "strict", "mIoU_mask", "medium") == "good"
    assert cmp.test("labels", "poor", "proxford", "strict", "mIoU_mask", "medium") is None
    assert all("labels" not in (a, b) for a, b, *_ in cmp.contrasts())
    with pytest.raises(PixretError, match="baseline 'labels' is an oracle"):
        cmp.as_dict("labels")
    rows = tables.cells(cmp, "strict", "mIoU_mask", "poor")
    assert tables.ranks(rows, 0, cmp.oracles)[0] == round(100 * cmp.value("good", "proxford", "strict", "mIoU_mask",
                                                                         "medium"), 1)  # fmt: skip
    assert not any(sig for _, sig in rows["labels"])
    tex = tables.latex(cmp, "poor")
    assert [ln for ln in tex.splitlines() if ln.startswith("labels (oracle) &")] and not any(
        r"\textbf" in ln or r"\underline" in ln for ln in tex.splitlines() if ln.startswith("labels"))  # fmt: skip
