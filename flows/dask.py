"""Scale-out of the embed stage: chunks of texts fan out to a Dask cluster through Prefect.

``embed.stage.embed_pending`` decides what to embed and saves the vectors (DuckDB has one writer);
:func:`dask_chunk_mapper` only moves the model call. Each chunk becomes one ``embed-chunk`` task
run submitted to Prefect's ``DaskTaskRunner``: on the cluster at ``[embed.dask] address``, or on
a ``LocalCluster`` of ``n_workers`` processes started for the run. Every worker loads the model
once (``embed.embedder.get_embedder`` is cached per process) and must have this package installed;
with an onnx ``embed.backend`` a worker builds the ONNX export from the model's weights on first
use if its ``onnx_folder`` has none (nothing but the installed packages is needed).

The runner is used directly inside the ``embed`` task rather than through a sub-flow: a
sub-flow's parameters (here, every pending text) would be uploaded to the Prefect API.

A chunk that does not come back within ``[embed.dask] chunk_timeout_seconds`` of the previous one
(a worker that cannot import this package drops the task and leaves the cluster; a cluster that
is gone answers nothing) fails the embed task with what to check, rather than holding the run,
and the deployment's only concurrency slot, forever. Workers need this package, the same
versions of prefect, prefect-dask, torch and sentence-transformers as the flow, the model, and
the flow's ``PREFECT_API_URL`` reachable from them (the project's Dockerfile is one image for
both; see "Running it in production" in the README).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from prefect import task
from prefect.cache_policies import NONE

from feedback_pipeline.embed.config import DaskConfig, EmbedConfig
from feedback_pipeline.embed.embedder import get_embedder
from feedback_pipeline.errors import ConfigError


# No Prefect caching: the warehouse's embeddings table is the cache, keyed by (text hash, model)
# and shared by every worker; a result cache on a worker's disk would only duplicate it.
@task(name="embed-chunk", retries=1, retry_delay_seconds=5, cache_policy=NONE,
      persist_result=False)
def embed_chunk(texts: list[str], embed_config_json: str) -> tuple[np.ndarray, str]:
    """Embed one chunk on whichever worker runs it (model loaded once per worker process).

    Returns the vectors and the worker process (``host:pid``) that made them.
    """
    embedder = get_embedder(EmbedConfig.model_validate_json(embed_config_json))
    return embedder.embed(texts), f"{socket.gethostname()}:{os.getpid()}"


def task_runner_for(config: DaskConfig):  # noqa: ANN201 - prefect_dask.DaskTaskRunner (lazy)
    """A ``DaskTaskRunner`` for the configured cluster (a LocalCluster without ``address``)."""
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError as exc:
        raise ConfigError("[embed.dask] enabled needs prefect-dask: "
                          "pip install -c constraints.txt -e '.[dask]'") from exc
    if config.address:
        return DaskTaskRunner(address=config.address)
    return DaskTaskRunner(cluster_kwargs={
        "n_workers": config.n_workers, "threads_per_worker": config.threads_per_worker,
        "processes": True, "dashboard_address": None})


class ChunkTimeoutError(TimeoutError):
    """A Dask chunk did not come back in time; the message says what to check."""


class DaskChunkMapper:
    """A ``MapChunks`` over an open ``DaskTaskRunner`` that counts chunks and worker processes."""

    def __init__(self, runner, payload: str, *, timeout_seconds: float,  # noqa: ANN001
                 where: str = "the LocalCluster") -> None:
        self.runner = runner
        self.payload = payload
        self.timeout_seconds = timeout_seconds
        self.where = where
        self.chunks = 0
        self.workers: set[str] = set()

    def __call__(self, chunks: list[list[str]]) -> Iterator[np.ndarray]:
        futures = [self.runner.submit(embed_chunk, {"texts": texts,
                                                    "embed_config_json": self.payload})
                   for texts in chunks]
        for n, future in enumerate(futures, 1):
            # Chunks come back in order, so this is the time since the previous one came back.
            try:
                vectors, worker = future.result(timeout=self.timeout_seconds)
            except TimeoutError as exc:
                for pending in futures[n - 1:]:
                    pending.wrapped_future.cancel()
                raise ChunkTimeoutError(
                    f"embedding chunk {n} of {len(futures)} did not come back from {self.where} "
                    f"within {self.timeout_seconds:g} s ([embed.dask] chunk_timeout_seconds): "
                    "the workers may be gone, or unable to run it (each needs this package, the "
                    "model and the flow's versions of prefect, prefect-dask, torch and "
                    "sentence-transformers, and onnxruntime and onnx for an onnx embed.backend; "
                    "see the Dask workers' logs)") from exc
            self.chunks += 1
            self.workers.add(worker)
            yield np.asarray(vectors, dtype=np.float32)

    def summary(self) -> dict:
        return {"chunks": self.chunks, "workers": len(self.workers)}


@contextmanager
def dask_chunk_mapper(config: EmbedConfig) -> Iterator[DaskChunkMapper]:
    """Open the task runner for as long as the mapper is used.

    Must be entered inside a Prefect flow or task run. The LocalCluster (or the connection to
    ``address``) starts on the first submitted chunk, so a night with nothing to embed costs
    nothing. The mapper submits every chunk at once and yields the vectors in chunk order, so the
    caller saves chunk 1 while later ones compute.
    """
    payload = config.model_copy(update={"dask": DaskConfig()}).model_dump_json()
    where = f"the Dask cluster at {config.dask.address}" if config.dask.address \
        else "the LocalCluster"
    with task_runner_for(config.dask) as runner:
        yield DaskChunkMapper(runner, payload, timeout_seconds=config.dask.chunk_timeout_seconds,
                              where=where)


@contextmanager
def chunk_mapper(config: EmbedConfig) -> Iterator[DaskChunkMapper | None]:
    """The Dask mapper when ``[embed.dask] enabled``, else None (embed in this process)."""
    if not config.dask.enabled:
        yield None
        return
    with dask_chunk_mapper(config) as mapper:
        yield mapper


__all__ = ["ChunkTimeoutError", "DaskChunkMapper", "chunk_mapper", "dask_chunk_mapper",
           "embed_chunk", "task_runner_for"]
