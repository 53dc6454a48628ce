"""Feature extraction on Dask (engine/distributed.py), on loopback only: a LocalCluster, a
separate `dask scheduler` + 2 `dask worker` processes, and a killed build that resumes; each
gives the same index as the single-process path."""

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from pixret.engine import Index, get_config
from pixret.engine.distributed import SCHEDULER_ENV, scheduler_address
from pixret.errors import PixretError

pytestmark = pytest.mark.dask

# small shards, so that the collection spans several and a build can be killed between them
CFG = replace(get_config("fast"), shortlist=replace(get_config("fast").shortlist, shard_size=3))
GEN_FILES = ("quantizer.npz", "idf.npy", "norms.npy", "shards.json")


def _same_index(a: Index, b: Index) -> None:
    """The same bytes in every data file (the catalogs differ only in where features are cached)."""
    for name in GEN_FILES:
        assert (a.data / name).read_bytes() == (b.data / name).read_bytes(), name
    assert len(a.shards.shards) > 1
    for sa, sb in zip(a.shards.shards, b.shards.shards, strict=True):
        assert sa.folder.name == sb.folder.name
        for f in sorted(sa.folder.iterdir()):
            assert f.read_bytes() == (sb.folder / f.name).read_bytes(), f.name
    assert [im["name"] for im in a.images] == [im["name"] for im in b.images]


@pytest.fixture(scope="module")
def paths(bench):
    return [bench.database_image(i) for i in range(bench.n_database)]


@pytest.fixture(scope="module")
def single(paths, tmp_path_factory):
    return Index.build(paths, CFG, tmp_path_factory.mktemp("one"), workers=1, progress=False)


def test_local_cluster_gives_the_single_process_index(paths, single, tmp_path):
    _same_index(single, Index.build(paths, CFG, tmp_path, workers=2, progress=False))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(port: int, seconds: float = 60) -> None:
    end = time.time() + seconds
    while time.time() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


def test_an_external_cluster_gives_the_same_index(paths, single, tmp_path, monkeypatch):
    port = _free_port()
    bindir = Path(sys.executable).parent
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    procs = [subprocess.Popen([bindir / "dask", "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--dashboard-address", ":0", "--no-dashboard"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]  # fmt: skip
    try:
        _wait_for(port)
        addr = f"tcp://127.0.0.1:{port}"
        for _ in range(2):
            procs.append(subprocess.Popen([bindir / "dask", "worker", addr, "--nthreads", "1", "--host", "127.0.0.1",
                                           "--no-dashboard"], env=env, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL))  # fmt: skip
        from distributed import Client

        with Client(addr, timeout="30s") as c:
            c.wait_for_workers(2, timeout=60)
        monkeypatch.setenv(SCHEDULER_ENV, addr)  # the environment variable names the cluster
        _same_index(single, Index.build(paths, CFG, tmp_path, progress=False))
    finally:
        for p in procs[::-1]:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)


def test_a_bad_scheduler_address_is_one_line(paths, tmp_path):
    with pytest.raises(PixretError, match="needs a protocol"):
        scheduler_address("127.0.0.1:8786")
    port = _free_port()  # nothing listens there
    with pytest.raises(PixretError, match=f"no Dask scheduler answers at tcp://127.0.0.1:{port}"):
        Index.build(paths, CFG, tmp_path, progress=False, scheduler=f"tcp://127.0.0.1:{port}")


BUILD = """
import sys
from dataclasses import replace
from pathlib import Path
from pixret.engine import Index, get_config
cfg = get_config("fast")
cfg = replace(cfg, shortlist=replace(cfg.shortlist, shard_size=3))
paths = [Path(p) for p in Path(sys.argv[1]).read_text().split()]
Index.build(paths, cfg, sys.argv[2], workers=2, progress=False, features_dir=sys.argv[3])
"""


def _kill_build_when(paths, root: Path, features: Path, ready) -> None:
    """Start a build in its own process group and SIGKILL all of it (client, scheduler, workers)
    once ``ready()`` holds."""
    listing = root.parent / "paths.txt"
    listing.write_text("\n".join(str(p) for p in paths))
    proc = subprocess.Popen([sys.executable, "-c", BUILD, str(listing), str(root), str(features)],
                            start_new_session=True)  # fmt: skip
    end = time.time() + 180
    while time.time() < end and not ready() and proc.poll() is None:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def test_a_build_killed_while_extracting_resumes_to_the_same_index(paths, single, tmp_path):
    root, feats = tmp_path / "idx", tmp_path / "idx" / "features"
    _kill_build_when(paths, root, feats, lambda: len(list(feats.glob("*.npz"))) >= 3)
    done = len(list(feats.glob("*.npz")))
    resumed = Index.build(paths, CFG, root, workers=2, progress=False, features_dir=feats)
    _same_index(single, resumed)
    assert 3 <= done < len(paths)  # the kill came mid-extraction, and what was written was kept


def test_a_build_killed_while_writing_shards_resumes_to_the_same_index(paths, single, tmp_path):
    root = tmp_path / "idx"

    def shards_written():
        return [p for p in (root / "shards").glob("s-*")] if (root / "shards").exists() else []

    # features already cached (the single-process build's): the kill lands in the shard stage
    _kill_build_when(paths, root, single.root / "features", lambda: len(shards_written()) >= 2)
    before = {p.name: p.stat().st_mtime_ns for p in shards_written()}
    assert not (root / "index.json").exists() and 2 <= len(before) < len(single.shards.shards)
    resumed = Index.build(paths, CFG, root, workers=2, progress=False, features_dir=single.root / "features")
    _same_index(single, resumed)
    assert {p.name: p.stat().st_mtime_ns for p in shards_written() if p.name in before} == before  # reused


def test_the_local_cluster_listens_on_loopback_only():
    import psutil

    from pixret.engine.distributed import dask_client

    with dask_client(workers=2) as client:
        info = client.scheduler_info()
        addresses = [info["address"], *info["workers"]]
        assert len(addresses) == 3 and all(a.startswith("tcp://127.0.0.1:") for a in addresses)
        procs = [psutil.Process(), *psutil.Process().children(recursive=True)]
        listening = [c.laddr.ip for p in procs for c in p.net_connections("inet") if c.status == psutil.CONN_LISTEN]
        assert listening and set(listening) == {"127.0.0.1"}
