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
