"""Fixtures of the server tests: a run's results on the session index, an in-process client and a
live server on 127.0.0.1 and a Chromium (module-scoped: each test module starts its own)."""

import pytest
from fastapi.testclient import TestClient

from pixret.pipelines.benchmark import search_queries, write_run
from pixret.server import create_app
from tests.helpers import ARGS, CHROMIUM, serve_app


@pytest.fixture(scope="session")
def results(bench, index, tmp_path_factory):
    """The run folder of the fast config on ``bench`` (searched on the template index)."""
    out = tmp_path_factory.mktemp("res")
    write_run(out, bench, search_queries(bench, index, progress=False), "fast")
    return out


@pytest.fixture(scope="module")
def client(bench, index, results):
    return TestClient(create_app(index.root, bench.root, "eng", results), base_url="http://127.0.0.1:8000")


@pytest.fixture(scope="module")
def live_server(bench, index, results):
    with serve_app(create_app(index.root, bench.root, "eng", results)) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    """One Chromium for a test module's pages (each test opens its own contexts)."""
    from playwright.sync_api import sync_playwright

    p = sync_playwright().start()
    b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    yield b
    b.close()
    p.stop()
