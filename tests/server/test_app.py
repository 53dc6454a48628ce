"""The app (server/app.py): the hosts it answers, what it refuses to start without, and an
unforeseen error as one line."""

import pytest
from fastapi.testclient import TestClient

from pixret.errors import PixretError
from pixret.server import create_app
from tests.helpers import post_search


def test_an_app_needs_an_index_or_a_study():
    with pytest.raises(PixretError, match="give an index"):
        create_app(None)


def test_names_given_at_start_are_allowed(bench, index):
    c = TestClient(create_app(index.root, hosts=("lab.example",)), base_url="http://127.0.0.1:8000")
    assert c.get("/api/info", headers={"Host": "lab.example:8000"}).status_code == 200
    assert c.get("/api/info", headers={"Host": "other.example"}).status_code == 400


def test_an_unforeseen_error_is_one_line_and_keeps_its_details_in_the_log(bench, index, results, monkeypatch):
    from pixret.engine.index import Index

    def fails(*args, **kwargs):
        raise ValueError("operands could not be broadcast together (/secret/path)")

    monkeypatch.setattr(Index, "search_full", fails)
    c = TestClient(create_app(index.root, bench.root, "eng", results), base_url="http://127.0.0.1:8000",
                   raise_server_exceptions=False)  # fmt: skip
    r = post_search(c, bench)
    assert r.status_code == 500
    assert r.json() == {"detail": "internal error (ValueError): the server's log has the details"}
