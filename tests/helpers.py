"""Writers of small benchmarks in the release layout, for tests."""

from __future__ import annotations

import contextlib
import pickle
from pathlib import Path

import cv2
import numpy as np

from pixret.datasets import dataset_spec, write_labelme

RELEASE = "pixel_retrieval_benchmarks"


def write_release(
    root: Path,
    name: str,
    queries: list[dict],
    n_db: int,
    labels: dict[tuple[int, int], list],
    size: tuple[int, int] = (200, 150),
    images: bool = False,
    r1m: list[str] | None = None,
) -> Path:
    """Write gnd pkl, pair2labelpath, labelme files (and optionally images) under root/RELEASE.

    ``queries``: dicts with easy/hard/junk lists (and optional bbx); ``labels``: (q, i) ->
    list of (x, y) polygons; ``size``: (w, h) of every image.
    """
    spec = dataset_spec(name)
    base = root / RELEASE
    data = base / "revisitop" / "data" / spec.gnd
    data.mkdir(parents=True, exist_ok=True)
    imlist = [f"db_{i:04d}" for i in range(n_db)]
    qimlist = [f"query_{q:03d}" for q in range(len(queries))]
    gnd = [
        {
            "bbx": q.get("bbx", [10.0, 10.0, 60.0, 60.0]),
            "easy": list(q.get("easy", [])),
            "hard": list(q.get("hard", [])),
            "junk": list(q.get("junk", [])),
        }
        for q in queries
    ]
    with open(data / f"gnd_{spec.gnd}.pkl", "wb") as fh:
        pickle.dump({"qimlist": qimlist, "imlist": imlist, "gnd": gnd}, fh)
    pairs = {}
    w, h = size
    for (q, i), polys in labels.items():
        rel = f"labels/{spec.prefix}/{q}_{i}.json"
        write_labelme(base / rel, [np.asarray(p, float) for p in polys], w, h)
        pairs[f"{q}_{i}"] = rel
    np.save(base / f"{spec.prefix}_pair2labelpath.npy", pairs, allow_pickle=True)
    if images:
        jpg = data / "jpg"
        jpg.mkdir(exist_ok=True)
        rng = np.random.default_rng(0)
        for n in imlist + qimlist:
            cv2.imwrite(str(jpg / f"{n}.jpg"), rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
    if r1m is not None:
        (base / "revisitop" / "data" / "revisitop1m.txt").write_text("\n".join(r1m) + "\n")
    return base


def square(x: float, y: float, s: float) -> list[list[float]]:
    return [[x, y], [x + s, y], [x + s, y + s], [x, y + s]]


@contextlib.contextmanager
def serve_app(app):
    """Run an ASGI app with uvicorn on a free 127.0.0.1 port in a thread; yields its base URL."""
    import socket
    import threading
    import time

    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        t.join(5)
