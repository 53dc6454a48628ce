"""A phone photo stored sideways (EXIF Orientation 6) is the same upright image to every part of
pixret that reads images: the evaluator's canvas, the engine's keypoints and catalog, the
server's images, the study's click scaling and the pictures viz draws (all through
pixret.imageio). The labels are drawn in labelme, which shows the photo upright, and say no size."""

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
import skimage.data

from pixret.datasets import load_benchmark
from pixret.engine import Index, get_config
from pixret.geometry import fill_polygons
from tests.helpers import exif_jpeg, write_release

W, H = 240, 160  # the photo upright; stored as 160 wide, 240 high
GT = [[170.0, 40.0], [226.0, 40.0], [226.0, 110.0], [170.0, 110.0]]  # right of x = 160: off a sideways canvas
PRED = [[175.0, 40.0], [231.0, 40.0], [231.0, 110.0], [175.0, 110.0]]  # the same box, 5 px to the right


@pytest.fixture(scope="module")
def phone(tmp_path_factory):
    """A release "phone": one query, database image 0 the EXIF-rotated photo, labels without size."""
    root = tmp_path_factory.mktemp("phone")
    write_release(root, "phone", [{"easy": [0], "hard": [], "junk": []}], 4, {(0, 0): [GT]}, size=(W, H),
                  images=True)  # fmt: skip
    base = root / "pixel_retrieval_benchmarks"
    label = base / "labels" / "phone" / "0_0.json"
    doc = json.loads(label.read_text())
    del doc["imageWidth"], doc["imageHeight"]
    label.write_text(json.dumps(doc))
    photo = cv2.resize(cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR), (W, H))
    jpg = base / "revisitop" / "data" / "phone" / "jpg"
    exif_jpeg(jpg / "db_0000.jpg", photo)
    cv2.imwrite(str(jpg / "query_000.jpg"), photo)
    np.save(root / "pix.npy", {"qimlist_0_imlist_0": np.array(PRED)}, allow_pickle=True)
    np.save(root / "ranks.npy", np.arange(4)[:, None])
    return load_benchmark(root, "phone"), root


def _iou(a, b, h, w) -> float:
    ma, mb = fill_polygons([np.array(a)], h, w), fill_polygons([np.array(b)], h, w)
    return float((ma & mb).sum() / (ma | mb).sum())


def test_the_evaluator_uses_the_upright_canvas(phone, tmp_path):
    bench, root = phone
    out = tmp_path / "s.json"
    p = subprocess.run([sys.executable, "-c", "from pixret.cli import main; main()", "evaluate", "--root", str(root),
                        "--dataset", "phone", "--pixel-results", str(root / "pix.npy"), "--image-results",
                        str(root / "ranks.npy"), "--json", str(out)], capture_output=True, text=True)  # fmt: skip
    assert p.returncode == 0, p.stderr
    strict = json.loads(out.read_text())["strict"]
    want = _iou(GT, PRED, H, W)  # 0.84 on the upright canvas; 0 on a sideways one (GT off it)
    assert want > 0.8 and min(x for x, _ in GT) > H  # read sideways (160 wide), the object is off the canvas
    assert strict["mIoU"]["medium_mask"] == pytest.approx(want)
    assert strict["pixel_mAP"]["medium"] == pytest.approx(0.7)  # IoU 0.84 passes 50..80 of 50..95


def test_the_engine_server_study_and_pictures_see_the_upright_photo(phone, tmp_path):
    from fastapi.testclient import TestClient

    from pixret.imageio import decode_image
    from pixret.server import create_app
    from pixret.study.service import _size
    from pixret.viz.show import render_pair

    bench, _ = phone
    photo_path = bench.database_image(0)
    idx = Index.build([photo_path, bench.database_image(1)], get_config("fast"), tmp_path / "idx", workers=1,
                      progress=False)  # fmt: skip
    assert tuple(idx.images[0]["size"]) == (W, H)
    kpts, _, _ = idx.features(0)
    assert kpts[:, 0].max() < W and kpts[:, 1].max() < H and kpts[:, 0].max() > H  # keypoints span the upright width
    client = TestClient(create_app(idx.root), base_url="http://127.0.0.1:8000")
    r = client.get("/api/images/0")
    assert r.status_code == 200 and decode_image(r.content).shape == (H, W, 3)
    assert _size(photo_path) == [W, H]
    drawn = render_pair(bench, bench.queries[0], 0, None)
    assert drawn.shape == (H, W, 3)
