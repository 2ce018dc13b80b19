"""A whole night (``feedback-pipeline run``, the real flow) over two sources: a clean export and a
messy folder of exports in every shape real tools write. The run exits 0, every good record of
both sources is stored, every bad one is in ``rejected_items`` with its position and reason, the
totals reconcile, and placeholder dates (9999-12-31, 1970-01-01) move nothing."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from e2e.conftest import demo_subset
from typer.testing import CliRunner

from feedback_pipeline.cli import app

pytestmark = pytest.mark.slow

CSV_COLUMNS = ["kind", "external_id", "created_at", "updated_at", "title", "body", "author",
               "customer", "plan", "url"]


def _csv(records: list[dict]) -> str:
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, CSV_COLUMNS, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(records)
    return out.getvalue()


class Messy:
    """The messy source's folder: good records spread over four files, bad ones in between,
    and what each bad one's position is."""

    def __init__(self, folder: Path, good: list[dict], clean_id: str, newest: str) -> None:
        self.bad: dict[str, str] = {}  # position -> expected words of the reason
        self.good = {r["external_id"] for r in good}
        self.superseded = 0
        folder.mkdir()
        (folder / "empty.jsonl").write_bytes(b"")
        csv_part, jsonl_part, array_part = good[:40], good[40:80], good[80:]
        self._tickets_csv(folder / "tickets.csv", csv_part)
        self._posts_jsonl(folder / "posts.jsonl", jsonl_part, clean_id, newest)
        self._array_json(folder / "array.json", array_part)

    def _tickets_csv(self, path: Path, records: list[dict]) -> None:
        lines = _csv(records).splitlines(keepends=True)
        stray = 'support_ticket,stray,2026-11-02,,Login,"this quote never closes\r\n'
        wide = "support_ticket,wide,2026-11-02,,Too,many,fields,a,b,c,d,e\r\n"
        huge = 'support_ticket,huge,2026-11-02,,Big,"' + "spam " * 30_000 + '"\r\n'
        lines[10:10] = [stray]
        lines[20:20] = [wide, huge]
        self.bad.update({"tickets.csv:11": "an unterminated quote?", "tickets.csv:21": "row has",
                         "tickets.csv:22": "over the limit of 100,000"})
        path.write_bytes(b"\xef\xbb\xbf" + "".join(lines).encode("utf-8"))  # Excel's BOM

    def _posts_jsonl(self, path: Path, records: list[dict], clean_id: str, newest: str) -> None:
        post = {"kind": "community_post", "body": "Dark mode for the mobile app please",
                "created_at": "2026-10-01T10:00:00Z", "author": "mallory"}
        bad = [
            ("deep", b'{"kind": "community_post", "external_id": "deep", "body": '
             + b"[" * 50_000 + b"]" * 50_000 + b"}", "nested too deeply"),
            ("surrogate", json.dumps({**post, "external_id": "s1", "author": "Zo\ud83d"}),
             "unpaired surrogate"),
            ("fraction", json.dumps({**post, "external_id": "v1", "votes": 1.9}),
             "must be an integer"),
            ("bool", json.dumps({**post, "external_id": "v2", "votes": True}),
             "must be an integer"),
            ("dict-id", json.dumps({**post, "external_id": {"a": 1}}), "text or an integer"),
            ("nul-url", json.dumps({**post, "external_id": "n1", "url": "https://x/\x00"}),
             "NUL"),
            ("title", json.dumps({**post, "external_id": "t1", "title": "T" * 2_000_000}),
             "title is 2,000,000 characters"),
            ("never", json.dumps({**post, "external_id": "f1",
                                  "created_at": "9999-12-31T23:59:59Z"}), "in the future"),
            ("epoch", json.dumps({**post, "external_id": "e1",
                                  "created_at": "1970-01-01T00:00:00Z"}), "oldest accepted"),
            ("bad-date", json.dumps({**post, "external_id": "b1", "created_at": "31/12/2026"}),
             "not an ISO 8601"),
            ("hijack", json.dumps({**post, "external_id": clean_id, "source": "clean",
                                   "body": "HIJACK"}), "another configured source"),
            ("latin1", '{"kind": "community_post", "external_id": "l1", "body": "café", '
             '"created_at": "2026-10-01"}'.encode("latin-1"), "not valid utf-8"),
            ("garbage", b"}}} trailing garbage {{{", "malformed JSON"),
        ]
        lines: list[bytes] = [json.dumps(r).encode() for r in records]
        # one record twice: the later version (same updated_at) wins, the first is superseded
        first = {**records[0], "body": "an earlier version of this post"}
        lines.insert(0, json.dumps(first).encode())
        self.superseded += 1
        for n, (_, raw, _reason) in enumerate(bad):
            at = 3 + 3 * n
            lines.insert(at, raw if isinstance(raw, bytes) else raw.encode())
        path.write_bytes(b"\r\n".join(lines) + b"\r\n")
        for lineno, raw in enumerate(lines, start=1):
            for _, bad_raw, reason in bad:
                if raw == (bad_raw if isinstance(bad_raw, bytes) else bad_raw.encode()):
                    self.bad[f"posts.jsonl:{lineno}"] = reason

    def _array_json(self, path: Path, records: list[dict]) -> None:
        parts = [json.dumps(r, indent=2, ensure_ascii=False) for r in records]
        broken = '{\n  "kind": "community_post",\n  "external_id": "cut", "body": '  # cut off
        parts.insert(5, broken)
        text = "[\n" + ",\n".join(parts) + "\n]\nEOF\n"
        path.write_bytes(text.encode("utf-16"))  # with its BOM, as PowerShell writes
        self.bad[f"array.json:{text[: text.index(broken)].count(chr(10)) + 1}"] = \
            "malformed JSON"
        self.bad[f"array.json:{text.count(chr(10))}"] = "trailing data"  # the EOF line


def test_a_messy_night_stores_every_good_record_and_rejects_every_bad_one(prefect_harness,
                                                                           tmp_path):
    records = demo_subset(4)
    clean, messy_good = records[:120], records[120:240]
    for r in records:
        r.pop("source")
    (tmp_path / "clean.jsonl").write_text("".join(json.dumps(r) + "\n" for r in clean),
                                          encoding="utf-8")
    newest = max(r["created_at"] for r in records[:240])
    messy = Messy(tmp_path / "messy", messy_good, clean_id=clean[0]["external_id"],
                  newest=newest)
    config = tmp_path / "fp.toml"
    config.write_text(f"""
warehouse = "{tmp_path / 'wh.duckdb'}"
[[sources]]
name = "clean"
path = "{tmp_path / 'clean.jsonl'}"
[[sources]]
name = "messy"
path = "{tmp_path / 'messy'}"
[rank]
as_of = "latest"
[deliver]
outbox = "{tmp_path / 'outbox'}"
""", encoding="utf-8")

    result = CliRunner().invoke(app, ["run", "--config", str(config)])

    assert result.exit_code == 0, result.output
    n_in = len(clean) + len(messy_good) + len(messy.bad) + messy.superseded
    assert (f"records: {n_in} in = {len(clean) + len(messy_good)} stored + {len(messy.bad)} "
            f"rejected + {messy.superseded} superseded") in result.output
    con = duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True)
    try:
        items = {}
        for source, external_id, body in con.execute(
                "SELECT source, external_id, body FROM items").fetchall():
            items.setdefault(source, {})[external_id] = body
        reasons = dict(con.execute("SELECT position, reason FROM rejected_items "
                                   "WHERE source = 'messy'").fetchall())
        as_of = con.execute("SELECT json_extract_string(stats, '$.rank.as_of'), status, "
                            "started_at FROM runs").fetchall()
        last_seen = con.execute("SELECT min(last_seen), max(last_seen), count(*) FROM themes"
                                ).fetchone()
        digests = con.execute("SELECT delivery_key FROM deliveries WHERE sink = 'slack'"
                              ).fetchall()
    finally:
        con.close()

    assert set(items) == {"clean", "messy"}
    assert items["clean"] == {r["external_id"]: r["body"].strip() for r in clean}
    assert set(items["messy"]) == messy.good
    assert "HIJACK" not in items["clean"].values()
    assert set(reasons) == set(messy.bad), (sorted(reasons), sorted(messy.bad))
    for position, words in messy.bad.items():
        assert words in reasons[position], (position, reasons[position])

    # The placeholder dates moved nothing: as_of is the newest good record, no theme was last
    # seen after it, and the digest is dated by the run's own day.
    expected = datetime.fromisoformat(newest).astimezone(UTC)
    [(run_as_of, status, started)] = as_of
    assert status == "completed"
    assert datetime.fromisoformat(run_as_of) == expected <= datetime.now(UTC)
    assert last_seen[2] > 0 and last_seen[1] <= expected and last_seen[0].year >= 2000
    day = f"{started.astimezone(UTC):%Y-%m-%d}"
    assert digests == [(f"slack:digest:{day}",)]
    assert [p.name for p in (tmp_path / "outbox" / "slack").glob("digest-*.json")] == [
        f"digest-{day}.json"]

    status = CliRunner().invoke(app, ["status", "-w", str(tmp_path / "wh.duckdb")])
    assert f"rejected records: {len(messy.bad)} (messy {len(messy.bad)})" in status.output
    assert re.search(rf"{n_in} in = \d+ stored \+ {len(messy.bad)} rejected", status.output)
