"""Cookies that say who is logged in: Secure whenever the platform is reached over HTTPS.

Flask's SESSION_COOKIE_SECURE is one fixed value; the same deployment may answer on http (a health check,
the embedded demo) and https (browsers through the TLS proxy). The flag follows the request: set when it
came over HTTPS (``request.is_secure``; behind a proxy, trust its X-Forwarded-Proto with PROXY_FIX_HOPS)
or when PUBLIC_URL, where browsers reach the platform, is https.
"""

from __future__ import annotations

from flask import Flask, current_app, has_request_context, request
from flask.sessions import SecureCookieSessionInterface


def https_request() -> bool:
    if has_request_context() and request.is_secure:
        return True
    return str(current_app.config.get("PUBLIC_URL", "")).startswith("https://")


class SessionInterface(SecureCookieSessionInterface):
    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config.get("SESSION_COOKIE_SECURE")) or https_request()
