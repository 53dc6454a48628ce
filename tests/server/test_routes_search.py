"""The search routes (server/routes_search.py) through FastAPI's client: search, images, concurrency."""

import shutil
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
from fastapi.testclient import TestClient

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


def test_concurrent_searches_agree(client, bench):
    with ThreadPoolExecutor(4) as pool:
        out = list(pool.map(lambda _: post_search(client, bench).json(), range(6)))
    firsts = {tuple(h["index"] for h in o["hits"]) for o in out}
    assert len(firsts) == 1 and len({o["search_id"] for o in out}) == 6


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
