"""Ten simulated nights on the demo data: the real pipeline stages, the real Jira sink against
the Jira emulator, the real Slack sink against the Slack emulator, with injected failures.

Nights are the last ten days of demo/feedback_demo.jsonl (its last 30 days are used, to keep
the test under a few minutes); night k sees the records created up to the end of its day.
Night 6 is a "source down" night (no new record): a documented quiet night, posted as one line.
After night 4 the Jira issue of a theme with community threads moves to Done in the Jira
emulator; night 5's digest lists that theme as shipped with its threads.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from feedback_pipeline import pipeline
from feedback_pipeline.config import Settings
from feedback_pipeline.deliver.jira import JiraSink
from feedback_pipeline.deliver.slack.queries import community_threads, digest_counts
from feedback_pipeline.embed import embedder as embed_module
from feedback_pipeline.errors import SinkError
from feedback_pipeline.warehouse import db
from feedback_pipeline.warehouse.runs import Run, finish_run, start_run

pytestmark = pytest.mark.slow

DEMO = Path(__file__).resolve().parents[2] / "demo" / "feedback_demo.jsonl"
FIRST_NIGHT = datetime(2026, 11, 11, 23, 59, tzinfo=UTC)
SOURCE_DOWN = 6        # no new data that night
SHIPPED_AFTER = 4      # the Jira issue moves to Done between nights 4 and 5


def _write_slice(path: Path, records: list[dict], until: datetime) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for r in records:
            if datetime.fromisoformat(r["created_at"]) <= until:
                fh.write(json.dumps(r) + "\n")


def _settings(tmp_path: Path, slack_settings, as_of: datetime, jira_url: str) -> Settings:
    return Settings.model_validate({
        "warehouse": tmp_path / "wh.duckdb",
        "sources": [{"name": "demo", "path": tmp_path / "slice.jsonl"}],
        "rank": {"as_of": as_of},
        "deliver": {"dry_run": False, "outbox": tmp_path / "outbox",
                    "slack": slack_settings(top_n=5).model_dump(), "jira": {"server": jira_url}},
    })


def _run_night(con, settings, embedder, jira_settings) -> tuple[Run, list[dict], datetime, dict]:
    run = Run(con, start_run(con), settings.rank.as_of)
    run.stats["ingest"] = pipeline.stage_ingest(run, settings)
    pipeline.stage_clean(run, settings)
    pipeline.stage_embed(run, settings)
    run.stats["cluster"] = pipeline.stage_cluster(run, settings)
    ranking = pipeline.stage_rank(run, settings)
    JiraSink(jira_settings, embedder=embedder).deliver(run, ranking)
    # The header's counts, as the digest reads them from the warehouse.
    totals = digest_counts(con, ranking, as_of=run.as_of, config=settings.deliver.slack)
    return run, ranking, run.as_of, totals


def _finish_night(con, run: Run) -> None:
    """Mark the night's run completed (as the flow does), so the next night's digest counts
    only the items that night ingested. Only the digest date is recorded: no cluster stats, so
    every night still re-clusters fully, as before."""
    finish_run(con, run.run_id, {"rank": {"as_of": run.as_of.isoformat()}})


def _main_posts(emu) -> list:
    return [r for r in emu.ok_calls("chat.postMessage") if not r.params.get("thread_ts")]


def test_ten_nights(tmp_path, embedder, slack_emulator, slack_settings, cloud_emu, make_settings):
    records = [r for r in map(json.loads, DEMO.read_text(encoding="utf-8").splitlines())
               if datetime.fromisoformat(r["created_at"]) >= FIRST_NIGHT - timedelta(days=21)]
    jira_settings = make_settings(cloud_emu, top_n=5, backlog_match=False)
    con = db.connect(tmp_path / "wh.duckdb")
    embed_module._cached.cache_clear()
    nights: dict[int, dict] = {}
    shipped_theme = expected_threads = None
    for k in range(1, 11):
        as_of = FIRST_NIGHT + timedelta(days=k - 1)
        if k != SOURCE_DOWN:
            _write_slice(tmp_path / "slice.jsonl", records, as_of)
        settings = _settings(tmp_path, slack_settings, as_of, cloud_emu.url)
        if k == 2:   # throttled: the SDK waits Retry-After and retries
            slack_emulator.rate_limit("chat.postMessage", times=2, retry_after=0)
        if k == 3:   # the app was removed from the channel: the flow task fails, then retries
            slack_emulator.fail("chat.postMessage", "not_in_channel")
        run, ranking, as_of, totals = _run_night(con, settings, embedder, jira_settings)
        try:
            out = pipeline.stage_deliver(run, settings, ranking)["slack"]
        except SinkError as exc:
            assert k == 3 and "/invite @<your app>" in str(exc)
            status = con.execute("SELECT status FROM deliveries WHERE delivery_key = ?",
                                 [f"slack:digest:{as_of:%Y-%m-%d}"]).fetchone()[0]
            assert status == "failed"  # kept, not lost: the retry delivers it
            out = pipeline.stage_deliver(run, settings, ranking)["slack"]
        if k == 4:   # crash after Slack answered, before the ts was stored; the flow reruns
            con.execute("UPDATE slack_digests SET status = 'pending', ts = NULL, reply_ts = NULL "
                        "WHERE digest_date = ?", [as_of.date()])
            again = pipeline.stage_deliver(run, settings, ranking)["slack"]
            assert again["ts"] == out["ts"]
        if k == 7:   # the whole night is rerun: same digest date, so update, never repost
            _finish_night(con, run)
            run, ranking, as_of, totals = _run_night(con, settings, embedder, jira_settings)
            rerun = pipeline.stage_deliver(run, settings, ranking)["slack"]
            assert rerun["slack"] in ("updated", "unchanged") and rerun["ts"] == out["ts"]
        _finish_night(con, run)
        nights[k] = {"out": out, "totals": totals, "date": f"{as_of:%Y-%m-%d}",
                     "ranking": ranking}
        if k == SHIPPED_AFTER:
            with_issue = dict(con.execute("SELECT theme_id, issue_key FROM jira_issues").fetchall())
            shipped_theme = next(t["theme_id"] for t in ranking if t["theme_id"] in with_issue
                                 and community_threads(con, t["theme_id"], 1))
            expected_threads = [t["url"] for t in community_threads(
                con, shipped_theme, settings.deliver.slack.threads_per_theme)]
            cloud_emu.close_issue(with_issue[shipped_theme], "Done",
                                  at=as_of + timedelta(hours=12))

    # Ten digests (night 6 a documented quiet night), one main message per date, no duplicates.
    assert nights[SOURCE_DOWN]["totals"]["new_items"] == 0
    assert nights[SOURCE_DOWN]["out"]["quiet"] is True
    assert all(not n["out"]["quiet"] for k, n in nights.items() if k != SOURCE_DOWN)
    main = [m for m in slack_emulator.channel_messages() if "thread_ts" not in m]
    keys = [m["metadata"]["event_payload"]["digest_key"] for m in main]
    assert len(main) == 10 and len(set(keys)) == 10
    assert len(_main_posts(slack_emulator)) == 10
    replies = [m for m in slack_emulator.channel_messages() if "thread_ts" in m]
    assert len(replies) == 9 and len({m["thread_ts"] for m in replies}) == 9  # none when quiet
    rows = con.execute("SELECT status, count(*) FROM slack_digests GROUP BY ALL").fetchall()
    assert rows == [("sent", 10)]
    assert len(list((tmp_path / "outbox" / "slack").glob("digest-*.json"))) == 10

    # Shipped: listed on night 5 with the theme's community threads, and only then.
    by_date = {m["metadata"]["event_payload"]["digest_key"][-10:]: m for m in main}
    night5 = json.dumps(by_date[nights[SHIPPED_AFTER + 1]["date"]]["blocks"])
    shipped = night5[night5.index("Shipped"):]
    assert expected_threads and all(url in shipped for url in expected_threads)
    assert sum("Shipped" in json.dumps(m["blocks"]) for m in main) == 1
    assert con.execute("SELECT announced_in FROM slack_shipped WHERE theme_id = ?",
                       [shipped_theme]).fetchone()[0].endswith(nights[SHIPPED_AFTER + 1]["date"])
    # Jira links in the top themes once issues exist.
    top_key = dict(con.execute("SELECT theme_id, issue_key FROM jira_issues").fetchall())[
        nights[10]["ranking"][0]["theme_id"]]
    link = f"{cloud_emu.url.rstrip('/')}/browse/{top_key}|{top_key}>"
    assert link in json.dumps(main[-1]["blocks"])
    con.close()
