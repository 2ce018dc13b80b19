"""A small threaded HTTP server every service emulator builds on.

An emulator subclasses :class:`Emulator` and implements ``route(request) -> Response`` following
the service's public contract. The base gives each one, on 127.0.0.1 and an ephemeral port:

* a request log (``requests``, with parsed query, body and headers) to assert what was fetched;
* fault injection on demand (``fail(...)``, ``rate_limit(...)``, ``server_error()``,
  ``malformed()``), consumed in order by the next matching requests, or at random
  (``chaos(...)``: a seeded share of requests answered 429/5xx, for soak tests);
* an auth check (``token``; change it to make the client's token "expired").
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any = None
    response: Response | None = None  # what the emulator answered (contract tests read it)

    def arg(self, name: str, default: str | None = None) -> str | None:
        """A parameter from the query string, or from a form/JSON body."""
        if name in self.query:
            return self.query[name][0]
        if isinstance(self.body, dict) and name in self.body:
            value = self.body[name]
            return value[0] if isinstance(value, list) else value
        return default


@dataclass
class Response:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


@dataclass
class Fault:
    response: Response
    path: str | None = None  # only requests whose path contains this


class Emulator:
    """Base of the emulators: start/stop, request log, faults, auth."""

    def __init__(self, token: str | None = "test-token") -> None:
        self.token = token
        self.requests: list[Request] = []
        self.faults: list[Fault] = []
        self.lock = threading.RLock()
        self.served: list[str] = []  # keys of the records each answer carried, in order
        self.injected: Counter[int] = Counter()  # random faults answered by chaos(), by status
        self._chaos: tuple[random.Random, float, tuple[int, ...], int] | None = None
        self._in_a_row = 0
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle --
    def start(self) -> Emulator:
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                emulator._dispatch(self)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the emulator first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- faults --
    def fail(self, status: int, body: Any = None, *, headers: dict[str, str] | None = None,
             path: str | None = None, content_type: str = "application/json",
             times: int = 1) -> None:
        with self.lock:
            for _ in range(times):
                self.faults.append(Fault(Response(status, body, dict(headers or {}),
                                                  content_type), path))

    rate_limit_content_type = "application/json"

    def rate_limit(self, retry_after: int = 1, *, path: str | None = None) -> None:
        self.fail(429, self.rate_limit_body(retry_after), headers={"Retry-After": str(retry_after)},
                  path=path, content_type=self.rate_limit_content_type)

    def server_error(self, *, path: str | None = None) -> None:
        self.fail(500, {"error": "internal"}, path=path)

    def malformed(self, *, path: str | None = None) -> None:
        self.fail(200, b'{"truncated": [1, 2', path=path)

    def rate_limit_body(self, retry_after: int) -> Any:
        return {"error": "rate limited"}

    def chaos(self, rate: float, *, seed: int, statuses: tuple[int, ...] = (429, 500, 502, 503),
              max_in_a_row: int = 2) -> None:
        """Answer a seeded random ``rate`` of the following requests with one of ``statuses``
        instead, never more than ``max_in_a_row`` in a row (so bounded retries get through).

        429 and 503 carry ``Retry-After: 0``; 500 and 502 carry no hint (the client backs off).
        ``rate=0`` turns it off. Counts land in ``injected``.
        """
        with self.lock:
            self._chaos = (random.Random(seed), rate, statuses, max_in_a_row) if rate else None
            self._in_a_row = 0

    def _chaos_fault(self) -> Response | None:
        if self._chaos is None:
            return None
        rng, rate, statuses, max_in_a_row = self._chaos
        if self._in_a_row >= max_in_a_row or rng.random() >= rate:
            self._in_a_row = 0
            return None
        self._in_a_row += 1
        status = rng.choice(statuses)
        self.injected[status] += 1
        if status == 429:
            return Response(429, self.rate_limit_body(0), {"Retry-After": "0"},
                            self.rate_limit_content_type)
        return Response(status, {"error": "injected"},
                        {"Retry-After": "0"} if status == 503 else {})

    # -- per service --
    def authorized(self, request: Request) -> bool:
        return self.token is None or request.headers.get("authorization") == f"Bearer {self.token}"

    def unauthorized(self, request: Request) -> Response:
        return Response(401, {"message": "Bad credentials"})

    def route(self, request: Request) -> Response:
        raise NotImplementedError

    # -- helpers --
    def paths(self, contains: str = "") -> list[str]:
        return [r.path for r in self.requests if contains in r.path]

    def _dispatch(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("content-length") or 0)
        raw = handler.rfile.read(length) if length else b""
        ctype = handler.headers.get("content-type") or ""
        body: Any = None
        if raw and "json" in ctype:
            body = json.loads(raw)
        elif raw:
            body = parse_qs(raw.decode(), keep_blank_values=True)
        query = parse_qs(parts.query, keep_blank_values=True)
        headers = {k.lower(): v for k, v in handler.headers.items()}
        request = Request(handler.command, parts.path, query, headers, body)
        with self.lock:
            self.requests.append(request)
            fault = next((f for f in self.faults if f.path is None or f.path in request.path), None)
            if fault is not None:
                self.faults.remove(fault)
                response = fault.response
            elif (chaotic := self._chaos_fault()) is not None:
                response = chaotic
            elif not self.authorized(request):
                response = self.unauthorized(request)
            else:
                response = self.route(request)
            request.response = response
        data = response.payload()
        handler.send_response(response.status)
        handler.send_header("Content-Type", response.content_type)
        handler.send_header("Content-Length", str(len(data)))
        for name, value in response.headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)


__all__ = ["Emulator", "Fault", "Request", "Response"]
