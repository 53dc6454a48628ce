"""Hits and search results (engine/hits.py): one JSON form with the mask as COCO RLE, pictures
in notebooks, names escaped."""

import json

import numpy as np
from PIL import Image

from pixret.geometry import rle_to_mask


def test_to_json_is_the_one_serialiser(bench, index):
    q = bench.queries[0]
    r = index.search_full(bench.query_image(0), q.box)
    doc = json.loads(json.dumps(r.to_json(top=5, matches=True)))  # JSON all the way down
    hit, hits = r.hits[0], doc["hits"]
    assert hits[0]["rank"] == 1 and hits[0]["index"] == hit.index and hits[0]["verified"]
    assert np.allclose(hits[0]["homography"], hit.homography, atol=1e-6)
    assert np.array_equal(rle_to_mask(hits[0]["mask"]), hit.mask)  # the RLE is the default mask
    assert len(hits[0]["matches"]) == hit.inliers and hits[0]["score"] == hit.score
    assert hits[0]["mask_kind"] in ("box", "object", "tight", "refined") and doc["fills_box"] in (True, False)
    # the default config segments the first results in their own image (masks.refine_in_result)
    assert any(h["mask_kind"] == "refined" for h in hits if h["verified"])
    # the mapped outlines stay named outputs whatever the mask is (issue 31: box, tight, object)
    first = hits[0]["outlines"]
    assert set(first) == {"box", "tight", "object"} and first["box"] == hits[0]["box_polygons"]
    assert np.allclose(np.concatenate(first["tight"]), np.concatenate(hit.tight_polygons), atol=0.06)
    assert set(doc["timings"]) >= {"features", "shortlist", "matching", "verification", "expansion", "masks",
                                   "results", "total"}  # fmt: skip
    plain = hit.to_json(rle=False)
    assert "matches" not in plain and "mask" not in plain and "rank" not in plain


def test_notebooks_show_thumbnails_with_the_mask_and_escape_names(bench, index, monkeypatch):
    q = bench.queries[0]
    r = index.search_full(bench.query_image(0), q.box)
    page = r._repr_html_()
    assert page.count("<img src='data:image/png;base64,") == min(8, len(r.hits))
    hit = r.hits[0]
    thumb = hit.thumbnail(100)
    assert max(thumb.shape[:2]) == 100
    plain = Image.open(hit.path)
    assert thumb.shape[:2] != plain.size  # scaled, tinted: not the file as is
    monkeypatch.setattr(hit, "name", "<script>alert(1)</script>")
    assert "<script>" not in hit._repr_html_() and "&lt;script&gt;" in hit._repr_html_()
    monkeypatch.setattr(hit, "path", "/nowhere/x.jpg")
    assert "<img" not in hit._repr_html_()  # an unreadable image is said, not raised
