"""A local Slack Web API emulator for tests with the real ``slack_sdk`` clients.

Threaded stdlib HTTP server on 127.0.0.1 (ephemeral port). Point
``WebClient(base_url=emu.base_url)`` at it (``…/api/``, trailing slash included) and
``WebhookClient(emu.webhook_url)``.

- Every method is a POST with a form-encoded or a JSON body, like the SDK sends (API-NOTES §3).
- ``auth.test``, ``chat.postMessage``, ``chat.update``, ``chat.getPermalink``,
  ``conversations.history`` / ``conversations.replies`` (cursor paging), and an incoming webhook.
- Block Kit limits checked like Slack: ``invalid_blocks`` with an ``errors`` array
  (``must be less than 3001 characters [json-pointer:/blocks/0/text/text]``), and
  ``msg_blocks_too_long`` beyond ``max_block_chars`` of block text.
- Like Slack, methods that take a conversation *ID* (``conversations.history``/``.replies``/
  ``.info``, ``chat.update``, ``chat.getPermalink``) answer a channel name with
  ``channel_not_found``; only ``chat.postMessage`` also accepts a name. ``conversations.list``
  (cursor paging, ``types``, ``exclude_archived``) is how a client finds a name's ID.
- Faults on demand: ``rate_limit(method, times, retry_after)`` answers 429 with an integer
  ``Retry-After``; ``fail(method, error, times)`` answers ``{"ok": false, "error": …}``
  (``not_in_channel``, ``channel_not_found``, ``invalid_auth``…).
- ``requests`` logs every call (method, headers, params, status); ``messages`` stores what was
  posted, per channel id.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

MAX_BLOCKS = 50
LIMITS = {"section": 3000, "header": 150}
KNOWN_BLOCKS = {"section", "header", "context", "divider", "actions", "image", "rich_text",
                "markdown", "input", "file", "video"}


@dataclass
class Channel:
    id: str
    name: str
    member: bool = True          # is the bot in it? (not_in_channel otherwise)
    archived: bool = False


@dataclass
class LoggedRequest:
    method: str
    path: str
    headers: dict[str, str]
    params: dict[str, Any]
    status: int = 200
    error: str | None = None
    response: Any = None  # the JSON body answered (contract tests read it)


@dataclass
class _Fault:
    status: int
    error: str
    retry_after: int | None = None
    extra: dict = field(default_factory=dict)


def validate_blocks(blocks: Any, *, max_block_chars: int) -> tuple[str, list[str]] | None:
    """Slack's checks on ``blocks``: None when valid, else (error, errors[])."""
    if not isinstance(blocks, list):
        return "invalid_blocks_format", ["must provide an array [json-pointer:/blocks]"]
    errors: list[str] = []
    if len(blocks) > MAX_BLOCKS:
        errors.append(f"no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]")
    total = 0
    for i, block in enumerate(blocks):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind not in KNOWN_BLOCKS:
            errors.append(f"unsupported type: {kind} [json-pointer:/blocks/{i}/type]")
            continue
        text = block.get("text")
        if isinstance(text, dict):
            value = text.get("text", "")
            total += len(value)
            limit = LIMITS.get(kind)
            if limit and len(value) > limit:
                errors.append(f"must be less than {limit + 1} characters "
                              f"[json-pointer:/blocks/{i}/text/text]")
            if kind == "header" and text.get("type") != "plain_text":
                errors.append(f"must be plain_text [json-pointer:/blocks/{i}/text/type]")
            if not value and kind in ("section", "header"):
                errors.append("must be more than 0 characters "
                              f"[json-pointer:/blocks/{i}/text/text]")
        fields = block.get("fields") or []
        if len(fields) > 10:
            errors.append(f"no more than 10 items allowed [json-pointer:/blocks/{i}/fields]")
        for j, f in enumerate(fields):
            total += len(f.get("text", ""))
            if len(f.get("text", "")) > 2000:
                errors.append(f"must be less than 2001 characters "
                              f"[json-pointer:/blocks/{i}/fields/{j}/text]")
        if kind == "context":
            elements = block.get("elements") or []
            if not elements or len(elements) > 10:
                errors.append(f"must contain 1 to 10 items [json-pointer:/blocks/{i}/elements]")
            total += sum(len(e.get("text", "")) for e in elements if isinstance(e, dict))
        bid = block.get("block_id")
        if bid is not None and len(bid) > 255:
            errors.append(f"must be less than 256 characters [json-pointer:/blocks/{i}/block_id]")
    if errors:
        return "invalid_blocks", errors
    if total > max_block_chars:
        return "msg_blocks_too_long", []
    return None


class SlackEmulator:
    """``with SlackEmulator() as emu:`` — a Slack workspace with one bot and a few channels."""

    def __init__(self, *, token: str = "xoxb-test-token", max_block_chars: int = 12_000) -> None:
        self.token = token
        self.max_block_chars = max_block_chars
        self.channels: dict[str, Channel] = {}
        self.messages: dict[str, list[dict]] = defaultdict(list)   # channel id -> messages
        self.webhook_messages: list[dict] = []
        self.requests: list[LoggedRequest] = []
        self._faults: dict[str, list[_Fault]] = defaultdict(list)
        self._lock = threading.Lock()
        self._ts = itertools.count(1)
        self.add_channel("C0FEEDBACK", "community-feedback")
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> SlackEmulator:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/api/"

    @property
    def webhook_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/services/T0000/B0000/webhooksecret"

    # -- set-up and assertions -------------------------------------------------------------
    def add_channel(self, channel_id: str, name: str, *, member: bool = True) -> Channel:
        self.channels[channel_id] = Channel(channel_id, name, member)
        return self.channels[channel_id]

    def rate_limit(self, method: str, *, times: int = 1, retry_after: int = 0) -> None:
        """The next ``times`` calls of ``method`` answer 429 with ``Retry-After``."""
        self._faults[method] += [_Fault(429, "ratelimited", retry_after)] * times

    def fail(self, method: str, error: str, *, times: int = 1, status: int = 200,
             **extra: Any) -> None:
        """The next ``times`` calls of ``method`` answer ``{"ok": false, "error": error}``."""
        self._faults[method] += [_Fault(status, error, None, extra)] * times

    def raw_reply(self, method: str, body: str, *, status: int = 200, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` answer ``body`` verbatim (a 500, bad JSON)."""
        self._faults[method] += [_Fault(status, "raw_reply", None, {"raw": body})] * times

    def calls(self, method: str) -> list[LoggedRequest]:
        return [r for r in self.requests if r.method == method]

    def ok_calls(self, method: str) -> list[LoggedRequest]:
        return [r for r in self.calls(method) if r.status == 200 and r.error is None]

    def channel_messages(self, channel: str = "C0FEEDBACK") -> list[dict]:
        return self.messages[self._resolve(channel, names=True).id]

    # -- the API ---------------------------------------------------------------------------
    def _resolve(self, ref: str, *, names: bool = True) -> Channel:
        """The channel ``ref`` names; only chat.postMessage accepts a name (``names``)."""
        if ref in self.channels:
            return self.channels[ref]
        if names:
            for ch in self.channels.values():
                if (ref or "").lstrip("#") == ch.name:
                    return ch
        raise _ApiError("channel_not_found")

    def _channel_object(self, ch: Channel) -> dict:
        return {"id": ch.id, "name": ch.name, "is_channel": True, "is_group": False,
                "is_im": False, "is_mpim": False, "is_private": False, "created": 1_700_000_000,
                "is_archived": ch.archived, "is_general": False, "unlinked": 0,
                "name_normalized": ch.name, "is_shared": False, "is_org_shared": False,
                "is_ext_shared": False, "is_pending_ext_shared": False,
                "pending_shared": [], "is_member": ch.member, "creator": "U0ADMIN",
                "topic": {"value": "", "creator": "", "last_set": 0},
                "purpose": {"value": "", "creator": "", "last_set": 0},
                "previous_names": [], "num_members": 3}

    def _next_ts(self) -> str:
        return f"{1_790_000_000 + next(self._ts)}.{next(self._ts):06d}"

    def _check_message(self, p: dict, *, need_content: bool = True) -> None:
        blocks = p.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
            p["blocks"] = blocks
        if blocks is not None:
            problem = validate_blocks(blocks, max_block_chars=self.max_block_chars)
            if problem:
                extra = {"errors": problem[1]} if problem[1] else {}
                raise _ApiError(problem[0], **extra)
        elif need_content and not p.get("text"):
            raise _ApiError("no_text")

    def api(self, method: str, p: dict) -> dict:
        with self._lock:
            if method == "auth.test":
                return {"url": "https://emulated.slack.com/", "team": "Emulated", "user": "digest",
                        "team_id": "T0000", "user_id": "U0BOT", "bot_id": "B0BOT"}
            if method == "chat.postMessage":
                ch = self._resolve(p.get("channel", ""))
                if ch.archived:
                    raise _ApiError("is_archived")
                if not ch.member:
                    raise _ApiError("not_in_channel")
                self._check_message(p)
                thread_ts = p.get("thread_ts")
                if thread_ts and not any(m["ts"] == thread_ts for m in self.messages[ch.id]):
                    raise _ApiError("thread_not_found")
                message = {"type": "message", "user": "U0BOT", "bot_id": "B0BOT",
                           "ts": self._next_ts(), "text": p.get("text", ""),
                           "blocks": p.get("blocks"), "metadata": p.get("metadata")}
                if thread_ts:
                    message["thread_ts"] = thread_ts
                self.messages[ch.id].append(message)
                warnings = ["message_truncated"] if len(message["text"]) > 40_000 else []
                message["text"] = message["text"][:40_000]
                out = {"channel": ch.id, "ts": message["ts"], "message": _public(message)}
                if warnings:
                    out["response_metadata"] = {"warnings": warnings}
                return out
            if method == "chat.update":
                ch = self._resolve(p.get("channel", ""), names=False)
                message = next((m for m in self.messages[ch.id] if m["ts"] == p.get("ts")), None)
                if message is None:
                    raise _ApiError("message_not_found")
                self._check_message(p, need_content=False)
                for k in ("text", "blocks", "metadata"):
                    if k in p:
                        message[k] = p[k]
                message["edited"] = {"user": "U0BOT", "ts": self._next_ts()}
                return {"channel": ch.id, "ts": message["ts"], "text": message["text"],
                        "message": _public(message)}
            if method == "chat.getPermalink":
                ch = self._resolve(p.get("channel", ""), names=False)
                ts = p.get("message_ts", "")
                if not any(m["ts"] == ts for m in self.messages[ch.id]):
                    raise _ApiError("message_not_found")
                link = f"https://emulated.slack.com/archives/{ch.id}/p{ts.replace('.', '')}"
                return {"channel": ch.id, "permalink": link}
            if method == "conversations.info":
                return {"channel": self._channel_object(
                    self._resolve(p.get("channel", ""), names=False))}
            if method == "conversations.list":
                archived = not _truthy(p.get("exclude_archived"))
                pool = [self._channel_object(ch) for ch in self.channels.values()
                        if archived or not ch.archived]
                page = _page(pool, p, metadata=False, key="channels")
                del page["has_more"], page["pin_count"]
                return page
            if method in ("conversations.history", "conversations.replies"):
                ch = self._resolve(p.get("channel", ""), names=False)
                if not ch.member:
                    raise _ApiError("not_in_channel")
                ordered = sorted(self.messages[ch.id], key=lambda m: float(m["ts"]))
                if method == "conversations.history":  # newest first, no thread replies
                    pool = [m for m in reversed(ordered)
                            if "thread_ts" not in m or m["thread_ts"] == m["ts"]
                            or m.get("subtype") == "thread_broadcast"]
                    pool = _window(pool, p)
                else:  # parent first, then replies, oldest first
                    parent = p.get("ts")
                    head = [m for m in ordered if m["ts"] == parent]
                    replies = [m for m in ordered
                               if m.get("thread_ts") == parent and m["ts"] != parent]
                    pool = head + _window(replies, p) if head else []  # Slack keeps the parent
                    if not pool:
                        raise _ApiError("thread_not_found")
                return _page(pool, p, metadata=_truthy(p.get("include_all_metadata")))
            raise _ApiError("unknown_method")

    def webhook(self, body: dict) -> tuple[int, str]:
        with self._lock:
            if not body.get("text") and not body.get("blocks"):
                return 400, "no_text"
            if body.get("blocks") is not None:
                problem = validate_blocks(body["blocks"], max_block_chars=self.max_block_chars)
                if problem:
                    return 400, "invalid_blocks"
            self.webhook_messages.append(body)
            return 200, "ok"

    def _take_fault(self, method: str) -> _Fault | None:
        with self._lock:
            return self._faults[method].pop(0) if self._faults[method] else None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        emu = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep pytest output clean
                pass

            def _reply(self, status: int, body: str, headers: dict | None = None,
                       content_type: str = "application/json; charset=utf-8") -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 - Slack's SDK only POSTs; say so
                self._reply(405, json.dumps({"ok": False, "error": "method_not_allowed"}))

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                ctype = self.headers.get("Content-Type", "")
                params: dict = json.loads(raw or "{}") if "json" in ctype else dict(parse_qsl(raw))
                headers = dict(self.headers.items())
                if self.path.startswith("/services/"):
                    entry = LoggedRequest("webhook", self.path, headers, params)
                    emu.requests.append(entry)
                    fault = emu._take_fault("webhook")
                    if fault and fault.error == "raw_reply":  # verbatim: a proxy's own page
                        entry.status, entry.error = fault.status, "raw_reply"
                        self._reply(fault.status, fault.extra["raw"], content_type="text/html")
                        return
                    if fault:
                        entry.status, entry.error = (fault.status if fault.status != 200 else 404,
                                                     fault.error)
                        extra = ({"Retry-After": str(fault.retry_after)}
                                 if fault.status == 429 else {})
                        self._reply(entry.status, fault.error, extra, "text/plain")
                        return
                    status, text = emu.webhook(params)
                    entry.status, entry.error = status, None if status == 200 else text
                    self._reply(status, text, content_type="text/html")
                    return
                method = self.path.split("/api/", 1)[-1].split("?")[0]
                entry = LoggedRequest(method, self.path, headers, params)
                emu.requests.append(entry)
                if not self.path.startswith("/api/"):
                    entry.status = 404
                    self._reply(404, json.dumps({"ok": False, "error": "unknown_method"}))
                    return
                auth = headers.get("Authorization", "")
                fault = emu._take_fault(method)
                if fault and fault.status == 429:
                    entry.status, entry.error = 429, "ratelimited"
                    self._reply(429, json.dumps({"ok": False, "error": "ratelimited"}),
                                {"Retry-After": str(fault.retry_after)})
                    return
                if fault and "raw" in fault.extra:
                    entry.status, entry.error = fault.status, fault.error
                    self._reply(fault.status, fault.extra["raw"])
                    return
                if not auth:
                    error: dict = {"error": "not_authed"}
                elif auth != f"Bearer {emu.token}":
                    error = {"error": "invalid_auth"}
                elif fault:
                    error = {"error": fault.error, **fault.extra}
                else:
                    try:
                        result = emu.api(method, params)
                    except _ApiError as exc:
                        error = exc.body
                    else:
                        entry.response = {"ok": True, **result}
                        self._reply(200, json.dumps(entry.response))
                        return
                entry.error = error["error"]
                entry.response = {"ok": False, **error}
                self._reply(200, json.dumps(entry.response))

        return Handler


class _ApiError(Exception):
    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.body = {"error": error, **extra}


def _truthy(v: Any) -> bool:
    return v in (True, 1, "1", "true", "True")


def _public(message: dict) -> dict:
    return {k: v for k, v in message.items() if v is not None and k != "metadata"}


def _window(messages: list[dict], p: dict) -> list[dict]:
    oldest, latest = p.get("oldest"), p.get("latest")
    inclusive = _truthy(p.get("inclusive"))

    def inside(ts: str) -> bool:
        t = float(ts)
        if oldest and (t < float(oldest) or (t == float(oldest) and not inclusive)):
            return False
        return not (latest and (t > float(latest) or (t == float(latest) and not inclusive)))

    return [m for m in messages if inside(m["ts"])]


def _page(messages: list[dict], p: dict, *, metadata: bool, key: str = "messages") -> dict:
    limit = max(1, min(int(p.get("limit") or 100), 999))
    cursor = p.get("cursor")
    start = int(base64.b64decode(cursor).decode().split(":")[1]) if cursor else 0
    chunk = messages[start: start + limit]
    more = start + limit < len(messages)
    out = [{**_public(m), **({"metadata": m["metadata"]} if metadata and m.get("metadata") else {})}
           for m in chunk]
    next_cursor = base64.b64encode(f"offset:{start + limit}".encode()).decode() if more else ""
    return {key: out, "has_more": more, "pin_count": 0,
            "response_metadata": {"next_cursor": next_cursor}}


__all__ = ["Channel", "LoggedRequest", "SlackEmulator", "validate_blocks"]
