"""Idempotency keys on the API's state-changing operations (the IETF httpapi draft's ``Idempotency-Key`` header).

A client that did not get its answer (a 500, a dropped connection, a timeout) cannot tell whether its request
took effect; retrying a completion gets 409 although it was the first one that won. With a key, it can retry
safely:

- the first request with a key runs as usual; when it succeeds (2xx), its answer (status, body, Content-Type,
  Location) is stored under (user, key) in the SAME transaction as its effect: the row exists exactly when the
  effect was committed, whatever dies afterwards;
- a request with a stored key and the same method, path, query and body gets the stored answer again, marked
  ``Idempotent-Replayed: true``, and changes nothing;
- the same key with another request: 422 ``idempotency_key_reused``;
- while the first request is still running (its transaction open), a duplicate gets 409
  ``idempotency_key_in_flight`` with ``Retry-After``: a PostgreSQL advisory lock held by the first request's
  transaction (on SQLite, the one process's own registry), and the unique (user, key) row as the last word;
- an error answer stores nothing (its transaction was rolled back): the retry runs again;
- keys are kept ``IDEMPOTENCY_KEY_HOURS``; ``flask api prune`` deletes older ones, and an older key found before
  then counts as unused.

Without the header nothing here touches the database: the operation's only extra is the commit it would have
made anyway, done here after the view answered instead of inside it.
"""

from __future__ import annotations

import hashlib
import re
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import wraps
from typing import Any

from flask import Response, current_app, g, make_response, request
from flask_babel import gettext
from sqlalchemy import delete, select, text
from sqlalchemy.exc import IntegrityError

from app.clock import now_utc
from app.extensions import db
from app.models import IdempotentRequest
from app.web.errors import error_response

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_KEY = 255
_STORED_HEADERS = ("Content-Type", "Location")
_BARE = re.compile(r"^[\x21-\x7e]{1,255}$")  # a key sent without the quotes of an sf-string (lenient)
_LOCK_NAMESPACE = zlib.crc32(b"idempotency") & 0x7FFFFFFF

_in_flight: set[tuple[int, str]] = set()  # SQLite (one process): keys whose first request is running here
_in_flight_guard = threading.Lock()


class KeyProblem(Exception):
    """The header is not a key this API accepts; the message says why, in the reader's language."""


def parse_key(raw: str) -> str:
    """The key of an ``Idempotency-Key`` header: an sf-string (RFC 8941: ``"…"``, with ``\\"`` and ``\\\\``
    escapes) of 1 to 255 printable ASCII characters; a bare value of visible ASCII is accepted too."""
    value = raw.strip()
    if value.startswith('"'):
        out: list[str] = []
        i, closed = 1, False
        while i < len(value):
            char = value[i]
            if char == "\\" and i + 1 < len(value) and value[i + 1] in '"\\':
                out.append(value[i + 1])
                i += 2
                continue
            if char == '"':
                closed = i == len(value) - 1
                break
            if not " " <= char <= "~" or char == "\\":
                break
            out.append(char)
            i += 1
        key = "".join(out)
        if closed and 0 < len(key) <= MAX_KEY:
            return key
    elif _BARE.match(value):
        return value
    raise KeyProblem(gettext('Khóa Idempotency-Key phải là một chuỗi từ 1 đến 255 ký tự ASCII in được, đặt trong '
                             'dấu ngoặc kép, ví dụ "8e03978e-40d5-43e8-bc93-6894a57f9324".'))


def fingerprint() -> str:
    """SHA-256 of what makes two requests the same: method, path, query string and body. A multipart body is
    read as its fields and its files' names, types and contents (its boundary changes from one try to the next)."""
    digest = hashlib.sha256()
    for part in (request.method, request.path, request.query_string.decode("latin-1")):
        digest.update(part.encode("utf-8", "surrogateescape") + b"\0")
    if request.mimetype == "multipart/form-data":
        for name, value in sorted(request.form.items(multi=True)):
            digest.update(f"field\0{name}\0{value}\0".encode("utf-8", "surrogateescape"))
        for name, upload in sorted(request.files.items(multi=True), key=lambda item: (item[0], item[1].filename or "")):
            content = hashlib.sha256()
            upload.stream.seek(0)
            while chunk := upload.stream.read(1 << 16):
                content.update(chunk)
            upload.stream.seek(0)
            digest.update(f"file\0{name}\0{upload.filename}\0{upload.mimetype}\0{content.hexdigest()}\0"
                          .encode("utf-8", "surrogateescape"))
    else:
        digest.update(request.get_data(cache=True))
    return digest.hexdigest()


@dataclass(frozen=True)
class Stored:
    fingerprint: str
    status: int
    headers: dict[str, str]
    body: bytes


def _answer(stored: Stored, fingerprint: str) -> Response:
    """The stored answer again for the same request; 422 for another one under the same key."""
    if stored.fingerprint != fingerprint:
        return error_response(422, "idempotency_key_reused", gettext(
            "Khóa Idempotency-Key này đã được dùng cho một yêu cầu khác (khác địa chỉ hoặc nội dung); mỗi yêu cầu "
            "mới cần một khóa mới."))
    response = Response(stored.body, status=stored.status)
    for name, value in stored.headers.items():
        response.headers[name] = value
    response.headers[REPLAYED] = "true"
    return response


def _in_flight_answer() -> Response:
    return error_response(409, "idempotency_key_in_flight", gettext(
        "Một yêu cầu với cùng khóa Idempotency-Key đang được xử lý; vui lòng thử lại sau giây lát."),
        {"Retry-After": "1"})


def lock_number(user_id: int, key: str) -> tuple[int, int]:
    """The PostgreSQL advisory lock (namespace, number) of a user's key."""
    return _LOCK_NAMESPACE, int.from_bytes(hashlib.sha256(f"{user_id}\0{key}".encode()).digest()[:4], "big") >> 1


def _claim_lock(user_id: int, key: str) -> bool:
    """Take the key for this request's transaction; False when another transaction holds it."""
    if db.session.get_bind().dialect.name == "postgresql":
        namespace, number = lock_number(user_id, key)
        return bool(db.session.execute(text("SELECT pg_try_advisory_xact_lock(:a, :b)"),
                                       {"a": namespace, "b": number}).scalar())
    with _in_flight_guard:
        if (user_id, key) in _in_flight:
            return False
        _in_flight.add((user_id, key))
        g.idempotency_local = (user_id, key)
        return True


def _release_local() -> None:
    claimed = g.pop("idempotency_local", None)
    if claimed is not None:
        with _in_flight_guard:
            _in_flight.discard(claimed)


def _stored(user_id: int, key: str) -> Stored | None:
    """What the key answered, read as plain values (they outlive the rollback that follows)."""
    t = IdempotentRequest
    row = db.session.execute(select(t.id, t.created_at, t.fingerprint, t.status, t.headers, t.body)
                             .where(t.user_id == user_id, t.key == key)).one_or_none()
    if row is None:
        return None
    if row.created_at < now_utc() - timedelta(hours=current_app.config["IDEMPOTENCY_KEY_HOURS"]):
        db.session.execute(delete(t).where(t.id == row.id))
        return None  # expired and not yet pruned: the key is free again
    return Stored(row.fingerprint, row.status, dict(row.headers or {}), bytes(row.body))


def _commit(response: Response) -> Response:
    """The view's effect is committed only when it answered with success; anything else is rolled back."""
    if 200 <= response.status_code < 300:
        db.session.commit()
    else:
        db.session.rollback()
    return response


def idempotent(view: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap an authenticated operation: commit its effect after a successful answer, and honour
    ``Idempotency-Key`` on state-changing methods (see the module's docstring)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if request.method not in CHANGING:
            return view(*args, **kwargs)
        raw = request.headers.get(HEADER)
        if raw is None:
            return _commit(make_response(view(*args, **kwargs)))
        try:
            key = parse_key(raw)
        except KeyProblem as exc:
            return error_response(400, "idempotency_key_invalid", str(exc))
        user_id, print_ = g.api_user.id, fingerprint()
        try:
            if not _claim_lock(user_id, key):
                return _in_flight_answer()
            stored = _stored(user_id, key)
            if stored is not None:
                db.session.rollback()
                return _answer(stored, print_)
            response = make_response(view(*args, **kwargs))
            if not 200 <= response.status_code < 300:
                db.session.rollback()
                return response
            db.session.add(IdempotentRequest(
                user_id=user_id, key=key, fingerprint=print_, status=response.status_code,
                headers={name: response.headers[name] for name in _STORED_HEADERS if name in response.headers},
                body=response.get_data()))
            try:
                db.session.commit()
            except IntegrityError:
                # Another transaction stored this key between our look-up and our commit (possible only where
                # the lock is per process): ours is undone; answer as a retry would have been answered.
                db.session.rollback()
                stored = _stored(user_id, key)
                if stored is None:
                    raise
                return _answer(stored, print_)
            return response
        finally:
            _release_local()

    return wrapper
