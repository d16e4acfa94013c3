"""The OpenAPI 3.1 document of API v1, generated from the operations' models and routes (app/web/api/spec.py),
plus what every operation of a kind can answer: the boundary's 400, 401 when secured, 404 with a path
parameter, 413 with a body, 429 where a rate limit applies (app/web/limits.py), and on every authenticated
state-changing operation the ``Idempotency-Key`` header with its 409 and 422 (app/web/api/idempotency.py)."""

from __future__ import annotations

import copy
import re
from typing import Any

from flask import current_app

from app.web.api.idempotency import CHANGING, HEADER, MAX_KEY, REPLAYED
from app.web.api.spec import FILE_ANSWERS, OPTIONAL_BODIES, api
from app.web.limits import GROUPS, RATE_LIMITS

PREFIX = "/api/v1"
ERROR = {"$ref": "#/components/schemas/Error"}
_COMMON = {400: "Text no column can hold in the path, query or form (NUL byte, lone surrogate), or a malformed body",
           401: "Missing or invalid bearer token", 404: "Unknown procedure, dossier or task (ids past 2³¹−1 too)",
           413: "Request body over this operation's limit",
           429: "Rate limit reached: wait the number of seconds in Retry-After"}


def openapi_document() -> dict[str, Any]:
    """Generated once per app (the routes and models do not change while it runs)."""
    doc: dict[str, Any] | None = current_app.extensions.get("motcua_openapi")
    if doc is None:
        doc = _generate()
        current_app.extensions["motcua_openapi"] = doc
    return doc


def _generate() -> dict[str, Any]:
    generated = copy.deepcopy(api.spec)
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": generated["info"],
        "servers": [{"url": PREFIX}],
        "paths": {path.removeprefix(PREFIX): ops for path, ops in sorted(generated["paths"].items())},
        "components": generated["components"],
    }
    limited = _rate_limited_operations()
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            for key in ("tags", "description"):
                if not op.get(key):
                    op.pop(key, None)
            _validation_status(op)
            if op["operationId"] in OPTIONAL_BODIES:
                op["requestBody"]["required"] = False
            if op["operationId"] in FILE_ANSWERS:
                description, media_types = FILE_ANSWERS[op["operationId"]]
                op["responses"]["200"] = {"description": description, "content": {
                    kind: {"schema": {"type": "string", "contentMediaType": kind}} for kind in media_types}}
            _common_statuses(path, method, op, limited)
            if method.upper() in CHANGING and op.get("security"):
                _idempotency(op)
    return doc


IDEMPOTENCY_KEY = {
    "name": HEADER, "in": "header", "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY + 2},
    "example": '"8e03978e-40d5-43e8-bc93-6894a57f9324"',
    "description": (
        "A key the client makes unique per request (a UUID), as a quoted string (IETF httpapi Idempotency-Key "
        "draft); 1 to 255 printable ASCII characters. When the request succeeds, its answer is stored with its "
        "effect, in one transaction. Sending the same request again (same method, path, query and body) with the "
        "same key, e.g. after a timeout or a dropped connection, returns that stored answer with "
        f"`{REPLAYED}: true` and changes nothing; the same key with another request gets 422 "
        "(`idempotency_key_reused`); while the first request is still running, 409 (`idempotency_key_in_flight`, "
        "with Retry-After). An answer that was an error is not stored: the retry runs again. Keys are kept "
        "IDEMPOTENCY_KEY_HOURS (24 h by default). Without the header the operation behaves as it always did."),
}
_IDEMPOTENCY_ERRORS = {
    "409": "the first request with this Idempotency-Key is still running (`idempotency_key_in_flight`)",
    "422": "this Idempotency-Key was used for another request (`idempotency_key_reused`)",
    "400": "an Idempotency-Key that is not a quoted string of 1 to 255 printable ASCII characters "
           "(`idempotency_key_invalid`)",
}


def _idempotency(op: dict[str, Any]) -> None:
    """The Idempotency-Key header, its replay marker on successes and its refusals on the error statuses."""
    op.setdefault("parameters", []).append(dict(IDEMPOTENCY_KEY))
    for status, answer in op["responses"].items():
        if status.startswith("2"):
            answer.setdefault("headers", {})[REPLAYED] = {
                "schema": {"type": "string", "enum": ["true"]},
                "description": "Present when this is the stored answer of an earlier request with the same "
                               "Idempotency-Key"}
    for status, text in _IDEMPOTENCY_ERRORS.items():
        answer = op["responses"].setdefault(status, {"description": "",
                                                      "content": {"application/json": {"schema": ERROR}}})
        answer["description"] = f"{answer['description']}; or {text}" if answer["description"] else text.capitalize()


def _validation_status(op: dict[str, Any]) -> None:
    """spectree gives every operation a 422 for its models; keep it only where a body or query is validated."""
    answer = op["responses"].get("422")
    if answer is None or answer["description"] != "Unprocessable Content":
        return
    if "requestBody" in op or any(p["in"] == "query" for p in op.get("parameters", [])):
        answer["description"] = "Validation failed: details maps JSON pointers to messages"
    else:
        del op["responses"]["422"]


def _common_statuses(path: str, method: str, op: dict[str, Any], limited: dict[tuple[str, str], list[str]]) -> None:
    codes = [400]
    if op.get("security"):
        codes.append(401)
    if "{" in path:
        codes.append(404)
    if "requestBody" in op:
        codes.append(413)
    if (path, method) in limited:
        codes.append(429)
    for code in codes:
        if str(code) not in op["responses"]:
            op["responses"][str(code)] = {"description": _COMMON[code],
                                          "content": {"application/json": {"schema": ERROR}}}
    if (path, method) in limited:
        groups = ", ".join(limited[(path, method)])
        op["responses"]["429"]["description"] = f"{_COMMON[429]} (limits, shared by a group's pages: {groups})"
        op["responses"]["429"]["headers"] = {"Retry-After": {"schema": {"type": "integer"},
                                                             "description": "Seconds to wait"}}


def _rate_limited_operations() -> dict[tuple[str, str], list[str]]:
    """(path, method) → the names of the rate-limit groups that count it, read from the running app's routes."""
    found: dict[tuple[str, str], list[str]] = {}
    for rule in current_app.url_map.iter_rules():
        if rule.endpoint not in RATE_LIMITS or not rule.rule.startswith(PREFIX + "/"):
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule.removeprefix(PREFIX))
        for name in RATE_LIMITS[rule.endpoint]:
            for method in (rule.methods or set()) & set(GROUPS[name].methods):
                limit = current_app.config.get(GROUPS[name].setting, "")
                found.setdefault((path, method.lower()), []).append(f"{name}: {limit}")
    return found
