"""`pixret download` as a user runs it."""

from typer.testing import CliRunner

from pixret.cli import app
from tests.helpers import RELEASE_FILES
from tests.rar5 import write_rar5


def test_from_file_and_cli(tmp_path):
    archive = write_rar5(tmp_path / "by-hand.rar", RELEASE_FILES)
    res = CliRunner().invoke(
        app, ["download", "labels", "--root", str(tmp_path / "d"), "--from-file", str(archive)]
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "d/pixel_retrieval_benchmarks/queries/oxford/0.json").exists()


def test_the_listing_into_a_pipe_or_a_log_holds_every_address_whole(tmp_path):
    """Issue 32 (W2): into a pipe each address was cut at 80 columns
    (``https://sgvr.kaist.ac.kr/~guoyuan/Segment_ret…``). A name or address of a sources file is
    text, never rich markup."""
    import json

    from pixret.datasets.sources import SOURCES
    from tests.helpers import run_cli

    r = run_cli(["download", "--list"])
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    for name in ("labels", "results", "roxford5k-images", "rparis6k-images-2", "r1m-list"):
        url = SOURCES[name].urls[0]
        assert any(f"({url})" in line and f"│ {name} " in line for line in lines), (url, r.stdout)
    assert "…" not in r.stdout
    f = tmp_path / "mirrors.json"
    f.write_text(json.dumps({"labels": {"urls": ["https://mirror.example/[bold]x[/bold].rar"]}}))
    r = run_cli(["download", "--list", "--sources", f])
    assert "(https://mirror.example/[bold]x[/bold].rar)" in r.stdout
