"""Indexing on Dask (engine/distributed.py), on loopback only: a LocalCluster, a separate
`dask scheduler` + 2 `dask worker` processes whose BLAS and OpenMP pools run another number of
threads than the caller's, and a killed build that resumes; each gives the same index, byte for
byte, as the single-process build (``sharded``, built with CALLER_THREADS threads)."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pixret.engine import Index
from pixret.engine.distributed import SCHEDULER_ENV, scheduler_address
from pixret.errors import PixretError
from tests.conftest import CALLER_THREADS
from tests.conftest import SHARDED_CFG as CFG
from tests.helpers import assert_same_index

pytestmark = pytest.mark.dask
WORKER_THREADS = 2  # the external cluster's workers: BLAS / OpenMP threads, not the caller's


def _same_index(a: Index, b: Index) -> None:
    assert len(a.shards.shards) > 1
    assert_same_index(a, b)


@pytest.fixture(scope="module")
def paths(bench):
    return [bench.database_image(i) for i in range(bench.n_database)]


@pytest.fixture(scope="module")
def single(sharded):
    return sharded


def test_local_cluster_gives_the_single_process_index(paths, single, tmp_path):
    # Dask's nanny starts each worker with OMP_NUM_THREADS=1; the caller built with CALLER_THREADS
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
    # the workers' pools run WORKER_THREADS threads (the nanny would set 1), the caller's CALLER_THREADS
    # (the whole dict in one variable: dask lower-cases the keys of nested variables)
    threads = repr({v: str(WORKER_THREADS) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")})
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False",
           "DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON": threads}  # fmt: skip
    for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.pop(v, None)  # a nanny passes its own environment on, before pre-spawn-environ
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

        def pool_threads() -> list[int]:  # a worker's BLAS and OpenMP pool sizes (local: sent by value)
            import faiss  # noqa: F401 - its pools, loaded as a build loads them
            from threadpoolctl import threadpool_info

            return sorted({lib["num_threads"] for lib in threadpool_info()})

        with Client(addr, timeout="30s") as c:
            c.wait_for_workers(2, timeout=60)
            assert set(map(tuple, c.run(pool_threads).values())) == {(WORKER_THREADS,)}
            assert CALLER_THREADS != WORKER_THREADS
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
    cached = Path(single.images[0]["cache"]).parent
    _kill_build_when(paths, root, cached, lambda: len(shards_written()) >= 2)
    before = {p.name: p.stat().st_mtime_ns for p in shards_written()}
    assert not (root / "index.json").exists() and 2 <= len(before) < len(single.shards.shards)
    resumed = Index.build(paths, CFG, root, workers=2, progress=False, features_dir=cached)
    _same_index(single, resumed)
    assert {p.name: p.stat().st_mtime_ns for p in shards_written() if p.name in before} == before  # reused


def test_the_local_cluster_listens_on_loopback_only_and_leaves_the_environment_alone():
    import psutil

    from pixret.engine.distributed import dask_client

    env = dict(os.environ)
    with dask_client(workers=2) as client:
        info = client.scheduler_info()
        addresses = [info["address"], *info["workers"]]
        assert len(addresses) == 3 and all(a.startswith("tcp://127.0.0.1:") for a in addresses)
        procs = [psutil.Process(), *psutil.Process().children(recursive=True)]
        listening = [c.laddr.ip for p in procs for c in p.net_connections("inet") if c.status == psutil.CONN_LISTEN]
        assert listening and set(listening) == {"127.0.0.1"}
    assert dict(os.environ) == env  # the nanny's OMP_NUM_THREADS=1 for its workers is not the caller's


def test_the_dask_bars_on_a_terminal_leave_no_line_behind(bench, tmp_path):
    """Issue 32 (L): the Dask map's bar is the one progress bar: drawn on a terminal (here one
    that gives no size, as under ``script -qc``), removed when done, no empty line."""
    from tests.test_parallel import _photos, on_a_terminal, screen

    _photos(bench, tmp_path / "photos")
    raw = on_a_terminal([sys.executable, "-c", "from pixret.cli import main; main()", "index", "photos", "--index",
                         "idx", "--workers", "2"], tmp_path)  # fmt: skip
    shown = screen(raw)
    assert b"features: 100%" in raw and "" not in shown, shown
    assert shown[-1].startswith("indexed 4 images"), shown
