"""The index's life on disk (engine/store.py): index.json checked, the writer's lock, generations."""

import json

import pytest

from pixret.engine.store import generation, read_meta, writer_lock
from pixret.errors import PixretError


def test_index_json_is_checked_before_anything_is_read(tmp_path):
    with pytest.raises(PixretError, match="no index.json: not an index"):
        read_meta(tmp_path)
    (tmp_path / "features").mkdir()
    with pytest.raises(PixretError, match="half-written"):
        read_meta(tmp_path)
    (tmp_path / "index.json").write_text('{"format": "other", "version": 1}')
    with pytest.raises(PixretError, match="index format other v1"):
        read_meta(tmp_path)
    assert generation(tmp_path) is None
    (tmp_path / "index.json").write_text(json.dumps({"generation": "gen-7"}))
    assert generation(tmp_path) == "gen-7"


def test_one_writer_at_a_time_and_a_refused_first_build_leaves_no_folder(tmp_path):
    root = tmp_path / "idx"
    with writer_lock(root):
        assert (root / ".lock").read_text().startswith("pixret process ")
        with pytest.raises(PixretError, match="is writing this index"), writer_lock(root):
            pass
    assert not root.exists()  # nothing was written beside the lock: no trace of the first build
    (tmp_path / "held").mkdir()
    (tmp_path / "held" / ".lock").mkdir()
    with pytest.raises(PixretError, match="cannot hold the index's lock file"), writer_lock(tmp_path / "held"):
        pass
