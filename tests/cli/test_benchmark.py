"""`pixret make-benchmark`, `reference-results` and `report` as a user runs them."""

from html.parser import HTMLParser

from typer.testing import CliRunner

from pixret.cli import app


def test_make_benchmark_and_report_cli(tmp_path):
    r = CliRunner()
    res = r.invoke(app, ["make-benchmark", str(tmp_path), "--name", "cli", "--queries", "2", "--positives", "3",
                         "--distractors", "3", "--workers", "1"])  # fmt: skip
    assert res.exit_code == 0, res.output
    res = r.invoke(app, ["reference-results", "--root", str(tmp_path), "--dataset", "cli", "--out", str(tmp_path / "ref"),
                         "--shift", "0.1"])  # fmt: skip
    assert res.exit_code == 0, res.output
    out = tmp_path / "report.html"
    res = r.invoke(app, ["report", str(out), "--root", str(tmp_path), "--dataset", "cli", "--image-results",
                         str(tmp_path / "ref/ranks.npy"), "--pixel-results", str(tmp_path / "ref/pixels.json"), "--top", "4"])  # fmt: skip
    assert res.exit_code == 0, res.output
    p = _Imgs()
    p.feed(out.read_text())
    # 2 charts + per query (query image + top 4 results)
    assert len(p.srcs) == 2 + 2 * (1 + 4)
    assert all(s.startswith("data:image/") for s in p.srcs)  # self-contained
    text = out.read_text()
    assert "strict" in text and "compat" in text
    # readable: a viewport, grouped headers over M / H with a key, a contents list linking each query
    assert "name='viewport'" in text and "<th colspan='2'>pixel mAP@50:5:95</th>" in text
    assert "<dt>E, M, H</dt>" in text and "<a href='#q1'>1</a>" in text and "<h3 id='q1'>" in text


class _Imgs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.srcs = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.srcs.append(dict(attrs)["src"])
