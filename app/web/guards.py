"""The request boundary: what no view should ever have to defend against on its own.

- ids in URLs: the app-wide ``int`` converter is bounded to PostgreSQL's INTEGER, so an id past it is a 404
  (the route does not match) instead of a database error;
- NUL bytes (PostgreSQL text cannot hold them), lone surrogates (not encodable as UTF-8) and invalid UTF-8
  (read as lone surrogates by :class:`BoundaryRequest`) in the path, the query string, form field names and
  values and upload file names: 400 before any view runs;
- JSON bodies: strict UTF-8, no NaN/Infinity, nesting, integer size and strings bounded, checked by
  :func:`loads_checked`, which both the API and Flask's own ``request.get_json`` use.
"""

from __future__ import annotations

import codecs
import json
import math
import re
from collections.abc import Iterable
from functools import cached_property
from typing import IO, Any
from urllib.parse import parse_qsl, unquote_to_bytes

from flask import Flask, Request, request
from flask.json.provider import DefaultJSONProvider
from flask_babel import gettext
from werkzeug.datastructures import Headers, MultiDict
from werkzeug.exceptions import BadRequest
from werkzeug.formparser import FormDataParser, MultiPartParser
from werkzeug.routing import IntegerConverter, ValidationError

from app.procedures.package import json_syntax_reason

PG_INTEGER_MAX = 2**31 - 1
# Bounds every JSON value the platform accepts (forms are never this deep; ids and amounts fit in BIGINT).
JSON_MAX_DEPTH = 64
JSON_INT_MIN, JSON_INT_MAX = -(2**63), 2**63 - 1
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")


class BoundedInt(IntegerConverter):
    """``<int:…>`` for the whole app: non-negative and at most PostgreSQL's INTEGER, else the route does not match."""

    def __init__(self, map: Any, fixed_digits: int = 0, min: int | None = None,  # noqa: A002
                 max: int | None = PG_INTEGER_MAX, signed: bool = False) -> None:  # noqa: A002
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)

    def to_python(self, value: str) -> Any:
        if len(value) > len(str(PG_INTEGER_MAX)):  # also keeps int() away from 5,000-digit strings
            raise ValidationError()
        return super().to_python(value)


def bad_text(value: str) -> bool:
    return _BAD_TEXT.search(value) is not None


class InvalidText(BadRequest):
    description = "Dữ liệu gửi lên chứa ký tự không hợp lệ (ký tự NUL hoặc mã Unicode lẻ)."


def _strings_of_request() -> Iterable[str]:
    # The path as the client sent it: Werkzeug (and its server) replace invalid UTF-8 there with U+FFFD.
    environ = request.environ
    raw_path = str(environ.get("RAW_URI") or environ.get("REQUEST_URI") or "").partition("?")[0]
    yield unquote_to_bytes(raw_path).decode("utf-8", "surrogateescape")
    yield str(environ.get("PATH_INFO", "")).encode("latin-1", "replace").decode("utf-8", "surrogateescape")
    yield request.path
    for key, value in request.args.items(multi=True):
        yield key
        yield value
    if request.method in ("POST", "PUT", "PATCH", "DELETE") and request.mimetype in (
            "application/x-www-form-urlencoded", "multipart/form-data"):
        for key, value in request.form.items(multi=True):
            yield key
            yield value
        for key, upload in request.files.items(multi=True):
            yield key
            yield upload.filename or ""


def check_request_text() -> None:
    """before_request: refuse a request whose path, query or form carries text no column can store."""
    for text in _strings_of_request():
        if bad_text(text):
            raise InvalidText()


# ---------------------------------------------------------------- JSON


class UnsafeJSON(ValueError):
    """A body that is not JSON the platform can hold (400): too deep, NaN, a number beyond conversion."""


class JSONValueProblem(ValueError):
    """JSON that parses but holds a value no form or column can take (422); ``pointer`` says where."""

    def __init__(self, pointer: str, message: str) -> None:
        super().__init__(message)
        self.pointer, self.message = pointer, message


def _refuse_constant(name: str) -> Any:
    raise UnsafeJSON(gettext("Giá trị %(name)s không được phép trong JSON.", name=name))


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def check_json_value(value: Any) -> None:
    """Walk a decoded document without recursion: depth, integer range, finite numbers, storable text."""
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        node, pointer, depth = stack.pop()
        if depth > JSON_MAX_DEPTH:
            raise JSONValueProblem(pointer, gettext("Dữ liệu lồng nhau quá sâu (tối đa %(n)s cấp).", n=JSON_MAX_DEPTH))
        if isinstance(node, dict):
            for key, child in node.items():
                if bad_text(key):
                    raise JSONValueProblem(pointer, gettext("Tên trường chứa ký tự không hợp lệ."))
                stack.append((child, f"{pointer}/{_escape(key)}", depth + 1))
        elif isinstance(node, list):
            stack.extend((child, f"{pointer}/{i}", depth + 1) for i, child in enumerate(node))
        elif isinstance(node, str):
            if bad_text(node):
                raise JSONValueProblem(pointer,
                                       gettext("Chuỗi chứa ký tự không hợp lệ (ký tự NUL hoặc mã Unicode lẻ)."))
        elif isinstance(node, bool) or node is None:
            continue
        elif isinstance(node, int):
            if not JSON_INT_MIN <= node <= JSON_INT_MAX:
                raise JSONValueProblem(pointer, gettext("Số quá lớn."))
        elif isinstance(node, float) and not math.isfinite(node):
            raise JSONValueProblem(pointer, gettext("Số quá lớn."))


def loads_checked(raw: str | bytes) -> Any:
    """Parse a JSON body and check it; UnsafeJSON (400) or JSONValueProblem (422) when it cannot be held."""
    if isinstance(raw, bytes | bytearray):
        try:
            raw = bytes(raw).decode("utf-8")  # strict: json.loads would let encoded surrogates through
        except UnicodeDecodeError as exc:
            raise UnsafeJSON(gettext("Nội dung không phải văn bản UTF-8.")) from exc
    try:
        value = json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError as exc:
        raise UnsafeJSON(gettext("Dữ liệu lồng nhau quá sâu.")) from exc
    except UnsafeJSON:
        raise
    except json.JSONDecodeError as exc:  # our words, never the json module's
        raise UnsafeJSON(gettext("dòng %(line)s, cột %(column)s: %(reason)s", line=exc.lineno, column=exc.colno,
                                 reason=json_syntax_reason(exc.msg))) from exc
    except ValueError as exc:  # an integer past Python's conversion limit
        raise UnsafeJSON(gettext("Số quá lớn.")) from exc
    check_json_value(value)
    return value


class CheckedJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider with :func:`loads_checked`: ``request.get_json`` answers 400 to the same inputs."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads_checked(s)


# UTF-8 whose invalid bytes decode to lone surrogates whatever error handling the caller asks for: Werkzeug
# decodes multipart field values with errors="replace" (U+FFFD), which would hide them from the guard.
_ESCAPING_UTF8 = "motcua_utf8_surrogateescape"


def _find_escaping_utf8(name: str) -> codecs.CodecInfo | None:
    if name != _ESCAPING_UTF8:
        return None
    return codecs.CodecInfo(codecs.utf_8_encode, lambda data, errors="strict": codecs.utf_8_decode(
        data, "surrogateescape", True), name=_ESCAPING_UTF8)


codecs.register(_find_escaping_utf8)


class _MultiPartParser(MultiPartParser):
    def get_part_charset(self, headers: Headers) -> str:
        charset = super().get_part_charset(headers)
        return _ESCAPING_UTF8 if charset == "utf-8" else charset


class _FormParser(FormDataParser):
    """Werkzeug's form parser, but invalid UTF-8 becomes lone surrogates or a 400, which
    :func:`check_request_text` refuses, instead of being re-quoted into innocent-looking text (url-encoded),
    replaced by U+FFFD (multipart values) or silently dropping the whole form (multipart names)."""

    def _parse_urlencoded(self, stream: IO[bytes], mimetype: str, content_length: int | None,
                          options: dict[str, str]) -> Any:
        return stream, self.cls(_parse_query(stream.read())), self.cls()

    def _parse_multipart(self, stream: IO[bytes], mimetype: str, content_length: int | None,
                         options: dict[str, str]) -> Any:
        parser = _MultiPartParser(stream_factory=self.stream_factory, max_form_memory_size=self.max_form_memory_size,
                                  max_form_parts=self.max_form_parts, cls=self.cls)
        boundary = options.get("boundary", "").encode("ascii")
        if not boundary:
            raise ValueError("Missing boundary")
        try:
            form, files = parser.parse(stream, boundary, content_length)
        except UnicodeDecodeError as exc:  # a part's headers (field name, file name) are not UTF-8
            raise InvalidText() from exc
        return stream, form, files


def _parse_query(raw: bytes) -> list[tuple[str, str]]:
    return parse_qsl(raw.decode("utf-8", "surrogateescape"), keep_blank_values=True, errors="surrogateescape")


class BoundaryRequest(Request):
    """Flask's request as the boundary reads it: invalid UTF-8 in the query string or a url-encoded form
    shows as lone surrogates, so it is refused (400) with NUL bytes, not silently kept as ``%ED%A0%80``
    (Werkzeug's choice); and the boundary's own words for a body ``get_json`` cannot read (Flask's default
    answer carries the json module's text)."""

    form_data_parser_class = _FormParser

    @cached_property
    def args(self) -> MultiDict[str, str]:
        return self.parameter_storage_class(_parse_query(self.query_string))

    @property
    def full_path(self) -> str:  # Werkzeug's decodes the raw query strictly: a 500 on the 400 page's login link
        return f"{self.path}?{self.query_string.decode('utf-8', 'replace')}"

    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        if isinstance(e, UnsafeJSON | JSONValueProblem):
            raise BadRequest(gettext("JSON không hợp lệ: %(reason)s", reason=e))
        return super().on_json_loading_failed(e)


def install_guards(app: Flask) -> None:
    """Called by create_app before any blueprint or extension registers its routes and hooks.

    The hooks come first so that CSRF protection and every view read a body already bounded and checked.
    """
    from app.web.limits import apply_body_limit

    app.url_map.converters["int"] = BoundedInt
    app.json = CheckedJSONProvider(app)
    app.request_class = BoundaryRequest
    app.before_request(apply_body_limit)
    app.before_request(check_request_text)
