"""File helpers (pixret/io.py): safe pickle and npy reading, atomic writes."""

import numpy as np
import pytest

from pixret.errors import PixretError
from pixret.io import load_npy


def test_pickles_cannot_run_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    f = tmp_path / "evil.npy"
    np.save(f, {"qimlist_0_imlist_0": Evil()}, allow_pickle=True)
    with pytest.raises(PixretError, match="refusing to load builtins.print"):
        load_npy(f)
