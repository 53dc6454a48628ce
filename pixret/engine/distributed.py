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
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from tqdm import tqdm

from ..errors import PixretError
from ..parallel import default_workers

SCHEDULER_ENV = "PIXRET_DASK_SCHEDULER"
CONNECT_TIMEOUT = "20s"


def scheduler_address(scheduler: str | None = None) -> str | None:
    """The scheduler to use: the argument, else $PIXRET_DASK_SCHEDULER, else None (local)."""
    addr = scheduler or os.environ.get(SCHEDULER_ENV) or None
    if addr and "://" not in addr:
        raise PixretError(None, f"scheduler address {addr!r} needs a protocol, e.g. tcp://{addr}")
    return addr


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None) -> Iterator[Any]:
    """A ``distributed.Client``: of the cluster at ``scheduler``, or of a local one on 127.0.0.1."""
    from distributed import Client, LocalCluster

    addr = scheduler_address(scheduler)
    if addr:
        try:
            client = Client(addr, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            raise PixretError(None, f"no Dask scheduler answers at {addr} ({exc})") from None
        with client:
            yield client
        return
    n = default_workers() if workers is None else max(1, workers)
    with (
        LocalCluster(
            # every server on loopback, the status page on a free port (8787 may be taken)
            n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0",
            silence_logs=40,  # logging.ERROR: worker chatter would break the progress bar
        ) as cluster,
        Client(cluster) as client,
    ):  # fmt: skip
        yield client


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
    with tqdm(total=len(futures), desc=desc, unit=unit, disable=not progress) as bar:
        for fut in as_completed(futures):
            out[order[fut.key]] = fut.result()
            fut.release()
            bar.update()
    return out


class Runner:
    """Where a build's stages run: a Dask cluster (started on first use, so a build with nothing
    left to do starts none) or, with one worker and no scheduler, this process.

    Every stage goes through ``map`` / ``call`` whichever it is, so the single-process path and
    the cluster run the same functions on the same inputs and write the same bytes."""

    def __init__(self, scheduler: str | None = None, workers: int | None = None, progress: bool = True):
        self.scheduler, self.workers, self.progress = scheduler, workers, progress
        self.local = not scheduler_address(scheduler) and workers == 1
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
            return [fn(x) for x in tqdm(items, desc=desc, unit=unit, disable=not self.progress)]
        return dask_map(fn, items, self.client, desc, unit, self.progress)

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` as one task (on a worker of the cluster, or here)."""
        if self.local:
            return fn(*args)
        # large arrays go to the worker by scatter, not inside the task graph
        args = tuple(self.client.scatter(a) if getattr(a, "nbytes", 0) > 1 << 20 else a for a in args)
        return self.client.submit(fn, *args, pure=False).result()
