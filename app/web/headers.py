"""Security headers on every answer: a Content-Security-Policy, and no caching of anything but static assets.

Pages carry personal data (dossiers, names, tasks) and so do API answers: ``Cache-Control: no-store`` keeps
them out of shared and browser caches. The policy allows only this site's own scripts and styles (the
templates have no inline script, style or handler; tests/integration/test_http_headers.py checks), no
plugins, no framing, and forms that post here or to the payment platform (paying answers with a redirect
to its hosted page, which form-action governs) or the identity provider (logout redirects to its
end_session). A view that sets its own policy (served files) keeps it.
The BPMN diagrams (bpmn-js, served from node_modules) live under this policy as it is: the viewer is a script
file of this site loaded by another (app/static/diagram.js), and it styles what it draws through the DOM
(element.style), which style-src does not govern; its logo is an inline SVG, not an image. So do the dashboard's
charts (Chart.js, served the same way): a script file of this site draws them on a canvas from a data attribute.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, request
from werkzeug.wrappers import Response

API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# Public assets a browser may cache: the static folder, and the npm packages the platform serves (app.web.vendor).
ASSET_ENDPOINTS = frozenset({"static", "vendor.asset"})


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else None


def form_targets() -> list[str]:
    """'self' plus the payment platform (its configured URL and the connector's actual base URL) and the identity
    provider (logging out is a form that answers with a redirect to its end_session endpoint)."""
    urls = [str(current_app.config.get("PAYMENT_URL") or ""), str(current_app.config.get("OIDC_ISSUER") or "")]
    urls += str(current_app.config.get("CSP_FORM_ACTION") or "").split()
    registry = current_app.extensions.get("motcua_connectors")
    connector = registry.connectors.get("payment") if registry is not None else None
    client = getattr(connector, "client", None)
    urls.append(str(getattr(client, "base_url", "") or ""))
    origins = {o for o in map(_origin, urls) if o}
    return ["'self'", *sorted(origins)]


def page_policy() -> str:
    return "; ".join([
        "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:",
        "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'",
        "form-action " + " ".join(form_targets()),
    ])


def apply_security_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.endpoint in ASSET_ENDPOINTS and response.status_code < 400:
        return response  # public assets: the browser may cache them
    response.headers.setdefault("Content-Security-Policy",
                                API_POLICY if request.path.startswith("/api/") else page_policy())
    if "no-store" not in response.headers.get("Cache-Control", ""):
        response.headers["Cache-Control"] = "no-store"
    return response
