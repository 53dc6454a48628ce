"""The benchmark routes (server/routes_bench.py): queries with their ground truth and results,
and what a damaged label gives (a 4xx, the connection kept)."""

import io
import shutil

import numpy as np
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


def _copy_run(src, dst):
    dst.mkdir(parents=True, exist_ok=True)
    for f in ("ranks.npy", "pixels.json", "pixels.npy", "scores.json"):
        if (src / f).is_file():
            shutil.copy(src / f, dst / f)
    return dst


def test_results_replaced_under_the_server_are_read_again_and_their_generation_changes(
    bench, index, results, tmp_path, monkeypatch
):
    """An outside check (issue 32, item 6): a results folder replaced under a running `serve
    --results` kept serving the old predictions; the benchmark generation was the same with
    another --results folder, and an old ``gen`` still answered 200."""
    from pixret.server import state as st_mod
    from tests.helpers import run_cli

    r = run_cli(["reference-results", "--root", bench.root, "--dataset", "eng", "--out", tmp_path / "oracle"])
    assert r.returncode == 0, r.stderr
    served = _copy_run(results, tmp_path / "served")
    c = TestClient(create_app(index.root, bench.root, "eng", served), base_url="http://127.0.0.1:8000")
    other = TestClient(create_app(index.root, bench.root, "eng", tmp_path / "oracle"), base_url="http://127.0.0.1:8000")
    g1 = c.get("/api/info").json()["benchmark"]["generation"]
    assert other.get("/api/info").json()["benchmark"]["generation"] != g1  # other results, another generation
    before = c.get(f"/api/benchmark/queries/0?gen={g1}").json()
    assert before["method"] == "fast" and before["oracle"] is None
    assert any(x["iou"] is not None and x["iou"] < 0.999 for x in before["results"])

    # the folder replaced by the oracle's run while the server runs: read again at the next look
    shutil.rmtree(served)
    _copy_run(tmp_path / "oracle", served)
    monkeypatch.setattr(st_mod, "POLL_SECONDS", 0.0)
    info = c.get("/api/info").json()["benchmark"]
    g2 = info["generation"]
    assert g2 != g1 and info["method"].startswith("reference") and info["oracle"].startswith("the ground truth")
    after = c.get(f"/api/benchmark/queries/0?gen={g2}").json()
    assert after["generation"] == g2 and after["oracle"].startswith("the ground truth")
    assert all(x["iou"] == 1.0 for x in after["results"] if x["iou"] is not None)  # the labels themselves
    for url in (f"/api/benchmark/queries/0?gen={g1}", before["results"][0]["url"], before["query"]["url"]):
        r = c.get(url)
        assert r.status_code == 409 and r.json()["generation"] == g2, url
    # rewritten in place (same names, new bytes): another generation again
    ranks = np.load(served / "ranks.npy")
    np.save(served / "ranks.npy", ranks[:, ::-1].copy())
    g3 = c.get("/api/info").json()["benchmark"]["generation"]
    assert g3 not in (g1, g2) and c.get(f"/api/benchmark/queries/0?gen={g2}").status_code == 409
    # a folder half copied (no pixels yet) keeps what is served, and says so in the log
    (served / "pixels.json").unlink()
    (served / "pixels.npy").unlink()
    assert c.get("/api/info").json()["benchmark"]["generation"] == g3
    assert c.get(f"/api/benchmark/queries/0?gen={g3}").status_code == 200
    assert "not a run folder" in c.app.state.pixret.results_problem


def test_the_benchmark_view_names_the_method_and_marks_an_oracle(bench, index, results, tmp_path):
    """`serve ... --results runs/oracle` showed IoU 99 predictions with no oracle mark, and the
    view never named the method: its answers name both."""
    from tests.helpers import run_cli

    r = run_cli(["reference-results", "--root", bench.root, "--dataset", "eng", "--out", tmp_path / "oracle",
                 "--shift", "0.01"])  # fmt: skip
    assert r.returncode == 0, r.stderr
    c = TestClient(create_app(index.root, bench.root, "eng", tmp_path / "oracle"), base_url="http://127.0.0.1:8000")
    d = c.get("/api/benchmark/queries").json()
    assert d["method"] == "reference shift=0.01 drop=0.0" and "shift=0.01" in d["oracle"]
    assert c.get("/api/benchmark/queries/1").json()["oracle"] == d["oracle"]
    plain = TestClient(create_app(index.root, bench.root, "eng"), base_url="http://127.0.0.1:8000")
    assert plain.get("/api/benchmark/queries").json()["method"] is None  # the ground truth alone
