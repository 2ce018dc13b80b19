"""GitHub's descriptions for the contract tests: the REST excerpt (not an OpenAPI file) as a
minimal OpenAPI document, and the public GraphQL schema (graphql-core)."""

from __future__ import annotations

from functools import cache
from typing import Any

from .contract import ContractViolation, contract_path, load_json


def github_rest_doc() -> dict[str, Any]:
    """The GitHub REST excerpt (not an OpenAPI file) as a minimal OpenAPI 3.1 document.

    It keeps what the excerpt states: the operation's parameters (names, enums), and of the
    ``issue`` schema the required fields and the ``labels`` item shapes (string or object).
    """
    raw = load_json("github", "rest-issues-list-for-repo.excerpt.json")
    op = raw["/repos/{owner}/{repo}/issues"]["get"]
    issue = raw["components/schemas/issue (fields the mapping reads)"]
    shared = {
        "owner": {"name": "owner", "in": "path", "required": True, "schema": {"type": "string"}},
        "repo": {"name": "repo", "in": "path", "required": True, "schema": {"type": "string"}},
        "labels": {"name": "labels", "in": "query", "schema": {"type": "string"}},
        "direction": {"name": "direction", "in": "query",
                      "schema": {"type": "string", "enum": ["asc", "desc"]}},
        "since": {"name": "since", "in": "query",
                  "schema": {"type": "string", "format": "date-time"}},
        "per-page": {"name": "per_page", "in": "query",
                     "schema": {"type": "integer", "default": 30}},
        "page": {"name": "page", "in": "query", "schema": {"type": "integer", "default": 1}},
    }
    params = []
    for p in op["parameters"]:
        if isinstance(p, str):
            params.append(shared[p.rsplit("/", 1)[1]])
        else:
            params.append({"in": "query", "schema": {"type": "string"}, **p})
    issue_schema = {
        "type": "object", "required": issue["required"],
        "properties": {"labels": issue["labels"], "number": {"type": "integer"},
                       "title": {"type": "string"}, "body": {"type": ["string", "null"]},
                       "user": {"type": ["object", "null"]},
                       "reactions": {"type": "object"}, "pull_request": {"type": "object"}},
    }
    return {"openapi": "3.1.0", "paths": {
        "/repos/{owner}/{repo}/issues": {"get": {
            "parameters": params,
            "responses": {"200": {"content": {"application/json": {"schema": {
                "type": "array", "items": issue_schema}}}}}}},
        "/repos/{owner}/{repo}/issues/{issue_number}/comments": {"get": _list_comments(shared)},
    }}


# GitHub's author_association enum (schema ``author-association``).
ASSOCIATIONS = ["COLLABORATOR", "CONTRIBUTOR", "FIRST_TIMER", "FIRST_TIME_CONTRIBUTOR",
                "MANNEQUIN", "MEMBER", "NONE", "OWNER"]


def _list_comments(shared: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``issues/list-comments``. Deviation: ``../shared/contracts`` holds no excerpt of this
    operation, so this part is transcribed from GitHub's REST reference ("List issue comments",
    docs.github.com/rest/issues/comments, API version 2022-11-28): its parameters and the
    ``issue-comment`` schema's required fields and ``author_association`` enum."""
    comment = {
        "type": "object",
        "required": ["id", "node_id", "html_url", "issue_url", "author_association", "user",
                     "url", "created_at", "updated_at"],
        "properties": {
            "id": {"type": "integer"}, "node_id": {"type": "string"},
            "body": {"type": "string"}, "user": {"type": ["object", "null"]},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
            "author_association": {"type": "string", "enum": ASSOCIATIONS},
        },
    }
    number = {"name": "issue_number", "in": "path", "required": True,
              "schema": {"type": "integer"}}
    return {"parameters": [shared["owner"], shared["repo"], number, shared["since"],
                           shared["per-page"], shared["page"]],
            "responses": {"200": {"content": {"application/json": {"schema": {
                "type": "array", "items": comment}}}},
                "404": {"content": {"application/json": {"schema": {"type": "object"}}}}}}


@cache
def github_graphql_schema():  # noqa: ANN201 - graphql.GraphQLSchema
    """GitHub's public GraphQL schema (1.2 MB of SDL: parsed once per session).

    Deviation: the published SDL defines ``EnterpriseOwnerInfo.repositoryDeployKeySetting`` and
    ``...Organizations`` twice (identically), which strict SDL validation refuses; it is built
    with ``assume_valid_sdl`` (the later definition wins). It also deprecates fields of some
    types (``Project.id``, ``TeamDiscussion.url``...) that their interfaces do not, which
    graphql-core 3.3's newer type-system rules refuse: ``assume_valid`` skips those checks.
    Queries are still validated against it, and results executed through it.
    """
    from graphql import build_schema

    return build_schema(contract_path("github", "schema.graphql").read_text(encoding="utf-8"),
                        assume_valid_sdl=True, assume_valid=True)


def check_graphql(query: str, variables: dict[str, Any], data: dict[str, Any]) -> None:
    """The query is valid against GitHub's schema, and ``data`` is a result it could produce.

    The response is executed back through the schema (default resolvers read the dicts, and
    ``__typename`` picks the type of an interface), so a missing non-null field, a wrong enum
    or scalar, or an impossible ``__typename`` is an error. Raises ContractViolation.
    """
    from graphql import graphql_sync, parse, validate

    schema = github_graphql_schema()
    problems = validate(schema, parse(query))
    if problems:
        raise ContractViolation("query: " + "; ".join(p.message for p in problems))
    result = graphql_sync(schema, query, root_value=data, variable_values=variables)
    if result.errors:
        raise ContractViolation("response: " + "; ".join(
            f"{'/'.join(map(str, e.path or []))}: {e.message}" for e in result.errors))
    if result.data != data:
        raise ContractViolation(f"response has fields the query did not ask for: {data}")


__all__ = ["check_graphql", "github_graphql_schema", "github_rest_doc"]
