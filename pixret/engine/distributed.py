"""Running the indexing work on a Dask cluster (dask.distributed).

``dask_client()`` gives a client: of an existing cluster when a scheduler address is given
(``--scheduler tcp://HOST:PORT`` or ``$PIXRET_DASK_SCHEDULER``), else of an in-process
``LocalCluster`` bound to 127.0.0.1 with one single-threaded worker process per core (OpenCV
and faiss bring their own threads; one per worker keeps the cores busy without oversubscribing
them). ``dask_map`` runs a function over items on it, in order, with a progress bar that shows
items/s and the time left.

Tasks write their own outputs atomically (feature cache files, index shards), so a killed job,
scheduler included, resumes where it stopped: what was written is reused, the rest is done
again. ``Runner`` runs a build's stages on a cluster or in this process, the same functions
either way.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

from ..errors import PixretError
from ..parallel import default_workers, progress_bar

SCHEDULER_ENV = "PIXRET_DASK_SCHEDULER"
CONNECT_TIMEOUT = 20.0  # seconds to connect to a scheduler that answered the probe
PROBE_TIMEOUT = 5.0  # seconds a scheduler has to accept a connection and send its handshake
# A collection smaller than this is indexed in this process even without --workers 1: a local
# cluster takes seconds to start (a 6-image build: 9.8 s on a cluster, 4.0 s in-process), more
# than two workers save on extracting fewer images (about 0.2 s each on 1024-px photos)
LOCAL_BELOW = 64
SCHEMES = ("tcp", "tls")


def scheduler_address(scheduler: str | None = None) -> str | None:
    """The scheduler to use: the argument, else $PIXRET_DASK_SCHEDULER, else None (local).
    PixretError for an address that is not tcp://HOST:PORT or tls://HOST:PORT."""
    addr = scheduler or os.environ.get(SCHEDULER_ENV) or None
    if not addr:
        return None
    if "://" not in addr:
        raise PixretError(None, f"scheduler address {addr!r} needs a protocol, e.g. tcp://{addr}")
    _host_port(addr)  # refuse what is not tcp://HOST:PORT or tls://HOST:PORT
    return addr


def _host_port(addr: str) -> tuple[str, int]:
    try:
        parts = urlsplit(addr)
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise PixretError(None, f"scheduler address {addr!r} is not tcp://HOST:PORT ({exc})") from None
    if parts.scheme not in SCHEMES:
        raise PixretError(None, f"scheduler address {addr!r}: pixret connects over {' or '.join(SCHEMES)}, "
                          "as `dask scheduler` listens (tcp://HOST:PORT)")  # fmt: skip
    if not host or port is None:
        raise PixretError(None, f"scheduler address {addr!r} needs a host and a port, e.g. tcp://127.0.0.1:8786")
    return host, port


def probe_scheduler(addr: str, timeout: float = PROBE_TIMEOUT) -> None:
    """Refuse, in one line and within ``timeout`` seconds, an address where no Dask scheduler
    listens: nothing there, a server that stays silent (an HTTP server waits for a request), or
    one that sends something else. A Dask scheduler sends its handshake as soon as it accepts a
    connection: a message whose first 8 bytes give its length (little-endian), a few hundred
    bytes. Without this check distributed's client waits minutes on a silent server, and reads
    an HTTP reply's bytes as a length of exabytes (a traceback). tls:// is not probed."""
    host, port = _host_port(addr)
    if urlsplit(addr).scheme != "tcp":
        return
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            head = b""
            while len(head) < 8:
                chunk = sock.recv(8 - len(head))
                if not chunk:
                    break
                head += chunk
    except TimeoutError:
        raise PixretError(None, f"no Dask scheduler answers at {addr}: it sent no handshake within "
                          f"{timeout:g} s (another kind of server, or a firewall?)") from None  # fmt: skip
    except OSError as exc:
        raise PixretError(None, f"no Dask scheduler answers at {addr} ({exc.strerror or exc})") from None
    length = int.from_bytes(head, "little") if len(head) == 8 else 0
    if not 0 < length < 1 << 20:
        raise PixretError(None, f"no Dask scheduler answers at {addr}: what answers there is not a Dask "
                          "scheduler (its first bytes are not a Dask handshake)")  # fmt: skip


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None) -> Iterator[Any]:
    """A ``distributed.Client``: of the cluster at ``scheduler``, or of a local one on 127.0.0.1."""
    from distributed import Client, LocalCluster

    addr = scheduler_address(scheduler)
    if addr:
        probe_scheduler(addr)
        try:
            client = Client(addr, timeout=CONNECT_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - distributed raises OSError, TimeoutError, ValueError, ...
            raise PixretError(None, f"no Dask scheduler answers at {addr} ({type(exc).__name__}: {exc})") from None
        with client:
            yield client
        return
    n = default_workers() if workers is None else max(1, workers)
    # a local cluster's nanny writes OMP_NUM_THREADS=1 (and MKL's, OpenBLAS's) into this
    # process's environment for its workers; give the caller its own environment back after
    saved = {v: os.environ.get(v) for v in (*THREAD_VARIABLES, "__DASK_PARENT_PID")}
    with (
        _restored_environment(saved),
        LocalCluster(
            # every server on loopback, the status page on a free port (8787 may be taken)
            n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0",
            # logging.CRITICAL: worker chatter would break the progress bar, and what a worker logs
            # as an ERROR (a heartbeat missed while a long task holds it: a traceback on the
            # user's terminal, the build unharmed) is no news: a task that fails raises here
            silence_logs=50,
        ) as cluster,
        Client(cluster) as client,
    ):  # fmt: skip
        yield client


THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@contextlib.contextmanager
def _restored_environment(saved: dict[str, str | None]) -> Iterator[None]:
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def dask_map(
    fn: Callable[[Any], Any], items: Sequence[Any], client: Any, desc: str, unit: str, progress: bool = True
) -> list[Any]:
    """``[fn(x) for x in items]`` on the cluster, in order; the bar shows items/s and time left.

    A worker that dies takes its running tasks with it; the scheduler runs them again elsewhere
    (distributed's own retry), so the result is complete or the call raises."""
    from distributed import as_completed

    futures = client.map(fn, list(items), pure=False)
    order = {f.key: k for k, f in enumerate(futures)}
    out: list[Any] = [None] * len(futures)
    with progress_bar(total=len(futures), desc=desc, unit=unit, enabled=progress) as bar:
        for fut in as_completed(futures):
            out[order[fut.key]] = fut.result()
            fut.release()
            bar.update()
    return out


class Runner:
    """Where a build's stages run: a Dask cluster (started on first use, so a build with nothing
    left to do starts none) or this process: with one worker and no scheduler, or, when the
    workers are not set, for a collection of fewer than LOCAL_BELOW images (``size``).

    Every stage goes through ``map`` / ``call`` whichever it is, so the single-process path and
    the cluster run the same functions on the same inputs and write the same bytes. A scheduler
    address is checked here, before any work (``probe_scheduler``)."""

    def __init__(self, scheduler: str | None = None, workers: int | None = None, progress: bool = True,
                 size: int | None = None):  # fmt: skip
        self.scheduler, self.workers, self.progress = scheduler, workers, progress
        addr = scheduler_address(scheduler)
        if addr:
            probe_scheduler(addr)
        small = workers is None and size is not None and size < LOCAL_BELOW
        self.local = not addr and (workers == 1 or small)
        self._stack = contextlib.ExitStack()
        self._client: Any = None

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._stack.enter_context(dask_client(self.scheduler, self.workers))
        return self._client

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], desc: str, unit: str) -> list[Any]:
        """``[fn(x) for x in items]``, in order, with a progress bar."""
        if not items:
            return []
        if self.local:
            return [fn(x) for x in progress_bar(items, desc=desc, unit=unit, enabled=self.progress)]
        return dask_map(fn, items, self.client, desc, unit, self.progress)

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` as one task (on a worker of the cluster, or here)."""
        if self.local:
            return fn(*args)
        # large arrays go to the worker by scatter, not inside the task graph
        args = tuple(self.client.scatter(a) if getattr(a, "nbytes", 0) > 1 << 20 else a for a in args)
        return self.client.submit(fn, *args, pure=False).result()
