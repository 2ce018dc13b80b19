"""A local Jira REST v2 emulator for the real ``jira`` client (stdlib only, 127.0.0.1).

It follows the contract of API-NOTES section 4: serverInfo (Cloud or Server), field, project,
issuetype, issue create/get/update (``self`` URLs point back here), search (Server: startAt/total)
and search/jql (Cloud: nextPageToken/isLast, and /search answers 410 like Cloud), comment,
remotelink (globalId upsert), transitions, status categories and resolutions, issueLink (type
checked, listed in both issues' ``issuelinks``).

Faults on demand (``fail_next``): any status with a body and headers (429 + Retry-After, 5xx,
400 field errors, 403); ``crash_after_create`` / ``crash_after_link``: the next create or issue
link is stored, then the response is delayed past the client's timeout. Every request is logged
in ``requests`` for assertions, and ``close_issue`` / ``edit_summary`` act as a person would.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

API = "/rest/api/2"
STATUSES = {
    "To Do": {"id": "1", "name": "To Do",
              "statusCategory": {"id": 2, "key": "new", "name": "To Do"}},
    "In Progress": {"id": "3", "name": "In Progress",
                    "statusCategory": {"id": 4, "key": "indeterminate", "name": "In Progress"}},
    "Done": {"id": "10001", "name": "Done",
             "statusCategory": {"id": 3, "key": "done", "name": "Done"}},
}
RESOLUTIONS = ["Done", "Won't Do", "Declined", "Duplicate"]
LINK_TYPES = [
    {"id": "10000", "name": "Relates", "inward": "relates to", "outward": "relates to"},
    {"id": "10001", "name": "Duplicate", "inward": "is duplicated by", "outward": "duplicates"},
    {"id": "10002", "name": "Blocks", "inward": "is blocked by", "outward": "blocks"},
]
PRIORITIES = ["Highest", "High", "Medium", "Low", "Lowest"]
FIELDS = [
    {"id": "summary", "name": "Summary", "custom": False, "clauseNames": ["summary"]},
    {"id": "description", "name": "Description", "custom": False, "clauseNames": ["description"]},
    {"id": "labels", "name": "Labels", "custom": False, "clauseNames": ["labels"]},
    {"id": "priority", "name": "Priority", "custom": False, "clauseNames": ["priority"]},
    {"id": "status", "name": "Status", "custom": False, "clauseNames": ["status"]},
    {"id": "resolution", "name": "Resolution", "custom": False, "clauseNames": ["resolution"]},
    {"id": "assignee", "name": "Assignee", "custom": False, "clauseNames": ["assignee"]},
    {"id": "components", "name": "Component/s", "custom": False, "clauseNames": ["component"]},
    {"id": "customfield_10010", "name": "Feedback area", "custom": True,
     "clauseNames": ["cf[10010]", "Feedback area"]},
]


def _with_fields(issue: dict, query: dict, default: str) -> dict:
    """The issue as Jira answers it, given the `fields` asked for (repeatable, comma-separated):
    `*all` / `*navigable` (every field here is navigable), names, `-name` to leave one out;
    names it does not know are ignored. Asked for none: ``default``."""
    asked = [f for v in query.get("fields", []) for f in v.split(",") if f] or [default]
    if asked == ["id"]:
        return {"id": issue["id"]}
    every = {"*all", "*navigable"} & set(asked) or all(f.startswith("-") for f in asked)
    left_out = {f[1:] for f in asked if f.startswith("-")}
    fields = {k: v for k, v in issue["fields"].items()
              if (every or k in asked) and k not in left_out}
    return {"id": issue["id"], "key": issue["key"], "self": issue["self"], "fields": fields}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    status: int
    body: Any
    headers: dict[str, str]
    times: int


@dataclass
class LoggedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str]
    status: int = 0
    response: Any = None  # the JSON body answered (contract tests read it)


@dataclass
class JiraState:
    issues: dict[str, dict] = field(default_factory=dict)  # key -> issue JSON
    comments: dict[str, list[dict]] = field(default_factory=dict)
    remotelinks: dict[str, list[dict]] = field(default_factory=dict)
    issue_links: list[dict] = field(default_factory=list)
    next_id: int = 10000


class JiraEmulator:
    """Start with ``with JiraEmulator(cloud=True) as jira: ...``; ``jira.url`` is the server."""

    def __init__(self, *, cloud: bool = True, project: str = "FB", page_size: int = 50,
                 auth: str | None = None, search_lag: int = 0,
                 comment_page_size: int = 100,
                 issue_types: tuple[str, ...] = ("Task", "Bug", "Story")) -> None:
        self.cloud, self.project, self.page_size = cloud, project, page_size
        self.issue_types = list(issue_types)  # the project's issue types (create checks them)
        self.search_lag = search_lag
        self.comment_page_size = comment_page_size
        self.searches = 0  # search calls answered so far
        self._indexed_at: dict[str, int] = {}  # key -> first search that sees its last change
        self.auth = auth  # expected Authorization header value (None: accept anything)
        self.state = JiraState()
        self.requests: list[LoggedRequest] = []
        self.faults: list[Fault] = []
        self.crash_delay: float | None = None
        self.link_crash_delay: float | None = None
        self._lock = threading.RLock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> JiraEmulator:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- fault injection and human actions -------------------------------------------------
    def fail_next(self, method: str, path: str, status: int, body: Any = None, *,
                  headers: dict[str, str] | None = None, times: int = 1) -> None:
        """The next ``times`` requests matching ``method`` and the ``path`` regex get ``status``."""
        self.faults.append(Fault(method, re.compile(path), status, body, headers or {}, times))

    def crash_after_create(self, delay: float) -> None:
        """Store the next created issue, then answer only after ``delay`` seconds."""
        self.crash_delay = delay

    def crash_after_link(self, delay: float) -> None:
        """Store the next issue link, then answer only after ``delay`` seconds."""
        self.link_crash_delay = delay

    def links_between(self, a: str, b: str) -> list[dict]:
        """Issue links joining ``a`` and ``b`` (either direction), duplicates included."""
        return [lk for lk in self.state.issue_links
                if {lk["inwardIssue"]["key"], lk["outwardIssue"]["key"]} == {a, b}]

    def add_issue(self, summary: str, description: str = "", *, labels: list[str] | None = None,
                  status: str = "To Do", resolution: str | None = None) -> str:
        """An issue a person filed (the existing backlog)."""
        with self._lock:
            key = self._create({"project": {"key": self.project}, "issuetype": {"name": "Task"},
                                "summary": summary, "description": description,
                                "labels": labels or []})
        if status == "Done":
            self.close_issue(key, resolution or "Done")
        return key

    def close_issue(self, key: str, resolution: str = "Done", *,
                    at: datetime | None = None) -> None:
        """Move an issue to Done with a resolution (Done, Won't Do, Declined, ...)."""
        with self._lock:
            f = self.state.issues[key]["fields"]
            f["status"] = STATUSES["Done"]
            f["resolution"] = {"name": resolution}
            f["resolutiondate"] = (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")

    def edit_summary(self, key: str, summary: str) -> None:
        with self._lock:
            self.state.issues[key]["fields"]["summary"] = summary

    def issues_with_label(self, label: str) -> list[dict]:
        return [i for i in self.state.issues.values() if label in i["fields"]["labels"]]

    def calls(self, method: str, path_regex: str) -> list[LoggedRequest]:
        return [r for r in self.requests if r.method == method and re.search(path_regex, r.path)]

    # --- the API --------------------------------------------------------------------------
    def _self(self, issue_id: str) -> str:
        return f"{self.url}{API}/issue/{issue_id}"

    def _create(self, fields: dict) -> str:
        self.state.next_id += 1
        iid = str(self.state.next_id)
        key = f"{self.project}-{len(self.state.issues) + 1}"
        f = {"summary": "", "description": None, "labels": [], "priority": {"name": "Medium"},
             "assignee": None, "components": [], "issuelinks": [], **fields}
        f["project"] = {"key": self.project, "id": "10000"}
        f["priority"] = {"name": (fields.get("priority") or {}).get("name", "Medium")}
        f.update(status=STATUSES["To Do"], resolution=None, resolutiondate=None,
                 created=_now(), updated=_now())
        self.state.issues[key] = {"id": iid, "key": key, "self": self._self(iid), "fields": f}
        self._indexed_at[key] = self.searches + self.search_lag
        self.state.comments[key] = []
        self.state.remotelinks[key] = []
        return key

    def _issue_types(self) -> list[dict]:
        ids = {"Task": "3", "Bug": "1", "Story": "10001"}
        return [{"id": ids.get(name, str(10100 + i)), "name": name, "subtask": False}
                for i, name in enumerate(self.issue_types)]

    def _find(self, ref: str) -> dict | None:
        if ref in self.state.issues:
            return self.state.issues[ref]
        return next((i for i in self.state.issues.values() if i["id"] == ref), None)

    def _validate(self, fields: dict) -> dict[str, str]:
        errors = {}
        if "summary" in fields and not 0 < len(fields["summary"] or "") <= 255:
            errors["summary"] = "Summary must be less than 255 characters."
        for name in ("description",):
            if len(fields.get(name) or "") > 32_767:
                errors[name] = "The entered text is too long. It exceeds the allowed limit of " \
                               "32767 characters."
        if "priority" in fields and fields["priority"].get("name") not in PRIORITIES:
            errors["priority"] = f"Specify a valid priority: {fields['priority']}"
        if any(" " in lb for lb in fields.get("labels") or []):
            errors["labels"] = "Labels cannot contain spaces."
        return errors

    def handle(self, method: str, path: str, query: dict, body: Any) -> tuple[int, Any, dict]:
        st = self.state
        if path == f"{API}/serverInfo":
            return 200, {"baseUrl": self.url, "version": "1001.0.0" if self.cloud else "9.12.0",
                         "versionNumbers": [1001, 0, 0] if self.cloud else [9, 12, 0],
                         "deploymentType": "Cloud" if self.cloud else "Server"}, {}
        if path == "/rest/applinks/latest/listApplicationlinks":
            return 200, [], {}
        if path == f"{API}/field":
            return 200, FIELDS, {}
        if path in (f"{API}/issuetype", f"{API}/priority", f"{API}/resolution", f"{API}/status",
                    f"{API}/issueLinkType"):
            kind = path.rsplit("/", 1)[1]
            data = {"issuetype": self._issue_types(),
                    "priority": [{"id": str(i), "name": n} for i, n in enumerate(PRIORITIES, 1)],
                    "resolution": [{"id": str(i), "name": n} for i, n in enumerate(RESOLUTIONS, 1)],
                    "status": list(STATUSES.values()),
                    "issueLinkType": {"issueLinkTypes": LINK_TYPES}}[kind]
            return 200, data, {}
        if m := re.fullmatch(rf"{API}/project/([^/]+)", path):
            if m.group(1) not in (self.project, "10000"):
                msg = f"No project could be found with key '{m.group(1)}'."
                return 404, {"errorMessages": [msg], "errors": {}}, {}
            return 200, {"id": "10000", "key": self.project, "name": "Feedback",
                         "issueTypes": self._issue_types()}, {}
        if path == f"{API}/issue" and method == "POST":
            fields = body["fields"]
            errors = self._validate(fields)
            if (fields.get("project") or {}).get("key") not in (self.project, None):
                errors["project"] = "valid project is required"
            # Jira answers an issue type the project does not have with a field error.
            if (fields.get("issuetype") or {}).get("name") not in self.issue_types:
                errors["issuetype"] = "Specify a valid issue type"
            if errors:
                return 400, {"errorMessages": [], "errors": errors}, {}
            key = self._create(fields)
            issue = st.issues[key]
            if self.crash_delay is not None:
                delay, self.crash_delay = self.crash_delay, None
                return -1, delay, {}
            return 201, {"id": issue["id"], "key": key, "self": issue["self"]}, {}
        if path == f"{API}/issueLink" and method == "POST":
            return self._link(body)
        if path in (f"{API}/search", f"{API}/search/jql"):
            return self._search(path.endswith("/jql"), query)
        m = re.fullmatch(rf"{API}/issue/([^/]+)(/comment|/remotelink|/transitions)?", path)
        if m is None:
            return 404, {"errorMessages": [f"no route {method} {path}"], "errors": {}}, {}
        issue = self._find(m.group(1))
        if issue is None:
            return 404, {"errorMessages": ["Issue does not exist or you do not have permission "
                                           "to see it."], "errors": {}}, {}
        key, sub = issue["key"], m.group(2)
        if sub is None and method == "GET":  # all fields unless asked for some
            return 200, _with_fields(issue, query, "*all"), {}
        if sub is None and method == "PUT":
            fields = body.get("fields") or {}
            errors = self._validate(fields)
            if errors:
                return 400, {"errorMessages": [], "errors": errors}, {}
            issue["fields"].update(fields)
            for op in (body.get("update") or {}).get("labels", []):
                labels = issue["fields"]["labels"]
                if "add" in op and op["add"] not in labels:
                    labels.append(op["add"])
                if "remove" in op and op["remove"] in labels:
                    labels.remove(op["remove"])
            issue["fields"]["updated"] = _now()
            return 204, None, {}
        if sub == "/comment":
            if method == "POST":
                if len(body.get("body") or "") > 32_767:
                    return 400, {"errorMessages": [], "errors": {"comment": "The entered text is "
                                 "too long. It exceeds the allowed limit of 32767 characters."}}, {}
                c = {"id": str(len(st.comments[key]) + 1), "body": body["body"], "created": _now(),
                     "self": f"{self._self(issue['id'])}/comment/{len(st.comments[key]) + 1}"}
                st.comments[key].append(c)
                return 201, c, {}
            cs = st.comments[key]
            start = int(query.get("startAt", ["0"])[0])
            size = min(int(query.get("maxResults", [str(self.comment_page_size)])[0]),
                       self.comment_page_size)
            return 200, {"startAt": start, "maxResults": size, "total": len(cs),
                         "comments": cs[start:start + size]}, {}
        if sub == "/remotelink":
            links = st.remotelinks[key]
            if method == "GET":
                return 200, links, {}
            gid = body.get("globalId")
            old = next((lk for lk in links if gid and lk.get("globalId") == gid), None)
            if old is not None:
                old.update(body)
                return 200, {"id": old["id"], "self": old["self"]}, {}
            lid = sum(len(v) for v in st.remotelinks.values()) + 100
            link = {"id": lid, "self": f"{self._self(issue['id'])}/remotelink/{lid}", **body}
            links.append(link)
            return 201, {"id": lid, "self": link["self"]}, {}
        if method == "GET":
            return 200, {"transitions": [
                {"id": "31", "name": "Done", "to": STATUSES["Done"]},
                {"id": "11", "name": "To Do", "to": STATUSES["To Do"]}]}, {}
        tid = body["transition"]["id"]
        if tid == "31":
            res = ((body.get("fields") or {}).get("resolution") or {}).get("name", "Done")
            self.close_issue(key, res)
        else:
            issue["fields"].update(status=STATUSES["To Do"], resolution=None, resolutiondate=None)
        return 204, None, {}

    def _link(self, body: dict) -> tuple[int, Any, dict]:
        """POST issueLink. Like Jira, the issue's ``issuelinks`` field lists it on both sides;
        an identical link is stored again ([U] whether Jira refuses it), so a client that does
        not check first makes a visible duplicate."""
        name = (body.get("type") or {}).get("name")
        link_type = next((t for t in LINK_TYPES if t["name"] == name), None)
        if link_type is None:
            return 404, {"errorMessages": [f"No issue link type with name '{name}' found."],
                         "errors": {}}, {}
        inward, outward = (self._find((body.get(side) or {}).get("key", ""))
                           for side in ("inwardIssue", "outwardIssue"))
        if inward is None or outward is None:
            return 404, {"errorMessages": ["Issue Does Not Exist"], "errors": {}}, {}
        lid = str(10000 + len(self.state.issue_links) + 1)
        link = {"id": lid, "type": link_type, "inwardIssue": {"key": inward["key"]},
                "outwardIssue": {"key": outward["key"]}}
        self.state.issue_links.append(link)
        ref = {"id": lid, "self": f"{self.url}{API}/issueLink/{lid}", "type": link_type}
        inward["fields"]["issuelinks"].append(
            {**ref, "outwardIssue": {"id": outward["id"], "key": outward["key"]}})
        outward["fields"]["issuelinks"].append(
            {**ref, "inwardIssue": {"id": inward["id"], "key": inward["key"]}})
        for issue in (inward, outward):
            issue["fields"]["updated"] = _now()
        if self.link_crash_delay is not None:
            delay, self.link_crash_delay = self.link_crash_delay, None
            return -1, delay, {}
        return 201, None, {}

    def _search(self, jql_endpoint: bool, query: dict) -> tuple[int, Any, dict]:
        if self.cloud and not jql_endpoint:
            return 410, {"errorMessages": ["The requested API has been removed. Please migrate "
                                           "to the /rest/api/3/search/jql API."]}, {}
        if not self.cloud and jql_endpoint:
            return 404, {"errorMessages": ["null for uri"]}, {}
        try:
            pred = _parse_jql(query["jql"][0])
        except ValueError as exc:
            return 400, {"errorMessages": [str(exc)], "errors": {}}, {}
        self.searches += 1
        hits = [i for i in self.state.issues.values() if pred(i["fields"])
                and self._indexed_at.get(i["key"], 0) < self.searches]
        order = re.search(r"ORDER\s+BY\s+(key|created)(?:\s+(ASC|DESC))?", query["jql"][0], re.I)
        if order:
            hits.sort(key=lambda i: int(i["id"]), reverse=(order.group(2) or "").upper() == "DESC")
        size = min(int(query.get("maxResults", ["50"])[0]), self.page_size)
        # Asked for no fields, /search/jql answers issue ids only, /search (Server) the
        # navigable fields.
        hits = [_with_fields(i, query, "id" if jql_endpoint else "*navigable") for i in hits]
        if jql_endpoint:
            start = int(query.get("nextPageToken", ["0"])[0])
            page = hits[start:start + size]
            more = start + size < len(hits)
            data = {"issues": page, "isLast": not more}
            if more:
                data["nextPageToken"] = str(start + size)
            return 200, data, {}
        start = int(query.get("startAt", ["0"])[0])
        return 200, {"startAt": start, "maxResults": size, "total": len(hits),
                     "issues": hits[start:start + size]}, {}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        emu = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _serve(self) -> None:
                url = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                logged = LoggedRequest(self.command, url.path, parse_qs(url.query), body,
                                       dict(self.headers))
                with emu._lock:
                    emu.requests.append(logged)
                    status, data, headers = self._answer(url, body)
                logged.status = status if status > 0 else 201
                logged.response = data if status > 0 else None
                if status == -1:  # crash after create: the issue exists, the answer is late
                    time.sleep(data)
                    self.close_connection = True
                    return
                payload = b"" if data is None else json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json;charset=UTF-8")
                self.send_header("Content-Length", str(len(payload)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)

            def _answer(self, url: Any, body: Any) -> tuple[int, Any, dict]:
                if emu.auth is not None and self.headers.get("Authorization") != emu.auth:
                    return 401, {"errorMessages": ["You are not authenticated."]}, {}
                for fault in emu.faults:
                    if fault.times > 0 and fault.method == self.command and \
                            fault.path.search(url.path):
                        fault.times -= 1
                        return fault.status, fault.body, fault.headers
                return emu.handle(self.command, url.path, parse_qs(url.query), body)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

        return Handler


# --- a small JQL subset: project, labels, status, statusCategory, resolution, resolved, key ----
_TOKEN = re.compile(r'\s*(?:(\()|(\))|(,)|("(?:[^"\\]|\\.)*")|(!=|>=|<=|=|>|<|~)|([\w\-.\[\]]+))')


def _tokens(jql: str) -> list[str]:
    out, pos = [], 0
    jql = re.split(r"\s+ORDER\s+BY\s+", jql, flags=re.I)[0].strip()
    while pos < len(jql):
        m = _TOKEN.match(jql, pos)
        if m is None or m.end() == pos:
            raise ValueError(f"Error in the JQL Query: cannot parse at {jql[pos:]!r}")
        tok = m.group(0).strip()
        out.append(tok[1:-1] if tok.startswith('"') else tok)
        pos = m.end()
    return out


def _parse_jql(jql: str):  # noqa: ANN202 - returns a predicate over issue fields
    toks = _tokens(jql)
    pos = 0

    def peek() -> str | None:
        return toks[pos] if pos < len(toks) else None

    def take() -> str:
        nonlocal pos
        pos += 1
        return toks[pos - 1]

    def expr():  # noqa: ANN202
        left = term()
        while (peek() or "").upper() == "OR":
            take()
            right, prev = term(), left
            left = lambda f, a=prev, b=right: a(f) or b(f)  # noqa: E731
        return left

    def term():  # noqa: ANN202
        left = factor()
        while (peek() or "").upper() == "AND":
            take()
            right, prev = factor(), left
            left = lambda f, a=prev, b=right: a(f) and b(f)  # noqa: E731
        return left

    def factor():  # noqa: ANN202
        if peek() == "(":
            take()
            inner = expr()
            take()
            return inner
        name, op = take().lower(), take().upper()
        if op == "NOT" and (peek() or "").upper() == "IN":
            take()
            op = "NOT IN"
        if op in ("IN", "NOT IN"):
            take()
            values = []
            while peek() != ")":
                tok = take()
                if tok != ",":
                    values.append(tok)
            take()
        else:
            values = [take()]
        return _clause(name, op, values)

    pred = expr()
    if pos != len(toks):
        raise ValueError(f"Error in the JQL Query: unexpected {toks[pos]!r}")
    return pred


def _clause(name: str, op: str, values: list[str]):  # noqa: ANN202
    def get(f: dict) -> list[str]:
        if name == "project":
            return [f["project"]["key"]]
        if name == "labels":
            return f["labels"]
        if name == "status":
            return [f["status"]["name"].lower()]
        if name == "statuscategory":
            return [f["status"]["statusCategory"]["name"].lower()]
        if name == "resolution":
            return [(f["resolution"] or {}).get("name", "Unresolved").lower()]
        raise ValueError(f"Field '{name}' does not exist or you do not have permission to view it.")

    if name == "resolved":
        days = int(values[0].strip("-d"))
        since = datetime.now(UTC) - timedelta(days=days)

        def resolved(f: dict) -> bool:
            if not f.get("resolutiondate"):
                return False
            at = datetime.strptime(f["resolutiondate"], "%Y-%m-%dT%H:%M:%S.%f%z")
            return at >= since if op == ">=" else at < since
        return resolved
    wanted = {v.lower() for v in values} if name != "labels" else set(values)

    def match(f: dict) -> bool:
        have = set(get(f)) if name == "labels" else {v.lower() for v in get(f)}
        hit = bool(have & wanted)
        return hit if op in ("=", "IN") else not hit
    return match


__all__ = ["JiraEmulator", "LoggedRequest"]
