"""The dependency audit's verdict (tools/audit.py, `make audit`): a pin counts as audited only
when advisory data for exactly its release was read, a vulnerable pin always fails, and an audit
that reached no advisory data says it did not run. No network: the project JSON is given."""

import importlib.util
import sys
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "audit_tool", Path(__file__).resolve().parents[1] / "tools" / "audit.py")
audit = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = audit  # dataclasses look their module up while the class is built
_spec.loader.exec_module(audit)

PYSEC = {"id": "PYSEC-2026-1", "aliases": ["CVE-2026-0001"], "fixed_in": ["2.1"],
         "withdrawn": None}


def project(latest: str, *vulns: dict) -> dict:
    return {"info": {"version": latest}, "vulnerabilities": list(vulns)}


def test_pins_are_read_by_canonical_name_without_markers_or_comments():
    text = ("# pinned\nPyYAML==6.0.3\nslack_sdk==3.47.0 ; python_version >= '3.9'\n"
            "torch==2.13.0  # local CPU wheel\n\n-e .\n")
    assert audit.read_pins(text) == {"pyyaml": "6.0.3", "slack-sdk": "3.47.0",
                                     "torch": "2.13.0"}


def test_pip_audit_results_are_kept_and_its_skipped_pins_looked_up():
    report = {"dependencies": [
        {"name": "Alpha", "version": "1.0", "vulns": [
            {"id": "GHSA-x", "fix_versions": ["1.1"], "aliases": []}]},
        {"name": "beta", "skip_reason": "Dependency not found on PyPI"},
    ]}
    asked = []

    def fetch(name):
        asked.append(name)
        return project("2.0")

    verdict = audit.judge(report, {"alpha": "1.0", "beta": "2.0"}, fetch)
    assert asked == ["beta"]
    assert (verdict.by_pip_audit, verdict.by_latest, verdict.not_audited) == (1, 1, [])
    assert verdict.vulnerable == ["VULNERABLE alpha==1.0: GHSA-x (fixed in 1.1)"]
    assert verdict.status() == 1


def test_a_pin_that_is_the_latest_release_takes_its_advisories():
    verdict = audit.judge(None, {"gamma": "2.0"}, lambda name: project("2.0", PYSEC))
    assert verdict.vulnerable == ["VULNERABLE gamma==2.0: PYSEC-2026-1 (fixed in 2.1)"]
    assert verdict.status() == 1


def test_withdrawn_and_ignored_advisories_do_not_count():
    withdrawn = dict(PYSEC, id="PYSEC-2026-2", withdrawn="2026-11-01T00:00:00Z")
    verdict = audit.judge(None, {"gamma": "2.0"}, lambda name: project("2.0", PYSEC, withdrawn),
                          ignore=frozenset({"CVE-2026-0001"}))
    assert (verdict.vulnerable, verdict.by_latest, verdict.status()) == ([], 1, 0)


def test_an_older_pin_is_not_audited_even_when_the_latest_release_is_clean():
    # The latest release's list says nothing about advisories a later release fixed.
    verdict = audit.judge(None, {"delta": "1.0", "eps": "3.0"},
                          lambda name: project("1.1") if name == "delta" else project("3.0"))
    assert verdict.not_audited == ["delta==1.0 (latest is 1.1)"]
    assert (verdict.audited, verdict.status()) == (1, 3)


def test_equal_versions_are_compared_as_versions():
    verdict = audit.judge(None, {"zeta": "1.0"}, lambda name: project("1.0.0"))
    assert (verdict.by_latest, verdict.status()) == (1, 0)


@pytest.mark.parametrize("answer", [None, {"info": {"version": "1.0"}}])
def test_no_advisory_data_at_all_means_the_audit_did_not_run(answer):
    verdict = audit.judge(None, {"eta": "1.0", "theta": "2.0"}, lambda name: answer)
    assert verdict.audited == 0 and len(verdict.not_audited) == 2
    assert verdict.status() == 4


def test_the_command_prints_the_verdict_and_exits_with_its_status(tmp_path, capsys,
                                                                 monkeypatch):
    (tmp_path / "c.txt").write_text("iota==1.0\nkappa==1.0\n", encoding="utf-8")
    (tmp_path / "err.log").write_text("pip-audit: connection refused\n", encoding="utf-8")
    monkeypatch.setattr(audit, "fetch_project",
                        lambda name: project("1.0") if name == "iota" else project("1.2"))
    status = audit.main([str(tmp_path / "missing.json"), str(tmp_path / "err.log"),
                         str(tmp_path / "c.txt")])
    out = capsys.readouterr().out
    assert status == 3
    assert "pip-audit produced no report (pip-audit: connection refused)" in out
    assert "1 of 2 pins audited" in out
    assert "PARTLY AUDITED: 1 pins NOT AUDITED" in out and "kappa==1.0 (latest is 1.2)" in out
