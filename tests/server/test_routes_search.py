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


def _photos(bench, folder, ids):
    folder.mkdir()
    for k, i in enumerate(ids):
        shutil.copy(bench.database_image(i), folder / f"photo_{k:02d}.jpg")  # id k: another image each time
    return folder


def _jpeg(r) -> np.ndarray:
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg", r.text
    return cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_GRAYSCALE)


def test_an_index_rebuilt_or_swapped_under_the_server_never_serves_another_image_for_a_hit(bench, tmp_path,
                                                                                             monkeypatch):  # fmt: skip
    # the example: after a rebuild, /api/images/0 served another image than the hit a
    # page showed; now every answer names its generation and an old generation is a 409
    from pixret.server import state as st_mod
    from tests.helpers import run_cli

    monkeypatch.setattr(st_mod, "POLL_SECONDS", 0.0)  # each request looks at index.json
    q = bench.queries[0]
    first = [int(i) for i in q.easy[:2]] + [i for i in range(bench.n_database) if i not in q.positives][:3]
    idx = tmp_path / "idx"
    assert run_cli(["index", _photos(bench, tmp_path / "a", first), "--index", idx, "--workers", "1"]).returncode == 0
    c = TestClient(create_app(idx), base_url="http://127.0.0.1:8000")
    g1 = c.get("/api/info").json()["generation"]
    d = post_search(c, bench).json()
    hit = next(h for h in d["hits"] if h["verified"])
    assert d["generation"] == g1 and hit["url"] == f"/api/images/{hit['index']}?gen={g1}"
    shown = _jpeg(c.get(hit["url"]))
    listed = c.get("/api/images?limit=10").json()
    assert listed["generation"] == g1 and listed["images"][0]["url"] == f"/api/images/0?gen={g1}"
    r = c.get(hit["url"])
    assert r.headers["x-pixret-generation"] == g1 and "max-age" in r.headers["cache-control"]

    # rebuilt in place, from other photos in another order: id hit["index"] is another photo now
    later = [i for i in range(bench.n_database) if i not in first][:4] + first[::-1]
    assert run_cli(["index", _photos(bench, tmp_path / "b", later), "--index", idx, "--workers", "1"]).returncode == 0
    g2 = c.get("/api/info").json()["generation"]
    assert g2 != g1
    for r in (c.get(hit["url"]), c.get(f"{hit['url']}&size=160"), c.get(f"/api/images?gen={g1}"),
              c.post("/api/search", data={"box": "0,0,500,500", "image_id": "0", "gen": g1})):  # fmt: skip
        assert r.status_code == 409 and r.headers["content-type"] == "application/json", r.status_code
        assert r.json()["generation"] == g2 and "search again" in r.json()["detail"]
        assert len(r.text.splitlines()) == 1
    # without gen, an id is the generation served now (and the browser is told not to keep it)
    r = c.get(f"/api/images/{hit['index']}")
    assert r.headers["x-pixret-generation"] == g2 and r.headers["cache-control"] == "no-cache"
    now = _jpeg(c.get(f"/api/images/{hit['index']}?gen={g2}"))
    assert now.shape != shown.shape or not np.array_equal(now, shown)  # another photo: why the 409 matters
    # the earlier search stays what it was: its own query image and matches, named by its generation
    assert _jpeg(c.get(f"/api/searches/{d['search_id']}/query")).size
    assert c.get(f"/api/searches/{d['search_id']}/hits/0/matches").json()["generation"] == g1

    # swapped: another index folder moved into place
    other = tmp_path / "other"
    assert run_cli(["index", tmp_path / "a", "--index", other, "--workers", "1"]).returncode == 0
    idx.rename(tmp_path / "idx-old")
    other.rename(idx)
    g3 = c.get("/api/info").json()["generation"]
    assert g3 not in (g1, g2)
    assert c.get(f"/api/images/0?gen={g2}").status_code == 409
    assert c.get(f"/api/images/0?gen={g3}").status_code == 200


def test_benchmark_answers_and_images_name_their_benchmark(bench, index, results, tmp_path):
    c = TestClient(create_app(index.root, bench.root, "eng", results), base_url="http://127.0.0.1:8000")
    g = c.get("/api/info").json()["benchmark"]["generation"]
    assert c.get("/api/benchmark/queries").json()["generation"] == g
    d = c.get("/api/benchmark/queries/0?top=3").json()
    assert d["generation"] == g and d["results"][0]["url"] == f"/api/benchmark/images/{d['results'][0]['id']}?gen={g}"
    assert c.get(d["results"][0]["url"]).status_code == 200 and c.get(d["query"]["url"]).status_code == 200
    # a server started again on another copy of the benchmark: the open page's ids are refused
    shutil.copytree(bench.root, tmp_path / "b2")
    c2 = TestClient(create_app(index.root, tmp_path / "b2", "eng"), base_url="http://127.0.0.1:8000")
    for url in (d["results"][0]["url"], d["query"]["url"], f"/api/benchmark/queries/0?gen={g}"):
        r = c2.get(url)
        assert r.status_code == 409 and r.json()["generation"] != g, url
    assert c.get("/api/benchmark/images/0").headers["cache-control"] == "no-cache"


def test_a_collection_image_searched_with_exclude_query_does_not_find_itself(client, bench):
    """A collection image searched from the page came back as its own #1 ("object found, 486
    inliers"): the search takes exclude_query, as the CLI and the Python API do."""
    q = bench.queries[1]
    i = int(q.easy[0])
    gt = bench.gt(1, i).all_points
    box = f"{gt[:, 0].min():.0f},{gt[:, 1].min():.0f},{gt[:, 0].max():.0f},{gt[:, 1].max():.0f}"
    kept = client.post("/api/search", data={"box": box, "image_id": str(i)}).json()
    assert kept["hits"][0]["index"] == i and kept["excluded"] == []
    left = client.post("/api/search", data={"box": box, "image_id": str(i), "exclude_query": "true"}).json()
    assert left["excluded"] == [i] and i not in {h["index"] for h in left["hits"]}
    assert any(h["verified"] for h in left["hits"])  # the other views of the object are still found
    # an upload of the same file: left out by its pixels
    files = {"file": ("x.jpg", bench.database_image(i).read_bytes(), "image/jpeg")}
    up = client.post("/api/search", data={"box": box, "exclude_query": "true"}, files=files).json()
    assert up["excluded"] == [i]
