"""Comparison tables (viz/tables.py): Markdown, LaTeX that compiles, CSV."""

import json
import shutil
import subprocess

import pytest
from typer.testing import CliRunner

from pixret.cli import app
from pixret.evaluation.compare import compare
from pixret.viz import tables


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
    """The exact LaTeX of a small comparison (stable: deterministic perturbations): the paper's
    layout, one block per metric, the marks explained in the caption."""
    root, results = tree
    cmp = compare(root, results, methods=["good", "fair", "poor"], datasets=["proxford", "prparis"],
                  protocols=("strict",))  # fmt: skip
    lines = tables.latex(cmp, baseline="poor").splitlines()
    assert lines[1:9] == [
        r"\begin{table}[t]",
        r"\centering",
        r"\caption{Comparison, strict protocol, in \%; M: Medium, H: Hard. Best per column in bold, second best "
        r"underlined. $^\dagger$: differs from poor (paired randomization test over queries, $p<0.05$).}",
        r"\begin{tabular}{lrrrr}",
        r"\toprule",
        r" & \multicolumn{2}{c}{PROxf} & \multicolumn{2}{c}{PRPar} \\",
        r"\cmidrule(lr){2-3} \cmidrule(lr){4-5}",
        r"Method & M & H & M & H \\",
    ]
    at = lines.index(r"\multicolumn{5}{l}{\textit{pixel mAP@50:5:95}} \\")
    assert lines[at - 1] == r"\midrule"
    good, fair, poor = lines[at + 1 : at + 4]
    assert good.startswith(r"good & \textbf{") and r"$^\dagger$" in good
    assert fair.startswith(r"fair & \underline{") and poor.startswith("poor & ") and r"\textbf" not in poor
    blocks = [ln for ln in lines if ln.startswith(r"\multicolumn{5}{l}")]
    assert [b.split("textit{")[1].split("}")[0] for b in blocks] == [
        "pixel mAP@50:5:95", "mIoU (box)", "mIoU (mask)", "image mAP"]
    assert lines[-3:] == [r"\bottomrule", r"\end{tabular}", r"\end{table}"]


def test_second_best_is_underlined_only_with_three_methods(tree):
    root, results = tree
    two = tables.latex(compare(root, results, methods=["good", "poor"], datasets=["proxford"]))
    assert r"\textbf{" in two and r"\underline{" not in two and "second best" not in two
    three = tables.latex(compare(root, results, methods=["good", "fair", "poor"], datasets=["proxford"]))
    assert r"\underline{" in three and "second best underlined" in three


# names a results tree can hold (any folder name): a blank line stopped pdflatex in \caption{}
NAMES = {"poor": "two\n\nparagraphs", "fair": "«guillemets» þorn Ðe & p<0.05 %x {",
         "twin": "- 1. list\n=== <img src=x>"}  # no "/": a folder name


def _nasty_tree(tree, tmp_path):
    root, results = tree
    mine = tmp_path / "results"
    for level in ("image-level", "pixel-level"):
        for old, new in {"good": "good", **NAMES}.items():
            shutil.copytree(results / level / old, mine / level / new)
    return root, mine


def test_every_name_in_every_position_of_every_table_format(tree, tmp_path):
    """The issue's input: a method named with a blank line, here the baseline (so it reaches
    LaTeX's caption and the notes), beside names holding what Markdown, LaTeX and HTML read."""
    import csv
    import io

    from markdown_it import MarkdownIt

    from tests.helpers import run_cli

    root, results = _nasty_tree(tree, tmp_path)
    out = tmp_path / "o"
    r = run_cli(["compare", "--root", root, "--results", results, "--dataset", "proxford", "--baseline", NAMES["poor"],
                 "--markdown", out / "t.md", "--latex", out / "t.tex", "--csv", out / "t.csv", "--html", out / "t.html",
                 "--html-images", "0"])  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "two<U+000A><U+000A>paragraphs" in r.stdout + r.stderr  # the terminal: one line per name
    # LaTeX: compiles, every name in its rows and the baseline in the caption
    tex = (out / "t.tex").read_text()
    assert r"\caption{" in tex and "differs from two paragraphs" in tex
    if shutil.which("pdflatex") is None:
        pytest.skip("no pdflatex (CI installs texlive-latex-base and -recommended)")
    doc = tmp_path / "doc.tex"
    doc.write_text("\\documentclass{article}\\usepackage{booktabs}\\begin{document}\n" + tex + "\n\\end{document}\n")
    proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:]
    # Markdown, rendered as CommonMark with tables: each table keeps its rows and cells, no name
    # makes markup, and the notes read as typed ("p < 0.05", not "p &lt; 0.05")
    md = (out / "t.md").read_text()
    assert "p < 0.05" in md and "&lt; 0.05" not in md
    html = MarkdownIt("commonmark").enable("table").render(md)
    assert "<img" not in html and "<ul>" not in html and "<ol>" not in html and "<h1>" not in html
    assert html.count("<table>") == 4 and html.count("<tr>") == 4 * (1 + 4)  # header + 4 methods
    assert "p &lt; 0.05" in html  # what a browser shows as "p < 0.05"
    for name in NAMES.values():
        shown = " ".join(name.split())  # a line break in a cell is a space
        assert shown.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in html, shown
    # CSV and HTML: every name whole
    rows = list(csv.DictReader(io.StringIO((out / "t.csv").read_text())))
    scored = {row["method"] for row in rows if row["value"] != ""}
    assert {"good", "'" + NAMES["twin"], *list(NAMES.values())[:2]} <= scored  # every name whole, with its scores
    page = (out / "t.html").read_text()
    assert "<img src=x>" not in page and "&lt;img src=x&gt;" in page
