"""Bad input: property-based tests (hypothesis) of every payload-to-row mapping, the record
validation, the file source, ingest and the cleaner.

Payloads are shaped like the recorded ones (tests/connectors/payloads/) but every field may be
missing or null, and texts and dates are hostile: random Unicode, RTL, emoji, control characters,
lone surrogates, nested and broken HTML, huge texts, invalid and out-of-range dates.

The contract checked everywhere: a mapping returns either a valid :class:`Item` or a
:class:`Rejection` naming the record (its position) and the cause; it raises nothing. Ingest keeps
every rejected record with its reason, so accepted + rejected == what came in.

``FP_HYPOTHESIS_EXAMPLES`` sets the examples per property (default 150); the hypothesis profile
(tests/conftest.py: "ci" in CI and `make test`, derandomized) decides the draws. Every failure a
property found is pinned as an ``@example``. Run with ``--hypothesis-show-statistics`` for the
counts.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from feedback_pipeline.clean.text import PART_SEPARATOR, clean_item
from feedback_pipeline.config import CleanConfig, FileSourceConfig
from feedback_pipeline.errors import RecordError
from feedback_pipeline.ingest.discourse.mapping import map_topic
from feedback_pipeline.ingest.files import FileSource
from feedback_pipeline.ingest.github.mapping import map_discussion, map_issue
from feedback_pipeline.ingest.intercom.mapping import map_conversation
from feedback_pipeline.ingest.slack.mapping import is_skipped, map_message
from feedback_pipeline.ingest.stage import ingest
from feedback_pipeline.ingest.zendesk.mapping import map_ticket, organisations, public_replies
from feedback_pipeline.records import KINDS, Item, RecordRules, Rejection, item_from_mapping
from feedback_pipeline.warehouse import db

pytestmark = pytest.mark.reliability

EXAMPLES = int(os.environ.get("FP_HYPOTHESIS_EXAMPLES", "150"))
LIMIT = 20_000  # max_body_chars: small, so over-long bodies are cheap to generate
PROPERTY = settings(
    max_examples=EXAMPLES, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much],
)

# -- hostile text -------------------------------------------------------------------------------

NASTY = [
    "\u202eevil\u202c", "\u200f\u200e", "مرحبا، التصدير لا يعمل", "שלום עולם", "👍🏽", "👨‍👩‍👧‍👦",
    "🏳️‍🌈", "\x00", "\x1b[31mred\x1b[0m", "\r\n", "\r", "\x7f", "\x85", "\u2028", "\u2029",
    "\ufeff", "\ud83d", "\udc80", "Z̷̡a̴͎l̶̛g̵o̸", "ｆｕｌｌｗｉｄｔｈ", "ﬁ", "&amp;", "&#0;", "&#x0;",
    "&nbsp;", "&#x1F44D;", "&#1;", "&#127;", "&#x85;", "&#xD800;", "&gt;", "&eacute;", "&bogus;",
    "<", ">", "&", "<!--", "]]>", "-- ", "\n-- \n", "> quoted\n",
    "\nOn Mon, 1 Jan 2024 Bob wrote:\n", PART_SEPARATOR, "```code```", "[link](http://x.example)",
    "https://example.com/?token=abc", "{{7*7}}", "' OR 1=1 --", "\t", " ", "",
]
TAGS = ["p", "div", "span", "b", "i", "a", "br", "li", "ul", "pre", "code", "h1", "table", "tr",
        "td", "blockquote", "aside", "script", "style", "svg", "template", "head", "img"]
ATTRS = ["", ' class="quote"', ' href="javascript:alert(1)"', " data-x='&quot;>'", " onclick=x()"]

plain = st.text(max_size=60) | st.sampled_from(NASTY)
html = st.recursive(
    plain,
    lambda inner: st.builds(
        lambda tag, attrs, kids, close: f"<{tag}{attrs}>{''.join(kids)}" + (f"</{tag}>" * close),
        st.sampled_from(TAGS), st.sampled_from(ATTRS), st.lists(inner, max_size=4),
        st.sampled_from([1, 1, 1, 0, 2]),  # closed, unclosed, closed twice
    ),
    max_leaves=25,
)
huge = st.builds(lambda piece, n: piece * n,
                 st.sampled_from(["a", "é ", "👍", "<p>x</p>", "word ", "\u202e", "> q\n"]),
                 st.integers(LIMIT // 8, LIMIT * 3 // 2))
texts = st.one_of(plain, html, st.lists(plain | html, max_size=6).map("".join), huge)

# -- hostile dates ------------------------------------------------------------------------------

_when = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30))
iso_dates = st.builds(
    lambda dt, fmt: fmt(dt), _when,
    st.sampled_from([
        lambda d: d.isoformat(), lambda d: d.isoformat() + "Z",
        lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.000Z"), lambda d: d.isoformat() + "+14:00",
        lambda d: d.isoformat() + "-12:00", lambda d: d.strftime("%Y-%m-%d"),
    ]),
)
bad_dates = st.sampled_from([
    "", " ", "yesterday", "2024-13-45T99:99:99Z", "2024-02-30T00:00:00Z", "0000-00-00",
    "+275760-09-13T00:00:00Z", "1e400", "NaN", "2024-05-01T10:00:00ZZ", "2024-05-01 10:00",
    "\u0662\u0660\u0662\u0664-05-01", "-1", "1714550400",
])
# Epochs in and far beyond what a datetime holds (years 1-9999): the latter are rejected.
epochs = (st.integers(-(2**64), 2**64) | st.integers(0, 4_102_444_800)
          | st.floats(allow_nan=True, allow_infinity=True))
dates = st.one_of(iso_dates, bad_dates, epochs, st.text(max_size=25), st.none(), st.booleans(),
                  st.lists(st.integers(), max_size=2))

ids = st.integers(-(2**40), 2**53) | st.none()
str_ids = st.text(max_size=20) | ids.map(lambda i: None if i is None else str(i))
names = st.none() | st.sampled_from(["alice", "bob[bot]", "system", "ghost"]) | plain


def shaped(fields: dict[str, st.SearchStrategy], *, null: bool = True) -> st.SearchStrategy[dict]:
    """A payload whose every field may be missing (``optional``) or, with ``null``, null."""
    return st.fixed_dictionaries(
        {}, optional={k: v | st.none() if null else v for k, v in fields.items()})


# -- the contract -------------------------------------------------------------------------------

def check_row(row: Item | Rejection, *, source: str, names_record: str) -> None:
    """A valid item, or a rejection naming the record and the cause."""
    if isinstance(row, Rejection):
        event(f"rejected: {re.sub(r'[:(].*', '', row.reason)[:60]}")
        assert row.reason.strip()
        assert names_record in row.position
        assert row.source == source
        assert isinstance(row.raw, str) and row.raw  # whole; ingest stores 2,000 characters
        return
    event("accepted")
    assert isinstance(row, Item)
    assert row.source == source.strip() and row.kind in KINDS and row.external_id
    assert row.title.strip() or row.body.strip()
    assert len(row.body) <= LIMIT
    for text in (row.title, row.body):
        assert "\x00" not in text
        text.encode("utf-8")  # no lone surrogate reaches the warehouse
    assert row.created_at.tzinfo is not None and row.updated_at >= row.created_at
    assert isinstance(row.votes, int) and all(isinstance(t, str) and t for t in row.tags)


# -- connectors ---------------------------------------------------------------------------------

discourse_post = shaped({
    "id": ids, "post_number": st.integers(1, 5), "post_type": st.sampled_from([1, 1, 1, 2, 3, 4]),
    "username": names, "user_id": st.integers(-3, 10**6), "created_at": dates,
    "updated_at": dates, "deleted_at": dates, "cooked": texts, "raw": texts,
    # Counts are never null in Discourse's answers (missing is handled: 0).
    "actions_summary": st.lists(shaped({"id": st.integers(1, 8), "count": st.integers(0, 10**6)},
                                       null=False), max_size=3),
})
discourse_topic = shaped({
    "id": ids, "title": texts, "slug": plain, "category_id": ids,
    "tags": st.lists(plain, max_size=4), "deleted_at": dates,
})


@PROPERTY
@given(topic=discourse_topic, posts=st.lists(discourse_post, max_size=4),
       changed_after=st.none() | iso_dates)
def test_discourse_posts_map_to_items_or_rejections(topic, posts, changed_after):
    rows = map_topic(topic, posts, source="forum", base_url="https://forum.example",
                     changed_after=changed_after, max_body_chars=LIMIT)

    for row in rows:
        check_row(row, source="forum", names_record=f"topic:{topic.get('id')}/post:")


github_issue = shaped({
    "number": ids, "title": texts, "body": texts, "html_url": plain, "created_at": dates,
    "updated_at": dates, "user": shaped({"login": names, "type": st.sampled_from(["User", "Bot"])}),
    "labels": st.lists(shaped({"name": plain}), max_size=3),
    "reactions": shaped({"+1": st.integers(0, 10**9)}), "comments": st.integers(0, 10**4),
})


@PROPERTY
@given(issue=github_issue)
def test_github_issues_map_to_items_or_rejections(issue):
    row = map_issue(issue, source="github", repo="acme/app", max_body_chars=LIMIT)

    check_row(row, source="github", names_record=f"acme/app#{issue.get('number')}")


github_discussion = shaped({
    "number": ids, "title": texts, "body": texts, "url": plain, "createdAt": dates,
    "updatedAt": dates, "upvoteCount": st.integers(0, 10**6),
    "author": shaped({"login": names, "__typename": st.sampled_from(["User", "Bot"])}),
    "category": shaped({"name": plain}),
})


@PROPERTY
@given(node=github_discussion)
def test_github_discussions_map_to_items_or_rejections(node):
    row = map_discussion(node, source="github", repo="acme/app", max_body_chars=LIMIT)

    check_row(row, source="github", names_record=f"acme/app/discussions/{node.get('number')}")


zendesk_ticket = shaped({
    "id": ids, "subject": texts, "description": texts,
    "status": st.sampled_from(["new", "open", "pending", "solved", "closed", "deleted"]),
    "tags": st.lists(plain, max_size=4), "via": shaped({"channel": plain}),
    "requester_id": ids, "organization_id": ids, "created_at": dates, "updated_at": dates,
})
zendesk_comment = shaped({"id": ids, "public": st.booleans(), "body": texts,
                          "plain_body": texts, "created_at": dates})


@PROPERTY
@given(ticket=zendesk_ticket, comments=st.lists(zendesk_comment, max_size=5),
       orgs=st.lists(st.fixed_dictionaries({"id": st.integers(0, 10**6)},
                                           optional={"name": plain | st.none()}), max_size=3))
def test_zendesk_tickets_with_comments_map_to_items_or_rejections(ticket, comments, orgs):
    replies = public_replies(comments, limit=3)
    row = map_ticket(ticket, source="zendesk", base_url="https://acme.zendesk.com",
                     orgs=organisations({"organizations": orgs}), max_body_chars=LIMIT,
                     replies=replies)

    check_row(row, source="zendesk", names_record=f"ticket:{ticket.get('id')}")
    assert len(replies) <= 3


intercom_author = shaped({"type": st.sampled_from(["user", "lead", "contact", "admin", "bot"]),
                          "id": str_ids})
intercom_conversation = shaped({
    "id": str_ids, "title": texts, "created_at": dates, "updated_at": dates,
    "source": shaped({"subject": texts, "body": texts, "author": intercom_author}),
    "tags": shaped({"tags": st.lists(shaped({"name": plain}), max_size=3)}),
    "conversation_parts": shaped({"conversation_parts": st.lists(shaped({
        "part_type": st.sampled_from(["comment", "note", "assignment", "close"]),
        "body": texts, "author": intercom_author}), max_size=4)}),
})


@PROPERTY
@given(conversation=intercom_conversation)
def test_intercom_conversations_map_to_items_or_rejections(conversation):
    row = map_conversation(conversation, source="intercom", app_url="https://app.intercom.com/a",
                           max_body_chars=LIMIT)

    check_row(row, source="intercom", names_record=f"conversation:{conversation.get('id')}")


# Slack's ts is "<epoch seconds>.<6 digits>" in every message the API returns; the connector
# relies on it for its cursor, so it is generated in that shape with random (also absurd) values.
slack_ts = st.builds(lambda s, us: f"{s}.{us:06d}", st.integers(0, 10**11), st.integers(0, 999_999))
slack_message = st.fixed_dictionaries(
    {"ts": slack_ts},
    optional={"type": st.just("message"), "user": names | st.none(), "text": texts | st.none(),
              "subtype": st.sampled_from([None, "thread_broadcast", "file_share", "me_message",
                                          "tombstone", "channel_join", "bot_message"]),
              "bot_id": st.none() | st.just("B1"), "thread_ts": slack_ts | st.none(),
              "edited": shaped({"ts": slack_ts}),
              "reactions": st.lists(shaped({"name": st.sampled_from(["+1", "thumbsup", "eyes"]),
                                            "count": st.integers(0, 10**6)}, null=False),
                                    max_size=3)},
)


@PROPERTY
@given(message=slack_message)
def test_slack_messages_map_to_items_or_rejections(message):
    if is_skipped(message):
        event("skipped (bot / join)")
        return
    row = map_message(message, source="slack", channel="C0COMMUNITY",
                      workspace_url="https://acme.slack.com", max_body_chars=LIMIT)

    check_row(row, source="slack", names_record=f"C0COMMUNITY:{message['ts']}")


# -- records and the file source ----------------------------------------------------------------

record = shaped({
    "source": plain, "kind": st.sampled_from([*KINDS, "community_post ", "Ticket", ""]),
    "external_id": str_ids, "url": plain, "author": names, "title": texts, "body": texts,
    "created_at": dates, "updated_at": dates,
    "tags": st.lists(plain, max_size=3) | plain, "votes": st.integers(-(2**40), 2**40)
    | st.floats() | st.sampled_from([float("nan"), float("inf"), "1e12"]) | plain,
    "customer": plain, "plan": plain, "deleted": st.booleans() | plain,
    "is_bot": st.booleans(), "likes": st.integers(0, 100),
})


@PROPERTY
@given(raw=record | st.lists(plain) | plain | st.none())
def test_item_from_mapping_returns_an_item_or_raises_record_error(raw):
    try:
        item = item_from_mapping(raw, max_body_chars=LIMIT)
    except RecordError as exc:
        event(f"rejected: {re.sub(r'[:(].*', '', exc.reason)[:60]}")
        assert exc.reason.strip()
        return
    check_row(item, source=str(raw["source"]), names_record="")


def _lines(records: list) -> list[str]:
    """JSONL lines; each starts with its index so no two lines are the same record."""
    lines = []
    for i, rec in enumerate(records):
        if isinstance(rec, dict):
            rec = {"line": i, **rec}
            if rec.get("external_id") is not None:
                rec["external_id"] = f"{i}:{rec['external_id']}"  # unique after strip()
            lines.append(json.dumps(rec))  # ASCII: lone surrogates travel as \\udxxx escapes
        else:
            lines.append(f"{i} {rec}")  # not JSON, or not an object
    return lines


@pytest.fixture(scope="module")
def memory_warehouse():
    """One in-memory warehouse, emptied before each example (applying the schema costs ~0.3 s)."""
    con = db.connect(":memory:")
    yield con
    con.close()


@PROPERTY
@given(records=st.lists(record | st.sampled_from(["{", "[1, 2]", '"text"', "null", "{'a': 1}"]),
                        min_size=1, max_size=12))
def test_ingest_keeps_every_record_accepted_or_rejected_with_its_reason(records, memory_warehouse):
    con = memory_warehouse
    for table in ("items", "rejected_items", "source_cursors"):
        con.execute(f"DELETE FROM {table}")
    lines = _lines(records)
    expected: dict[str, bool] = {}  # position -> accepted
    for lineno, line in enumerate(lines, start=1):
        try:
            parsed = json.loads(line)
            if isinstance(parsed, dict) and not parsed.get("source"):
                parsed["source"] = "file"  # as the file source fills it in
            item = item_from_mapping(parsed, max_body_chars=LIMIT)
            # and the run's date window and size limits (ingest's defaults)
            expected[f"r.jsonl:{lineno}"] = RecordRules(now=datetime.now(UTC)).check(item) is None
        except (RecordError, ValueError):
            expected[f"r.jsonl:{lineno}"] = False
    with TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.jsonl"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        stats = ingest(con, [FileSource(FileSourceConfig(name="file", path=path),
                                        max_body_chars=LIMIT)], run_id="r1").sources["file"]
    accepted = con.execute("SELECT count(*) FROM items").fetchone()[0]
    rejected = dict(con.execute(
        "SELECT position, reason FROM rejected_items WHERE source = 'file'").fetchall())

    event(f"accepted {sum(expected.values())} of {len(lines)}")
    assert stats.error is None
    assert stats.fetched == len(lines)
    assert accepted + stats.rejected == len(lines)
    assert accepted == sum(expected.values())
    assert set(rejected) == {pos for pos, ok in expected.items() if not ok}
    assert all(reason.strip() for reason in rejected.values())


# -- the cleaner --------------------------------------------------------------------------------

_TAG = re.compile(r"</?(?:{})\b[^<>]*>".format("|".join(TAGS)), re.I)


def no_controls(text: str) -> bool:
    """No character of Unicode category C (control, format, surrogate, private, unassigned)
    but newline and tab: what the cleaner's ``_normalise_unicode`` promises."""
    return all(ch in "\n\t" or unicodedata.category(ch)[0] != "C" for ch in text)


# Found by the property (an unterminated comment was passed on as text, tags and all), and the
# shrinker's variants of it, decoded from the example database.
_ZALGO = "Z\u0337\u0321a\u0334\u034el\u0336\u031bg\u0335o\u0338"
_FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"
_ODD = "3\U00082133\x82\xb9\xbeD\xa3):z\xd9"
_AUTHOR = "\xba\U0008d8da\U000ceb4d\U0005d915\xd1"
CLEANER_FOUND = [
    *({"title": "", "body": body, "author": None, "max_chars": 10, "min_words": 0}
      for body in ["<!--<P>", "<!--<p>", "0<!--<p>", "00<!--<p>", "0><!--<p>", "<><!--<p>",
                   "<p><!--<p>", "<p><!--</p>"]),
    {"title": "<p><!--</p>", "body": "", "author": None, "max_chars": 10, "min_words": 0},
    {"title": "<p><!--</p>", "body": "", "author": None, "max_chars": 354, "min_words": 0},
    {"title": f"<p>{_ODD}<!--</p>", "body": "", "author": None, "max_chars": 354, "min_words": 0},
    {"title": f"<p>{_ODD}<!--</p>", "body": "", "author": None, "max_chars": 354, "min_words": 4},
    {"title": f"<p>{_ODD}<!--</p>", "body": "", "author": _AUTHOR, "max_chars": 512,
     "min_words": 4},
    {"title": f"<p>{_ODD}<!--</p>", "body": _ZALGO, "author": _AUTHOR, "max_chars": 512,
     "min_words": 4},
    *({"title": f"<{tag}{attr}>{_ODD}<!--{_FAMILY}</{tag}>", "body": _ZALGO, "author": _AUTHOR,
       "max_chars": 512, "min_words": 4}
      for tag, attr in [("p", ""), ("p", ' href="javascript:alert(1)"'),
                        ("br", ' href="javascript:alert(1)"')]),
]


def pinned(found: list[dict]):
    """Apply ``@example(**kwargs)`` for each of ``found``."""
    def wrap(test):
        for kwargs in reversed(found):
            test = example(**kwargs)(test)
        return test
    return wrap


@PROPERTY
@pinned(CLEANER_FOUND)
@given(title=texts, body=texts, author=names,
       max_chars=st.integers(10, 3_000), min_words=st.integers(0, 5))
def test_cleaner_never_crashes_and_leaves_no_control_chars_or_tags(title, body, author,
                                                                   max_chars, min_words):
    config = CleanConfig(max_chars=max_chars, min_words=min_words)

    cleaned = clean_item(title, body, author, config)

    event(f"drop: {cleaned.drop_reason}")
    assert cleaned.drop_reason in (None, "bot", "empty", "too_short")
    assert len(cleaned.text) <= max_chars
    assert no_controls(cleaned.text), repr(cleaned.text)
    assert not _TAG.search(cleaned.text), cleaned.text
    assert (cleaned.drop_reason == "empty") == (not cleaned.text and cleaned.drop_reason != "bot")


# -- bugs the properties above found (now fixed), pinned as examples ---------------------------

OUT_OF_RANGE_DATES = [1e20, -1e20, 2**63, float("nan"), float("inf"),
                      "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"]


@pytest.mark.parametrize("created_at", OUT_OF_RANGE_DATES, ids=repr)
def test_out_of_range_dates_are_rejected_not_raised(created_at, tmp_path):
    line = json.dumps({"kind": "community_post", "external_id": "x", "body": "b",
                       "created_at": created_at})
    path = tmp_path / "r.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    con = db.connect(":memory:")
    try:
        stats = ingest(con, [FileSource(FileSourceConfig(name="file", path=path))],
                       run_id="r1").sources["file"]
    finally:
        con.close()

    assert (stats.error, stats.rejected) == (None, 1)


@pytest.mark.parametrize("entity", ["&#13;", "&#x202e;", "&#xfeff;", "&#xe000;"])
def test_entity_encoded_control_characters_are_removed(entity):
    cleaned = clean_item("", f"<p>export{entity}fails badly today</p>", None, CleanConfig())

    assert no_controls(cleaned.text), repr(cleaned.text)


def test_two_long_rejected_records_are_both_kept(tmp_path):
    body = "x" * 2_500
    lines = [json.dumps({"body": body, "kind": "community_post", "external_id": str(n)})
             for n in (1, 2)]  # both lack created_at; they differ only after character 2,000
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    con = db.connect(":memory:")
    try:
        stats = ingest(con, [FileSource(FileSourceConfig(name="file", path=path))],
                       run_id="r1").sources["file"]
        kept = con.execute("SELECT count(*), max(length(raw)) FROM rejected_items").fetchone()
    finally:
        con.close()

    assert (stats.rejected, *kept) == (2, 2, 2_000)


def test_votes_over_int32_are_rejected(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps({"kind": "community_post", "external_id": "x", "body": "b",
                                "created_at": "2024-05-01T00:00:00Z", "votes": "1e12"}) + "\n",
                    encoding="utf-8")
    con = db.connect(":memory:")
    try:
        stats = ingest(con, [FileSource(FileSourceConfig(name="file", path=path))],
                       run_id="r1").sources["file"]
    finally:
        con.close()

    assert (stats.error, stats.rejected) == (None, 1)
