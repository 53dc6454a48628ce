"""`pixret compare` as a user runs it."""

from typer.testing import CliRunner

from pixret.cli import app


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
