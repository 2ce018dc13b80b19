"""The limits that keep a run from hanging: the run's own time limit and the Dask chunk timeout."""

from __future__ import annotations

import time

import numpy as np
import pytest

from feedback_pipeline_flows.dask import ChunkTimeoutError, DaskChunkMapper
from feedback_pipeline_flows.nightly import time_limit


def test_a_run_over_its_time_limit_is_stopped_with_the_setting_named():
    stopped = pytest.raises(TimeoutError, match=r"longer than \[schedule\] timeout_minutes = "
                                                r"0.01 minutes and was stopped")
    with stopped, time_limit(0.01, "[schedule] timeout_minutes"):
        time.sleep(60)
    with time_limit(1, "[schedule] timeout_minutes"):  # within the limit: nothing happens
        pass


class _Wrapped:
    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class _Future:
    def __init__(self, vectors: np.ndarray | None) -> None:
        self.vectors = vectors
        self.wrapped_future = _Wrapped()
        self.waited: float | None = None

    def result(self, timeout: float | None = None):
        self.waited = timeout
        if self.vectors is None:
            raise TimeoutError(f"Task run did not complete within {timeout} seconds")
        return self.vectors, "host:1"


class _Runner:
    """Chunk 1 comes back; chunk 2 never does (a worker that cannot import the package)."""

    def __init__(self) -> None:
        self.futures = [_Future(np.ones((2, 3))), _Future(None), _Future(np.ones((1, 3)))]
        self._unsubmitted = iter(self.futures)

    def submit(self, task, parameters):
        return next(self._unsubmitted)


def test_a_chunk_that_does_not_come_back_fails_embed_and_cancels_the_rest():
    runner = _Runner()
    mapper = DaskChunkMapper(runner, "{}", timeout_seconds=7,
                             where="the Dask cluster at tcp://10.0.0.5:8786")
    chunks = mapper([["a", "b"], ["c"], ["d"]])
    assert next(chunks).shape == (2, 3)
    with pytest.raises(ChunkTimeoutError, match=r"chunk 2 of 3 did not come back from the Dask "
                                                 r"cluster at tcp://10.0.0.5:8786 within 7 s"):
        next(chunks)
    assert [f.waited for f in runner.futures] == [7, 7, None]
    assert [f.wrapped_future.cancelled for f in runner.futures] == [False, True, True]
    assert mapper.summary() == {"chunks": 1, "workers": 1}
