"""The compact index (config `fast-compact`): no descriptors on disk, float16 keypoints,
verification from signatures alone."""

from dataclasses import replace

import numpy as np
import pytest

from pixret.engine import Index, get_config
from pixret.errors import PixretError


def test_compact_index_finds_the_objects_without_descriptors(bench, index, tmp_path):
    paths = [bench.database_image(i) for i in range(bench.n_database)]
    small = Index.build(paths, get_config("fast-compact"), tmp_path, workers=1, progress=False)
    for shard in small.shards.shards:
        assert shard.desc.shape[1] == 0 and shard.kpts.dtype == np.float16
    assert small.disk_bytes() < 0.5 * index.disk_bytes()
    found = total = 0
    for q in bench.queries:
        hits = [h for h in small.search(bench.query_image(q.index), q.box) if h.verified]
        related = set(q.positives.tolist()) | set(q.junk.tolist())
        assert all(h.index in related for h in hits)  # nothing unrelated verified
        found += len({h.index for h in hits} & set(q.easy.tolist()))
        total += len(q.easy)
        assert all(h.polygons for h in hits)
    assert found >= 0.6 * total
    reopened = Index.open(tmp_path)
    assert reopened.cfg.compact and len(reopened) == len(small)


def test_a_compact_config_needs_signature_matching():
    cfg = get_config("fast-compact")
    with pytest.raises(PixretError, match="needs matching 'words' with match_distance 'signature'"):
        replace(cfg, verify=replace(cfg.verify, match_distance="descriptor"))
    with pytest.raises(PixretError, match="match_distance 'hamming' is not one of: descriptor, signature"):
        replace(cfg.verify, match_distance="hamming")
