from datetime import UTC, datetime

import pytest

from feedback_pipeline.clean.stage import clean_pending
from feedback_pipeline.clean.text import Cleaned, clean_body, clean_item, clean_text, is_bot
from feedback_pipeline.config import CleanConfig
from feedback_pipeline.fingerprint import fingerprint as text_hash


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("<p>I need <b>dark mode</b>.</p><p>Please add it.</p>",
         "I need dark mode.\nPlease add it."),
        ("<p>Export fails.</p><blockquote><p>earlier message</p></blockquote><p>Still broken.</p>",
         "Export fails.\nStill broken."),
        ('<aside class="quote no-group" data-username="bob"><div class="title">bob:</div>'
         "<blockquote><p>what bob said</p></blockquote></aside><p>CSV export fails every time.</p>",
         "CSV export fails every time."),
        ('<aside class="onebox"><p>Link preview text</p></aside><p>See above.</p>',
         "Link preview text\nSee above."),
        ("<script>alert('x')</script><style>p {}</style>Search is slow", "Search is slow"),
        ("Fish &amp; chips &lt;3", "Fish & chips <3"),
        ("line one<br>line two<br/>line three", "line one\nline two\nline three"),
    ],
    ids=["tags", "blockquote", "discourse-quote", "other-aside-kept", "script-style", "entities",
         "br"],
)
def test_html_is_stripped(body, expected):
    assert clean_body(body) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("<!--<P>", ""),
        ("<p>Export fails.</p><!-- internal note <b>never shown</b>", "Export fails."),
        ("Export fails <!-- hidden --> every night", "Export fails every night"),
        ("<p>Export fails.</p><p class=\"note", "Export fails."),
        ("<p>Export fails.</p></p", "Export fails."),
        ("<p>Export fails.</p><!DOCTYPE", "Export fails."),
        ("<p>Export fails.</p><?xml", "Export fails."),
        ("<p>3 < 4 and 5 > 4</p>", "3 < 4 and 5 > 4"),
        ("<p>Sort a &lt; b</p>", "Sort a < b"),
        ("<p>write &amp;lt;b&amp;gt; for bold</p>", "write &lt;b&gt; for bold"),
    ],
    ids=["comment-at-eof", "comment-to-eof", "closed-comment", "tag-at-eof", "end-tag-at-eof",
         "declaration-at-eof", "instruction-at-eof", "loose-brackets", "entity-once",
         "entity-never-twice"],
)
def test_markup_left_open_at_the_end_is_dropped_as_a_browser_does(body, expected):
    assert clean_body(body) == expected


def test_plain_text_with_angle_brackets_is_left_alone():
    assert clean_body("if a < b and c > d then sort") == "if a < b and c > d then sort"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("See [the export docs](https://docs.example.com/export) for details",
         "See the export docs for details"),
        ("Look: ![screenshot](https://img.example.com/1.png) it breaks", "Look: it breaks"),
        ("**Bold** and *italic* and `inline code` text", "Bold and italic and inline code text"),
        ("## Heading\n- item one\n2. item two", "Heading\nitem one\nitem two"),
        ("Before\n```\nstack trace\n```\nafter", "Before\nafter"),
        ("Details at https://example.com/x?y=1 please", "Details at please"),
    ],
    ids=["link-keeps-text", "image", "emphasis-code", "heading-lists", "code-block", "bare-url"],
)
def test_markdown_is_reduced_to_text(body, expected):
    assert clean_body(body) == expected


@pytest.mark.parametrize(
    "reply",
    [
        "On Mon, 3 Jun 2024 at 10:00, Jane <jane@example.com> wrote:",
        "On Tuesday, Support Team wrote:",
        "-----Original Message-----",
        "From: Support <help@example.com>\nSent: Monday, June 3, 2024",
    ],
    ids=["gmail", "short", "outlook-original", "outlook-from-sent"],
)
def test_quoted_reply_is_cut(reply):
    body = f"The export still fails after the update.\n\n{reply}\n> earlier text\nmore earlier text"

    assert clean_body(body) == "The export still fails after the update."


def test_quote_lines_are_removed():
    body = ("> You said it was fixed\n> in 2.3\nIt is not fixed in 2.3.\n  > nested quote\n"
            "Still broken.")

    assert clean_body(body) == "It is not fixed in 2.3.\nStill broken."


@pytest.mark.parametrize(
    "signature",
    ["-- \nJane Doe\nACME Corp | +1 555 123 4567", "--\nJane", "Sent from my iPhone",
     "Sent from my Samsung Galaxy", "Get Outlook for iOS", "Kind regards,\nJane Doe\nACME"],
    ids=["dash-dash-space", "dash-dash", "iphone", "samsung", "outlook", "regards"],
)
def test_signature_is_cut(signature):
    body = f"Exports over 10k rows time out.\n\n{signature}"

    assert clean_body(body) == "Exports over 10k rows time out."


def test_text_is_not_cut_when_it_starts_with_a_marker():
    # A cut at position 0 would leave nothing; the whole text is kept instead.
    assert clean_body("Sent from my iPhone") == "Sent from my iPhone"


def test_control_characters_are_dropped_and_unicode_normalised():
    assert clean_body("ﬁle\u200bname\x07 is \uff21\uff22") == "filename is AB"


def test_title_is_not_repeated_when_the_body_starts_with_it():
    assert clean_text("Export fails", "Export fails for big reports") == (
        "Export fails for big reports")
    assert clean_text("Export", "It fails for big reports") == "Export\nIt fails for big reports"


def test_clean_text_is_capped_at_a_word_boundary():
    text = clean_text("", "word " * 1_000, max_chars=100)

    assert len(text) <= 100
    assert text.split() == ["word"] * len(text.split())


@pytest.mark.parametrize(
    "author", ["bot", "System", "dependabot[bot]", "jira-bot", "sync_bot", " automation "],
)
def test_bot_authors_are_dropped(author):
    cleaned = clean_item("Bump lodash", "Bumps lodash from 4.17.20 to 4.17.21", author,
                         CleanConfig())

    assert cleaned.drop_reason == "bot"
    assert is_bot(author, CleanConfig())


@pytest.mark.parametrize("author", [None, "", "alice", "robotics-fan", "abbot"])
def test_people_are_not_bots(author):
    assert not is_bot(author, CleanConfig())


@pytest.mark.parametrize(
    ("title", "body", "reason", "text"),
    [
        ("", "Thanks!", "too_short", "Thanks!"),
        ("", "Me too!", "too_short", "Me too!"),
        ("", "<blockquote>only a quote</blockquote>", "empty", ""),
        ("", "> just quoting\n> you", "empty", ""),
        ("Export", "fails for big reports", None, "Export\nfails for big reports"),
    ],
    ids=["thanks", "me-too", "only-html-quote", "only-md-quote", "kept"],
)
def test_drop_reasons(title, body, reason, text):
    assert clean_item(title, body, "alice", CleanConfig()) == Cleaned(text, reason)


def test_min_words_is_configurable():
    text = "Export is slow"
    assert clean_item("", text, None, CleanConfig(min_words=4)).drop_reason == "too_short"
    assert clean_item("", text, None, CleanConfig(min_words=3)).drop_reason is None


def _insert(con, external_id, *, title="", body="", bot=False, deleted=False, content_hash=None):
    con.execute(
        "INSERT INTO items (source, external_id, kind, author_is_bot, title, body, created_at, "
        "updated_at, deleted, content_hash) "
        "VALUES ('forum', ?, 'community_post', ?, ?, ?, ?, ?, ?, ?)",
        [external_id, bot, title, body, datetime(2024, 5, 1, tzinfo=UTC),
         datetime(2024, 5, 1, tzinfo=UTC), deleted, content_hash or f"h-{external_id}"],
    )


def test_clean_pending_sets_reason_and_text_hash(warehouse):
    _insert(warehouse, "keep", title="Export", body="<p>fails for <b>big</b> reports</p>")
    _insert(warehouse, "bot", body="Bumps lodash from 4.17.20 to 4.17.21", bot=True)
    _insert(warehouse, "short", body="Thanks!")
    _insert(warehouse, "empty", body="<blockquote>quoted only</blockquote>")
    _insert(warehouse, "deleted", body="This post was removed by its author", deleted=True)

    counts = clean_pending(warehouse, CleanConfig())

    assert counts == {"cleaned": 5, "kept": 1,
                      "dropped": {"bot": 1, "too_short": 1, "empty": 1, "deleted": 1}}
    rows = warehouse.execute(
        "SELECT external_id, clean_text, text_hash, drop_reason, clean_hash FROM items "
        "ORDER BY external_id"
    ).fetchall()
    bot_text = "Bumps lodash from 4.17.20 to 4.17.21"
    deleted_text = "This post was removed by its author"
    assert rows == [
        ("bot", bot_text, text_hash(bot_text), "bot", "h-bot"),
        ("deleted", deleted_text, text_hash(deleted_text), "deleted", "h-deleted"),
        ("empty", "", None, "empty", "h-empty"),
        ("keep", "Export\nfails for big reports", text_hash("Export\nfails for big reports"),
         None, "h-keep"),
        ("short", "Thanks!", text_hash("Thanks!"), "too_short", "h-short"),
    ]


def test_clean_pending_is_idempotent_and_recleans_edits(warehouse):
    _insert(warehouse, "a", body="Export fails for big reports")
    _insert(warehouse, "b", body="Search is slow on mobile")
    clean_pending(warehouse, CleanConfig())

    assert clean_pending(warehouse, CleanConfig()) == {"cleaned": 0, "kept": 0, "dropped": {}}

    warehouse.execute("UPDATE items SET body = 'Thanks!', content_hash = 'h-a2' "
                      "WHERE external_id = 'a'")
    assert clean_pending(warehouse, CleanConfig()) == {
        "cleaned": 1, "kept": 0, "dropped": {"too_short": 1}}
    assert warehouse.execute(
        "SELECT clean_text, drop_reason, clean_hash FROM items WHERE external_id = 'a'"
    ).fetchone() == ("Thanks!", "too_short", "h-a2")


def test_clean_pending_in_small_batches_equals_one_batch(warehouse, monkeypatch):
    """The items stream through in batches of ``batch_rows`` (issue #17: a million-item night
    never holds every text), and the outcome does not depend on the batch size."""
    from feedback_pipeline.clean import stage

    bodies = ["Export fails for big reports", "Thanks!", "<blockquote>quoted</blockquote>",
              "Search is slow on mobile", "Bumps lodash from 4.17.20 to 4.17.21",
              "La recherche est lente sur mobile depuis hier", "Dark mode please, my eyes hurt"]
    for n, body in enumerate(bodies):
        _insert(warehouse, f"i{n}", body=body, bot="lodash" in body)
    everything = "SELECT * FROM items ORDER BY external_id"
    whole = clean_pending(warehouse, CleanConfig())
    once = warehouse.execute(everything).fetchall()
    warehouse.execute("UPDATE items SET clean_hash = NULL, clean_text = NULL, text_hash = NULL, "
                      "drop_reason = NULL, language = NULL")
    sizes: list[int] = []
    real = stage.arrow_batches

    def recording(con, sql, params, rows):
        for batch in real(con, sql, params, rows):
            sizes.append(batch.num_rows)
            yield batch

    monkeypatch.setattr(stage, "arrow_batches", recording)
    assert clean_pending(warehouse, CleanConfig(), batch_rows=2) == whole
    assert warehouse.execute(everything).fetchall() == once
    assert max(sizes) <= 2 and sum(sizes) == len(bodies)


def test_text_hash_is_the_same_for_the_same_text():
    assert text_hash("Export fails") == text_hash("Export fails")
    assert text_hash("Export fails") != text_hash("Export fails!")
    assert len(text_hash("x")) == 32


def test_non_quote_aside_inside_a_quote_does_not_leak_the_quote():
    body = ('<blockquote><p>Earlier:</p><aside class="onebox">preview</aside>'
            "<p>the quoted private text</p></blockquote><p>My actual request.</p>")

    assert clean_body(body) == "My actual request."
