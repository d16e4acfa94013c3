"""The shape of an error answer, chosen per endpoint: every error handler answers through :func:`error_response`.

- the API (``/api/…``): ``{"error": {"code", "message", "details"}}``;
- an endpoint that declares its own shape with :func:`answers_errors_as` (the payment platform's callback:
  ``{"error_code", "message"}``), even for refusals made before its view runs (413, 429, 400 at the boundary);
- everything else: the error page.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from flask import Response, current_app, jsonify, render_template, request

# (status, code, message, details) → the response body and headers, status not yet set.
ErrorShape = Callable[[int, str, str, Mapping[str, Any]], Response]
View = TypeVar("View", bound=Callable[..., Any])


def api_error(status: int, code: str, message: str, details: Mapping[str, Any]) -> Response:
    return jsonify(error={"code": code, "message": message, "details": dict(details)})


def page_error(status: int, code: str, message: str, details: Mapping[str, Any]) -> Response:
    return current_app.make_response(render_template("error.html", code=status, message=message))


def answers_errors_as(shape: ErrorShape) -> Callable[[View], View]:
    """Declare a view's own error shape (kept when the view is wrapped, e.g. by the rate limiter)."""

    def mark(view: View) -> View:
        view.error_shape = shape  # type: ignore[attr-defined]
        return view

    return mark


def shape_for_request() -> ErrorShape:
    view = current_app.view_functions.get(request.endpoint or "")
    declared: ErrorShape | None = getattr(view, "error_shape", None)
    if declared is not None:
        return declared
    return api_error if request.path.startswith("/api/") else page_error


def error_response(status: int, code: str, message: str, headers: Mapping[str, str] | None = None,
                   details: Mapping[str, Any] | None = None) -> Response:
    response = shape_for_request()(status, code, message, details or {})
    response.status_code = status
    response.headers.update(headers or {})
    return response
