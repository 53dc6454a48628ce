"""Errors and warnings (pixret/errors.py): one line, one hierarchy, survive a worker process."""

import pickle

import pytest

from pixret.errors import (
    BenchmarkWarning,
    DownloadWarning,
    IndexWarning,
    PixretError,
    PixretWarning,
    ResultsWarning,
)


def test_an_error_is_one_line_naming_the_file():
    assert str(PixretError("/data/a.json", "unreadable JSON")) == "/data/a.json: unreadable JSON"
    assert str(PixretError(None, "box is empty")) == "box is empty"
    back = pickle.loads(pickle.dumps(PixretError("x.npy", "bad")))  # from a worker process
    assert (back.path, back.problem) == ("x.npy", "bad")


def test_every_warning_is_a_pixret_warning():
    for kind in (BenchmarkWarning, DownloadWarning, IndexWarning, ResultsWarning):
        with pytest.warns(PixretWarning):
            import warnings

            warnings.warn("x", kind, stacklevel=1)
