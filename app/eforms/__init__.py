"""JSON Schema eForms: accessible server-side HTML (no JavaScript needed), parsing of posted fields back
into typed JSON, and validation with one Vietnamese message per field.

A pure library: no Flask application context. Fields are addressed by path (`nguoi_yeu_cau.ho_ten`,
`con[0].ho_ten`); `path_to_pointer` / `pointer_to_path` convert to and from JSON pointers.
"""

from __future__ import annotations

from app.eforms.parse import form_actions, parse_form
from app.eforms.render import render_form, render_values
from app.eforms.schema import FormSchemaError, check_form_schema, field_id, path_to_pointer, pointer_to_path
from app.eforms.validate import validate_data

__all__ = [
    "FormSchemaError",
    "check_form_schema",
    "field_id",
    "form_actions",
    "parse_form",
    "path_to_pointer",
    "pointer_to_path",
    "render_form",
    "render_values",
    "validate_data",
]
