"""The server's state (server/state.py): uploads checked from the header, a search store bounded by bytes."""

import io

import numpy as np
from PIL import Image

from tests.helpers import post_search


def test_uploads_are_checked(client, bench, monkeypatch):
    assert post_search(client, bench, file=("x.jpg", b"hello", "image/jpeg")).status_code == 415
    big = io.BytesIO()
    Image.new("L", (9000, 9000)).save(big, "PNG")  # 81 MP of zeros: tiny file, huge decode
    r = post_search(client, bench, file=("../../etc/passwd.png", big.getvalue(), "image/png"))
    assert r.status_code == 413 and "MP limit" in r.json()["detail"]
    assert client.post("/api/search", data={"box": "1,2,3"}).status_code == 422
    r = client.post("/api/search", data={"box": "10.4,10.6,5,5", "image_id": "0"})
    assert r.status_code == 422 and "box 10, 11, 5, 5 is empty" in r.json()["detail"]  # as the page shows it
    assert client.get("/api/images/99999").status_code == 404


def test_the_search_store_is_bounded_by_bytes(monkeypatch):
    from pixret.server import state as st_mod

    monkeypatch.setattr(st_mod, "MAX_STORE_BYTES", 3_000_000)
    st = st_mod.State(index=None)
    ids = [st.remember(np.zeros((1000, 1000), np.uint8), None) for _ in range(5)]  # 1 MB each
    assert st.store_bytes <= 3_000_000 and len(st.searches) == 3 and ids[-1] in st.searches
    st.remember(np.zeros((3000, 2000), np.uint8), None)  # one larger than the cap: kept alone
    assert len(st.searches) == 1


def test_the_server_shows_images_added_by_index_add_without_a_restart(bench, tmp_path, monkeypatch):
    import shutil

    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from pixret.cli import app as cli
    from pixret.server import create_app
    from pixret.server import state as st_mod

    photos = tmp_path / "photos"
    photos.mkdir()
    q = bench.queries[0]
    later = [int(i) for i in q.easy[:2]]  # two images of query 0's object, added later
    first = [i for i in range(bench.n_database) if i not in later][:5]
    for i in first:
        shutil.copy(bench.database_image(i), photos / f"p{i}.jpg")
    idx = tmp_path / "idx"
    r = CliRunner().invoke(cli, ["index", str(photos), "--index", str(idx), "--workers", "1"])
    assert r.exit_code == 0, r.output
    c = TestClient(create_app(idx), base_url="http://127.0.0.1:8000")
    assert c.get("/api/info").json()["images"] == 5
    for i in later:
        shutil.copy(bench.database_image(i), photos / f"p{i}.jpg")
    r = CliRunner().invoke(cli, ["index", str(photos), "--index", str(idx), "--add", "--workers", "1"])
    assert r.exit_code == 0, r.output
    monkeypatch.setattr(st_mod, "POLL_SECONDS", 0.0)  # the next request looks at index.json
    assert c.get("/api/info").json()["images"] == 7
    names = {im["name"] for im in c.get("/api/images?limit=50").json()["images"]}
    assert {f"p{i}" for i in later} <= names
    data = {"box": ",".join(f"{v:.1f}" for v in q.box), "top": "10"}
    files = {"file": ("q.jpg", bench.query_image(0).read_bytes(), "image/jpeg")}
    hits = c.post("/api/search", data=data, files=files).json()["hits"]
    assert {f"p{i}" for i in later} & {h["name"] for h in hits if h["verified"]}  # the new images are found
    # a damaged index.json keeps the index being served (and says why, in the log)
    (idx / "index.json").write_text("{")
    assert c.get("/api/info").json()["images"] == 7


def test_the_server_warms_its_index_in_the_background_and_says_how_far_it_is(bench, index):
    # issue 33: a server after a restart searched a cold page cache; it reads the index in first
    import time

    from fastapi.testclient import TestClient

    from pixret.server import create_app

    lines = []
    c = TestClient(create_app(index.root, warm=True, on_warm=lines.append), base_url="http://127.0.0.1:8000")
    deadline = time.monotonic() + 120
    while (warm := c.get("/api/info").json()["warm"])["state"] == "warming" and time.monotonic() < deadline:
        time.sleep(0.05)  # searches are served meanwhile; this only waits for the end
    assert warm["state"] == "done" and warm["generation"] == index.generation and warm["postings_bytes"] > 0
    assert warm["features_bytes"] > 0 or warm["skipped"]
    assert lines[0].startswith("warming the index in the background (23 images)")
    assert lines[-1].startswith("warm-up done in ")
    assert TestClient(create_app(index.root), base_url="http://127.0.0.1:8000").get("/api/info").json()["warm"] == {
        "state": "off"}
