"""A real Dask cluster on 127.0.0.1 for the tests of `hg-extract --cluster`: a scheduler and
two worker processes (each under a nanny that starts a new one when it is killed)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dask
from distributed import Client, LocalCluster


@contextmanager
def local_cluster(
    allowed_failures: int = 3, env: dict[str, str] | None = None
) -> Iterator[tuple[str, Client]]:
    """The scheduler's address and a client of it (to look at and kill workers); `env`:
    the workers' environment variables."""
    settings = {
        "distributed.scheduler.allowed-failures": allowed_failures,
        # LocalCluster closes the nanny of a killed worker whose restart has not registered
        # within this time (15 s by default, read when the worker is lost): on a loaded
        # machine a restart takes longer, and the cluster shrank to one worker
        "distributed.deploy.lost-worker-timeout": "300s",
    }
    with dask.config.set(settings):
        cluster = LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=1,
            host="127.0.0.1",
            scheduler_port=0,
            dashboard_address=":0",
            env=env or {},
        )
        client = Client(cluster)
        try:
            yield cluster.scheduler_address, client
        finally:
            client.close()
            cluster.close()
