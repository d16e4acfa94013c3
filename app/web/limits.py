"""How much one request may carry, and how many requests one client may make: both declared here, per endpoint.

Body limits: every request gets ``request.max_content_length`` from :data:`BODY_LIMITS` (a config key per
endpoint) before anything reads its body — CSRF protection, the login form, a view. Endpoints not listed
get ``MAX_BODY_DEFAULT``; only those that take files get ``MAX_CONTENT_LENGTH``. Past the limit: 413.

Rate limits (Flask-Limiter): :data:`RATE_LIMITS` maps endpoints to groups; each group's limit is a
setting in app/config.py. Counters live in Redis when ``REDIS_URL`` is set (shared by every web process)
and in memory in the embedded mode. Past a limit: 429 with ``Retry-After``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_login import current_user

from app.web.oidc import bearer_user

# ---------------------------------------------------------------- body limits

# endpoint → the setting that bounds its request body, in bytes.
BODY_LIMITS: dict[str, str] = {
    # eForms with file fields, task forms with file fields, procedure packages: the large limit.
    "portal.procedure": "MAX_CONTENT_LENGTH",
    "inbox.complete": "MAX_CONTENT_LENGTH",
    "studio.upload": "MAX_CONTENT_LENGTH",
    "studio.convert": "MAX_CONTENT_LENGTH",
    "drafts.check": "MAX_CONTENT_LENGTH",
    "drafts.save": "MAX_CONTENT_LENGTH",
    "api.upload_procedure": "MAX_CONTENT_LENGTH",
    "api.upload_attachment": "MAX_BODY_UPLOAD",
    # JSON bodies of the API.
    "api.submit": "MAX_BODY_JSON",
    "api.complete": "MAX_BODY_JSON",
    "api.deliver_message": "MAX_BODY_JSON",
    "api.rate_dossier": "MAX_BODY_JSON",
    "api.deliver_message_by_key": "MAX_BODY_JSON",
    "api.refund_payment": "MAX_BODY_JSON",
    # A user name and a password; the payment platform's dozen signed fields.
    "auth.login": "MAX_BODY_SMALL",
    "auth.client_token": "MAX_BODY_SMALL",
    "portal.payment_ipn": "MAX_BODY_SMALL",
}


def body_limit_for(endpoint: str | None) -> int:
    config = current_app.config
    if endpoint in BODY_LIMITS:
        key = BODY_LIMITS[endpoint]
        if key == "MAX_BODY_UPLOAD":  # one file plus its form fields
            return int(config["MAX_UPLOAD_FILE_BYTES"]) + 64 * 1024
        return int(config[key])
    return int(config["MAX_BODY_DEFAULT"])


def apply_body_limit() -> None:
    """before_request, registered first: later hooks (CSRF) and views read the body under this limit."""
    request.max_content_length = body_limit_for(request.endpoint)


# ---------------------------------------------------------------- rate limits


def client_address() -> str:
    return request.remote_addr or "unknown"


def principal() -> str:
    """Who is asking: the user (by session or bearer token, so web and API count together), else the address."""
    if current_user.is_authenticated:
        return f"user:{current_user.id}"
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        user = bearer_user(token.strip())
        if user is not None:
            return f"user:{user.id}"
        return "token:" + hashlib.sha256(token.strip().encode()).hexdigest()[:24]
    return "ip:" + client_address()


def login_name() -> str:
    return "name:" + (request.form.get("username", "").strip().lower()[:80] or "-")


def login_name_from_address() -> str:
    """Failed logins for one name from one address: a guesser there is stopped without locking the name's
    owner out everywhere else (the looser per-name limit caps guessing spread over many addresses)."""
    return f"{login_name()}@{client_address()}"


def failed_login(response: object) -> bool:
    return getattr(response, "status_code", 0) == 401


@dataclass(frozen=True)
class Group:
    setting: str  # app config key holding the limit, e.g. "10 per minute;100 per hour"
    key: Callable[[], str]
    methods: tuple[str, ...] = ("POST",)
    deduct_when: Callable[[object], bool] | None = None  # count only the responses it accepts


GROUPS: dict[str, Group] = {
    "login-ip": Group("RATELIMIT_LOGIN_IP", client_address),
    "login-user": Group("RATELIMIT_LOGIN_USER", login_name_from_address, deduct_when=failed_login),
    "login-account": Group("RATELIMIT_LOGIN_ACCOUNT", login_name, deduct_when=failed_login),
    # Single sign-on round trips (each callback calls the identity provider) count with the address's logins.
    "sso-ip": Group("RATELIMIT_LOGIN_IP", client_address, methods=("GET",)),
    "submit": Group("RATELIMIT_SUBMIT", principal),
    "upload": Group("RATELIMIT_UPLOAD", principal),
    "lookup": Group("RATELIMIT_LOOKUP", client_address, methods=("GET",)),
    "callback": Group("RATELIMIT_CALLBACK", client_address, methods=("GET", "POST")),
}

# endpoint → groups; a group shared by several endpoints (web and API) counts them together.
RATE_LIMITS: dict[str, tuple[str, ...]] = {
    "auth.login": ("login-ip", "login-user", "login-account"),
    "auth.sso_start": ("sso-ip",),
    "auth.sso_callback": ("sso-ip",),
    "auth.client_token": ("login-ip",),
    "portal.procedure": ("submit",),
    "api.submit": ("submit",),
    "inbox.complete": ("submit",),
    "api.complete": ("submit",),
    "portal.lookup": ("lookup",),
    "api.public_dossier": ("lookup",),
    "api.upload_attachment": ("upload",),
    "api.upload_procedure": ("upload",),
    "studio.upload": ("upload",),
    "studio.convert": ("upload",),
    "portal.payment_ipn": ("callback",),
    "portal.payment_return": ("callback",),
}


def storage_uri(config: Mapping[str, Any]) -> str:
    return str(config.get("RATELIMIT_STORAGE_URI") or config.get("REDIS_URL") or "memory://")


def install_rate_limits(app: Flask) -> Limiter | None:
    """One limiter per app (its own counters), wrapping the listed views; none when disabled."""
    if not app.config.get("RATELIMIT_ENABLED", True):
        return None
    limiter = Limiter(key_func=client_address, app=app, storage_uri=storage_uri(app.config),
                      strategy=app.config.get("RATELIMIT_STRATEGY", "moving-window"),
                      key_prefix=str(app.config.get("RATELIMIT_KEY_PREFIX", "motcua")),
                      swallow_errors=bool(app.config.get("RATELIMIT_SWALLOW_ERRORS", True)),
                      headers_enabled=False)
    for endpoint, names in RATE_LIMITS.items():
        view: Any = app.view_functions[endpoint]
        for name in names:
            group = GROUPS[name]
            view = limiter.shared_limit(_setting(app, group.setting), scope=name, key_func=group.key,
                                        methods=list(group.methods), deduct_when=group.deduct_when)(view)
        app.view_functions[endpoint] = view
    app.extensions["motcua_limiter"] = limiter
    return limiter


def _setting(app: Flask, key: str) -> Callable[[], str]:
    return lambda: str(app.config[key])


def retry_after_seconds() -> int:
    """Seconds until the limit just breached lets the client in again (for the 429's Retry-After)."""
    limiter: Limiter | None = current_app.extensions.get("motcua_limiter")
    current = limiter.current_limit if limiter is not None else None
    if current is None:
        return 60
    return max(1, int(current.reset_at - time.time()))
