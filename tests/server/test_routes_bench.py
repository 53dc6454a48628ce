"""The benchmark routes (server/routes_bench.py): queries with their ground truth and results,
and what a damaged label gives (a 4xx, the connection kept)."""

import io
import shutil

from fastapi.testclient import TestClient
from PIL import Image

from pixret.server import create_app


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
