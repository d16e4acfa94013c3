"""Turning an eForm POST (fields + uploads) into JSON data, shared by the portal and the inbox."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import Request, current_app, url_for
from flask_babel import gettext

from app.dossiers.attachments import reference, store_upload
from app.dossiers.errors import Invalid
from app.eforms.parse import check_action, form_actions, parse_form
from app.eforms.render import STORE_CHOICE, STORE_KEY
from app.eforms.schema import MAX_ITEMS_CEILING, path_to_pointer, pointer_to_path, resolve_pointer
from app.extensions import db
from app.models import ProcedureVersion, User


@dataclass
class PostedForm:
    data: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)  # field path → message
    action: dict[str, str] = field(default_factory=dict)  # add/remove a repeatable item: re-render only


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Put `value` at a field path, creating the groups and items on the way.

    The paths come from the parser and from add/remove presses that `check_action` accepted, so their indices
    are within the schema's bounds; an index past the ceiling any form may declare is refused all the same.
    """
    parts = [p for p in path_to_pointer(path).lstrip("/").split("/") if p != ""]
    node: Any = data
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list) and not (part.isdigit() and len(part) <= 6 and int(part) < MAX_ITEMS_CEILING):
            raise Invalid(gettext("Thao tác thêm hoặc xóa mục không hợp lệ."), code="form_index_out_of_bounds",
                          details={path: gettext("Chỉ số mục vượt quá giới hạn của biểu mẫu.")})
        key: Any = int(part) if isinstance(node, list) else part
        if last:
            if isinstance(node, list):
                while len(node) <= key:
                    node.append({})
            node[key] = value
            return
        nxt = parts[i + 1]
        if isinstance(node, list):
            while len(node) <= key:
                node.append({})
            child = node[key]
        else:
            child = node.get(key)
        if not isinstance(child, dict | list):
            child = [] if nxt.isdigit() else {}
            node[key] = child
        node = child


def read_posted_form(request: Request, schema: dict[str, Any], user: User | None,
                     ui: dict[str, Any] | None = None) -> PostedForm:
    cap = int(current_app.config["FORM_MAX_ITEMS"])
    data, file_paths = parse_form(schema, request.form, ui=ui, max_items=cap)
    posted = PostedForm(data=data, action=form_actions(request.form))
    refused = check_action(schema, data, posted.action, ui=ui, max_items=cap)
    if refused is not None:
        # Shown on the form like any other error; nothing is added, removed or submitted.
        path, message = refused
        posted.errors[path] = message
        posted.action = {}
    stored = False
    for path in file_paths:
        chosen = (request.form.get(path + STORE_CHOICE) or "").strip()[:20]
        if chosen:
            # A document of the person's store instead of an upload: only its id; the dossier core resolves it
            # and checks it is theirs and of the right kind (app.dossiers.docstore).
            set_path(posted.data, path, {STORE_KEY: int(chosen) if chosen.isdigit() else chosen})
            continue
        upload = request.files.get(path)
        if upload is None or not upload.filename:
            continue
        accept = _accept_for(schema, path)
        try:
            att = store_upload(upload.read(), upload.filename, upload.mimetype or "", path, user, accept)
        except Invalid as exc:
            posted.errors[path] = next(iter(exc.details.values()), exc.message)
            continue
        set_path(posted.data, path, reference(att))
        stored = True
    if stored:
        # The files just uploaded are the person's own, in no dossier yet: kept whatever happens to the rest of the
        # request, so a form refused further on (a field to correct, a document of the store refused) still holds
        # them when shown again, on every page that reads a posted eForm.
        db.session.commit()
    return posted


def _accept_for(schema: dict[str, Any], path: str) -> list[str] | None:
    node: Any = schema
    for part in path_to_pointer(path).lstrip("/").split("/"):
        if not isinstance(node, dict):
            return None
        node = node.get("items") if part.isdigit() else (node.get("properties") or {}).get(part)
    if isinstance(node, dict) and node.get("contentMediaType"):
        return [t.strip() for t in str(node["contentMediaType"]).split(",")]
    return None


def attachment_url(reference: Any) -> str | None:
    """Where an attachment reference (`<token>/<file name>`) in form data is opened; the route decides who may."""
    token = reference.split("/", 1)[0] if isinstance(reference, str) else ""
    return url_for("portal.attachment", token=token) if token else None


def ui_for(version: ProcedureVersion, form_name: str | None) -> dict[str, Any] | None:
    """The UI hints (`x.ui.json`) that go with a form (`x.schema.json`), if the package has them."""
    ui: dict[str, Any] | None = version.forms.get((form_name or "").replace(".schema.json", ".ui.json"))
    return ui


def errors_by_path(details: dict[str, str]) -> dict[str, str]:
    return {pointer_to_path(k) if k.startswith("/") else k: v for k, v in details.items()}


def apply_action(data: dict[str, Any], action: dict[str, str]) -> dict[str, Any]:
    """Add or remove one item of a repeatable group, so the form works without JavaScript.

    `action` is a `PostedForm.action`: `read_posted_form` has already refused one the schema does not allow.
    """
    if "add" in action:
        items = resolve_pointer(data, path_to_pointer(action["add"]))
        set_path(data, action["add"], [*(items if isinstance(items, list) else []), {}])
    elif "remove" in action:
        head, _, index = action["remove"].rpartition("[")
        items = resolve_pointer(data, path_to_pointer(head))
        position = index.rstrip("]")
        if isinstance(items, list) and position.isdigit() and int(position) < len(items):
            set_path(data, head, [item for i, item in enumerate(items) if i != int(position)])
    return data
