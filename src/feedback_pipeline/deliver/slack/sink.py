"""``SlackDigestSink``: post the nightly digest with ``slack_sdk``, exactly once per digest date.

Bot mode (``chat.postMessage`` / ``chat.update`` with a bot token):

1. the intent is recorded (``slack_digests`` and ``deliveries``: pending) before any call;
   the channel is resolved to its conversation ID (a configured ``#name`` through
   ``conversations.list``, once per sink) and stored with it before anything is posted, because
   ``conversations.history``/``.replies`` and ``chat.update`` take IDs only (a name is answered
   ``channel_not_found``, and crash recovery would then post a duplicate);
2. no stored ``ts``: post, and store the ``ts`` at once; a stored ``ts``: ``chat.update`` it
   (nothing at all when the content is unchanged). A row left ``pending`` by a crash mid-call is
   first looked up in the channel history by the message metadata, so it is never posted twice;
3. the details go in one thread reply, posted or updated by the same rule;
4. ``sent``; any Slack error becomes ``failed`` with the error, and a ``SlackDeliveryError``.

Webhook mode posts once per date (webhooks cannot edit or thread); a rerun posts nothing.
429s are retried by the SDK's ``RateLimitErrorRetryHandler`` honouring ``Retry-After``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from urllib.error import URLError

import duckdb
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.web import SlackResponse
from slack_sdk.webhook import WebhookClient

from feedback_pipeline.crashpoints import crashpoint
from feedback_pipeline.deliver.slack import state
from feedback_pipeline.deliver.slack.config import (
    SlackConfig,
    bot_token,
    check_settings,
    webhook_url,
)
from feedback_pipeline.deliver.slack.queries import announce_shipped, build_digest
from feedback_pipeline.errors import SinkError
from feedback_pipeline.fingerprint import payload_fingerprint
from feedback_pipeline.rank.pulse import PulseConfig
from feedback_pipeline.warehouse.runs import Run

log = logging.getLogger(__name__)
# The webhook client logs its URL (a secret) at DEBUG: give it a logger that never does.
_sdk_log = logging.getLogger("feedback_pipeline.deliver.slack.sdk")
_sdk_log.setLevel(logging.INFO)

EVENT_TYPE = "feedback_digest"
# Conversation IDs: C… (public), G… (private, legacy), D… (DM); names are anything else.
CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{8,}")
REPOST_ON = {"message_not_found", "cant_update_message", "edit_window_closed"}
AUTH_ERRORS = {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive",
               "invalid_token"}


class SlackDeliveryError(SinkError):
    """Slack refused the digest; ``code`` is Slack's error (``not_in_channel``, …)."""

    def __init__(self, message: str, *, code: str, channel: str) -> None:
        super().__init__(message)
        self.code = code
        self.channel = channel


def explain(code: str, *, channel: str, settings: SlackConfig, detail: str = "") -> str:
    """What went wrong, naming the channel, and what to do next."""
    kept = " The digest stays pending in the warehouse and outbox; the next run delivers it."
    where = f"the Slack channel {channel}" if settings.mode == "bot" else "the incoming webhook"
    suffix = f": {detail}" if detail else ""
    if code == "not_in_channel":
        msg = (f"Slack: the app is not a member of {channel}. Invite it: in {channel} type "
               "`/invite @<your app>` (or give the app the chat:write.public scope).")
    elif code == "channel_not_found":
        msg = (f"Slack: channel {channel} was not found. Check deliver.slack.channel (a name "
               "like #community-feedback or an id like C0123ABCD); for a private channel, "
               "invite the app first with `/invite @<your app>`.")
    elif code in AUTH_ERRORS:
        secret = settings.token_env if settings.mode == "bot" else settings.webhook_url_env
        msg = (f"Slack rejected the credentials ({code}) while posting to {where}: set {secret} "
               "to a valid bot token (xoxb-…) of an app installed in the workspace"
               if settings.mode == "bot" else
               f"Slack rejected the credentials ({code}) while posting to {where}: set {secret} "
               "to the URL of an active incoming webhook")
    elif code in ("ratelimited", "rate_limited"):
        msg = (f"Slack rate-limited the digest to {where}; {settings.max_retries} retries "
               "honouring Retry-After did not get through (raise deliver.slack.max_retries "
               "or run later).")
    elif code in ("invalid_blocks", "msg_blocks_too_long", "invalid_payload", "msg_too_long",
                  "no_text"):
        msg = (f"Slack rejected the digest blocks for {where} ({code}{suffix})."
               " The digest is in outbox/slack/digest-<date>.json; this is a bug in the digest "
               "builder, report it with that file.")
    elif code == "missing_scope":
        msg = (f"Slack: the app lacks the scope {detail or 'chat:write'} needed to post to "
               f"{where}: add it under OAuth & Permissions and reinstall the app.")
    elif code in ("is_archived", "channel_is_archived"):
        msg = f"Slack: {channel} is archived: unarchive it or set another deliver.slack.channel."
    elif code in ("no_service", "no_team", "team_disabled", "action_prohibited"):
        msg = (f"Slack: the incoming webhook in {settings.webhook_url_env} is disabled or wrong "
               f"({code}): create a new incoming webhook and set {settings.webhook_url_env}.")
    elif code == "connection_error":
        target = settings.base_url if settings.mode == "bot" else "the webhook URL"
        msg = (f"Slack could not be reached at {target} ({detail}); check the network or "
               "deliver.slack.base_url.")
    else:
        msg = f"Slack error {code!r} while posting the digest to {where}{suffix}."
    return msg + kept


class SlackDigestSink:
    """Posts the digest of a run. Building one reads the secret (fails fast), no network."""

    def __init__(self, settings: SlackConfig, *, jira_server: str = "",
                 pulse: PulseConfig | None = None) -> None:
        check_settings(settings)
        self.settings = settings
        self.jira_server = jira_server
        self.pulse = pulse
        self._client: WebClient | None = None
        self._webhook: WebhookClient | None = None
        self._channel_id: str | None = None
        retry = RateLimitErrorRetryHandler(max_retry_count=settings.max_retries)
        if settings.mode == "bot":
            self._client = WebClient(token=bot_token(settings).get_secret_value(),
                                     base_url=settings.base_url, timeout=settings.timeout_seconds)
            self._client.retry_handlers.append(retry)
        else:
            self._webhook = WebhookClient(webhook_url(settings).get_secret_value(),
                                          timeout=settings.timeout_seconds, logger=_sdk_log)
            self._webhook.retry_handlers.append(retry)

    def _bot(self) -> WebClient:
        if self._client is None:
            raise SinkError("the Slack sink is in webhook mode: it has no Web API client")
        return self._client

    @property
    def channel(self) -> str:
        return self.settings.channel if self.settings.mode == "bot" else "(incoming webhook)"

    def deliver(self, run: Run, ranking: list[dict]) -> dict:
        """Post (or update) the digest of the run's date (``run.digest_as_of``); return what
        happened.

        Returns:
            ``{"slack": "posted"|"updated"|"unchanged"|"silent"|"not_updatable", "key", "ts",
            "reply_ts", "channel"}``.

        Raises:
            SlackDeliveryError: Slack refused; the rows say ``failed`` and keep the digest.
        """
        con, run_id = run.con, run.run_id
        # The digest counts its own items, with its filter (queries.digest_counts).
        digest = build_digest(con, ranking, as_of=run.digest_as_of, run_id=run_id,
                              config=self.settings, jira_server=self.jira_server,
                              pulse=self.pulse, pulse_as_of=run.as_of)
        key = digest["key"]
        row = state.load_row(con, key)
        result = {"key": key, "channel": self.channel, "quiet": digest["quiet"]}
        if digest["quiet"] and self.settings.quiet_night == "silent" and not (row and row.ts):
            state.record_intent(con, digest, mode=self.settings.mode, channel=self.channel,
                                run_id=run_id, status="silent")
            log.info("slack: quiet night, nothing posted (quiet_night = 'silent')")
            return {**result, "slack": "silent", "ts": None, "reply_ts": None}
        state.record_intent(con, digest, mode=self.settings.mode, channel=self.channel,
                            run_id=run_id)
        crashpoint("slack.intent")
        try:
            if self.settings.mode == "bot":
                outcome = self._deliver_bot(con, digest, row)
            else:
                outcome = self._deliver_webhook(con, digest, row)
        except SlackDeliveryError as exc:
            state.record_outcome(con, key, status="failed", error=f"{exc.code}: {exc}")
            raise
        state.record_outcome(con, key, status="sent")
        announce_shipped(con, key, digest["shipped_theme_ids"])
        log.info("slack: digest %s %s in %s", key, outcome["slack"], self.channel)
        return {**result, **outcome}

    def _call(self, method: Callable[..., SlackResponse], **kwargs: object) -> dict:
        try:
            return method(**kwargs).data
        except SlackApiError as exc:
            data = exc.response.data if isinstance(exc.response.data, dict) else {}
            code = data.get("error") or f"http_{exc.response.status_code}"
            detail = "; ".join(data.get("errors", [])) or data.get("needed", "")
            raise SlackDeliveryError(explain(code, channel=self.channel, settings=self.settings,
                                             detail=detail), code=code, channel=self.channel
                                     ) from exc
        except (URLError, OSError) as exc:
            raise SlackDeliveryError(explain("connection_error", channel=self.channel,
                                             settings=self.settings, detail=str(exc)),
                                     code="connection_error", channel=self.channel) from exc

    def channel_id(self) -> str:
        """The configured channel's conversation ID (looked up once per sink).

        Raises:
            SlackDeliveryError: no such channel visible to the app, or the app may not list
                channels (``missing_scope``: set the channel's ID instead of its name).
        """
        if self._channel_id is not None:
            return self._channel_id
        wanted = self.settings.channel.strip()
        if CHANNEL_ID.fullmatch(wanted):
            self._channel_id = wanted
            return wanted
        name, cursor = wanted.lstrip("#"), None
        while True:
            try:
                data = self._call(self._bot().conversations_list, limit=200, cursor=cursor,
                                  types="public_channel,private_channel", exclude_archived=True)
            except SlackDeliveryError as exc:
                if exc.code != "missing_scope":
                    raise
                raise SlackDeliveryError(
                    f"Slack: finding the ID of {self.channel} needs the channels:read scope "
                    "(groups:read for a private channel): add it under OAuth & Permissions and "
                    "reinstall the app, or set deliver.slack.channel to the channel's ID "
                    "(C0123…, in the channel's details). The digest stays pending.",
                    code="missing_scope", channel=self.channel) from exc
            for channel in data.get("channels") or []:
                if name in (channel.get("name"), channel.get("name_normalized")):
                    self._channel_id = str(channel["id"])
                    return self._channel_id
            cursor = (data.get("response_metadata") or {}).get("next_cursor") or None
            if cursor is None:
                raise SlackDeliveryError(explain("channel_not_found", channel=self.channel,
                                                 settings=self.settings),
                                         code="channel_not_found", channel=self.channel)

    def _find_posted(self, channel: str, key: str, part: str, thread_ts: str | None) -> str | None:
        """The ts of a message a crashed attempt posted (found by its metadata), if any."""
        client = self._bot()
        try:
            if thread_ts:
                data = self._call(client.conversations_replies, channel=channel, ts=thread_ts,
                                  include_all_metadata=True, limit=100)
            else:
                data = self._call(client.conversations_history, channel=channel, limit=100,
                                  include_all_metadata=True)
        except SlackDeliveryError as exc:
            log.warning("slack: cannot check %s for an earlier post (%s); posting", channel,
                        exc.code)
            return None
        for message in data.get("messages", []):
            payload = (message.get("metadata") or {}).get("event_payload") or {}
            if payload.get("digest_key") == key and payload.get("part") == part:
                return message["ts"]
        return None

    def _send(self, *, key: str, part: str, body: dict, channel: str, ts: str | None,
              old_hash: str | None, unsure: bool, thread_ts: str | None = None
              ) -> tuple[str, str, str]:
        """Post or update one message; return (what happened, ts, channel id)."""
        new_hash = payload_fingerprint(body)
        if ts is None and unsure:
            ts = self._find_posted(channel, key, part, thread_ts)
            old_hash = None
        if ts is not None and old_hash == new_hash:
            return "unchanged", ts, channel
        metadata = {"event_type": EVENT_TYPE, "event_payload": {"digest_key": key, "part": part}}
        if ts is not None:
            try:
                data = self._call(self._bot().chat_update, channel=channel, ts=ts,
                                  text=body["text"], blocks=body["blocks"], metadata=metadata)
                return "updated", data["ts"], data.get("channel", channel)
            except SlackDeliveryError as exc:
                if exc.code not in REPOST_ON:
                    raise
                log.warning("slack: %s message %s cannot be edited (%s); posting it again",
                            part, ts, exc.code)
        data = self._call(self._bot().chat_postMessage, channel=channel, text=body["text"],
                          blocks=body["blocks"], thread_ts=thread_ts, metadata=metadata,
                          unfurl_links=False, unfurl_media=False)
        return "posted", data["ts"], data.get("channel", channel)

    def _deliver_bot(self, con: duckdb.DuckDBPyConnection, digest: dict,
                     row: state.DigestRow | None) -> dict:
        key = digest["key"]
        unsure = bool(row and row.status == "pending")  # a previous attempt died mid-call
        # A posted message stays where it is; an unposted one follows a changed setting.
        stored = row.channel_id if row and (row.ts or row.channel == self.settings.channel) \
            else None
        channel = stored or self.channel_id()
        state.record_channel(con, key, channel)  # before any post: recovery needs the ID
        main = {"text": digest["text"], "blocks": digest["blocks"]}
        what, ts, channel_id = self._send(key=key, part="main", body=main, channel=channel,
                                          ts=row.ts if row else None,
                                          old_hash=row.main_hash if row else None, unsure=unsure)
        crashpoint("slack.main.sent")
        state.record_message(con, key, part="main", ts=ts, channel_id=channel_id,
                             digest_hash=payload_fingerprint(main))
        reply_ts = row.reply_ts if row and what != "posted" else None
        if digest["thread"]:
            reply_what, reply_ts, _ = self._send(
                key=key, part="details", body=digest["thread"], channel=channel_id,
                ts=reply_ts, old_hash=row.reply_hash if row and reply_ts else None,
                unsure=unsure and what != "posted", thread_ts=ts)
            crashpoint("slack.reply.sent")
            state.record_message(con, key, part="details", ts=reply_ts, channel_id=channel_id,
                                 digest_hash=payload_fingerprint(digest["thread"]))
            if what == "unchanged" and reply_what != "unchanged":
                what = "updated"
        return {"slack": what, "ts": ts, "reply_ts": reply_ts, "channel_id": channel_id}

    def _deliver_webhook(self, con: duckdb.DuckDBPyConnection, digest: dict,
                         row: state.DigestRow | None) -> dict:
        if self._webhook is None:
            raise SinkError("the Slack sink is in bot mode: it has no webhook client")
        main = {"text": digest["text"], "blocks": digest["blocks"]}
        new_hash = payload_fingerprint(main)
        if row and row.main_hash:  # posted before: webhooks cannot edit, never post twice
            what = "unchanged" if row.main_hash == new_hash else "not_updatable"
            if what == "not_updatable":
                log.warning("slack: the %s digest was already posted through the webhook and "
                            "webhooks cannot edit messages; the new version is in the outbox",
                            digest["date"])
            return {"slack": what, "ts": None, "reply_ts": None}
        try:
            response = self._webhook.send(text=main["text"], blocks=main["blocks"],
                                          unfurl_links=False, unfurl_media=False)
        except (URLError, OSError) as exc:
            raise SlackDeliveryError(explain("connection_error", channel=self.channel,
                                             settings=self.settings, detail=type(exc).__name__),
                                     code="connection_error", channel=self.channel) from exc
        if response.status_code != 200 or response.body.strip() != "ok":
            code = response.body.strip() or f"http_{response.status_code}"
            if response.status_code == 429:
                code = "rate_limited"
            raise SlackDeliveryError(explain(code, channel=self.channel, settings=self.settings),
                                     code=code, channel=self.channel)
        state.record_message(con, digest["key"], part="main", ts=None, channel_id=None,
                             digest_hash=new_hash)
        return {"slack": "posted", "ts": None, "reply_ts": None}


__all__ = ["SlackDeliveryError", "SlackDigestSink", "explain"]
