"""The Jira mapping follows theme lineage (merges, splits, fades, revivals) against the emulator,
with the real ``jira`` client; and source links never carry personal data in their query."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from feedback_pipeline.deliver.jira import JiraSink
from feedback_pipeline.deliver.jira.render import jira_description, safe_url
from feedback_pipeline.errors import SinkError
from feedback_pipeline.redact import safe_link_url
from feedback_pipeline.warehouse.runs import Run

from .conftest import AS_OF, ranked, seed_theme


def night(con, settings, theme_ids, embedder, *, day: int = 0) -> dict:
    as_of = AS_OF + timedelta(days=day)
    return JiraSink(settings, embedder=embedder).deliver(Run(con, f"n{day}", as_of),
                                                         ranked(con, theme_ids, as_of=as_of))


def theme_event(con, theme_id: int, event: str, other: int | None = None, *, run: str,
                detail: str | None = None) -> None:
    """What themes.py records (``record_events``) when it decides a theme's lineage."""
    con.execute("INSERT INTO theme_events (run_id, theme_id, event, other_theme, detail) "
                "VALUES (?, ?, ?, ?, ?)", [run, theme_id, event, other, detail])


def merge(con, theme_id: int, into: int, *, run: str) -> None:
    n = con.execute("SELECT count(*) FROM item_themes WHERE theme_id = ?", [theme_id]).fetchone()[0]
    con.execute("UPDATE item_themes SET theme_id = ? WHERE theme_id = ?", [into, theme_id])
    con.execute("UPDATE themes SET status = 'merged', merged_into = ?, size = 0 "
                "WHERE theme_id = ?", [into, theme_id])
    theme_event(con, theme_id, "merged_into", into, run=run, detail=f"{n} of {n} members")


def split(con, part: int, original: int, n: int, *, run: str) -> None:
    """Move ``n`` of ``original``'s items into the new theme ``part`` (split off it)."""
    total = con.execute("SELECT count(*) FROM item_themes WHERE theme_id = ?",
                        [original]).fetchone()[0]
    con.execute("INSERT INTO themes (theme_id, title, keywords, quotes, status, split_from, "
                "first_seen) VALUES (?, ?, ['large files'], '[]', 'active', ?, ?)",
                [part, f"Part {part}: exports of large files", original,
                 AS_OF - timedelta(days=20)])
    con.execute("UPDATE item_themes SET theme_id = ? WHERE (source, external_id) IN (SELECT "
                "source, external_id FROM item_themes WHERE theme_id = ? ORDER BY external_id "
                f"LIMIT {n})", [part, original])
    theme_event(con, part, "split_from", original, run=run,
                detail=f"{n} of {total} earlier members")


def lineage_rows(con) -> list[tuple]:
    return con.execute("SELECT theme_id, event, other_theme, action, issue_key, other_key, "
                       "status FROM jira_lineage ORDER BY theme_id, event, run_id").fetchall()


def test_merge_links_the_issues_and_comments_once(cloud_emu, make_settings, warehouse,
                                                  hash_embedder):
    settings = make_settings(cloud_emu, merge_link_type="Duplicate")
    seed_theme(warehouse, 1, 6)
    seed_theme(warehouse, 2, 5)
    night(warehouse, settings, [1, 2], hash_embedder)
    assert sorted(cloud_emu.state.issues) == ["FB-1", "FB-2"]
    merge(warehouse, 2, into=1, run="c1")

    stats = night(warehouse, settings, [1], hash_embedder, day=1)

    assert (stats["lineage_linked"], stats["lineage_commented"], stats["created"]) == (1, 1, 0)
    (link,) = cloud_emu.links_between("FB-2", "FB-1")
    assert link["type"]["name"] == "Duplicate"
    assert (link["inwardIssue"]["key"], link["outwardIssue"]["key"]) == ("FB-2", "FB-1")
    (comment,) = cloud_emu.state.comments["FB-2"]
    assert "this theme was merged into FB-1" in comment["body"]
    assert "5 of 5 members; 11 reports there in total" in comment["body"]
    assert cloud_emu.state.comments["FB-1"] == []
    # The PM's issue is not closed or transitioned.
    assert cloud_emu.state.issues["FB-2"]["fields"]["status"]["name"] == "To Do"
    assert cloud_emu.calls("POST", r"/transitions$") == []
    assert lineage_rows(warehouse) == [(2, "merged_into", 1, "link", "FB-2", "FB-1", "done")]
    assert warehouse.execute(
        "SELECT status, external_ref FROM deliveries WHERE delivery_key = "
        "'jira:lineage:merged_into:2:1:c1'").fetchall() == [("sent", "FB-2")]

    for day in (2, 3):
        stats = night(warehouse, settings, [1], hash_embedder, day=day)
        assert (stats["lineage_linked"], stats["lineage_commented"]) == (0, 0)
    # The warehouse forgets it followed the merge (restored from an older backup): Jira is
    # checked before linking or commenting, so still one of each.
    warehouse.execute("DELETE FROM jira_lineage")
    night(warehouse, settings, [1], hash_embedder, day=4)
    assert len(cloud_emu.links_between("FB-2", "FB-1")) == 1
    assert len(cloud_emu.state.comments["FB-2"]) == 1
    assert len(cloud_emu.calls("POST", r"/issueLink$")) == 1


def test_merge_into_a_theme_without_issue_moves_the_mapping(cloud_emu, make_settings,
                                                            warehouse, hash_embedder):
    settings = make_settings(cloud_emu)
    seed_theme(warehouse, 1, 5)
    seed_theme(warehouse, 3, 2)  # two authors: no issue of its own
    night(warehouse, settings, [1, 3], hash_embedder)
    assert list(cloud_emu.state.issues) == ["FB-1"]
    merge(warehouse, 1, into=3, run="c1")

    stats = night(warehouse, settings, [3], hash_embedder, day=1)

    assert (stats["created"], stats["lineage_moved"], stats["lineage_linked"]) == (0, 1, 0)
    assert list(cloud_emu.state.issues) == ["FB-1"]
    assert warehouse.execute("SELECT theme_id, issue_key, origin, baseline_items FROM "
                             "jira_issues").fetchall() == [(3, "FB-1", "created", 7)]
    fields = cloud_emu.state.issues["FB-1"]["fields"]
    assert fields["labels"] == ["customer-feedback", "feedback-theme-3"]
    assert fields["summary"] == \
        "Customer feedback: Cannot reset password from the mobile app"
    (comment,) = cloud_emu.state.comments["FB-1"]
    assert "this issue now tracks a merged theme" in comment["body"]
    assert "(7 reports)" in comment["body"]
    assert lineage_rows(warehouse) == [(1, "merged_into", 3, "moved", "FB-1", None, "done")]

    seed_theme(warehouse, 3, 2, offset=40, start=AS_OF)
    for day in (2, 3):
        stats = night(warehouse, settings, [3], hash_embedder, day=day)
        assert (stats["created"], stats["lineage_moved"]) == (0, 0)
    assert len(cloud_emu.state.issues) == 1 and len(cloud_emu.state.comments["FB-1"]) == 1
    # Lost warehouse: the issue is found again by the merged theme's label.
    from feedback_pipeline.warehouse import db

    fresh = db.connect(":memory:")
    seed_theme(fresh, 3, 9)
    assert night(fresh, settings, [3], hash_embedder, day=4)["adopted"] == 1
    fresh.close()
    assert len(cloud_emu.state.issues) == 1


def test_split_keeps_the_issue_and_links_a_qualifying_part(cloud_emu, make_settings, warehouse,
                                                           hash_embedder):
    settings = make_settings(cloud_emu)
    seed_theme(warehouse, 1, 12)
    night(warehouse, settings, [1], hash_embedder)
    split(warehouse, 4, 1, 4, run="c1")  # qualifies: 4 distinct authors
    split(warehouse, 5, 1, 2, run="c1")  # does not (yet): 2 authors

    stats = night(warehouse, settings, [1, 4, 5], hash_embedder, day=1)

    assert (stats["created"], stats["lineage_linked"], stats["lineage_commented"]) == (1, 1, 1)
    assert warehouse.execute("SELECT theme_id, issue_key FROM jira_issues ORDER BY theme_id"
                             ).fetchall() == [(1, "FB-1"), (4, "FB-2")]
    (link,) = cloud_emu.links_between("FB-2", "FB-1")
    assert (link["type"]["name"], link["inwardIssue"]["key"]) == ("Relates", "FB-2")
    (comment,) = cloud_emu.state.comments["FB-1"]
    assert "part of this theme split off into FB-2" in comment["body"]
    assert "(4 of 12 earlier members)" in comment["body"] and "(6 reports)" in comment["body"]
    assert cloud_emu.state.comments["FB-2"] == []
    assert lineage_rows(warehouse) == [
        (4, "split_from", 1, "link", "FB-1", "FB-2", "done"),
        (5, "split_from", 1, "link", None, None, "waiting")]

    night(warehouse, settings, [1, 4, 5], hash_embedder, day=2)
    assert len(cloud_emu.state.issues) == 2 and len(cloud_emu.state.comments["FB-1"]) == 1
    # The small part grows until it qualifies on its own: then it is linked too.
    seed_theme(warehouse, 5, 2, offset=60, start=AS_OF)
    stats = night(warehouse, settings, [1, 4, 5], hash_embedder, day=3)
    assert (stats["created"], stats["lineage_linked"]) == (1, 1)
    assert len(cloud_emu.links_between("FB-3", "FB-1")) == 1
    assert len(cloud_emu.state.comments["FB-1"]) == 2
    night(warehouse, settings, [1, 4, 5], hash_embedder, day=4)
    assert len(cloud_emu.state.issue_links) == 2 and len(cloud_emu.state.comments["FB-1"]) == 2


def test_fade_and_revival_comment_once_each(cloud_emu, make_settings, warehouse, hash_embedder):
    settings = make_settings(cloud_emu)
    seed_theme(warehouse, 1, 5)
    theme_event(warehouse, 1, "faded", run="c0")  # before the issue existed: not replayed
    night(warehouse, settings, [1], hash_embedder)
    assert cloud_emu.state.comments["FB-1"] == []

    warehouse.execute("UPDATE themes SET status = 'faded' WHERE theme_id = 1")
    theme_event(warehouse, 1, "faded", run="c1")
    for day in (1, 2):
        night(warehouse, settings, [], hash_embedder, day=day)
    (faded,) = cloud_emu.state.comments["FB-1"]
    assert "this theme faded" in faded["body"]
    assert "since 2026-11-01 (20 days)" in faded["body"]

    warehouse.execute("UPDATE themes SET status = 'active' WHERE theme_id = 1")
    seed_theme(warehouse, 1, 1, offset=50, start=AS_OF + timedelta(days=2))
    theme_event(warehouse, 1, "revived", run="c3", detail="similarity 0.91")
    for day in (3, 4):
        stats = night(warehouse, settings, [1], hash_embedder, day=day)
        assert stats["created"] == 0
    assert len(cloud_emu.state.comments["FB-1"]) == 2
    back = cloud_emu.state.comments["FB-1"][1]["body"]
    assert "this theme is back" in back and "(6 reports in total, the newest on 2026-11-22)" in back
    assert [r[1:] for r in lineage_rows(warehouse)] == [
        ("faded", -1, None, None, None, "skipped"),
        ("faded", -1, "comment", "FB-1", None, "done"),
        ("revived", -1, "comment", "FB-1", None, "done")]


def test_revival_of_a_done_issue_is_left_to_the_resurgence_comment(
        cloud_emu, make_settings, warehouse, hash_embedder):
    settings = make_settings(cloud_emu)
    seed_theme(warehouse, 1, 5)
    night(warehouse, settings, [1], hash_embedder)
    theme_event(warehouse, 1, "faded", run="c1")
    night(warehouse, settings, [], hash_embedder, day=1)
    cloud_emu.close_issue("FB-1", "Done", at=AS_OF + timedelta(days=1))
    seed_theme(warehouse, 1, 4, offset=50, start=AS_OF + timedelta(days=1, hours=2))
    theme_event(warehouse, 1, "revived", run="c2")
    for day in (2, 3):
        night(warehouse, settings, [1], hash_embedder, day=day)
    bodies = [c["body"] for c in cloud_emu.state.comments["FB-1"]]
    assert len(bodies) == 2
    assert "this theme faded" in bodies[0] and "resurged" in bodies[1]
    assert warehouse.execute("SELECT status, detail FROM jira_lineage WHERE event = 'revived'"
                             ).fetchall() == [("skipped", "issue FB-1 is done")]


def test_crash_between_link_and_recording_then_rerun_keeps_one_link(
        cloud_emu, make_settings, warehouse, hash_embedder):
    # Only the crash night has a short timeout, well under the emulator's delay.
    settings = make_settings(cloud_emu)
    seed_theme(warehouse, 1, 6)
    seed_theme(warehouse, 2, 5)
    night(warehouse, settings, [1, 2], hash_embedder)
    merge(warehouse, 2, into=1, run="c1")
    cloud_emu.crash_after_link(delay=10)

    with pytest.raises(SinkError, match="timeout during link on FB-2"):
        night(warehouse, make_settings(cloud_emu, timeout_seconds=2.0), [1], hash_embedder,
              day=1)
    assert len(cloud_emu.links_between("FB-2", "FB-1")) == 1  # Jira has it; we do not know
    assert cloud_emu.state.comments["FB-2"] == []
    assert lineage_rows(warehouse) == [(2, "merged_into", 1, "link", "FB-2", "FB-1", "failed")]
    (failure,) = warehouse.execute("SELECT theme_id, issue_key, detail FROM jira_events "
                                   "WHERE event = 'failed'").fetchall()
    assert failure[:2] == (2, "FB-2") and failure[2].startswith("timeout during link on FB-2")
    assert warehouse.execute("SELECT status FROM deliveries WHERE delivery_key LIKE "
                             "'jira:lineage:%'").fetchall() == [("failed",)]

    stats = night(warehouse, settings, [1], hash_embedder, day=2)

    assert (stats["lineage_linked"], stats["lineage_commented"]) == (0, 1)
    assert len(cloud_emu.links_between("FB-2", "FB-1")) == 1
    assert len(cloud_emu.calls("POST", r"/issueLink$")) == 1
    assert len(cloud_emu.state.comments["FB-2"]) == 1
    assert lineage_rows(warehouse)[0][-1] == "done"


def test_lineage_can_be_turned_off(cloud_emu, make_settings, warehouse, hash_embedder):
    seed_theme(warehouse, 1, 6)
    seed_theme(warehouse, 2, 5)
    night(warehouse, make_settings(cloud_emu), [1, 2], hash_embedder)
    merge(warehouse, 2, into=1, run="c1")
    night(warehouse, make_settings(cloud_emu, follow_lineage=False), [1], hash_embedder, day=1)
    night(warehouse, make_settings(cloud_emu), [1], hash_embedder, day=2)  # not replayed later
    assert cloud_emu.state.issue_links == [] and cloud_emu.state.comments["FB-2"] == []
    assert lineage_rows(warehouse)[0][-1] == "skipped"


@pytest.mark.parametrize(("url", "expected"), [
    ("https://community.example.com/t/en-webhook-1", "https://community.example.com/t/en-webhook-1"),
    ("https://forum.example.com/t/7?page=2#post_3", "https://forum.example.com/t/7?page=2#post_3"),
    ("https://news.example.com/item?id=41234567", "https://news.example.com/item?id=41234567"),
    ("https://app.example.com/export?token=abc123XYZ789qq", "https://app.example.com/export"),
    ("https://support.example.com/tickets?requester=jo.silva@example.com.br",
     "https://support.example.com/tickets"),
    ("https://support.example.com/tickets?requester=20978392", "https://support.example.com/tickets"),
    ("https://x.example.com/a?email=jane%40example.org&ref=mail", "https://x.example.com/a"),
    ("https://forum.example.com/t/9?u=alice", "https://forum.example.com/t/9"),
    ("https://x.example.com/in?q=call+me+on+%2B44+20+7946+0958", "https://x.example.com/in"),
    ("https://x.example.com/cb#access_token=eyJhbGciOi", "https://x.example.com/cb"),
    ("https://bob:pa55w0rd@git.example.com/repo.git", "https://git.example.com/repo.git"),
    ("https://x.example.com/users/jane.doe@example.org/posts", None),
    ("https://10.1.2.3/t/1", None),
    ("javascript:alert(1)", None),
    (None, None),
], ids=["clean", "page-and-anchor", "numeric-id", "token", "requester-email", "requester-id",
        "encoded-email", "discourse-share-user", "phone-in-search", "token-in-fragment",
        "userinfo", "email-in-path", "ip-host", "not-http", "none"])
def test_links_lose_personal_data(url, expected):
    assert safe_link_url(url) == expected
    assert safe_url(url) == expected  # the Jira description uses the same helper


def test_quote_and_thread_links_in_the_description_carry_no_personal_data():
    from datetime import datetime

    from feedback_pipeline.deliver.jira.render import ThemeEvidence

    quotes = [{"source": "forum", "external_id": "1", "text": "Export times out",
               "url": "https://support.example.com/tickets/1?requester=kevin@mail.example.ie"},
              {"source": "forum", "external_id": "2", "text": "Same here",
               "url": "https://app.example.com/export?token=abc123XYZ789qq"},
              {"source": "forum", "external_id": "3", "text": "Also",
               "url": "https://community.example.com/t/en-export-3"}]
    comp = {"value": 3, "normalized": 1.0, "weight": 1.0, "points": 1.0}
    theme = {"theme_id": 1, "rank": 1, "score": 2.0, "item_count": 3, "distinct_authors": 3,
             "support_count": 0, "community_count": 3, "breakdown": {"volume": comp},
             "recent_count": 3, "previous_count": 0, "growth": 1.0, "votes": 0,
             "first_seen": datetime(2026, 11, 1), "last_seen": datetime(2026, 11, 2),
             "keywords": ["export"], "quotes": json.dumps(quotes), "title": "Export"}
    ev = ThemeEvidence(links=[("Ticket", "https://support.example.com/t?email=a%40b.co&tab=2")])

    text = jira_description(theme, ev)

    assert "[source|https://support.example.com/tickets/1]" in text
    assert "[source|https://app.example.com/export]" in text
    assert "[source|https://community.example.com/t/en-export-3]" in text
    assert "* [Ticket|https://support.example.com/t]" in text
    for leaked in ("requester", "token=", "kevin", "email=", "a%40b"):
        assert leaked not in text
