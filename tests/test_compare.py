"""`pixret compare`: a results tree of several methods, the paper's table, significance, caching."""

import json
import shutil
import subprocess

import numpy as np
import pytest
from typer.testing import CliRunner

from pixret.cli import app
from pixret.datasets import load_benchmark
from pixret.evaluation import write_pixel_results, write_ranks
from pixret.evaluation.compare import compare
from pixret.evaluation.perturbed import perturbed_results
from pixret.evaluation.significance import paired_test
from pixret.viz import tables
from tests.helpers import write_release

# method -> (shift, drop, swap, seed): ordered best to worst; "twin" is "good" with other luck
METHODS = {
    "good": (0.0, 0.1, 0.0, 1),
    "twin": (0.0, 0.1, 0.0, 2),
    "fair": (0.15, 0.1, 0.3, 3),
    "poor": (0.45, 0.1, 0.6, 4),
}


def _blob(rng, w, h):
    cx, cy, r = rng.uniform(60, w - 60), rng.uniform(50, h - 50), rng.uniform(20, 45)
    a = np.sort(rng.uniform(0, 2 * np.pi, 10))
    return np.stack(
        [cx + r * rng.uniform(0.7, 1, 10) * np.cos(a), cy + r * rng.uniform(0.7, 1, 10) * np.sin(a)], 1
    )


def write_method(results, bench, name, shift, drop, swap, seed, dataset="proxford"):
    ranks, pixels = perturbed_results(bench, shift, drop, swap, seed)
    stem = {"proxford": ("roxford", "proxford"), "prparis": ("rparis", "prparis")}[dataset]
    write_ranks(results / "image-level" / name / f"{stem[0]}.npy", ranks)
    write_pixel_results(results / "pixel-level" / name / "matching_result" / f"{stem[1]}.npy", pixels)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("cmp")
    rng = np.random.default_rng(0)
    for name, n_db in (("proxford", 60), ("prparis", 50)):
        queries, labels = [], {}
        for q in range(24):
            perm = rng.permutation(n_db)
            queries.append(
                {"easy": perm[:4].tolist(), "hard": perm[4:7].tolist(), "junk": perm[7:9].tolist()}
            )
            for i in perm[:7]:
                labels[(q, int(i))] = [_blob(rng, 320, 240)]
        write_release(root, name, queries, n_db, labels, size=(320, 240))
    results = root / "results"
    for dataset in ("proxford", "prparis"):
        bench = load_benchmark(root, dataset)
        for name, args in METHODS.items():
            write_method(results, bench, name, *args, dataset=dataset)
    return root, results


def test_the_table_orders_methods_as_their_perturbations(tree):
    root, results = tree
    cmp = compare(root, results, methods=["good", "fair", "poor"])
    assert cmp.datasets == ["proxford", "prparis"] and not cmp.notes
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


def test_paired_test_on_hand_made_values():
    # every query better by exactly 0.1: the smallest p 24 queries allow, a zero-width interval
    t = paired_test(np.full(24, 0.6), np.full(24, 0.5))
    assert t.mean_diff == pytest.approx(0.1) and t.ci_low == pytest.approx(0.1) and t.p_value < 0.001
    same = paired_test([0.2, 0.5, np.nan], [0.2, 0.5, 0.9])  # NaN pairs are left out
    assert same.n == 2 and same.mean_diff == 0 and same.p_value == 1.0


def test_exports(tree, tmp_path):
    root, results = tree
    out = tmp_path / "o"
    args = ["compare", "--root", str(root), "--results", str(results), "--protocol", "both",
            "--baseline", "poor", "--markdown", str(out / "t.md"), "--latex", str(out / "t.tex"),
            "--csv", str(out / "t.csv"), "--json", str(out / "t.json")]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "t.json").read_text())
    assert doc["methods"] == ["fair", "good", "poor", "twin"]
    assert len(doc["scores"]["good"]["proxford"]["strict"]["per_query"]) == 24
    assert {t["b"] for t in doc["paired_tests"]} == {"poor"}
    rows = (out / "t.csv").read_text().splitlines()
    assert rows[0].startswith("method,dataset,subset,protocol,metric,value")
    assert len(rows) == 1 + 4 * 2 * 2 * 2 * 4  # methods x datasets x subsets x protocols x metrics
    tex = (out / "t.tex").read_text()
    assert r"\toprule" in tex and r"\textbf{" in tex and r"\underline{" in tex and r"$^\dagger$" in tex
    assert r"\multicolumn{2}{c}{PROxf} & \multicolumn{2}{c}{PRPar}" in tex


def test_latex_compiles(tree, tmp_path):
    if shutil.which("pdflatex") is None:
        pytest.skip("no pdflatex (CI installs texlive-latex-base and -recommended)")
    root, results = tree
    cmp = compare(root, results, methods=["good", "poor"], datasets=["proxford"])
    doc = tmp_path / "doc.tex"
    body = tables.latex(cmp, baseline="poor")
    doc.write_text(
        "\\documentclass{article}\\usepackage{booktabs}\\begin{document}\n" + body + "\n\\end{document}\n"
    )
    proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert (tmp_path / "doc.pdf").stat().st_size > 1000


def test_latex_golden(tree):
    """The exact LaTeX of a small comparison (stable: deterministic perturbations)."""
    root, results = tree
    cmp = compare(
        root, results, methods=["good", "fair", "poor"], datasets=["proxford"], protocols=("strict",)
    )
    lines = tables.latex(cmp).splitlines()
    at = lines.index("% pixel mAP@50:5:95 (%), strict protocol")
    got = lines[at : at + 11]
    assert got[1:7] == [
        r"\begin{tabular}{lrr}",
        r"\toprule",
        r"Method & \multicolumn{2}{c}{PROxf} \\",
        r"\cmidrule(lr){2-3}",
        r" & M & H \\",
        r"\midrule",
    ]
    assert got[7].startswith("good & \\textbf{") and got[8].startswith("fair & \\underline{")
    assert got[9].startswith("poor & ") and got[10] == r"\bottomrule"


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


def test_bad_arguments_are_one_line(tree, tmp_path):
    root, results = tree
    res = CliRunner().invoke(
        app, ["compare", "--root", str(root), "--results", str(results), "--method", "nope"]
    )
    assert res.exit_code != 0 and "no results for method(s) nope; found: fair, good, poor, twin" in str(
        res.exception
    )
    res = CliRunner().invoke(app, ["compare", "--root", str(root), "--results", str(tmp_path)])
    assert "no methods found" in str(res.exception)
