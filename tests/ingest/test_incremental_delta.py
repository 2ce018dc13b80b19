"""The second run fetches only the delta, asserted from each emulator's request log."""

from __future__ import annotations

import json
from datetime import timedelta

from feedback_pipeline.ingest.stage import get_cursor

from .cases import CHANNEL, REPO, Case
from .conftest import run


def _second_run(case: Case, warehouse) -> int:
    case.seed()
    assert run(warehouse, case.source())[case.name].error is None
    mark = case.request_count()
    case.edit()
    assert run(warehouse, case.source(), run_id="r2")[case.name].error is None
    return mark


def test_github_second_run_asks_since_the_cursor(warehouse, monkeypatch):
    from emulators.github import GitHubEmulator

    from .cases import github_case

    with GitHubEmulator() as emu:
        case = github_case(emu)
        monkeypatch.setenv(case.token_env, case.token)
        case.seed()
        run(warehouse, case.source())
        first_pages = len(emu.requests)
        # 6 issues (one a PR), 2 a page; keyset paging restarts each request at the newest
        # updated_at read minus 1 s, so each page re-reads the previous page's newest issue
        assert first_pages == 6
        assert [r.query.get("page") for r in emu.requests[1:]] == [["1"]] * 5
        cursor = json.loads(get_cursor(warehouse, "github"))
        served = len(emu.served)
        case.edit()
        run(warehouse, case.source(), run_id="r2")
        second = emu.requests[first_pages:]
        assert second[0].query["since"] == [cursor[REPO]]
        assert second[0].query["sort"] == ["updated"] and second[0].query["direction"] == ["asc"]
        # since is inclusive: the previous newest issue is re-read, then the edited one
        assert emu.served[served:served + 2] == [f"{REPO}#6", f"{REPO}#2"]
        assert set(emu.served[served:]) == {f"{REPO}#6", f"{REPO}#2"}


def test_zendesk_second_run_continues_from_after_cursor(warehouse, monkeypatch):
    from emulators.zendesk import ZendeskEmulator

    from .cases import zendesk_case

    with ZendeskEmulator() as emu:
        case = zendesk_case(emu)
        monkeypatch.setenv(case.token_env, case.token)
        mark = _second_run(case, warehouse)
        first, second = emu.requests[:mark], emu.requests[mark:]
        assert "start_time" in first[0].query and "cursor" not in first[0].query
        assert all("start_time" not in r.query for r in first[1:] + second)
        exports = [r for r in second if r.path.endswith("/cursor.json")]
        assert len(exports) == 1 and exports[0].query["cursor"]
        assert emu.served[-1:] == ["2"]
        # comments are read only for the changed ticket
        assert [r.path for r in second[1:]] == ["/api/v2/tickets/2/comments.json"]


def test_intercom_second_run_searches_after_the_cursor(warehouse, monkeypatch):
    from emulators.intercom import IntercomEmulator

    from .cases import intercom_case

    with IntercomEmulator() as emu:
        case = intercom_case(emu)
        monkeypatch.setenv(case.token_env, case.token)
        case.seed()
        run(warehouse, case.source())
        cursor = json.loads(get_cursor(warehouse, "intercom"))
        mark = len(emu.requests)
        case.edit()
        run(warehouse, case.source(), run_id="r2")
        searches = [r for r in emu.requests[mark:] if r.path == "/conversations/search"]
        assert searches[0].body["query"]["value"] == cursor["updated_at"] - 60  # lookback
        # c2 changed; c5 is the previous newest, inside the lookback
        gets = {r.path for r in emu.requests[mark:] if r.method == "GET"}
        assert gets == {"/conversations/c2", "/conversations/c5"}


def test_discourse_second_run_reads_only_new_posts_and_the_rescan_window(warehouse, monkeypatch):
    from emulators.discourse import DiscourseEmulator

    from .cases import discourse_case

    with DiscourseEmulator(chunk_size=2) as emu:
        case = discourse_case(emu)
        monkeypatch.setenv(case.token_env, case.token)
        emu.add_topic(9, "An old topic", "Quiet for a month")
        emu.clock.now += timedelta(days=30)
        case.seed()
        assert run(warehouse, case.source())["discourse"].new == case.expected + 1
        assert any(r.path == "/t/1/posts.json" for r in emu.requests)  # beyond the first chunk
        mark = len(emu.requests)
        case.edit()  # an early post: the topic is not bumped
        emu.reply(2, "A new reply to topic 2")
        stats = run(warehouse, case.source(), run_id="r2")["discourse"]
        assert (stats.new, stats.changed) == (1, 1)
        second = emu.requests[mark:]
        assert [r.query.get("before") for r in second if r.path == "/posts.json"] == [None]
        topics = {r.path for r in second if r.path.startswith("/t/") and r.path.endswith(".json")}
        # topics 1-3 are inside the 7-day re-scan window; the month-old topic 9 is not re-read
        assert {p.split("/")[2].split(".")[0] for p in topics} == {"1", "2", "3"}


def test_slack_second_run_asks_history_since_window_and_skips_quiet_threads(
    warehouse, monkeypatch
):
    from emulators.slack import SlackEmulator

    from .cases import slack_case

    with SlackEmulator() as emu:
        case = slack_case(emu)
        monkeypatch.setenv(case.token_env, case.token)
        mark = _second_run(case, warehouse)
        cursor = json.loads(get_cursor(warehouse, "slack"))
        second = emu.requests[mark:]
        assert {r.method for r in second} == {"conversations.history"}  # no new replies
        oldest = float(second[0].params["oldest"])
        assert oldest == float(cursor[CHANNEL]) - 7 * 86400
        # a new reply in the thread brings conversations.replies back
        parent = next(m for m in emu.messages[CHANNEL] if m.get("reply_count"))
        reply_ts = f"{float(cursor[CHANNEL]) + 10:.6f}"
        emu.messages[CHANNEL].append({"type": "message", "user": "U0CAROL", "text": "Me too",
                                      "ts": reply_ts, "thread_ts": parent["ts"]})
        parent["latest_reply"] = reply_ts
        mark = len(emu.requests)
        stats = run(warehouse, case.source(), run_id="r3")["slack"]
        assert stats.new == 1
        assert "conversations.replies" in {r.method for r in emu.requests[mark:]}
