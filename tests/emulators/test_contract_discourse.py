"""Discourse: the emulator and the connector against Discourse's OpenAPI description.

Known deviations of the description (waived by name below, nothing else is):
- ``page`` on ``/latest.json`` is not described, though ``topic_list.more_topics_url``
  (``/latest?page=1``) is how Discourse itself pages; we send it as that URL does.
- ``post_ids[]`` of ``/t/{id}/posts.json`` is described as a JSON body of a GET; HTTP clients
  send no body on GET and Discourse reads the same parameter from the query string.
- ``reply_to_post_number`` is described as a string, while Discourse's serializer sends the
  post number (an integer) or null.
"""

from __future__ import annotations

import pytest

from emulators.contract import Deviation, check_exchanges, spec
from emulators.discourse import DiscourseEmulator
from feedback_pipeline.clean.text import clean_body
from feedback_pipeline.ingest.discourse.config import DiscourseSourceConfig
from feedback_pipeline.ingest.discourse.fetch import DiscourseSource
from feedback_pipeline.ingest.stage import ingest

DEVIATIONS = (
    Deviation("GET /latest.json", r"query parameter 'page' is not described",
              "paging by ?page=N follows more_topics_url, which the description omits"),
    Deviation("GET /t/{id}/posts.json", r"query parameter 'post_ids\[\]' is not described",
              "described as a GET body; sent (and read by Discourse) as query parameters"),
    Deviation("*", r"reply_to_post_number: \[type=\['string', 'null'\]\] \d+ is not of type",
              "Discourse serialises reply_to_post_number as an integer"),
)
CONSUMED = {"GET /posts.json", "GET /latest.json", "GET /t/{id}.json", "GET /t/{id}/posts.json",
            "GET /posts/{id}.json"}


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch):
    with DiscourseEmulator(chunk_size=2) as emulator:
        monkeypatch.setenv("FP_DISCOURSE_API_KEY", emulator.token)
        yield emulator


def source(emu: DiscourseEmulator) -> DiscourseSource:
    return DiscourseSource(DiscourseSourceConfig(
        name="forum", base_url=emu.url, latest_page_size=2, max_retries=2,
        max_retry_wait_seconds=2, timeout_seconds=5))


def seed(emu: DiscourseEmulator) -> list[int]:
    first = [emu.add_topic(t, f"Topic {t}: export is slow", f"<b>First</b> post {t}",
                           tags=("export", "csv")) for t in (1, 2, 3)]
    for t in (1, 2, 3):
        emu.reply(t, f"Reply A to {t}", likes=2)
        emu.reply(t, f"Reply B to {t}")
    return first


def test_contract_discourse_every_exchange_matches_the_description(emu, warehouse):
    first = seed(emu)
    # the staff flags and group the pulse reads, and a system (bot) post, served as described
    emu.reply(1, "Fixed in 2.3", user="sam", staff=True, group="team", user_id=2)
    emu.reply(3, "Welcome!", user="system", user_id=-1)
    ingest(warehouse, [source(emu)], run_id="r1")
    assert dict(warehouse.execute("SELECT author_role, count(*) FROM items GROUP BY 1")
                .fetchall()) == {"customer": 9, "staff": 1, "bot": 1}
    emu.edit_post(first[0], "First post 1, edited")
    emu.reply(2, "A new reply", likes=1)
    ingest(warehouse, [source(emu)], run_id="r2")

    validated = check_exchanges(spec("discourse"), emu.requests, deviations=DEVIATIONS)

    assert set(validated) == CONSUMED, validated


def test_contract_discourse_tags_are_kept_as_names(emu, warehouse):
    seed(emu)
    ingest(warehouse, [source(emu)], run_id="r1")
    tags = {tuple(r[0]) for r in warehouse.execute("SELECT tags FROM items").fetchall()}
    assert tags == {("export", "csv", "category:5")}


def test_contract_discourse_pre_2026_string_tags_still_work(monkeypatch, warehouse):
    with DiscourseEmulator(tags_as_strings=True) as emu:
        monkeypatch.setenv("FP_DISCOURSE_API_KEY", emu.token)
        emu.add_topic(1, "Export is slow", "body", tags=("export",))
        ingest(warehouse, [source(emu)], run_id="r1")
    assert warehouse.execute("SELECT tags FROM items").fetchone()[0] == ["export", "category:5"]


def test_contract_discourse_votes_come_from_the_documented_like_count(emu, warehouse):
    seed(emu)
    ingest(warehouse, [source(emu)], run_id="r1")
    votes = dict(warehouse.execute("SELECT body, votes FROM items").fetchall())
    assert votes["<p>Reply A to 1</p>"] == 2
    assert votes["<p>Reply B to 1</p>"] == 0
    assert sum(votes.values()) == 6


def test_contract_discourse_cooked_only_posts_become_clean_text(emu, warehouse):
    emu.add_topic(1, "Export is slow", "<b>Export</b> takes &amp; minutes")
    ingest(warehouse, [source(emu)], run_id="r1")
    body = warehouse.execute("SELECT body FROM items").fetchone()[0]
    assert body == "<p><b>Export</b> takes &amp; minutes</p>"  # the cooked HTML, no raw
    assert clean_body(body) == "Export takes & minutes"
