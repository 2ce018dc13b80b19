"""Check emulator answers and client requests against the vendors' own API descriptions.

The descriptions live in ``../shared/contracts/`` (provenance in its README). A :class:`Spec`
wraps one OpenAPI 3.0/3.1 or Swagger 2.0 document; ``check_response`` validates a body against
the schema the vendor gives for that operation and status (``openapi-schema-validator``, with
``referencing`` resolving ``$ref`` inside the document), ``check_request`` checks what a client
sent against the described parameters: required ones present, no undescribed names, values of
the described type and enum, a JSON body against its request schema.

Where a description is stale or wrong, the caller passes :class:`Deviation` entries: each waives
one kind of violation, for one reason, and is reported by the test that uses it. Nothing else
is waived, so a new difference fails the test.

Parsed documents are cached per process (the big ones take a second to load).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jsonschema
from openapi_schema_validator import OAS30Validator, OAS31Validator
from referencing import Registry
from referencing.jsonschema import DRAFT4, DRAFT202012

REPO = Path(__file__).resolve().parents[2]
CONTRACTS = REPO.parent / "shared" / "contracts"
METHODS = ("get", "post", "put", "delete", "patch")


class ContractViolation(AssertionError):
    """What a request or response did that the vendor's description does not allow."""


@dataclass(frozen=True)
class Deviation:
    """A known difference between the description and the real service, waived by name.

    Args:
        operation: ``"GET /path/template"`` of the spec, or ``"*"``.
        match: a regex searched in the violation's text (``"<where>: <message>"``).
        reason: why the description is wrong or stale here (shown in the test's output).
    """

    operation: str
    match: str
    reason: str

    def waives(self, operation: str, text: str) -> bool:
        return self.operation in ("*", operation) and re.search(self.match, text) is not None


def contract_path(*parts: str) -> Path:
    path = CONTRACTS.joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: the vendor descriptions live in ../shared/contracts/ beside the "
            "repository (see its README)")
    return path


@cache
def load_json(*parts: str) -> dict[str, Any]:
    return json.loads(contract_path(*parts).read_text(encoding="utf-8"))


def _pointer(*keys: str) -> str:
    return "".join("/" + k.replace("~", "~0").replace("/", "~1") for k in keys)


def _template_regex(template: str) -> re.Pattern[str]:
    out, pos = "", 0
    for m in re.finditer(r"\{([^}]+)\}", template):
        group = re.sub(r"\W", "_", m.group(1))
        out += re.escape(template[pos:m.start()]) + f"(?P<{group}>[^/]+?)"
        pos = m.end()
    return re.compile(out + re.escape(template[pos:]) + r"\Z")


class Spec:
    """One vendor description.

    Args:
        doc: the parsed document.
        uri: a name for it (``$ref`` targets resolve inside it).
        rewrite: turns a request path as sent into the description's path (e.g. Jira ``/2/`` ->
            ``/3/``, Slack's ``/api`` base path).
    """

    def __init__(self, doc: dict[str, Any], *, uri: str, rewrite: Any = None) -> None:
        self.doc = doc
        self.uri = uri
        self.swagger2 = str(doc.get("swagger", "")).startswith("2")
        self.oas31 = str(doc.get("openapi", "")).startswith("3.1")
        spec = DRAFT202012 if self.oas31 else DRAFT4
        self.registry = Registry().with_resource(uri, spec.create_resource(doc))
        self.rewrite = rewrite or (lambda p: p)
        self.routes = [(_template_regex(t), t) for t in doc.get("paths", {})]
        self.checked: set[str] = set()  # operations with at least one validated response

    # -- lookup ------------------------------------------------------------------------------
    def template(self, path: str) -> tuple[str, dict[str, str]]:
        path = self.rewrite(path)
        hits = [(t, m.groupdict()) for rx, t in self.routes if (m := rx.match(path))]
        if not hits:
            raise ContractViolation(f"{path}: no such path in the {self.uri} description")
        # the most literal template wins (/issue/{id}/comment over /issue/{id})
        return max(hits, key=lambda h: len(re.sub(r"\{[^}]+\}", "", h[0])))

    def operation(self, method: str, path: str) -> tuple[str, dict[str, Any], dict[str, str]]:
        template, values = self.template(path)
        item = self.doc["paths"][template]
        key = method.lower()
        if key not in item and self.swagger2:  # Slack's reads are described as GET, sent as POST
            key = next((m for m in METHODS if m in item), key)
        if key not in item:
            raise ContractViolation(f"{method} {template}: not described")
        return f"{key.upper()} {template}", item[key], values

    def resolve(self, node: Any) -> Any:
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            node = self.registry.resolver().lookup(f"{self.uri}{ref}").contents
        return node

    def _validator(self, pointer: str) -> jsonschema.protocols.Validator:
        schema = {"$ref": f"{self.uri}#{quote(pointer, safe='/~')}"}
        if self.swagger2:
            return jsonschema.Draft4Validator(schema, registry=self.registry)
        cls = OAS31Validator if self.oas31 else OAS30Validator
        return cls(schema, registry=self.registry)

    def _errors(self, pointer: str, value: Any, where: str) -> list[str]:
        out = []
        for err in self._validator(pointer).iter_errors(value):
            at = "/".join(str(p) for p in err.absolute_path)
            expected = err.validator_value
            if isinstance(expected, dict) or len(repr(expected)) > 80:
                expected = "…"
            out.append(f"{where}{'/' + at if at else ''}: [{err.validator}={expected!r}] "
                       f"{err.message[:300]}")
        return out

    # -- responses ---------------------------------------------------------------------------
    def response_schema_pointer(self, op_name: str, status: int | str) -> str | None:
        method, template = op_name.split(" ", 1)
        item = self.doc["paths"][template]
        key = method.lower() if method.lower() in item else next(m for m in METHODS if m in item)
        responses = item[key].get("responses") or {}
        code = next((c for c in (str(status), f"{str(status)[0]}XX", "default") if c in responses),
                    None)
        if code is None:
            return None
        ref = responses[code].get("$ref") if isinstance(responses[code], dict) else None
        base = ("/" + ref.lstrip("#/") if ref
                else _pointer("paths", template, key, "responses", code))
        response = self.resolve(responses[code])
        if self.swagger2:
            return base + "/schema" if "schema" in response else None
        content = response.get("content") or {}
        media = next((m for m in content if "json" in m), None)
        if media is None or "schema" not in content[media]:
            return None
        return base + _pointer("content", media, "schema")

    def check_response(self, method: str, path: str, status: int | str, body: Any, *,
                       deviations: tuple[Deviation, ...] = ()) -> str:
        """Validate ``body``; return the operation name. Raises ContractViolation."""
        op_name, _, _ = self.operation(method, path)
        pointer = self.response_schema_pointer(op_name, status)
        if pointer is None:
            raise ContractViolation(f"{op_name}: the description has no JSON schema for {status}")
        errors = [e for e in self._errors(pointer, body, f"{op_name} -> {status}")
                  if not any(d.waives(op_name, e) for d in deviations)]
        if errors:
            raise ContractViolation("\n".join(errors))
        self.checked.add(op_name)
        return op_name

    def check_empty_response(self, method: str, path: str, status: int) -> str:
        """A body-less answer: the description must list ``status`` without a JSON body."""
        op_name, op, _ = self.operation(method, path)
        if str(status) not in (op.get("responses") or {}):
            raise ContractViolation(f"{op_name}: {status} is not a described answer")
        pointer = self.response_schema_pointer(op_name, status)
        if pointer is not None and self.registry.resolver().lookup(
                f"{self.uri}#{quote(pointer, safe='/~')}").contents != {}:
            raise ContractViolation(f"{op_name} -> {status}: the description has a JSON body")
        self.checked.add(op_name)
        return op_name

    # -- requests ----------------------------------------------------------------------------
    def parameters(self, op_name: str) -> list[tuple[dict[str, Any], str]]:
        """(parameter, JSON pointer of its schema) for the operation and its path item."""
        method, template = op_name.split(" ", 1)
        item = self.doc["paths"][template]
        key = method.lower() if method.lower() in item else next(m for m in METHODS if m in item)
        out = []
        for owner, params in ((("paths", template), item.get("parameters") or []),
                              (("paths", template, key), item[key].get("parameters") or [])):
            for i, raw in enumerate(params):
                if "$ref" in raw:
                    base = tuple(raw["$ref"].lstrip("#/").split("/"))
                    pointer = "/" + "/".join(base)
                else:
                    pointer = _pointer(*owner, "parameters", str(i))
                param = self.resolve(raw)
                out.append((param, pointer + ("" if self.swagger2 else "/schema")))
        return out

    def check_request(self, method: str, path: str, *, query: dict[str, list[str]],
                      headers: dict[str, str] | None = None, form: dict[str, Any] | None = None,
                      body: Any = None, deviations: tuple[Deviation, ...] = ()) -> str:
        """Check names, required ones, types and enums of what was sent.

        Raises:
            ContractViolation: every problem found.
        """
        op_name, op, path_values = self.operation(method, path)
        headers = {k.lower(): v for k, v in (headers or {}).items()}
        sent: dict[str, tuple[str, list[Any]]] = {n: ("query", v) for n, v in query.items()}
        if form:
            sent.update({n: ("formData", v if isinstance(v, list) else [v])
                         for n, v in form.items()})
        errors: list[str] = []
        described = set()
        for param, pointer in self.parameters(op_name):
            name, where = param["name"], param["in"]
            described.add(name)
            if where == "path":
                values = [path_values.get(re.sub(r"\W", "_", name))]
            elif where == "header":
                values = [headers[name.lower()]] if name.lower() in headers else []
            elif where in ("query", "formData"):
                values = sent[name][1] if name in sent else []  # Slack: form or JSON body
            else:  # body (Swagger 2) is checked below
                continue
            if not values:
                if param.get("required"):
                    errors.append(f"{op_name}: required {where} parameter {name!r} missing")
                continue
            schema = self.resolve(self.registry.resolver().lookup(
                f"{self.uri}#{quote(pointer, safe='/~')}").contents)
            kind = schema.get("type")
            value: Any = [_coerce(v, (schema.get("items") or {}).get("type")) for v in values] \
                if kind == "array" else _coerce(values[0], kind)
            errors += self._errors(pointer, value, f"{op_name} {where} {name!r}")
        for name, (where, _) in sent.items():
            if name not in described:
                errors.append(f"{op_name}: {where} parameter {name!r} is not described")
        request_body = (op.get("requestBody") or {}) if not self.swagger2 else {}
        if body is not None and request_body:
            content = self.resolve(request_body).get("content") or {}
            media = next((m for m in content if "json" in m), None)
            if media is None:
                errors.append(f"{op_name}: a JSON body was sent; the description takes "
                              f"{sorted(content)}")
            else:
                method_key = op_name.split(" ", 1)[0].lower()
                template = op_name.split(" ", 1)[1]
                pointer = _pointer("paths", template, method_key, "requestBody", "content",
                                   media, "schema")
                errors += self._errors(pointer, body, f"{op_name} body")
        elif body is not None and not self.swagger2 and not request_body:
            errors.append(f"{op_name}: a body was sent, the description takes none")
        errors = [e for e in errors if not any(d.waives(op_name, e) for d in deviations)]
        if errors:
            raise ContractViolation("\n".join(errors))
        return op_name


def _coerce(value: Any, kind: str | None) -> Any:
    """A query/form string as the type the parameter is described with (left as is if not)."""
    if not isinstance(value, str):
        if kind == "string" and isinstance(value, (list, dict)):
            return json.dumps(value)  # JSON bodies carry what forms send as JSON strings
        if kind == "string" and isinstance(value, bool):
            return "true" if value else "false"
        if kind == "string" and isinstance(value, (int, float)):
            return str(value)
        return value
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
        if kind == "boolean":
            return {"true": True, "false": False, "1": True, "0": False}.get(value, value)
    except ValueError:
        return value
    return value


def validate_all(exchanges: Iterable[Any], check_one: Callable[[Any], str | None]
                 ) -> dict[str, int]:
    """Run ``check_one`` on every exchange; it returns the operation whose answer it validated
    (None: not counted). Returns the count per operation; raises ContractViolation with every
    problem found (not just the first)."""
    problems: list[str] = []
    validated: dict[str, int] = {}
    for exchange in exchanges:
        try:
            name = check_one(exchange)
        except ContractViolation as exc:
            problems.append(str(exc))
            continue
        if name is not None:
            validated[name] = validated.get(name, 0) + 1
    if problems:
        raise ContractViolation("\n".join(dict.fromkeys(problems)))
    return validated


def check_exchanges(service: Spec, exchanges: list[Any], *,
                    deviations: tuple[Deviation, ...] = ()) -> dict[str, int]:
    """Check every logged request of an ``httpserver.Emulator`` and the JSON it answered."""

    def check_one(r: Any) -> str | None:
        name = service.check_request(r.method, r.path, query=r.query, headers=r.headers,
                                     body=r.body if r.method != "GET" else None,
                                     deviations=deviations)
        response = r.response
        if response is None or isinstance(response.body, (bytes, str)):
            return None
        service.check_response(r.method, r.path, response.status, response.body,
                               deviations=deviations)
        return name

    return validate_all(exchanges, check_one)


@cache
def spec(name: str) -> Spec:
    """The cached description of one service, by folder name."""
    if name == "discourse":
        # the whole file: /posts/{id}.json (like counts) is not in the excerpt
        return Spec(load_json("discourse", "openapi.json"), uri="urn:discourse")
    if name == "intercom":
        # Deviation: 2.11 refers to #/components/schemas/custom_attributes without defining it
        # (2.14 does: an object of key-value pairs); it gets the object part of 2.14's schema.
        doc = json.loads(json.dumps(load_json("intercom", "excerpt.2.11.json")))
        doc["components"]["schemas"].setdefault("custom_attributes", {"type": "object"})
        return Spec(doc, uri="urn:intercom")
    if name == "zendesk":
        # the excerpt holds every schema the two operations use; its paths omit ``.json``
        return Spec(load_json("zendesk", "excerpt.json"), uri="urn:zendesk",
                    rewrite=lambda p: p.removesuffix(".json"))
    if name == "jira":
        return Spec(load_json("jira", "excerpt.v3.json"), uri="urn:jira",
                    rewrite=lambda p: p.replace("/rest/api/2/", "/rest/api/3/", 1))
    if name == "slack":
        return Spec(load_json("slack", "slack_web_openapi_v2.json"), uri="urn:slack",
                    rewrite=lambda p: "/" + p.split("/api/", 1)[-1].lstrip("/"))
    if name == "github":
        from .contract_github import github_rest_doc

        return Spec(github_rest_doc(), uri="urn:github")
    raise KeyError(name)


__all__ = ["CONTRACTS", "ContractViolation", "Deviation", "Spec", "check_exchanges",
           "contract_path", "load_json", "spec"]
