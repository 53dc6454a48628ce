"""The table of download addresses (datasets/sources.py) and its override file."""

import json

import pytest

from pixret.datasets.sources import load_sources, resolve
from pixret.errors import PixretError


def test_sources_override_file(tmp_path, monkeypatch):
    f = tmp_path / "mirrors.json"
    f.write_text(json.dumps({"labels": {"urls": ["http://127.0.0.1:1/x.rar"], "sha256": "ab" * 32}}))
    monkeypatch.setenv("PIXRET_SOURCES", str(f))
    table = load_sources()
    assert table["labels"].urls == ("http://127.0.0.1:1/x.rar",) and table["labels"].sha256 == "ab" * 32
    assert [s.name for s in resolve(["prparis"], table)] == [
        "labels",
        "rparis6k-images-1",
        "rparis6k-images-2",
    ]
    f.write_text(json.dumps({"labels": {"url": "typo"}}))
    with pytest.raises(PixretError, match="unknown field"):
        load_sources()
    for bad, message in (
        ({"urls": "http://127.0.0.1:1/x.rar"}, "'urls' must be a list of addresses"),
        ({"sha256": 12345}, "'sha256' must be a str"),
        ({"sha256": "ab"}, "'sha256' must be 64 hex digits"),
        ({"dest": "../../etc"}, "'dest' must stay inside"),
    ):
        f.write_text(json.dumps({"labels": bad}))
        with pytest.raises(PixretError, match=message):
            load_sources()
    with pytest.raises(PixretError, match="unknown download"):
        resolve(["nope"], table)
