"""How API v1 declares an operation: one decorator gives its bearer check, validates its body and query string
with models (app/web/api/models.py) and registers them, with its responses, for the generated OpenAPI document.

Validation is spectree's (pydantic models), with the request boundary in front of it: a JSON body is read by
:func:`app.web.guards.loads_checked` (NUL, lone surrogates, depth, number range, size already bounded), and a
model's complaints become the API's error shape, 422 with a localized message per JSON pointer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any

from flask import current_app, g, jsonify, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext, lazy_gettext
from pydantic import BaseModel, ValidationError
from spectree import Response, SecurityScheme, SpecTree
from spectree.models import SecureType, SecuritySchemeData
from spectree.plugins.base import Context
from spectree.plugins.flask_plugin import FlaskPlugin
from spectree.utils import get_multidict_items, get_request_model_hints
from werkzeug.datastructures import FileStorage

from app.dossiers.errors import Invalid, ServiceError
from app.models import User
from app.web.api import models as m
from app.web.api.idempotency import idempotent
from app.web.guards import JSONValueProblem, UnsafeJSON, loads_checked
from app.web.oidc import bearer_user

BEARER = "bearer"


def error(status: int, code: str, message: str, details: Any = None) -> ResponseReturnValue:
    return jsonify(error={"code": code, "message": message, "details": details or {}}), status


# ---------------------------------------------------------------- bodies


def read_json_body(optional: bool = False) -> Any:
    """The JSON body, through the boundary's checks; {} for an optional body left out."""
    raw = request.get_data(cache=True)
    if not raw:
        if optional:
            return {}
        raise Invalid(gettext("Thiếu nội dung JSON."), code="body_missing",
                      details={"": gettext("Thiếu nội dung JSON.")})
    try:
        body = loads_checked(raw)
    except JSONValueProblem as exc:
        raise Invalid(exc.message, code="invalid_value", details={exc.pointer: exc.message}) from exc
    except UnsafeJSON as exc:
        raise ServiceError(gettext("JSON không hợp lệ: %(reason)s", reason=exc), code="malformed_json") from exc
    if not isinstance(body, dict):
        raise Invalid(gettext("Nội dung phải là một đối tượng JSON."), code="body_not_object",
                      details={"": gettext("Phải là một đối tượng JSON.")})
    return body


_KINDS = {"int": lazy_gettext("số nguyên"), "string": lazy_gettext("chuỗi ký tự"), "bool": lazy_gettext(
    "giá trị có/không"), "dict": lazy_gettext("nhóm thông tin"), "model": lazy_gettext("nhóm thông tin"),
    "list": lazy_gettext("danh sách")}


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _title(model: type[BaseModel], loc: tuple[int | str, ...]) -> str:
    field = model.model_fields.get(str(loc[0])) if loc else None
    if field is not None and field.title:
        return gettext(field.title)
    return str(loc[-1]) if loc else gettext("Nội dung")


def _is_file_field(model: type[BaseModel], name: str) -> bool:
    field = model.model_fields.get(name)
    return field is not None and field.annotation in (FileStorage, list[FileStorage])


def _message(model: type[BaseModel], problem: Mapping[str, Any]) -> str:
    loc, kind, ctx = tuple(problem["loc"]), str(problem["type"]), problem.get("ctx") or {}
    field = _title(model, loc)
    is_file = bool(loc) and _is_file_field(model, str(loc[0]))
    if kind == "missing" or (kind == "value_error" and is_file):
        return (gettext("Vui lòng đính kèm %(field)s.", field=field) if is_file
                else gettext("Vui lòng nhập %(field)s.", field=field))
    if kind == "extra_forbidden":
        return gettext("Trường «%(name)s» không được dùng ở đây; vui lòng bỏ trường này.", name=loc[-1])
    base = kind.split("_", 1)[0]
    if (kind.endswith(("_type", "_parsing")) or kind == "int_from_float") and base in _KINDS:
        return gettext("%(field)s: phải là %(kinds)s.", field=field, kinds=_KINDS[base])
    if kind == "greater_than_equal":
        return gettext("%(field)s: phải lớn hơn hoặc bằng %(limit)s.", field=field, limit=ctx.get("ge"))
    if kind == "less_than_equal":
        return gettext("%(field)s: phải nhỏ hơn hoặc bằng %(limit)s.", field=field, limit=ctx.get("le"))
    return gettext("%(field)s: giá trị không hợp lệ.", field=field)


def invalid(model: type[BaseModel], exc: ValidationError) -> Invalid:
    """A model's complaints as the API's 422: JSON pointer → localized message (the first one per place)."""
    details: dict[str, str] = {}
    for problem in exc.errors(include_url=False, include_context=True):
        pointer = "".join(f"/{_escape(str(part))}" for part in problem["loc"])
        details.setdefault(pointer, _message(model, problem))
    return Invalid(gettext("Yêu cầu có thông tin chưa hợp lệ."), details=details)


def _validate(model: type[BaseModel], value: Any) -> Any:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise invalid(model, exc) from None


class BoundaryFlaskPlugin(FlaskPlugin):
    """spectree's Flask plugin with the request boundary in front: bodies read by :func:`read_json_body`
    whatever their content type, forms read whatever theirs (an empty form when it is not one), and a model's
    complaints raised as :class:`Invalid` (the API's error handler answers them). Answers are checked against
    their models only when ``API_CHECK_RESPONSES`` is set (the tests): in production a view has committed
    before it answers, so a mismatch must not turn a done action into an error."""

    def request_validation(self, request: Any, query: Any, json: Any, form: Any, headers: Any,
                           cookies: Any) -> None:
        request.context = Context(
            _validate(query, get_multidict_items(request.args, query)) if query else None,
            _validate(json, read_json_body(optional=json.body_optional)) if json else None,
            _validate(form, {**get_multidict_items(request.form, form), **get_multidict_items(request.files, form)})
            if form else None,
            None, None)

    def validate_response(self, resp: Any, resp_model: Response | None, skip_validation: bool,
                          force_resp_serialize: bool) -> Any:
        check = bool(current_app.config.get("API_CHECK_RESPONSES"))
        return super().validate_response(resp, resp_model, skip_validation or not check, force_resp_serialize)


def _after(req: Any, resp: Any, problem: Exception | None, instance: Any, adapter: Any) -> None:
    if problem is not None:
        raise AssertionError(f"The answer of {req.endpoint} does not match its documented model: {problem}")


api = SpecTree(
    "flask", backend=BoundaryFlaskPlugin, mode="strict", after=_after, annotations=False,
    validation_error_model=m.Error, naming_strategy=lambda model: model.__name__,
    nested_naming_strategy=lambda _parent, child: child,
    title="MotCua API", version="1.0.0",
    description="One-stop administrative procedures: procedures, dossiers, officers' tasks. Every error is "
                '{"error": {"code", "message", "details"}}; a 422 maps JSON pointers to messages in `details`.',
    security_schemes=[SecurityScheme(name=BEARER, data=SecuritySchemeData(
        type=SecureType.HTTP, scheme="bearer", description="Token from `flask users token <username>`"))],
)

# ---------------------------------------------------------------- operations

_ERRORS = {400: "Malformed request (e.g. JSON that does not parse)", 401: "Missing or invalid bearer token",
           403: "Not allowed for this user", 404: "Unknown procedure, dossier or task",
           409: "Task already taken or completed, or the dossier changed meanwhile",
           413: "Payload too large", 422: "Validation failed: details maps JSON pointers to messages"}


def responses(ok: Mapping[int, tuple[type[BaseModel], str]], *errors: int,
              described: Mapping[int, tuple[type[BaseModel], str]] | None = None) -> Response:
    """The answers of an operation: its successes, then the error statuses it answers itself (those every
    operation of a kind can answer are added to the document by app/web/api/openapi.py)."""
    codes: dict[str, Any] = {f"HTTP_{status}": pair for status, pair in ok.items()}
    codes |= {f"HTTP_{status}": (m.Error, _ERRORS[status]) for status in errors}
    codes |= {f"HTTP_{status}": pair for status, pair in (described or {}).items()}
    return Response(**codes)


def auth_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        user = bearer_user(token.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            response = error(401, "unauthorized", gettext("Thiếu hoặc sai mã truy cập (Authorization: Bearer …)."))
            return response[0], 401, {"WWW-Authenticate": 'Bearer realm="motcua"'}  # type: ignore[index]
        scopes = user.api_scopes  # another system's client-credentials token: only what it was granted
        needed = "api:read" if request.method in ("GET", "HEAD") else "api:write"
        if scopes is not None and needed not in scopes:
            response = error(403, "insufficient_scope", gettext(
                "Mã truy cập của hệ thống này không được cấp quyền %(scope)s.", scope=needed))
            return response[0], 403, {  # type: ignore[index]
                "WWW-Authenticate": f'Bearer realm="motcua", error="insufficient_scope", scope="{needed}"'}
        g.api_user = user
        return view(*args, **kwargs)

    return wrapper


def api_user() -> User:
    user: User = g.api_user
    return user


OPTIONAL_BODIES: set[str] = set()  # operation ids whose body may be left out
# operation id → what its 200 answer, a file rather than JSON, is, and the media types it may have
FILE_ANSWERS: dict[str, tuple[str, tuple[str, ...]]] = {}


def pdf_responses(operation_id: str, description: str, *errors: int) -> Response:
    """The answers of an operation whose success is a PDF (a document the platform issues), not JSON."""
    return file_responses(operation_id, description, ("application/pdf",), *errors)


def file_responses(operation_id: str, description: str, media_types: tuple[str, ...], *errors: int) -> Response:
    """The answers of an operation whose success is a file of one of `media_types`, not JSON."""
    FILE_ANSWERS[operation_id] = (description, media_types)
    return Response("HTTP_200", **{f"HTTP_{status}": (m.Error, _ERRORS[status]) for status in errors})


def zip_responses(operation_id: str, description: str, *errors: int) -> Response:
    """The answers of an operation whose success is a zip archive (a procedure package), not JSON."""
    return file_responses(operation_id, description, ("application/zip",), *errors)


def operation(operation_id: str, resp: Response, *, auth: bool = False,
              params: Mapping[str, str] | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a view as an operation of the document. Its body, form and query models are the annotations of
    its ``json``, ``form`` and ``query`` parameters, validated before it runs (after the bearer check when
    ``auth``); its summary is the first paragraph of its docstring; ``params`` describes its path parameters.

    A state-changing view (POST …) does not commit: when it answers with success its effect is committed here,
    with the answer stored under the request's ``Idempotency-Key`` if it has one (app/web/api/idempotency.py);
    any other answer rolls it back. Such operations are authenticated: the key belongs to the caller."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        models = get_request_model_hints(view)

        @wraps(view)
        def with_models(*args: Any, **kwargs: Any) -> Any:
            context = request.context  # type: ignore[attr-defined]  # set by spectree's validation
            return view(*args, **kwargs, **{name: getattr(context, name) for name in models})

        if getattr(models.get("json"), "body_optional", False):
            OPTIONAL_BODIES.add(operation_id)
        validated = api.validate(query=models.get("query"), json=models.get("json"), form=models.get("form"),
                                 resp=resp, operation_id=operation_id, security={BEARER: []} if auth else None,
                                 path_parameter_descriptions=params)(with_models)
        return auth_required(idempotent(validated)) if auth else validated

    return decorate
