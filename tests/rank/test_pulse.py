"""Community pulse figures against a fixture counted by hand (issue #18).

The fixture goes through the ingest stage (``save_batch``) like any fetched record, so the stored
roles, threads and folded replies are the ones a connector's mapping produces.

As of 2026-03-10 12:00 UTC, unanswered threshold 48 h. Two sources: "forum" stores replies as
records (like Discourse/Slack), "desk" folds them into the ticket (like Zendesk/Intercom).

forum  T1  alice (customer) 03-08 10:00; sam (staff) replies 03-08 13:00   -> answered after 3 h
forum  T2  bob 03-07 09:00; a bot replies 09:01 (not counted); bob replies to himself 20:00
           -> still unanswered, 75 h old: listed
forum  T3  carol 03-10 08:00, no reply -> unanswered but 4 h old: not listed
forum  T4  sam (staff) announces 03-09 10:00; dave (customer) replies 11:00 -> not a customer thread
forum  B   a bot starts a thread 03-09 12:00 -> no post, no participant
forum  G   gina 03-09 09:00, deleted -> not counted at all
desk   D1  erin 03-09 06:00; agent (staff) 07:00; erin 08:00       -> answered after 1 h
desk   D2  frank 03-06 12:00; only a bot reply 12:01                -> unanswered 96 h: listed
desk   D3  hank 03-09 10:00; agent 15:00                             -> answered after 5 h

Per night (hand count):
  03-06 posts 1 (D2)           replies 0   active 1 (frank)   new 1   threads 1 answered 0
  03-07 posts 1 (T2)           replies 1 (bob's own)  active 1 (bob) new 1  threads 1 answered 0
  03-08 posts 1 (T1)           replies 1 (sam)  active 2 (alice, sam) new 2  threads 1 answered 1
        median 3 h
  03-09 posts 3 (T4, D1, D3)   replies 4 (dave, agent, erin, agent)
        active 5 (sam, dave, erin, agent, hank), new 4 (sam was seen 03-08)
        customer threads 2 (D1, D3; T4 is staff's) answered 2, median (1 + 5) / 2 = 3 h
  03-10 posts 1 (T3)           replies 0   active 1 (carol)   new 1   threads 1 answered 0
Per ISO week (Monday 03-02 and Monday 03-09):
  03-02 posts 3  replies 2  active 4 (frank, bob, alice, sam)  new 4  threads 3 answered 1  3 h
  03-09 posts 4  replies 4  active 6 (+carol)  new 5 (all but sam)  threads 3 answered 2  3 h
Unanswered past 48 h, oldest first: D2 (96 h, 0 replies: the bot's is not one), T2 (75 h, 1).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pulse_threads import AS_OF, DESK, load_threads

from feedback_pipeline.ingest.source import Batch
from feedback_pipeline.ingest.stage import save_batch
from feedback_pipeline.rank.pulse import PulseConfig, compute_pulse, period_windows
from feedback_pipeline.records import item_from_mapping
from feedback_pipeline.warehouse.db import connect
from feedback_pipeline.warehouse.runs import resolve_as_of


@pytest.fixture()
def con(tmp_path):
    con = connect(tmp_path / "w.duckdb")
    load_threads(con)
    yield con
    con.close()


def _figures(period) -> tuple:
    return (period.posts, period.replies, period.active_participants, period.new_participants,
            period.customer_threads, period.answered_threads)


def test_nights_match_the_hand_count(con):
    pulse = compute_pulse(con, PulseConfig(nights=5), as_of=AS_OF, period="night")
    got = {p.start.strftime("%m-%d"): _figures(p) for p in pulse.periods}
    assert got == {"03-06": (1, 0, 1, 1, 1, 0), "03-07": (1, 1, 1, 1, 1, 0),
                   "03-08": (1, 1, 2, 2, 1, 1), "03-09": (3, 4, 5, 4, 2, 2),
                   "03-10": (1, 0, 1, 1, 1, 0)}
    medians = {p.start.strftime("%m-%d"): p.median_hours_to_staff_reply for p in pulse.periods}
    assert medians["03-08"] == pytest.approx(3.0)
    assert medians["03-09"] == pytest.approx(3.0)
    assert medians["03-06"] is None and medians["03-10"] is None
    assert pulse.periods[3].answered_share == pytest.approx(1.0)
    assert pulse.periods[0].answered_share == pytest.approx(0.0)


def test_weeks_match_the_hand_count(con):
    pulse = compute_pulse(con, PulseConfig(weeks=2), as_of=AS_OF, period="week")
    got = {p.start.strftime("%m-%d"): _figures(p) for p in pulse.periods}
    assert got == {"03-02": (3, 2, 4, 4, 3, 1), "03-09": (4, 4, 6, 5, 3, 2)}
    assert [p.median_hours_to_staff_reply for p in pulse.periods] == \
        [pytest.approx(3.0), pytest.approx(3.0)]
    assert pulse.periods[1].answered_share == pytest.approx(2 / 3)


def test_unanswered_lists_only_customer_threads_past_the_threshold(con):
    pulse = compute_pulse(con, PulseConfig(unanswered_hours=48), as_of=AS_OF)
    assert [(u.source, u.thread_id, u.replies) for u in pulse.unanswered] == \
        [("desk", "d2", 0), ("forum", "2", 1)]
    assert [u.hours_waiting for u in pulse.unanswered] == [pytest.approx(96), pytest.approx(75)]
    assert pulse.unanswered[1].url == "https://forum.example.com/t/2"
    # a lower threshold brings in carol's 4-hour-old thread; a customer reply never answers one
    younger = compute_pulse(con, PulseConfig(unanswered_hours=3), as_of=AS_OF)
    assert [u.thread_id for u in younger.unanswered] == ["d2", "2", "3"]
    # the list keeps the oldest max_unanswered; the total counts them all
    few = compute_pulse(con, PulseConfig(unanswered_hours=3, max_unanswered=1), as_of=AS_OF)
    assert ([u.thread_id for u in few.unanswered], few.unanswered_total) == (["d2"], 3)
    # older than unanswered_days: left out (D2 is 4 days old)
    recent = compute_pulse(con, PulseConfig(unanswered_days=3.5), as_of=AS_OF)
    assert [u.thread_id for u in recent.unanswered] == ["2"]


def test_sources_filter_and_as_of(con):
    pulse = compute_pulse(con, PulseConfig(nights=1), as_of=AS_OF, sources=["desk"])
    assert [u.thread_id for u in pulse.unanswered] == ["d2"]
    assert _figures(compute_pulse(con, PulseConfig(nights=1), as_of=datetime(
        2026, 3, 9, 23, tzinfo=UTC), sources=["desk"]).periods[0]) == (2, 3, 3, 3, 2, 2)
    assert resolve_as_of(con, "latest") == AS_OF.replace(hour=8)  # carol's post, the newest


def test_refetched_ticket_replaces_its_replies(con):
    changed = {**DESK[1], "replies": [{"id": "d2-9", "author": "agent", "role": "staff",
                                       "created_at": "2026-03-10T09:00:00Z"}]}
    save_batch(con, "desk", Batch(items=[item_from_mapping(changed, max_body_chars=10_000)]),
               run_id="r2", salt="s")
    assert con.execute("SELECT reply_id FROM thread_replies WHERE thread_id = 'd2'").fetchall() \
        == [("d2-9",)]
    pulse = compute_pulse(con, PulseConfig(), as_of=AS_OF)
    assert [u.thread_id for u in pulse.unanswered] == ["2"]


def test_windows_are_whole_nights_and_iso_weeks():
    nights = period_windows(AS_OF, "night", count=2)
    assert [w[0].isoformat() for w in nights] == ["2026-03-09T00:00:00+00:00",
                                                 "2026-03-10T00:00:00+00:00"]
    weeks = period_windows(AS_OF, "week", since=datetime(2026, 2, 25, tzinfo=UTC))
    assert [w[0].strftime("%m-%d") for w in weeks] == ["02-23", "03-02", "03-09"]
