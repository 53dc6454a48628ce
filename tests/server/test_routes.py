"""The web API (FastAPI's client) and the page in a real browser (Playwright + Chromium)."""

import io
import shutil
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
from fastapi.testclient import TestClient
from PIL import Image

from pixret.server import create_app
from tests.helpers import post_search


def test_search_api_returns_ranked_hits_with_masks(client, bench):
    r = post_search(client, bench)
    assert r.status_code == 200, r.text
    d = r.json()
    first = d["hits"][0]
    assert first["verified"] and first["index"] in set(bench.queries[0].positives.tolist())
    assert first["polygons"] and len(first["polygons"][0][0]) == 2
    m = client.get(f"/api/searches/{d['search_id']}/hits/0/mask.png")
    mask = cv2.imdecode(np.frombuffer(m.content, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert mask.shape == (first["size"][1], first["size"][0]) and mask.max() == 255
    assert client.get(f"/api/searches/{d['search_id']}/hits/0/matches").json()["matches"]
    assert client.get("/api/searches/nope/hits/0/mask.png").status_code == 404


def test_search_by_database_image_and_benchmark_mode(client, bench):
    q = bench.queries[1]
    i = int(q.easy[0])
    gt = bench.gt(1, i).all_points
    box = f"{gt[:, 0].min():.0f},{gt[:, 1].min():.0f},{gt[:, 0].max():.0f},{gt[:, 1].max():.0f}"
    r = client.post("/api/search", data={"box": box, "image_id": str(i)})
    assert r.status_code == 200 and r.json()["hits"][0]["index"] == i  # finds itself first
    qs = client.get("/api/benchmark/queries").json()["queries"]
    assert len(qs) == 3
    d = client.get("/api/benchmark/queries/0").json()
    assert {r["status"] for r in d["results"]} <= {"true", "false", "junk"}
    assert any(r["gt"] for r in d["results"]) and any(r["pred"] for r in d["results"])
    assert client.get("/api/benchmark/queries/0/image?size=200").headers["content-type"] == "image/jpeg"
    assert client.get("/api/images?limit=5").json()["total"] == bench.n_database


def test_concurrent_searches_agree(client, bench):
    with ThreadPoolExecutor(4) as pool:
        out = list(pool.map(lambda _: post_search(client, bench).json(), range(6)))
    firsts = {tuple(h["index"] for h in o["hits"]) for o in out}
    assert len(firsts) == 1 and len({o["search_id"] for o in out}) == 6


# ---------------------------------------------------------------- browser


# ---------------------------------------------------------------- what the server refuses


def test_names_given_at_start_are_allowed(bench, index):
    c = TestClient(create_app(index.root, hosts=("lab.example",)), base_url="http://127.0.0.1:8000")
    assert c.get("/api/info", headers={"Host": "lab.example:8000"}).status_code == 200
    assert c.get("/api/info", headers={"Host": "other.example"}).status_code == 400


def test_damaged_labels_and_missing_images_are_4xx_and_the_connection_lives(bench, index, tmp_path):
    root = tmp_path / "b"
    shutil.copytree(bench.root, root)
    for label in bench.pair_labels.values():
        (root / label.relative_to(bench.root)).write_text("{ not json")
    c = TestClient(create_app(index.root, root, "eng"), base_url="http://127.0.0.1:8000")
    r = c.get("/api/benchmark/queries/0")
    assert r.status_code == 422 and "unreadable JSON" in r.json()["detail"]
    assert c.get("/api/info").status_code == 200
    tiny = io.BytesIO()
    Image.new("RGB", (1, 1)).save(tiny, "PNG")
    r = c.post(
        "/api/search", data={"box": "0,0,1,1"}, files={"file": ("t.png", tiny.getvalue(), "image/png")}
    )
    assert r.status_code == 422 and "too small to search" in r.json()["detail"]


def test_an_image_deleted_after_indexing_is_a_4xx_naming_it(bench, tmp_path):
    from pixret.engine import Index, get_config

    photos = []
    for i in range(4):
        photos.append(tmp_path / f"p{i}.jpg")
        shutil.copy(bench.database_image(i), photos[-1])
    idx = Index.build(photos, get_config("fast"), tmp_path / "idx", progress=False)
    photos[2].unlink()
    c = TestClient(create_app(idx.root), base_url="http://127.0.0.1:8000")
    r = c.get("/api/images/2?size=100")
    assert r.status_code == 422 and "p2.jpg" in r.json()["detail"]
    assert c.get("/api/images/1?size=100").status_code == 200  # the connection and the app live on


# ---------------------------------------------------------------- the page as people use it




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
