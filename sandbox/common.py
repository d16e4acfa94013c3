"""What every demo national service shares: per-app state, bearer auth, JSON errors, request
checks and the payment platform's callback signature.

Written from the published wire rules, never borrowed from ``app`` or ``connectors``: the sandbox
exists to check the production code, so it must not reuse it (the import-linter contracts forbid it).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import wraps
from typing import Any, Final, TypeGuard, TypeVar

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from flask.blueprints import BlueprintSetupState

__all__ = ["BAD_JSON", "DEFAULT_TOKEN", "Refused", "Service", "attach_state", "bearer", "error", "is_int",
           "json_object", "sign", "signature_valid", "stamp", "state"]

DEFAULT_TOKEN: Final = "sandbox-secret"  # noqa: S105 - a published test token, not a credential
BAD_JSON: Final = "Nội dung yêu cầu phải là một đối tượng JSON."
UNAUTHORISED: Final = ("chua_xac_thuc", "Thiếu hoặc sai mã truy cập (Authorization: Bearer …).")

T = TypeVar("T")
View = TypeVar("View", bound=Callable[..., Any])


class Refused(Exception):
    """A request the service turns down: answered as ``{"error_code", "message"}`` with ``status``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error(status: int, code: str, message: str) -> tuple[Response, int]:
    return jsonify({"error_code": code, "message": message}), status


def is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def json_object() -> dict[str, Any]:
    """The request's JSON object body, or a 422 refusal."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Refused(422, "du_lieu_khong_hop_le", BAD_JSON)
    return body


def stamp(now: float) -> str:
    """A UTC ISO timestamp to the millisecond, as the inspection hooks show it."""
    return datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")


def bearer(view: View) -> View:
    """Answer 401 unless the request carries ``Authorization: Bearer <SANDBOX_TOKEN>``."""

    @wraps(view)
    def checked(*args: Any, **kwargs: Any) -> Any:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        expected = str(current_app.config["SANDBOX_TOKEN"])
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
            return error(401, *UNAUTHORISED)
        return view(*args, **kwargs)

    return checked  # type: ignore[return-value]


# ------------------------------------------------------------------ per-app state of each national system


class Service:
    """A national system's state: one lock for the server's threads; ``dump``/``clear`` serve its hook."""

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def dump(self) -> dict[str, Any]:
        raise NotImplementedError

    def clear(self) -> None:
        raise NotImplementedError


def attach_state(bp: Blueprint, name: str, make: Callable[[Flask], Service], hook: str | None = None) -> None:
    """Give every app that registers ``bp`` its own state ``make(app)``, read back with :func:`state`.

    ``hook`` (a path under ``/_``) adds the inspection routes: ``GET`` answers ``dump()``, ``DELETE``
    clears the state and answers what is left.
    """

    def create(setup: BlueprintSetupState) -> None:
        assert isinstance(setup.app, Flask)
        setup.app.extensions["sandbox"][name] = make(setup.app)

    bp.record_once(create)
    if hook is None:
        return

    @bp.get(hook, endpoint=f"{name}_dump")
    def dump() -> Response:
        held = state(name, Service)
        with held.lock:
            return jsonify(held.dump())

    @bp.delete(hook, endpoint=f"{name}_clear")
    def clear() -> Response:
        held = state(name, Service)
        with held.lock:
            held.clear()
            return jsonify(held.dump())


def state(name: str, kind: type[T]) -> T:
    """The current app's state ``name``."""
    held = current_app.extensions["sandbox"][name]
    assert isinstance(held, kind)
    return held


# ------------------------------------------------------------------ payment callback signature


def sign(values: Sequence[str], secret: str) -> str:
    """The payment platform's ``MaXacThuc``: lowercase hex SHA-256 of the signed values and the shared
    secret, joined by ``|`` (UTF-8)."""
    return hashlib.sha256("|".join([*values, secret]).encode("utf-8")).hexdigest()


def signature_valid(values: Sequence[str], signature: str, secret: str) -> bool:
    """Whether ``signature`` signs ``values`` under ``secret`` (case-insensitive hex, constant time)."""
    return hmac.compare_digest(sign(values, secret).encode("ascii"), signature.strip().lower().encode("utf-8"))
