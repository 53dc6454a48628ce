"""Feature extraction on Dask (engine/distributed.py), on loopback only: a LocalCluster, a
separate `dask scheduler` + 2 `dask worker` processes, and a killed build that resumes; each
gives the same index as the single-process path."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from pixret.engine import Index, get_config
from pixret.engine.distributed import SCHEDULER_ENV, scheduler_address
from pixret.io import PixretError

PACKED = ("kpts", "words", "sigs", "offsets", "desc")


def _same_index(a: Index, b: Index) -> None:
    for name in PACKED:
        assert np.array_equal(np.load(a.data / "packed" / f"{name}.npy"), np.load(b.data / "packed" / f"{name}.npy"))
    assert np.array_equal(np.load(a.data / "vocab.npy"), np.load(b.data / "vocab.npy"))
    assert (a.data / "invfile.npz").read_bytes() == (b.data / "invfile.npz").read_bytes()
    assert [im["name"] for im in a.images] == [im["name"] for im in b.images]


@pytest.fixture(scope="module")
def paths(bench):
    return [bench.database_image(i) for i in range(bench.n_database)]


@pytest.fixture(scope="module")
def single(paths, tmp_path_factory):
    return Index.build(paths, get_config("fast"), tmp_path_factory.mktemp("one"), workers=1, progress=False)


def test_local_cluster_gives_the_single_process_index(paths, single, tmp_path):
    _same_index(single, Index.build(paths, get_config("fast"), tmp_path, workers=2, progress=False))


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
        _same_index(single, Index.build(paths, get_config("fast"), tmp_path, progress=False))
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
        Index.build(paths, get_config("fast"), tmp_path, progress=False, scheduler=f"tcp://127.0.0.1:{port}")


BUILD = """
import sys
from pathlib import Path
from pixret.engine import Index, get_config
paths = [Path(p) for p in Path(sys.argv[1]).read_text().split()]
Index.build(paths, get_config("fast"), sys.argv[2], workers=2, progress=False)
"""


def test_a_killed_build_resumes_to_the_same_index(paths, single, tmp_path):
    listing = tmp_path / "paths.txt"
    listing.write_text("\n".join(str(p) for p in paths))
    root = tmp_path / "idx"
    proc = subprocess.Popen([sys.executable, "-c", BUILD, str(listing), str(root)], start_new_session=True)
    feats = root / "features"
    end = time.time() + 120
    while time.time() < end and len(list(feats.glob("*.npz"))) < 3 and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the client, the scheduler and its workers, at once
    proc.wait()
    done = len(list(feats.glob("*.npz")))
    resumed = Index.build(paths, get_config("fast"), root, workers=2, progress=False)
    _same_index(single, resumed)
    assert done >= 3  # the kill came mid-extraction, and what was written was kept


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
