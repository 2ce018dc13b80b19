"""The Jira issue a PM reads (issue #21): summary first, score table last and collapsed, a stable
summary, priority from urgency rules, issue type from the dominant item type, related themes
with their keys, and a dry-run preview equal to the payload the live sink sends.

Everything is asserted on the rendered wiki text or on what the Jira emulator received through
the real ``jira`` client.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from feedback_pipeline.config import DeliverConfig, SlackConfig
from feedback_pipeline.deliver.dry_run import OutboxFiles
from feedback_pipeline.deliver.jira import JiraSink
from feedback_pipeline.deliver.jira.config import JiraConfig, UrgencyRule
from feedback_pipeline.deliver.jira.evidence import issue_evidence, related_themes
from feedback_pipeline.deliver.jira.render import EVIDENCE_MARKER, jira_issue_fields
from feedback_pipeline.errors import SinkError
from feedback_pipeline.rank.trends import trend_phrase
from feedback_pipeline.warehouse.runs import Run

from .conftest import AS_OF, ranked

PUT_ISSUE = r"/rest/api/2/issue/[^/]+$"
STEADY = {"trend": "steady", "trend_recent": 3, "trend_baseline": 3.0, "trend_days": 7}


def add_theme(con, theme_id: int, title: str, centroid: list[float]) -> None:
    quotes = [{"source": "forum", "external_id": f"{theme_id}-forum-{k}",
               "text": f"{title}, forum post {k}", "url": f"https://forum.example.com/t/{k}"}
              for k in range(4)]
    con.execute("INSERT INTO themes (theme_id, title, keywords, quotes, centroid, status, "
                "first_seen) VALUES (?, ?, ?, ?, ?, 'active', ?)",
                [theme_id, title, ["kw"], json.dumps(quotes), centroid,
                 AS_OF - timedelta(days=20)])


def add_items(con, theme_id: int, texts: list[str], *, kind: str = "community_post",
              source: str = "forum", plans: list[str | None] | None = None,
              customer: str | None = None, start=AS_OF - timedelta(days=10)) -> None:
    offset = con.execute("SELECT count(*) FROM items WHERE source = ?", [source]).fetchone()[0]
    for k, text in enumerate(texts):
        ext = f"{theme_id}-{source}-{offset + k}"
        at = start + timedelta(hours=6 * k)
        con.execute(
            "INSERT INTO items (source, external_id, kind, url, author_hash, title, body, plan, "
            "customer, created_at, updated_at, content_hash, clean_text, language) VALUES "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'h', ?, 'en')",
            [source, ext, kind, f"https://{source}.example.com/t/{ext}", f"a-{ext}", "",
             text, (plans or [None] * len(texts))[k], customer, at, at, text])
        con.execute("INSERT INTO item_themes (source, external_id, theme_id, similarity) "
                    "VALUES (?, ?, ?, ?)", [source, ext, theme_id, 1.0 - k / 100])


def row(con, theme_id: int, rank: int = 1, **overrides: object) -> dict:
    """A ranking row for the seeded theme, its kind counts from the items."""
    [theme] = ranked(con, [theme_id])
    support, community = con.execute(
        "SELECT count(*) FILTER (WHERE kind = 'support_ticket'), count(*) FILTER (WHERE kind = "
        "'community_post') FROM item_themes JOIN items USING (source, external_id) "
        "WHERE theme_id = ?", [theme_id]).fetchone()
    theme.update(rank=rank, support_count=support, community_count=community, **STEADY)
    theme.update(overrides)
    return theme


def fields_for(con, theme: dict, config: JiraConfig | None = None) -> dict:
    config = config or JiraConfig(server="https://acme.atlassian.net")
    return jira_issue_fields(theme, config, issue_evidence(con, theme, config, as_of=AS_OF))


@pytest.fixture
def export_theme(warehouse):
    add_theme(warehouse, 1, "CSV export times out", [1.0, 0.0, 0.0])
    add_items(warehouse, 1, [f"The CSV export times out again ({k})" for k in range(6)],
              plans=["Pro", "Pro", "Pro", "Free", "Free", None])
    add_items(warehouse, 1, [f"Ticket: export of invoices never finishes ({k})"
                             for k in range(3)], kind="support_ticket", source="desk",
              plans=["Enterprise"] * 3, customer="Acme")
    return row(warehouse, 1, trend="new", trend_recent=9, trend_baseline=None)


# --- layout -------------------------------------------------------------------------------------
def test_issue_opens_with_the_summary_and_ends_with_the_collapsed_score_table(warehouse,
                                                                             export_theme):
    description = fields_for(warehouse, export_theme)["description"]
    lines = description.split("\n")

    assert lines[0] == EVIDENCE_MARKER  # invisible: the text a PM sees starts on the next line
    assert lines[1] == "*What customers ask:* CSV export times out"
    who = lines[2]
    assert who.startswith("*Who, since when:* 9 customers in 1 account (plans: Enterprise 38%, "
                          "Pro 38%, Free 25%) · 9 reports · first seen 31 Oct 2026 · ")
    assert who.endswith(trend_phrase(export_theme)) and "new: 9 in the last 7 days" in who
    headings = [ln for ln in lines if ln.startswith("h2. ")]
    assert headings == ["h2. What customers say", "h2. Activity by week", "h2. Related themes",
                        "h2. Source threads"]
    # The score table is last, inside a collapsed block, and nothing of ours follows it.
    start = lines.index("{expand:Why this ranks: score breakdown}")
    assert lines[-1] == "{expand}" and start > lines.index("h2. Source threads")
    assert "||component||value||normalised||weight||points||" in lines[start:]
    assert all("||component||" not in ln for ln in lines[:start])
    # Three quotes, both kinds of source heard although the stored quotes are all forum posts.
    quotes = [ln for ln in lines if ln.startswith("{quote}")]
    assert len(quotes) == 3
    assert sum("(support ticket: " in q for q in quotes) == 1
    assert sum("(community post: " in q for q in quotes) == 2
    assert "|2026-11-09|" in description or "|2026-11-02|" in description  # weekly rows
    assert ("* [All 9 reports|https://acme.atlassian.net/issues/?jql=labels%20%3D%20"
            "feedback-theme-1]") in lines


def test_panel_instead_of_expand_for_renderers_without_it(warehouse, export_theme):
    description = fields_for(warehouse, export_theme, JiraConfig(score_table="panel"))[
        "description"]

    lines = description.split("\n")
    assert "{panel:title=Why this ranks: score breakdown}" in lines and lines[-1] == "{panel}"
    assert "{expand" not in description


def test_customer_text_in_the_summary_lines_stays_escaped(warehouse):
    add_theme(warehouse, 5, "Export {code}x{code} [link|http://evil] *bold*", [0.0, 1.0, 0.0])
    add_items(warehouse, 5, ["a", "b", "c"], plans=["*Gold*", "[x|y]", "h1. big"])

    lines = fields_for(warehouse, row(warehouse, 5))["description"].split("\n")

    assert lines[1] == ("*What customers ask:* Export \\{code\\}x\\{code\\} "
                        "\\[link\\|http://evil\\] \\*bold\\*")
    assert "\\*Gold\\*" in lines[2] and "\\[x\\|y\\]" in lines[2] and "{code}" not in lines[2]


# --- priority rules -----------------------------------------------------------------------------
def _triage(description: str) -> str:
    return description.split("\n")[3]


@pytest.mark.parametrize(("texts", "priority", "rule"), [
    (["My account was hacked last night", "Someone hacked my login", "fraud on my card"],
     "Highest", "security rule"),
    (["I want to delete my account", "How do I cancel my subscription?",
      "Ich möchte mein Abo kündigen"], "High", "churn rule"),
])
def test_vocabulary_rules_set_the_priority_and_say_why(warehouse, texts, priority, rule):
    add_theme(warehouse, 2, "Theme under test", [0.0, 1.0, 0.0])
    add_items(warehouse, 2, texts)
    add_theme(warehouse, 3, "Control", [0.0, 0.0, 1.0])
    add_items(warehouse, 3, ["The dashboard is slow", "Charts load slowly", "Slow graphs"])

    fired = fields_for(warehouse, row(warehouse, 2, rank=15))
    control = fields_for(warehouse, row(warehouse, 3, rank=15))

    assert fired["priority"] == {"name": priority}
    assert _triage(fired["description"]).startswith(f"_Priority *{priority}*: {rule}: 3 of 3 "
                                                    "reports say ")
    assert control["priority"] == {"name": "Low"}
    assert _triage(control["description"]).startswith(
        "_Priority *Low*: rank #15 (no urgency rule matched).")


def test_spike_rule_fires_on_a_rising_theme_with_enough_reports_only(warehouse, export_theme):
    rising = dict(export_theme, rank=5, trend="rising", trend_recent=14, trend_baseline=2.0)
    small = dict(rising, trend_recent=4)
    steady = dict(export_theme, rank=5, **STEADY)

    assert fields_for(warehouse, rising)["priority"] == {"name": "High"}
    assert f"spike rule: trend {trend_phrase(rising)}" in _triage(
        fields_for(warehouse, rising)["description"])
    assert fields_for(warehouse, small)["priority"] == {"name": "Medium"}
    assert fields_for(warehouse, steady)["priority"] == {"name": "Medium"}


def test_urgency_rules_are_configurable(warehouse):
    add_theme(warehouse, 2, "Billing", [0.0, 1.0, 0.0])
    add_items(warehouse, 2, ["Je veux être remboursé", "remboursement svp", "Ok"])
    config = JiraConfig(urgency=[UrgencyRule(name="refund", priority="Highest",
                                             terms=["rembours"], min_items=2)])
    default = fields_for(warehouse, row(warehouse, 2, rank=15))

    assert fields_for(warehouse, row(warehouse, 2, rank=15), config)["priority"] == {
        "name": "Highest"}
    assert default["priority"] == {"name": "Low"}  # not in the default vocabulary
    # A word that only contains the term elsewhere is not a match ("décancel" is no "cancel").
    add_theme(warehouse, 4, "Other", [0.0, 0.0, 1.0])
    add_items(warehouse, 4, ["xcancel my plan", "precancel my x", "uncancel my account"])
    assert fields_for(warehouse, row(warehouse, 4, rank=15))["priority"] == {"name": "Low"}


# --- issue type ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("mix", "issue_type"), [
    ({"problem": 8, "request": 2, "untyped": 5}, "Bug"),
    ({"request": 6, "question": 1}, "Story"),
    ({"question": 5, "problem": 1}, "Task"),  # no mapping for questions: the default
    ({"problem": 3, "request": 3}, "Task"),  # no single dominant type
    ({"untyped": 9}, "Task"),
])
def test_issue_type_follows_the_dominant_item_type(warehouse, export_theme, mix, issue_type):
    fields = fields_for(warehouse, dict(export_theme, type_mix=json.dumps(mix)))

    assert fields["issuetype"] == {"name": issue_type}
    assert f"Type *{issue_type}*: " in _triage(fields["description"])


def test_a_type_the_project_lacks_fails_saying_what_to_configure(warehouse, export_theme,
                                                                 make_settings):
    from emulators.jira import JiraEmulator

    with JiraEmulator(issue_types=("Task", "Bug")) as emu:
        settings = make_settings(emu, backlog_match=False)
        theme = dict(export_theme, type_mix=json.dumps({"request": 7}))
        with pytest.raises(SinkError, match=r"deliver\.jira\.issue_types \(now: problem -> Bug, "
                                            r"request -> Story\).*Specify a valid issue type"):
            JiraSink(settings).deliver(Run(warehouse, "n0", AS_OF), [theme])
        assert emu.state.issues == {}
        theme = dict(theme, type_mix=json.dumps({"problem": 7}))
        JiraSink(settings).deliver(Run(warehouse, "n1", AS_OF), [theme])
        assert emu.state.issues["FB-1"]["fields"]["issuetype"] == {"name": "Bug"}


# --- related themes -----------------------------------------------------------------------------
def test_related_themes_by_centroid_with_threshold_and_duplicates(warehouse):
    add_theme(warehouse, 1, "Export", [1.0, 0.0, 0.0])
    add_theme(warehouse, 2, "Export to CSV", [0.95, 0.31, 0.0])  # cosine 0.95
    add_theme(warehouse, 3, "Exports in general", [0.7, 0.71, 0.0])  # cosine 0.70
    add_theme(warehouse, 4, "Dark mode", [0.0, 0.0, 1.0])  # cosine 0
    add_theme(warehouse, 5, "Merged away", [1.0, 0.0, 0.0])
    warehouse.execute("UPDATE themes SET status = 'merged' WHERE theme_id = 5")
    warehouse.execute("INSERT INTO jira_issues (theme_id, issue_key, origin) VALUES "
                      "(2, 'FB-7', 'created')")

    found = related_themes(warehouse, 1, JiraConfig())

    assert [(r.theme_id, r.issue_key, r.duplicate) for r in found] == [
        (2, "FB-7", True), (3, None, False)]
    assert found[0].similarity == pytest.approx(0.95, abs=0.01)
    assert related_themes(warehouse, 1, JiraConfig(related_similarity=0.9)) == found[:1]


# --- a living issue over nights -----------------------------------------------------------------
def _night(con, settings, ranking, day: int) -> dict:
    return JiraSink(settings).deliver(Run(con, f"n{day}", AS_OF + timedelta(days=day)), ranking)


def test_summary_is_stable_across_nights_and_old_counted_summaries_migrate_once(
        warehouse, cloud_emu, make_settings, export_theme):
    settings = make_settings(cloud_emu, backlog_match=False)
    _night(warehouse, settings, [export_theme], 0)
    issue = cloud_emu.state.issues["FB-1"]["fields"]
    assert issue["summary"] == "Customer feedback: CSV export times out"

    add_items(warehouse, 1, [f"Export still times out ({k})" for k in range(12)],
              start=AS_OF - timedelta(days=4))
    _night(warehouse, settings, [row(warehouse, 1)], 1)

    assert issue["summary"] == "Customer feedback: CSV export times out"
    updates = [r.body["fields"] for r in cloud_emu.calls("PUT", PUT_ISSUE)]
    assert updates and all("summary" not in u for u in updates)
    assert "21 reports" in issue["description"]  # the count lives in the body

    # An issue filed before the summary was stable: its summary held a count. Ours and
    # unedited, it is rewritten once; the next night leaves it alone.
    old = "Customer feedback: CSV export times out (9 reports)"
    cloud_emu.edit_summary("FB-1", old)
    warehouse.execute("UPDATE jira_issues SET last_summary = ?", [old])
    _night(warehouse, settings, [row(warehouse, 1)], 2)
    assert issue["summary"] == "Customer feedback: CSV export times out"
    before = len(cloud_emu.calls("PUT", PUT_ISSUE))
    _night(warehouse, settings, [row(warehouse, 1)], 3)
    assert all("summary" not in r.body["fields"]
               for r in cloud_emu.calls("PUT", PUT_ISSUE)[before:])

    # A PM's own summary (even one with a count in it) is never overwritten.
    cloud_emu.edit_summary("FB-1", "Export timeouts (PM: 21 reports, see call notes)")
    _night(warehouse, settings, [row(warehouse, 1)], 4)
    assert issue["summary"] == "Export timeouts (PM: 21 reports, see call notes)"


def test_old_intro_is_dropped_but_a_pms_text_above_the_marker_is_kept(
        warehouse, cloud_emu, make_settings, export_theme):
    settings = make_settings(cloud_emu, backlog_match=False)
    _night(warehouse, settings, [export_theme], 0)
    issue = cloud_emu.state.issues["FB-1"]["fields"]
    old_intro = ("Customers keep reporting: *CSV export times out*\n\n_Add context, decisions "
                 "and acceptance criteria here, above the evidence. Everything below is "
                 "refreshed nightly by feedback-pipeline._\n")
    issue["description"] = f"{old_intro}{EVIDENCE_MARKER}\n----\nh2. Why this ranks\nold"

    _night(warehouse, settings, [row(warehouse, 1)], 1)
    assert issue["description"].startswith(f"{EVIDENCE_MARKER}\n*What customers ask:* CSV ")

    issue["description"] = f"Decision: ship in Q1.\n{issue['description']}"
    _night(warehouse, settings, [row(warehouse, 1)], 2)
    assert issue["description"].startswith(
        f"Decision: ship in Q1.\n{EVIDENCE_MARKER}\n----\n*What customers ask:* CSV ")


# --- dry run == live ----------------------------------------------------------------------------
def test_dry_run_preview_equals_the_payload_jira_received(warehouse, cloud_emu, make_settings,
                                                          export_theme, tmp_path):
    settings = make_settings(cloud_emu, backlog_match=False, components=["Feedback"],
                             custom_fields={"customfield_10010": {"value": "Feedback"}})
    _night(warehouse, settings, [export_theme], 0)  # theme 1 has FB-1 from now on
    add_theme(warehouse, 2, "Export of invoices to CSV fails", [0.96, 0.28, 0.0])
    add_items(warehouse, 2, ["Invoice export to CSV fails", "CSV export of invoices broken",
                             "I will cancel my subscription if exports stay broken"],
              plans=["Pro", "Free", None])
    add_items(warehouse, 2, ["Ticket: invoice CSV is empty"], kind="support_ticket",
              source="desk", customer="Initech")
    ranking = [row(warehouse, 1, rank=1),
               row(warehouse, 2, rank=2, trend="rising", trend_recent=4, trend_baseline=0.0,
                   type_mix=json.dumps({"problem": 3, "request": 1}))]
    run = Run(warehouse, "n1", AS_OF + timedelta(days=1))
    config = DeliverConfig(outbox=tmp_path / "outbox", jira=settings, slack=SlackConfig())

    OutboxFiles(config).deliver(run, ranking)
    JiraSink(settings).deliver(run, ranking)

    preview = json.loads((tmp_path / "outbox" / "jira" / "theme-2.json").read_text())["fields"]
    [create] = [r for r in cloud_emu.calls("POST", r"/rest/api/2/issue$")
                if "feedback-theme-2" in r.body["fields"]["labels"]]
    sent = create.body["fields"]
    assert sorted(preview) == sorted(sent)
    for name in sent:
        assert preview[name] == sent[name], name
    assert sent["issuetype"] == {"name": "Bug"}
    assert "* [FB-1] CSV export times out — possible duplicate, similarity 0.96" in \
        sent["description"].split("\n")
    assert "* Sources: forum (3), desk (1)" in sent["description"].split("\n")
    text = (tmp_path / "outbox" / "jira" / "theme-2.txt").read_text()
    assert text == f"{sent['summary']}\n\n{sent['description']}\n"
