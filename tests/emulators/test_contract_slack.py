"""Slack: the emulator, the digest sink and the channels connector against Slack's Web API
description (slackapi/slack-api-specs, Swagger 2.0, last updated 2021: stale).

Deviations of that description, waived by name (nothing else is):
- the token travels as ``Authorization: Bearer`` (what slack_sdk sends and Slack prefers); the
  description has it as a ``token`` header/query/form field;
- ``chat.postMessage``/``chat.update`` take a JSON body (``blocks`` an array, ``metadata`` an
  object; Slack documents JSON bodies for write methods) where the description has form
  strings, and ``metadata``, ``include_all_metadata`` (2022) are newer than the description;
- ``conversations.history`` requires ``channel_actions_ts``/``channel_actions_count`` and at
  least one message, and ``additionalProperties: false`` leaves out ``response_metadata`` (the
  cursor every paged method returns), ``metadata``, ``edited``, ``reply_users``...: the real API
  does not send the former and does send the latter (the README of the contracts says to check
  required fields and parameter meanings, not ``additionalProperties``);
- ``chat.update``'s answer describes ``message.blocks`` as an object; it is the blocks array
  (as ``objs_message`` everywhere else describes it).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from emulators.contract import Deviation, spec, validate_all
from emulators.slack import SlackEmulator
from feedback_pipeline.config import SlackConfig
from feedback_pipeline.deliver.slack import SlackDigestSink
from feedback_pipeline.ingest.slack.config import SlackSourceConfig
from feedback_pipeline.ingest.slack.fetch import SlackSource
from feedback_pipeline.ingest.stage import ingest
from feedback_pipeline.warehouse.runs import Run

TOKEN = "xoxb-contract-token"
AS_OF = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
DEVIATIONS = (
    Deviation("*", r"required header parameter 'token' missing",
              "the token is sent as Authorization: Bearer"),
    Deviation("*", r"\[additionalProperties=False\]", "stale: newer fields (response_metadata, "
              "metadata, edited, ...) are not described; required ones are still checked"),
    Deviation("*", r"parameter '(metadata|include_all_metadata)' is not described",
              "message metadata (2022) is newer than the description"),
    Deviation("GET /conversations.history", r"'channel_actions_(ts|count)' is a required",
              "not sent by Slack; the description's own example has neither"),
    Deviation("GET /conversations.history", r"messages: \[minItems=1\]",
              "an empty channel answers messages: []"),
    Deviation("POST /chat.update", r"/message/blocks: \[type='object'\]",
              "blocks are an array (objs_message); the chat.update answer says object"),
)
CONSUMED = {"GET /conversations.history", "GET /conversations.replies", "GET /conversations.list",
            "POST /chat.postMessage", "POST /chat.update"}


def check(emu: SlackEmulator) -> dict[str, int]:
    service = spec("slack")

    def check_one(r) -> str:
        name = service.check_request("POST", r.path, query={}, form=r.params,
                                     headers=r.headers, deviations=DEVIATIONS)
        status = 200 if r.response.get("ok") else "default"
        service.check_response("POST", r.path, status, r.response, deviations=DEVIATIONS)
        return name

    return validate_all([r for r in emu.requests
                         if r.method != "webhook" and r.response is not None], check_one)


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch):
    with SlackEmulator(token=TOKEN) as emulator:
        monkeypatch.setenv("FP_SLACK_TOKEN", TOKEN)
        yield emulator


def test_contract_slack_sink_and_connector_exchanges_match_the_description(
        emu, warehouse, make_ranked_theme):
    settings = SlackConfig(enabled=True, channel="#community-feedback", base_url=emu.base_url,
                           max_retries=1, timeout_seconds=5)
    ranking = [make_ranked_theme(theme_id=1, rank=1), make_ranked_theme(theme_id=2, rank=2)]
    SlackDigestSink(settings).deliver(Run(warehouse, "r1", AS_OF), ranking)
    SlackDigestSink(settings).deliver(Run(warehouse, "r2", AS_OF), ranking[:1])
    warehouse.execute("UPDATE slack_digests SET status = 'pending', ts = NULL, reply_ts = NULL")
    SlackDigestSink(settings).deliver(Run(warehouse, "r3", AS_OF), ranking)

    channel = emu.messages["C0FEEDBACK"]
    parent = "1714550400.000100"
    channel += [{"type": "message", "user": "U0ALICE", "text": "Export fails", "ts": parent,
                 "thread_ts": parent, "reply_count": 1, "latest_reply": "1714550460.000100"},
                {"type": "message", "user": "U0BOB", "text": "Same", "ts": "1714550460.000100",
                 "thread_ts": parent}]
    source = SlackSource(SlackSourceConfig(name="sl", base_url=emu.base_url,
                                           channels=["C0FEEDBACK"], page_size=2))
    assert ingest(warehouse, [source], run_id="r4").sources["sl"].error is None

    assert set(check(emu)) == CONSUMED


def test_contract_slack_error_answers_match_the_description(emu):
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    client = WebClient(token=TOKEN, base_url=emu.base_url)
    with pytest.raises(SlackApiError):
        client.conversations_history(channel="#community-feedback")  # a name: refused
    assert emu.requests[-1].error == "channel_not_found"
    check(emu)
