"""Jira behaviours its description states that the sink must survive: search lagging behind
creates, and comment lists that page (both modelled by the emulator)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from emulators.jira import JiraEmulator

from feedback_pipeline.deliver.jira import JiraSink
from feedback_pipeline.errors import SinkError
from feedback_pipeline.warehouse.runs import Run

from .conftest import AS_OF, ranked, seed_theme
from .test_jira_lineage import merge


def night(con, settings, theme_ids, embedder, *, day: int = 0) -> dict:
    as_of = AS_OF + timedelta(days=day)
    return JiraSink(settings, embedder=embedder).deliver(Run(con, f"n{day}", as_of),
                                                         ranked(con, theme_ids, as_of=as_of))


@pytest.mark.parametrize("cloud", [True, False], ids=["cloud", "server"])
def test_contract_timed_out_create_is_found_although_search_lags(cloud, make_settings, warehouse,
                                                                 hash_embedder):
    with JiraEmulator(cloud=cloud) as emu:
        backlog = [emu.add_issue(f"Someone's issue {n}") for n in range(3)]
        emu.search_lag = 50  # from now on, new issues stay out of search for 50 searches
        # Only the crash night has a short timeout, well under the emulator's delay.
        settings = make_settings(emu, backlog_match=False)
        seed_theme(warehouse, 1, 5)
        emu.crash_after_create(delay=10)
        with pytest.raises(SinkError, match="timeout during create"):
            night(warehouse, make_settings(emu, timeout_seconds=2.0, backlog_match=False), [1],
                  hash_embedder)
        emu.add_issue("Filed by a person meanwhile")  # keys go on being allocated
        assert len(emu.issues_with_label("feedback-theme-1")) == 1

        stats = night(warehouse, settings, [1], hash_embedder, day=1)  # search still lags

        assert (stats["adopted"], stats["created"]) == (1, 0)
        assert [i["key"] for i in emu.issues_with_label("feedback-theme-1")] == ["FB-4"]
        assert warehouse.execute("SELECT issue_key, origin FROM jira_issues").fetchall() == \
            [("FB-4", "adopted")]
        reads = [r.path.rsplit("/", 1)[1] for r in emu.calls("GET", r"/issue/FB-\d+$")]
        assert "FB-4" in reads and not set(reads) & set(backlog)  # read above the mark only


def test_contract_every_create_records_where_to_look_before_it_is_sent(cloud_emu, make_settings,
                                                                      warehouse, hash_embedder):
    import json

    cloud_emu.add_issue("Backlog")
    settings = make_settings(cloud_emu, backlog_match=False)
    seed_theme(warehouse, 1, 5)
    night(warehouse, settings, [1], hash_embedder)
    payload = json.loads(warehouse.execute(
        "SELECT payload FROM deliveries WHERE delivery_key = 'jira:theme:1'").fetchone()[0])
    assert payload["after_key"] == 1 and "feedback-theme-1" in payload["create"]["fields"][
        "labels"]


def test_contract_lineage_marker_is_found_beyond_the_first_comment_page(make_settings, warehouse,
                                                                        hash_embedder):
    with JiraEmulator(cloud=True, comment_page_size=2) as emu:
        settings = make_settings(emu)
        seed_theme(warehouse, 1, 6)
        seed_theme(warehouse, 2, 5)
        night(warehouse, settings, [1, 2], hash_embedder)
        for n in range(3):  # a busy issue: the merge comment lands on the second page
            emu.state.comments["FB-2"].append({"id": f"c{n}", "body": f"chatter {n}"})
        merge(warehouse, 2, into=1, run="c1")
        night(warehouse, settings, [1], hash_embedder, day=1)
        assert len(emu.state.comments["FB-2"]) == 4
        warehouse.execute("DELETE FROM jira_lineage")  # forget it was done: Jira is checked
        night(warehouse, settings, [1], hash_embedder, day=2)
        assert len(emu.state.comments["FB-2"]) == 4  # no second merge comment
        pages = [r.query.get("startAt", ["0"])[0]
                 for r in emu.calls("GET", r"/issue/FB-2/comment$")]
        assert pages[-3:] == ["0", "2", "4"]
