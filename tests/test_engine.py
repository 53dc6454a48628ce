"""The engine on a small generated collection: search quality, determinism, robustness."""

import json

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from pixret.cli import app
from pixret.engine import Index, IndexWarning, get_config
from pixret.errors import PixretError
from pixret.evaluation import PixelPrediction, strict_iou


def test_search_finds_the_object_and_its_pixels(bench, index):
    found, ious = 0, []
    for q in bench.queries:
        r = index.search_full(bench.query_image(q.index), q.box)
        verified = [h for h in r.hits if h.verified]
        easy = set(q.easy.tolist())
        found += len(easy & {h.index for h in verified})
        # no unrelated image verified, at any rank (chance inliers fail the keypoint check)
        assert all(h.index in set(q.positives.tolist()) | set(q.junk.tolist()) for h in verified)
        for h in verified:
            gt = bench.gt(q.index, h.index)
            if gt is not None:
                ious.append(strict_iou(PixelPrediction(h.polygons), gt.polygons, gt.height, gt.width)[1])
                assert h.mask.shape == (gt.height, gt.width)
        assert sorted(r.ranking.tolist()) == list(range(bench.n_database))
    assert found >= 0.7 * sum(len(q.easy) for q in bench.queries)
    assert np.median(ious) > 0.6


def test_tight_mask_beats_the_projected_box(bench, index):
    tight, box = [], []
    for q in bench.queries:
        for h in index.search(bench.query_image(q.index), q.box):
            gt = bench.gt(q.index, h.index) if h.verified else None
            if gt is not None:
                tight.append(
                    strict_iou(PixelPrediction(h.tight_polygons), gt.polygons, gt.height, gt.width)[1]
                )
                box.append(strict_iou(PixelPrediction(h.box_polygons), gt.polygons, gt.height, gt.width)[1])
    assert np.mean(tight) > np.mean(box)


def test_same_collection_same_index(bench, index, tmp_path):
    paths = [bench.database_image(i) for i in range(bench.n_database)]
    other = Index.build(paths, get_config("fast"), tmp_path / "again", progress=False)
    for i in range(len(index)):
        assert all(np.array_equal(a, b) for a, b in zip(index.features(i), other.features(i), strict=True))
    assert (index.quantizer.centroids == other.quantizer.centroids).all()
    assert [s.folder.name for s in index.shards.shards] == [s.folder.name for s in other.shards.shards]
    # per image, plus what the vocabulary costs whatever the collection (idf of the split words,
    # the centroids)
    fixed = index.shards.idf.nbytes + index.quantizer.centroids.nbytes
    assert index.memory_bytes() < len(index) * 64 + fixed
    assert index.shortlist_bytes() < len(index) * 6 * 1024 + fixed


def test_bad_images_are_skipped_and_listed(bench, tmp_path):
    good = [bench.database_image(i) for i in range(4)]
    trunc = tmp_path / "truncated.jpg"
    data = good[0].read_bytes()
    trunc.write_bytes(data[: len(data) * 4 // 5])  # decodes, with the bottom missing
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    with pytest.warns(IndexWarning) as caught:
        idx = Index.build([*good, trunc, text], get_config("fast"), tmp_path / "idx", progress=False)
    messages = sorted(str(w.message) for w in caught)
    assert "notes.jpg: skipped (unreadable image)" in messages[0]
    # OpenCV 5 refuses a truncated JPEG; decoders that return part of it are caught by the EOI check
    assert "truncated.jpg: skipped (unreadable image" in messages[1] or "truncated JPEG" in messages[1]
    assert len(idx) == 4 and {s["path"] for s in idx.skipped} == {str(trunc), str(text)}
    grown = idx.add([bench.database_image(i) for i in range(4, 7)], progress=False)
    assert len(grown) == 7


def test_index_errors(bench, index, tmp_path):
    meta = json.loads((index.root / "index.json").read_text())
    broken = tmp_path / "old"
    broken.mkdir()
    (broken / "index.json").write_text(json.dumps({**meta, "version": 0}))
    with pytest.raises(PixretError, match="build the index again"):
        Index.open(broken)
    (tmp_path / "half" / "features").mkdir(parents=True)
    with pytest.raises(PixretError, match="half-written"):
        Index.open(tmp_path / "half")
    q = bench.queries[0]
    img = bench.query_image(0)
    with pytest.raises(PixretError, match="empty"):
        index.search(img, (50, 50, 40, 80))
    with pytest.raises(PixretError, match="outside"):
        index.search(img, (5000, 5000, 6000, 6000))
    flat = np.full((300, 300, 3), 127, np.uint8)
    with pytest.raises(PixretError, match="features inside the box"):
        index.search(flat, (10, 10, 200, 200))
    assert index.search(img, q.box, top=2)


def test_run_cli_writes_results_and_scores(bench, tmp_path):
    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["run", "--root", str(bench.root), "--dataset", "eng", "--out", str(out)])
    assert res.exit_code == 0, res.output
    for f in ("ranks.npy", "pixels.npy", "pixels.json", "scores.json"):
        assert (out / f).exists()
    scores = json.loads((out / "scores.json").read_text())
    assert scores["strict"]["image_mAP"]["easy"] > 0.6
    assert scores["timing"]["query_seconds_p50"] > 0


def test_exhaustive_baseline_config(bench, tmp_path):
    paths = [bench.database_image(i) for i in range(bench.n_database)]
    idx = Index.build(paths, get_config("sift-sp"), tmp_path / "sp", progress=False)
    q = bench.queries[0]
    hits = [h for h in idx.search(q and bench.query_image(0), q.box) if h.verified]
    assert hits and hits[0].index in set(q.positives.tolist())
    assert hits[0].polygons == hits[0].box_polygons  # the baseline outputs the projected box


def test_search_cli_draws_overlays(bench, index, tmp_path):
    q = bench.queries[1]
    box = ",".join(f"{v:.1f}" for v in q.box)
    res = CliRunner().invoke(app, ["search", str(bench.query_image(1)), "--index", str(index.root), "--box", box,
                                   "--top", "3", "--out", str(tmp_path / "o")])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert cv2.imread(str(tmp_path / "o" / "query.png")) is not None
    assert len(list((tmp_path / "o").glob("0*.png"))) == 3
