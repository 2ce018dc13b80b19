"""The ``feedback-pipeline`` command in a child process, for the crash and concurrency tests.

    python tests/reliability/crash_runner.py run --config cfg.toml --live
    python tests/reliability/crash_runner.py themes --config cfg.toml

Exactly the installed CLI (``feedback_pipeline.cli.app``: ``run`` is the Prefect flow), with one
test-only change: the ingest batches and embedding chunks are made small (``FP_TEST_BATCH`` records
per file-source batch, ``FP_TEST_CHUNK`` texts per committed embedding chunk) so that a corpus of
~90 records has several commit points in ingest and embed to crash between. The crash itself is
asked for with ``FP_CRASH_AT`` (``feedback_pipeline.crashpoints``).
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str]) -> None:
    from feedback_pipeline import pipeline
    from feedback_pipeline.ingest import files

    files.BATCH_SIZE = int(os.environ.get("FP_TEST_BATCH", files.BATCH_SIZE))
    pipeline.CHUNK = int(os.environ.get("FP_TEST_CHUNK", pipeline.CHUNK))

    from feedback_pipeline.cli import app

    app(argv, prog_name="feedback-pipeline")


if __name__ == "__main__":
    main(sys.argv[1:])
