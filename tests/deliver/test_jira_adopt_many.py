"""Adopting by label more themes than one search asks for (``JiraSink._adopt_by_label`` asks
Jira about 50 labels at a time): every issue a lost warehouse had filed is found again, none is
filed twice (the batching was never exercised with more than 50 themes, RELIABILITY.md)."""

from __future__ import annotations

from datetime import timedelta

from feedback_pipeline.deliver.jira import JiraSink
from feedback_pipeline.warehouse import db
from feedback_pipeline.warehouse.runs import Run

from .conftest import AS_OF, ranked, seed_theme

THEMES = list(range(1, 56))  # 55: one search of 50 labels and one of 5


def test_a_lost_warehouse_adopts_every_issue_of_55_themes_and_files_none_twice(
        cloud_emu, make_settings, hash_embedder):
    settings = make_settings(cloud_emu, top_n=len(THEMES), min_score=-10.0,
                             backlog_match=False)  # the seeded scores go below 0 past rank 30
    stats = []
    for day in range(2):  # two fresh warehouses, same Jira
        con = db.connect(":memory:")
        try:
            for theme_id in THEMES:
                seed_theme(con, theme_id, 3)
            as_of = AS_OF + timedelta(days=day)
            stats.append(JiraSink(settings, embedder=hash_embedder).deliver(
                Run(con, f"n{day}", as_of), ranked(con, THEMES, as_of=as_of)))
            owners = dict(con.execute("SELECT theme_id, issue_key FROM jira_issues").fetchall())
        finally:
            con.close()
        if day == 0:
            searches_before = len(cloud_emu.calls("GET", r"/search/jql$"))

    assert stats[0]["created"] == len(THEMES)
    assert (stats[1]["adopted"], stats[1]["created"]) == (len(THEMES), 0)
    assert len(cloud_emu.state.issues) == len(THEMES)
    assert sorted(owners) == THEMES
    for theme_id, key in owners.items():  # each theme got its own issue back
        assert f"feedback-theme-{theme_id}" in cloud_emu.state.issues[key]["fields"]["labels"]
    label_searches = [r.query["jql"][0] for r in cloud_emu.calls("GET", r"/search/jql$")
                      [searches_before:] if "labels in (" in r.query["jql"][0]]
    # One query per 50 labels (each read page by page).
    assert [jql.count("feedback-theme-") for jql in dict.fromkeys(label_searches)] == [50, 5]


def test_only_our_own_theme_labels_name_a_theme(cloud_emu, make_settings, hash_embedder):
    # A person's label on FB-1 that is as long as our prefix and ends in digits
    # ("sprint-planning" + "2") must not hand theme 2 the wrong issue.
    settings = make_settings(cloud_emu, backlog_match=False)
    for day in range(2):  # two fresh warehouses, same Jira
        con = db.connect(":memory:")
        try:
            for theme_id in (1, 2):
                seed_theme(con, theme_id, 3)
            as_of = AS_OF + timedelta(days=day)
            JiraSink(settings, embedder=hash_embedder).deliver(
                Run(con, f"n{day}", as_of), ranked(con, [1, 2], as_of=as_of))
            owners = dict(con.execute("SELECT theme_id, issue_key FROM jira_issues").fetchall())
        finally:
            con.close()
        if day == 0:
            first = owners
            cloud_emu.state.issues[first[1]]["fields"]["labels"].append("sprint-planning2")

    assert owners == first and first[1] != first[2]
    assert len(cloud_emu.state.issues) == 2


def test_an_unanswered_create_is_adopted_even_when_the_theme_left_the_ranking(
        jira_emu, make_settings, warehouse, hash_embedder):
    from feedback_pipeline.errors import SinkError

    for theme_id in (1, 2):
        seed_theme(warehouse, theme_id, 3)
    jira_emu.crash_after_create(delay=10)  # Jira files FB-1, the answer never arrives
    crash = make_settings(jira_emu, timeout_seconds=2.0, backlog_match=False)
    try:
        JiraSink(crash, embedder=hash_embedder).deliver(Run(warehouse, "n0", AS_OF),
                                                        ranked(warehouse, [1], as_of=AS_OF))
    except SinkError:
        pass
    else:
        raise AssertionError("the create's timeout was not reported")
    # The request is on record for the run that sent it, unsettled.
    assert warehouse.execute("SELECT run_id, status FROM deliveries WHERE delivery_key = "
                             "'jira:theme:1'").fetchall() == [("n0", "failed")]

    as_of = AS_OF + timedelta(days=1)  # theme 1 is no longer ranked tonight
    JiraSink(make_settings(jira_emu, backlog_match=False), embedder=hash_embedder).deliver(
        Run(warehouse, "n1", as_of), ranked(warehouse, [2], as_of=as_of))

    assert warehouse.execute("SELECT theme_id, issue_key, origin FROM jira_issues "
                             "ORDER BY 1").fetchall() == [(1, "FB-1", "adopted"),
                                                          (2, "FB-2", "created")]
    assert len(jira_emu.state.issues) == 2
    # What the adoption read from the label search is what Jira holds (theme 1 is not ranked,
    # so no refresh rewrote it): the search asked for the fields it reads.
    fb1 = jira_emu.state.issues["FB-1"]["fields"]
    assert warehouse.execute("SELECT last_summary, last_priority FROM jira_issues WHERE "
                             "theme_id = 1").fetchone() == (fb1["summary"],
                                                            fb1["priority"]["name"])
