"""One adapter per connector so the shared behaviour is tested the same way for all five.

A :class:`Case` owns a started emulator, the connector's settings pointing at it, and knows how
to seed records, edit one, delete one, inject faults and read the request log.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emulators.discourse import DiscourseEmulator
from emulators.github import GitHubEmulator
from emulators.intercom import IntercomEmulator
from emulators.slack import SlackEmulator
from emulators.zendesk import ZendeskEmulator

from feedback_pipeline.ingest.connector import ConnectorSource
from feedback_pipeline.ingest.discourse.config import DiscourseSourceConfig
from feedback_pipeline.ingest.discourse.fetch import DiscourseSource
from feedback_pipeline.ingest.github.config import GitHubSourceConfig
from feedback_pipeline.ingest.github.fetch import GitHubSource
from feedback_pipeline.ingest.intercom.config import IntercomSourceConfig
from feedback_pipeline.ingest.intercom.fetch import IntercomSource
from feedback_pipeline.ingest.slack.config import SlackSourceConfig
from feedback_pipeline.ingest.slack.fetch import SlackSource
from feedback_pipeline.ingest.zendesk.config import ZendeskSourceConfig
from feedback_pipeline.ingest.zendesk.fetch import ZendeskSource

FAST = {"max_retries": 3, "max_retry_wait_seconds": 5, "timeout_seconds": 5}
REPO = "acme/app"
CHANNEL = "C0COMMUNITY"


@dataclass
class Case:
    name: str
    emulator: Any
    config: Any
    source_cls: type[ConnectorSource]
    token_env: str
    token: str
    seed: Callable[[], None]
    edit: Callable[[], str]                 # -> external_id of the edited record
    delete: Callable[[], str | None]        # -> external_id, or None when not observable
    expected: int                           # items after seed()
    inject: dict[str, Callable[[], None]] = field(default_factory=dict)
    expire: Callable[[], None] = lambda: None
    auth_headers: Callable[[], list[str]] = lambda: []
    request_count: Callable[[], int] = lambda: 0

    def source(self, **overrides: Any) -> ConnectorSource:
        config = self.config.model_copy(update=overrides) if overrides else self.config
        return self.source_cls(config)


def _http_case(name: str, emu: Any, config: Any, source_cls: type, token_env: str, *,
               seed: Callable[[], None], edit: Callable[[], str],
               delete: Callable[[], str | None], expected: int,
               auth: Callable[[], list[str]]) -> Case:
    def expire() -> None:
        emu.token = "rotated-" + str(emu.token)

    return Case(name, emu, config, source_cls, token_env, emu.token, seed, edit, delete, expected,
                inject={"429": emu.rate_limit, "500": emu.server_error,
                        "malformed": emu.malformed},
                expire=expire, auth_headers=auth, request_count=lambda: len(emu.requests))


def github_case(emu: GitHubEmulator) -> Case:
    def seed() -> None:
        for n in range(1, 6):
            emu.add_issue(REPO, n, f"Issue {n}: export fails", f"Body of issue {n}", plus1=n,
                          labels=("bug",))
        emu.add_issue(REPO, 6, "A pull request", "diff", pull_request=True)

    def edit() -> str:
        emu.edit(REPO, 2, body="Edited body of issue 2")
        return f"{REPO}#2"

    def delete() -> None:
        emu.delete(REPO, 3)

    config = GitHubSourceConfig(name="github", base_url=emu.url, repos=[REPO], page_size=2, **FAST)
    return _http_case("github", emu, config, GitHubSource, "FP_GITHUB_TOKEN", seed=seed,
                      edit=edit, delete=delete, expected=5,
                      auth=lambda: [r.headers.get("authorization", "") for r in emu.requests])


def zendesk_case(emu: ZendeskEmulator) -> Case:
    def seed() -> None:
        for n in range(1, 6):
            emu.add_ticket(n, f"Ticket {n}: export fails", f"Description of ticket {n}",
                           tags=("export",))

    def edit() -> str:
        emu.edit(2, description="Edited description of ticket 2")
        return "2"

    def delete() -> str:
        emu.delete(3)
        return "3"

    def auth() -> list[str]:  # Basic base64("{email}/token:{token}")
        return [base64.b64decode(r.headers.get("authorization", "Basic ").split()[-1]).decode()
                for r in emu.requests]

    config = ZendeskSourceConfig(name="zendesk", base_url=emu.url, email=emu.email, page_size=2,
                                 **FAST)
    return _http_case("zendesk", emu, config, ZendeskSource, "FP_ZENDESK_TOKEN", seed=seed,
                      edit=edit, delete=delete, expected=5, auth=auth)


def intercom_case(emu: IntercomEmulator) -> Case:
    def seed() -> None:
        for n in range(1, 6):
            emu.add_conversation(f"c{n}", f"Conversation {n}", f"<p>Export fails {n}</p>",
                                 tags=("export",))
            emu.add_part(f"c{n}", "Still broken", author_type="user")
            emu.add_part(f"c{n}", "We are on it", author_type="admin")

    def edit() -> str:
        emu.add_part("c2", "And now it crashes too", author_type="user")
        return "c2"

    def delete() -> None:
        emu.delete("c3")

    config = IntercomSourceConfig(name="intercom", base_url=emu.url, page_size=2, **FAST)
    return _http_case("intercom", emu, config, IntercomSource, "FP_INTERCOM_TOKEN", seed=seed,
                      edit=edit, delete=delete, expected=5,
                      auth=lambda: [r.headers.get("authorization", "") for r in emu.requests])


def discourse_case(emu: DiscourseEmulator) -> Case:
    posts: dict[str, int] = {}

    def seed() -> None:
        for t in range(1, 4):
            posts[f"t{t}"] = emu.add_topic(t, f"Topic {t}: export is slow", f"First post {t}",
                                           tags=("export",))
            emu.reply(t, f"Reply A to {t}", likes=2)
            posts[f"r{t}"] = emu.reply(t, f"Reply B to {t}")

    def edit() -> str:
        emu.edit_post(posts["t1"], "First post 1, edited")  # not the last post: no bump
        return str(posts["t1"])

    def delete() -> str:
        emu.delete_post(posts["r2"])
        return str(posts["r2"])

    config = DiscourseSourceConfig(name="discourse", base_url=emu.url, latest_page_size=2,
                                   **FAST)
    return _http_case("discourse", emu, config, DiscourseSource, "FP_DISCOURSE_API_KEY",
                      seed=seed, edit=edit, delete=delete, expected=9,
                      auth=lambda: [r.headers.get("api-key", "") for r in emu.requests])


def slack_message(ts: str, text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "message", "user": "U0ALICE", "text": text, "ts": ts, **extra}


def slack_case(emu: SlackEmulator) -> Case:
    emu.add_channel(CHANNEL, "community")
    msgs = emu.messages[CHANNEL]
    base = 1_714_550_400

    def seed() -> None:
        msgs.append(slack_message(f"{base}.000100", "", subtype="channel_join"))
        for n in range(1, 5):
            msgs.append(slack_message(f"{base + 60 * n}.000100", f"Message {n}: export fails",
                                      reactions=[{"name": "+1", "count": n}]))
        msgs.append({"type": "message", "bot_id": "B1", "text": "I am a bot",
                     "ts": f"{base + 300}.000100"})
        parent = f"{base + 400}.000100"
        msgs.append(slack_message(parent, "Thread: CSV export", thread_ts=parent, reply_count=2,
                                  latest_reply=f"{base + 420}.000100"))
        for k in (1, 2):
            msgs.append(slack_message(f"{base + 400 + 10 * k}.000100", f"Reply {k}",
                                      thread_ts=parent, user="U0BOB"))

    def edit() -> str:
        ts = f"{base + 120}.000100"
        message = next(m for m in msgs if m["ts"] == ts)
        message.update(text="Message 2, edited", edited={"user": "U0ALICE",
                                                         "ts": f"{base + 900}.000100"})
        return f"{CHANNEL}:{ts}"

    def delete() -> str:
        parent = f"{base + 400}.000100"
        message = next(m for m in msgs if m["ts"] == parent)
        message.update(subtype="tombstone", text="This message was deleted.", user="USLACKBOT")
        return f"{CHANNEL}:{parent}"

    def expire() -> None:
        emu.token = "xoxb-rotated"

    config = SlackSourceConfig(name="slack", base_url=emu.base_url, channels=[CHANNEL],
                               page_size=2, **FAST)
    history = "conversations.history"
    return Case("slack", emu, config, SlackSource, "FP_SLACK_TOKEN", emu.token, seed, edit,
                delete, expected=7,
                inject={"429": lambda: emu.rate_limit(history, retry_after=1),
                        "500": lambda: emu.raw_reply(history, '{"ok": false}', status=500),
                        "malformed": lambda: emu.raw_reply(history, '{"ok": tr')},
                expire=expire,
                auth_headers=lambda: [r.headers.get("Authorization", "") for r in emu.requests],
                request_count=lambda: len(emu.requests))


FACTORIES: dict[str, tuple[type, Callable[[Any], Case]]] = {
    "github": (GitHubEmulator, github_case),
    "zendesk": (ZendeskEmulator, zendesk_case),
    "intercom": (IntercomEmulator, intercom_case),
    "discourse": (DiscourseEmulator, discourse_case),
    "slack": (SlackEmulator, slack_case),
}
