# Two commands for a newcomer: `make demo` and `make test`. Both create .venv on first use.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export PREFECT_SERVER_ANALYTICS_ENABLED := false
# Prefect's temporary server for a plain-script run needs more than its default 20 s on a busy
# 2-core machine.
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 120
export HF_HUB_OFFLINE := 1

.PHONY: setup demo test test-all bench lint clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# torch first and pinned: on these machines that is the local CPU wheel; an unpinned resolve
# would pull a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -c constraints.txt -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(BIN)/feedback-pipeline run --config demo/demo.toml
	$(BIN)/feedback-pipeline themes --config demo/demo.toml --limit 10

test: setup
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python bench/quality.py

lint: setup
	$(BIN)/ruff check src flows tests bench

clean:
	rm -rf warehouse/*.duckdb warehouse/*.duckdb.wal outbox
