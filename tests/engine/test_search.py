"""The search as a chain of stages (engine/search.py): the stages called one by one give what
``Index.search_full`` gives; a PIL query; the query left out of its own results; hloc's pairs."""

import numpy as np
import pytest
from PIL import Image

from pixret.engine import search as S
from pixret.errors import PixretError


def test_the_stages_called_one_by_one_give_the_search(bench, index):
    q = bench.queries[1]
    img = bench.query_image(1)
    query = S.features(index, img, q.box)
    short = S.shortlist(index, query)
    cand = S.matching(index, query, short)
    found = S.verification(index, query, short, cand)
    found = S.expansion(index, query, short, found)
    masks = S.object_masks(index, query, found)
    hits, ranking = S.results(index, query, short, found, masks)
    whole = index.search_full(img, q.box)
    assert [(h.index, h.inliers) for h in hits] == [(h.index, h.inliers) for h in whole.hits]
    assert np.array_equal(ranking, whole.ranking) and np.array_equal(short.ids, whole.shortlist)
    assert len(short) <= len(index) and (np.diff(short.scores[short.ids]) <= 0).all()  # best tf-idf first
    scores = [h.score for h in hits if h.verified]
    assert scores == sorted(scores, reverse=True)  # Hit.score: the inlier evidence, best first
    assert all(h.score == 0 for h in hits if not h.verified)


def test_a_pil_image_is_a_query(bench, index):
    q = bench.queries[0]
    path = bench.query_image(0)
    pil = Image.open(path)
    a = [(h.index, h.inliers) for h in index.search(pil, q.box)]
    b = [(h.index, h.inliers) for h in index.search(path, q.box)]
    assert a and a == b


def test_the_query_image_is_left_out_of_its_own_results(bench, index):
    db = bench.database_image(3)
    w, h = Image.open(db).size
    box = (0.2 * w, 0.2 * h, 0.8 * w, 0.8 * h)
    r = index.search_full(db, box)
    assert r.hits[0].index == 3 and r.hits[0].verified  # it finds itself first
    for query in (db, Image.open(db), db.read_bytes()):  # by path, by pixels, by bytes
        r = index.search_full(query, box, exclude_query=True)
        assert r.excluded == [3] and 3 not in [x.index for x in r.hits] and 3 not in r.ranking.tolist()
        assert len(r.ranking) == len(index) - 1
    # a path names the database image even when the query is given as pixels
    r = index.search_full(np.asarray(Image.open(db))[:, :, ::-1].copy(), box, exclude_query=str(db))
    assert r.excluded == [3]
    with pytest.raises(PixretError, match="top must be at least 1"):
        index.search(db, box, top=0)


def test_hloc_pairs_name_files_that_resolve_under_the_image_folder(bench, index, tmp_path):
    """Issue 32 item 5: every name written resolves to the file it means, relative to the folder
    the pairs are for (the README's snippet gave names without their extension)."""
    q = bench.queries[0]
    query = bench.query_image(0)
    r = index.search_full(query, q.box)
    root = index.image_root()
    lines = index.pairs(query, r, top=3)
    assert len(lines) == 3
    for line, i in zip(lines, r.shortlist[:3].tolist(), strict=True):
        qname, dname = line.split(" ")
        assert (root / qname).resolve() == query.resolve()  # the query file, wherever it lies
        assert (root / dname).resolve() == index.image_path(i).resolve() and dname.endswith(".jpg")
    other = tmp_path / "elsewhere"
    rel = index.pairs(query, r, top=1, relative_to=other)
    qname, dname = rel[0].split(" ")
    assert (other / qname).resolve() == query.resolve() and (other / dname).resolve() == index.image_path(
        int(r.shortlist[0])).resolve()  # fmt: skip
    with pytest.raises(PixretError, match="no such file"):
        index.pairs("query.jpg", r, top=1)  # a bare name is no file: hloc could not read it
