"""Jira: the emulator and the sink (the real ``jira`` client) against Atlassian's description of
the Jira Cloud platform REST API (v3; the client speaks v2, which shares paths, parameters and
paging with v3).

Deviations, waived by name (nothing else is):
- v2 bodies: ``description`` and comment ``body`` are wiki-markup strings where v3 has ADF
  documents;
- the ``jira`` client (not our code) sends ``"comment": null`` with every issue link (the
  description has an object, not nullable; Jira accepts null) and, on Server/Data Center,
  ``validateQuery=True`` (v2 parses the boolean case-insensitively; v3 lists lower case);
- before a remote link the client reads ``/rest/applinks/latest/listApplicationlinks`` (the
  application-links plugin, outside this description; its errors are only logged): skipped.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from emulators.contract import Deviation, spec, validate_all
from emulators.jira import JiraEmulator

from feedback_pipeline.deliver.jira import JiraSink
from feedback_pipeline.warehouse.runs import Run

from .conftest import AS_OF, ranked, seed_theme
from .test_jira_lineage import merge

DEVIATIONS = (
    Deviation("*", r"(description|body)\S*: \[type='object'\] '.*' is not of type 'object'",
              "v2 takes and returns wiki-markup strings where v3 has ADF"),
    Deviation("POST /rest/api/3/issueLink", r"body/comment: \[type='object'\] None ",
              "the jira client sends comment: null; Jira accepts it"),
    Deviation("GET /rest/api/3/search", r"query 'validateQuery': \[enum=.*\] 'True' is not one",
              "Server/DC v2 parses booleans case-insensitively"),
)


def check(emu: JiraEmulator) -> dict[str, int]:
    service = spec("jira")

    def check_one(r) -> str:
        name = service.check_request(r.method, r.path, query=r.query, headers=r.headers,
                                     body=r.body, deviations=DEVIATIONS)
        if r.response is not None:
            service.check_response(r.method, r.path, r.status, r.response,
                                   deviations=DEVIATIONS)
        else:
            service.check_empty_response(r.method, r.path, r.status)
        return name

    # Only the REST API: the jira client's application-links probe is not in it (see above).
    return validate_all([r for r in emu.requests if r.path.startswith("/rest/api/")], check_one)


@pytest.mark.parametrize("cloud", [True, False], ids=["cloud", "server"])
def test_contract_jira_sink_exchanges_match_the_description(cloud, make_settings, warehouse,
                                                            hash_embedder):
    with JiraEmulator(cloud=cloud, page_size=3) as emu:
        emu.add_issue("CSV export times out for large reports",
                      "The CSV export times out when the report is large")  # a backlog match
        settings = make_settings(emu, merge_link_type="Duplicate")
        seed_theme(warehouse, 1, 6)
        seed_theme(warehouse, 2, 5)
        seed_theme(warehouse, 3, 5)

        def night(day: int, theme_ids: list[int]) -> None:
            as_of = AS_OF + timedelta(days=day)
            JiraSink(settings, embedder=hash_embedder).deliver(
                Run(warehouse, f"n{day}", as_of), ranked(warehouse, theme_ids, as_of=as_of))

        night(0, [1, 2, 3])  # 1 linked to the backlog, 2 and 3 created
        seed_theme(warehouse, 2, 12, offset=5, start=AS_OF - timedelta(days=2))  # grows
        merge(warehouse, 3, into=2, run="c1")
        night(1, [1, 2])  # refresh (PUT), growth comment, merge link and comment
        validated = check(emu)
    search = "/search/jql" if cloud else "/search"
    expected = {"GET /rest/api/3/serverInfo", "GET /rest/api/3/field",
                f"GET /rest/api/3{search}", "POST /rest/api/3/issue",
                "GET /rest/api/3/issue/{issueIdOrKey}", "PUT /rest/api/3/issue/{issueIdOrKey}",
                "POST /rest/api/3/issue/{issueIdOrKey}/comment",
                "GET /rest/api/3/issue/{issueIdOrKey}/comment",
                "POST /rest/api/3/issue/{issueIdOrKey}/remotelink",
                "GET /rest/api/3/issueLinkType", "POST /rest/api/3/issueLink"}
    assert expected <= set(validated), expected - set(validated)
