"""The digest's community pulse block and the unanswered-first threads to answer, on the
hand-counted fixture (figures in tests/rank/test_pulse.py)."""

from __future__ import annotations

import json

from emulators.slack import validate_blocks
from pulse_threads import AS_OF, load_threads

from feedback_pipeline.config import SlackConfig
from feedback_pipeline.deliver.slack.digest import digest_preview
from feedback_pipeline.deliver.slack.queries import build_digest, community_threads
from feedback_pipeline.rank.pulse import PulseConfig


def _theme(con) -> None:
    """Theme 7 holds T1 (answered by staff, 9 votes) and T2 (unanswered, 1 vote)."""
    con.execute("INSERT INTO themes (theme_id, title, status) VALUES (7, 'CSV export', 'active')")
    for ext, votes in (("t1", 9), ("t2", 1)):
        con.execute("UPDATE items SET votes = ? WHERE external_id = ?", [votes, ext])
        con.execute("INSERT INTO item_themes (source, external_id, theme_id) "
                    "VALUES ('forum', ?, 7)", [ext])


def _pulse_text(digest: dict) -> str:
    blocks = [b for b in digest["blocks"] if "Community pulse" in json.dumps(b)]
    assert len(blocks) == 1
    return blocks[0]["text"]["text"]


def test_pulse_block_last_night_this_week_and_waiting(warehouse, make_ranked_theme):
    load_threads(warehouse)
    _theme(warehouse)
    digest = build_digest(warehouse, [make_ranked_theme(theme_id=7)], as_of=AS_OF, run_id="r",
                          config=SlackConfig(), pulse=PulseConfig(unanswered_hours=48))
    text = _pulse_text(digest)
    assert "Last night: 1 participant (1 new), 1 post, 0 replies; staff answered 0/1 " \
           "customer threads (0%)" in text
    assert "This week: 6 participants (5 new), 4 posts, 4 replies; staff answered 2/3 " \
           "customer threads (67%), first reply after 3.0 h (median)" in text
    waiting = text.split("2 customer threads waiting for a staff reply over 48 h; the oldest:")[1]
    assert waiting.index("desk.example.com/agent/tickets/d2") < \
        waiting.index("forum.example.com/t/2")
    assert "forum.example.com/t/3" not in waiting  # 4 h old
    assert validate_blocks(digest["blocks"], max_block_chars=3000) is None
    assert "Community pulse" in digest_preview(digest)


def test_pulse_block_respects_the_digest_sources_filter(warehouse, make_ranked_theme):
    load_threads(warehouse)
    digest = build_digest(warehouse, [make_ranked_theme(theme_id=7)], as_of=AS_OF, run_id="r",
                          config=SlackConfig(sources=["forum"]))
    text = _pulse_text(digest)
    # forum only, week of 03-09: T4 and T3 posted, dave replied; sam, dave, carol took part
    assert "This week: 3 participants (2 new), 2 posts, 1 reply; staff answered 0/1" in text
    assert "desk.example.com" not in text and "forum.example.com/t/2" in text


def test_no_pulse_block_when_switched_off_or_without_thread_data(warehouse, make_ranked_theme):
    theme = [make_ranked_theme(theme_id=7)]
    warehouse.execute("INSERT INTO items (source, external_id, kind, title, created_at, "
                      "updated_at, content_hash) VALUES ('s', '1', 'community_post', 'x', "
                      "now(), now(), 'h')")
    plain = build_digest(warehouse, theme, as_of=AS_OF, run_id="r", config=SlackConfig())
    assert "Community pulse" not in json.dumps(plain["blocks"])
    load_threads(warehouse)
    off = build_digest(warehouse, theme, as_of=AS_OF, run_id="r",
                       config=SlackConfig(pulse=False))
    assert "Community pulse" not in json.dumps(off["blocks"])


def test_threads_to_answer_put_unanswered_first(warehouse):
    load_threads(warehouse)
    _theme(warehouse)
    threads = community_threads(warehouse, 7, 3, SlackConfig())
    # T2 has fewer votes but no staff reply: it comes first, and says so
    assert [(t["url"], t["answered"]) for t in threads] == [
        ("https://forum.example.com/t/2", False), ("https://forum.example.com/t/1", True)]


def test_pulse_counts_up_to_the_runs_as_of_not_the_digest_day(warehouse, make_ranked_theme):
    """With rank.as_of = latest the digest is dated by the run's day, days after the newest item;
    the pulse still counts up to the run's as_of, as the ranking does."""
    load_threads(warehouse)
    later = AS_OF.replace(day=20)
    digest = build_digest(warehouse, [make_ranked_theme(theme_id=7)], as_of=later, run_id="r",
                          config=SlackConfig(), pulse_as_of=AS_OF)
    assert digest["date"] == "2026-03-20"
    assert "Last night: 1 participant (1 new), 1 post" in _pulse_text(digest)


def test_waiting_titles_are_redacted_and_escaped(warehouse, make_ranked_theme):
    load_threads(warehouse)
    warehouse.execute("UPDATE items SET title = '<!channel> mail bob@example.com' "
                      "WHERE external_id = 't2'")
    text = _pulse_text(build_digest(warehouse, [make_ranked_theme(theme_id=7)], as_of=AS_OF,
                                    run_id="r", config=SlackConfig()))
    assert "bob@example.com" not in text and "<!channel>" not in text
