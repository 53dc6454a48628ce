"""Options every command shares (cli/options.py): a run folder or two files, percentages, the summary table."""

import pytest

from pixret.cli.options import pct, result_files
from pixret.errors import PixretError


def test_results_come_from_a_run_folder_or_the_files_not_both(tmp_path):
    assert result_files(None, tmp_path / "r.npy", tmp_path / "p.npy") == (tmp_path / "r.npy", tmp_path / "p.npy", None)
    with pytest.raises(PixretError, match="not both"):
        result_files(tmp_path, None, tmp_path / "p.npy")
    with pytest.raises(PixretError, match="give --pixel-results FILE"):
        result_files(None, tmp_path / "r.npy", None)


def test_percentages():
    assert pct(0.37391) == "37.39" and pct(1.0) == "100.00" and pct(None) == "-"
