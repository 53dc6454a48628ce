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


def test_an_address_with_a_space_a_line_break_or_no_host_is_one_line_naming_the_file(tmp_path):
    """Issue 32 (N): such an override ended in http.client.InvalidURL or UnicodeEncodeError."""
    from tests.helpers import run_cli

    f = tmp_path / "my mirrors.json"
    for url, said in (("https://mirror.example/pixel retrieval.rar", "holds ' ' (U+0020)"),
                      ("https://mirror.example/a\nGET /b", "holds '\\n' (U+000A)"),
                      ("https://mirror.example/a\u200bb.rar", "(U+200B)"), ("ftp://mirror.example/x.rar", "expected http"),
                      ("https:///x.rar", "expected http:// or https:// and a host")):  # fmt: skip
        f.write_text(json.dumps({"labels": {"urls": [url]}}))
        r = run_cli(["download", "labels", "--sources", f, "--root", tmp_path / "data"])
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
        assert "my mirrors.json: entry 'labels': address " in r.stderr and said in r.stderr, r.stderr
    assert not (tmp_path / "data").exists()


def test_a_non_ascii_address_is_asked_for_percent_encoded(tmp_path):
    """A mirror's folder or file named with accents: asked for as UTF-8, percent-encoded (RFC 3987
    3.1), as a browser does (it was a UnicodeEncodeError)."""
    from tests.helpers import RELEASE_FILES, run_cli
    from tests.httpserver import serve
    from tests.rar5 import write_rar5

    served = tmp_path / "www"
    served.mkdir()
    write_rar5(served / "caf%C3%A9.rar", RELEASE_FILES)  # the request path, as this server looks it up
    with serve(served) as (base, log):
        f = tmp_path / "mirrors.json"
        f.write_text(json.dumps({"labels": {"urls": [f"{base}/café.rar"]}}, ensure_ascii=False), encoding="utf-8")
        r = run_cli(["download", "labels", "--sources", f, "--root", tmp_path / "data"])
    assert r.returncode == 0, r.stderr
    assert log == [("caf%C3%A9.rar", None)]
    assert (tmp_path / "data/pixel_retrieval_benchmarks/queries/oxford/0.json").exists()
