"""The verdict of ``make audit``: known vulnerabilities of every pin of constraints.txt.

pip-audit (``--vulnerability-service pypi``) asks PyPI's per-release JSON
(``/pypi/NAME/VERSION/json``) for each pin's advisories. Where that endpoint does not answer (the
package mirror these machines reach serves only the per-project JSON), pip-audit skips the pin.
For a skipped pin that IS the project's latest release, the per-project JSON
(``/pypi/NAME/json``) carries exactly the same data: its ``vulnerabilities`` list is the one of
the most recent release (PyPI's JSON API documentation). A skipped pin older than the latest
release cannot be audited from that list (an advisory fixed by a later release is not in it),
so it is reported as NOT AUDITED, by name, never counted as clean.

    python tools/audit.py REPORT.json PIP_AUDIT_STDERR CONSTRAINTS [--ignore-vuln ID ...]

Exit status: 0 every pin audited, none vulnerable; 1 a vulnerable pin; 3 some pins could not be
audited (named); 4 none could (the advisory data did not answer at all): the audit did not run.
Uses only the standard library and ``packaging`` (a pip-audit dependency), so it runs in the
audit's own venv.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

INDEX = os.environ.get("AUDIT_PYPI_URL", "https://pypi.org").rstrip("/")
# A registry under load answers slowly; an audit that gives up early audits nothing.
TIMEOUT_S = 60


@dataclass
class Verdict:
    pins: int = 0
    by_pip_audit: int = 0
    by_latest: int = 0
    vulnerable: list[str] = field(default_factory=list)
    not_audited: list[str] = field(default_factory=list)

    @property
    def audited(self) -> int:
        return self.by_pip_audit + self.by_latest

    def status(self) -> int:
        if self.vulnerable:
            return 1
        if self.pins and not self.audited:
            return 4
        return 3 if self.not_audited else 0


def read_pins(text: str) -> dict[str, str]:
    """canonical name -> pinned version, from a pip-freeze style constraints file."""
    pins = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].split(";", 1)[0].strip()
        name, sep, version = line.partition("==")
        if sep:
            pins[canonicalize_name(name)] = version.strip()
    return pins


def fetch_project(name: str) -> dict | None:
    """PyPI's per-project JSON, or None when it does not answer."""
    try:
        with urllib.request.urlopen(f"{INDEX}/pypi/{name}/json", timeout=TIMEOUT_S) as answer:
            return json.load(answer)
    except (urllib.error.URLError, OSError, ValueError):
        return None


def same_version(a: str, b: str) -> bool:
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


def describe(name: str, version: str, vuln: dict) -> str:
    fixed = vuln.get("fixed_in") or vuln.get("fix_versions") or []
    return (f"VULNERABLE {name}=={version}: {vuln['id']} "
            f"(fixed in {', '.join(fixed) or 'no release yet'})")


def judge(report: dict | None, pins: dict[str, str],
          fetch: Callable[[str], dict | None] | None = None,
          ignore: frozenset[str] = frozenset()) -> Verdict:
    """Merge pip-audit's report with the latest-release advisories for the pins it skipped.

    ``report`` is pip-audit's JSON output, or None when pip-audit produced none (every pin is
    then looked up here). ``ignore``: accepted advisories (pip-audit was given the same list).
    """
    fetch = fetch or fetch_project
    verdict = Verdict(pins=len(pins))
    todo = dict(pins)
    for dep in (report or {}).get("dependencies", []):
        name = canonicalize_name(dep["name"])
        if dep.get("skip_reason") or name not in todo:
            continue
        todo.pop(name)
        verdict.by_pip_audit += 1
        verdict.vulnerable += [describe(name, dep["version"], v) for v in dep.get("vulns", [])]
    for name, version in sorted(todo.items()):
        project = fetch(name)
        if project is None:
            verdict.not_audited.append(f"{name}=={version} (no answer from {INDEX})")
            continue
        latest = project.get("info", {}).get("version", "")
        if "vulnerabilities" not in project:
            verdict.not_audited.append(f"{name}=={version} (no advisory data in the answer)")
        elif not same_version(latest, version):
            verdict.not_audited.append(f"{name}=={version} (latest is {latest})")
        else:
            verdict.by_latest += 1
            verdict.vulnerable += [
                describe(name, version, v) for v in project["vulnerabilities"]
                if not v.get("withdrawn") and not ignore & {v["id"], *v.get("aliases", [])}]
    return verdict


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report")
    parser.add_argument("stderr")
    parser.add_argument("constraints")
    parser.add_argument("--ignore-vuln", action="append", default=[])
    args = parser.parse_args(argv)
    try:
        with open(args.report, encoding="utf-8") as f:
            report = json.load(f)
    except (OSError, ValueError):
        with open(args.stderr, encoding="utf-8", errors="replace") as f:
            why = f.read().strip()[-300:]
        print(f"make audit: pip-audit produced no report ({why}); looking every pin up here")
        report = None
    with open(args.constraints, encoding="utf-8") as f:
        verdict = judge(report, read_pins(f.read()), ignore=frozenset(args.ignore_vuln))
    for line in verdict.vulnerable:
        print(line)
    print(f"make audit: {verdict.audited} of {verdict.pins} pins audited "
          f"({verdict.by_pip_audit} by pip-audit from their release's advisories, "
          f"{verdict.by_latest} from their project's latest-release advisories), "
          f"{len(verdict.vulnerable)} vulnerabilities")
    if verdict.status() == 4:
        print(f"make audit: FAILED: NOT AUDITED: no advisory data answered for any of the "
              f"{verdict.pins} pins (e.g. {verdict.not_audited[0]})")
    elif verdict.not_audited:
        print(f"make audit: PARTLY AUDITED: {len(verdict.not_audited)} pins NOT AUDITED: only "
              "the latest release's advisories answer here and these pins are older (or got "
              "no answer): " + "; ".join(verdict.not_audited))
    return verdict.status()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
