# Two commands for a newcomer: `make demo` and `make test`. Both create .venv on first use.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export PREFECT_SERVER_ANALYTICS_ENABLED := false
# Prefect's temporary server for a plain-script run needs more than its default 20 s on a busy
# 2-core machine.
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 120
export HF_HUB_OFFLINE := 1

.PHONY: setup demo test test-all bench lint clean chromium browser audit mutate

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# torch first and pinned: on these machines that is the local CPU wheel; an unpinned resolve
# would pull a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -c constraints.txt -e '.[dev,dask,onnx]'
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(BIN)/feedback-pipeline run --config demo/demo.toml
	$(BIN)/feedback-pipeline themes --config demo/demo.toml --limit 10

# Hypothesis draws the same examples on every run ("ci" profile, tests/conftest.py), so a red
# `make test` reproduces; `make test HYPOTHESIS_PROFILE=explore` hunts with fresh random ones.
# PYTEST_ARGS adds pytest options (.ci/run: a JUnit report to count skipped tests).
HYPOTHESIS_PROFILE ?= ci
PYTEST_ARGS ?=

test: setup browser
	HYPOTHESIS_PROFILE=$(HYPOTHESIS_PROFILE) $(BIN)/python -m pytest $(PYTEST_ARGS)

# What the browser tests of the PM report need, before `make test` runs them: Chromium, unless
# a developer without root chose FP_SKIP_BROWSER_TESTS=1 (CI never does: a skip fails .ci/run).
browser:
ifeq ($(FP_SKIP_BROWSER_TESTS),1)
	@echo "make test: FP_SKIP_BROWSER_TESTS=1: the browser tests of the PM report are SKIPPED"
else
	@$(MAKE) --no-print-directory chromium
endif

# Headless Chromium for the HTML report tests (tests/report/): $FP_CHROMIUM, or `chromium` on
# PATH, or Debian's package installed as root. Where it cannot be installed this fails and says
# what to do, before any test runs.
CHROMIUM_HELP := the browser tests of the PM report (tests/report/) need it: run \
	'make chromium' as root (Debian's chromium package), point FP_CHROMIUM at a Chromium \
	binary, or set FP_SKIP_BROWSER_TESTS=1 to skip those tests (a skip fails CI)
chromium:
	@if [ -n "$$FP_CHROMIUM" ]; then \
		[ -x "$$FP_CHROMIUM" ] || { echo "error: FP_CHROMIUM=$$FP_CHROMIUM is not an executable"\
			"file; $(CHROMIUM_HELP)" >&2; exit 1; }; \
	elif command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then \
		:; \
	elif [ "$$(id -u)" != 0 ]; then \
		echo "error: Chromium is not installed and installing it needs root;" \
			"$(CHROMIUM_HELP)" >&2; exit 1; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
		echo "error: Chromium is not installed and this machine has no apt-get to install it;" \
			"$(CHROMIUM_HELP)" >&2; exit 1; \
	else \
		echo "make chromium: installing Debian's chromium package"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
		|| { echo "error: apt-get could not install chromium (is its package mirror reachable?);" \
			"$(CHROMIUM_HELP)" >&2; exit 1; }; \
	fi

# Known vulnerabilities of the pinned set (constraints.txt), from PyPI's advisory data, with
# pip-audit in a venv of its own (.venv/audit: its dependencies stay out of the project's).
# pip-audit reads PyPI's per-release JSON; for the pins it could not look up there (a package
# mirror without that API) tools/audit.py reads the per-project JSON, whose advisories are those
# of the latest release, so they audit a pin only if it is that release. A vulnerable pin fails
# (exit 1); so does a pin that could not be audited (3, named) and an audit that reached no
# advisory data at all (4). "Not audited" is never a pass. Accepted vulnerabilities go in
# AUDIT_IGNORE as `--ignore-vuln ID`, each with its reason (none).
AUDIT := $(VENV)/audit
AUDIT_IGNORE :=

$(AUDIT)/bin/pip-audit:
	$(PY) -m venv $(AUDIT)
	$(AUDIT)/bin/pip install --quiet pip-audit==2.10.1

audit: $(AUDIT)/bin/pip-audit
	@rm -f $(AUDIT)/report.json
	@$(AUDIT)/bin/pip-audit --no-deps --disable-pip -r constraints.txt --vulnerability-service pypi \
		--format json --output $(AUDIT)/report.json --progress-spinner off $(AUDIT_IGNORE) \
		2>$(AUDIT)/stderr.log || true
	@$(AUDIT)/bin/python tools/audit.py $(AUDIT)/report.json $(AUDIT)/stderr.log constraints.txt \
		$(AUDIT_IGNORE)

# Mutation testing (mutmut) of redaction, ingest and cursors, theme identity, the Jira and Slack
# sinks and the outbox, each against its fast unit tests; not part of CI (an hour or more on 2
# cores). `make mutate TARGETS="redact outbox"` runs some, MUTATE_FLAGS="--minutes 10" bounds
# each target's time (mutmut resumes where it stopped). Kill rates and triage: RELIABILITY.md.
TARGETS ?=
MUTATE_FLAGS ?=
mutate: setup
	$(BIN)/python tools/mutate.py --max-children 2 $(MUTATE_FLAGS) $(TARGETS)

bench: setup
	$(BIN)/python bench/quality.py

lint: setup
	$(BIN)/ruff check src flows tests bench

clean:
	rm -rf warehouse/*.duckdb warehouse/*.duckdb.wal outbox
