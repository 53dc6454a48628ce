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


def test_the_oxford_and_paris_archives_are_fetched_from_their_new_home_first():
    from pixret.datasets.sources import SOURCES

    for name, file in (("roxford5k-images", "oxbuildings/oxbuild_images-v1.tgz"),
                       ("rparis6k-images-1", "parisbuildings/paris_1-v1.tgz"),
                       ("rparis6k-images-2", "parisbuildings/paris_2-v1.tgz")):  # fmt: skip
        urls = SOURCES[name].urls
        assert urls[0] == f"https://thor.robots.ox.ac.uk/{file}"
        assert all(u.startswith(("https://thor.robots.ox.ac.uk/", "https://www.robots.ox.ac.uk/")) for u in urls)
        assert all(u.endswith("-v1.tgz") for u in urls)  # the archives without -v1 are other files
    assert SOURCES["roxford5k-images"].size == 1_938_238_004


def test_a_size_in_the_sources_file_is_a_whole_number_of_bytes(tmp_path, monkeypatch):
    f = tmp_path / "mirrors.json"
    monkeypatch.setenv("PIXRET_SOURCES", str(f))
    for bad in (-1, 0, 1.5, "1938238004", True):
        f.write_text(json.dumps({"roxford5k-images": {"size": bad}}))
        with pytest.raises(PixretError, match="'size' must be a whole number of bytes"):
            load_sources()
    f.write_text(json.dumps({"roxford5k-images": {"urls": ["http://127.0.0.1:1/o.tgz"], "size": None}}))
    assert load_sources()["roxford5k-images"].size is None  # a mirror of another copy: size unknown
