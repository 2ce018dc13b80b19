# Two commands for a newcomer: `make demo` and `make test`. Both create .venv on first use.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export PREFECT_SERVER_ANALYTICS_ENABLED := false
# Prefect's temporary server for a plain-script run needs more than its default 20 s on a busy
# 2-core machine.
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 120
export HF_HUB_OFFLINE := 1

.PHONY: setup demo test test-all bench lint clean chromium audit mutate

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# torch first and pinned: on these machines that is the local CPU wheel; an unpinned resolve
# would pull a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -c constraints.txt -e '.[dev,dask]'
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(BIN)/feedback-pipeline run --config demo/demo.toml
	$(BIN)/feedback-pipeline themes --config demo/demo.toml --limit 10

test: setup
	$(BIN)/python -m pytest

# Headless Chromium for the HTML report tests (tests/report/): Debian's package, installed as
# root when missing.
chromium:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# Known vulnerabilities of the pinned set (constraints.txt), from PyPI's advisory data, with
# pip-audit in a venv of its own (.venv/audit: its dependencies stay out of the project's).
# A vulnerable pin fails; a service that does not answer (offline, or a mirror without PyPI's JSON
# API) leaves packages unaudited: that prints a WARNING and passes, and never reads as a pass.
# Accepted vulnerabilities go in AUDIT_IGNORE as `--ignore-vuln ID`, each with its reason (none).
AUDIT := $(VENV)/audit
AUDIT_IGNORE :=

$(AUDIT)/bin/pip-audit:
	$(PY) -m venv $(AUDIT)
	$(AUDIT)/bin/pip install --quiet pip-audit==2.10.1

define AUDIT_VERDICT
import json, sys
try:
    deps = json.load(open(sys.argv[1]))["dependencies"]
except (OSError, ValueError, KeyError):
    print("make audit: WARNING: pip-audit did not run (" + open(sys.argv[2]).read().strip()[-300:]
          + "); NOT AUDITED")
    sys.exit(0)
bad = [d for d in deps if d.get("vulns")]
skipped = [d for d in deps if d.get("skip_reason")]
for d in bad:
    for v in d["vulns"]:
        print(f"VULNERABLE {d['name']}=={d['version']}: {v['id']} "
              f"(fixed in {', '.join(v['fix_versions']) or 'no release yet'})")
print(f"make audit: {len(deps) - len(skipped)} of {len(deps)} pins audited, {len(bad)} vulnerable")
if skipped:
    print(f"make audit: WARNING: {len(skipped)} pins NOT AUDITED, the advisory service did not "
          f"answer for them (e.g. {skipped[0]['skip_reason']})")
sys.exit(1 if bad else 0)
endef
export AUDIT_VERDICT

audit: $(AUDIT)/bin/pip-audit
	@rm -f $(AUDIT)/report.json
	@$(AUDIT)/bin/pip-audit --no-deps --disable-pip -r constraints.txt --vulnerability-service pypi \
		--format json --output $(AUDIT)/report.json --progress-spinner off $(AUDIT_IGNORE) \
		2>$(AUDIT)/stderr.log || true
	@$(AUDIT)/bin/python -c "$$AUDIT_VERDICT" $(AUDIT)/report.json $(AUDIT)/stderr.log

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
