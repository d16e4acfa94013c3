"""Files uploaded with eForms: checked by type, size and content, stored by SHA-256 outside the web root.

Form data carries only a reference `<token>/<file name>`; the token is random, so a reference cannot be
guessed, and a reference is accepted only from the person who uploaded the file.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import select

from app.dossiers.errors import Forbidden, Invalid, NotFound
from app.extensions import db
from app.models import Attachment, Dossier, User

# Declared type → the bytes a real file of that type starts with.
SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
}
_REF = re.compile(r"^([A-Za-z0-9_-]{20,64})/(.{1,255})$")


def safe_filename(name: str) -> str:
    name = unicodedata.normalize("NFC", Path(name.replace("\\", "/")).name)
    name = re.sub(r"[\x00-\x1f<>:\"/\\|?*]", "_", name).strip(" .")
    return name[:200] or "tep"


def store_upload(data: bytes, filename: str, content_type: str, field_path: str, user: User | None,
                 accept: Iterable[str] | None = None) -> Attachment:
    limit = current_app.config["MAX_UPLOAD_FILE_BYTES"]
    label = field_path or filename
    if not data:
        raise Invalid("Tệp tải lên rỗng.", details={field_path: "Tệp tải lên rỗng."})
    if len(data) > limit:
        message = f"Tệp «{safe_filename(filename)}» vượt quá {limit // (1024 * 1024)} MB."
        raise Invalid(message, details={field_path: message})
    allowed = [t for t in (accept or SIGNATURES) if t in SIGNATURES] or list(SIGNATURES)
    detected = next((t for t, sigs in SIGNATURES.items() if data.startswith(sigs)), None)
    if detected is None or detected not in allowed:
        names = ", ".join(sorted({t.split("/")[1].upper() for t in allowed}))
        message = f"Tệp của trường «{label}» phải là {names} hợp lệ."
        raise Invalid(message, details={field_path: message})
    digest = hashlib.sha256(data).hexdigest()
    target = Path(current_app.config["UPLOAD_DIR"]) / digest[:2] / digest
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(target)
    attachment = Attachment(token=secrets.token_urlsafe(24), uploaded_by_id=user.id if user else None,
                            field_path=field_path, filename=safe_filename(filename), content_type=detected,
                            size=len(data), sha256=digest)
    db.session.add(attachment)
    db.session.flush()
    return attachment


def reference(attachment: Attachment) -> str:
    return f"{attachment.token}/{attachment.filename}"


def file_values(schema: Mapping[str, Any], data: Any, pointer: str = "") -> Iterable[tuple[str, Any]]:
    """(JSON pointer, value) of every file field present in the data, per the schema."""
    if not isinstance(schema, Mapping):
        return
    if schema.get("type") == "string" and schema.get("contentMediaType"):
        if data is not None:
            yield pointer, data
        return
    if isinstance(data, Mapping):
        for name, child in (schema.get("properties") or {}).items():
            if name in data:
                yield from file_values(child, data[name], f"{pointer}/{name}")
    elif isinstance(data, list) and isinstance(schema.get("items"), Mapping):
        for i, item in enumerate(data):
            yield from file_values(schema["items"], item, f"{pointer}/{i}")


def claim_references(schema: Mapping[str, Any], data: Any, user: User | None, dossier: Dossier) -> None:
    """Every file field must name an upload of this person (or of this dossier); link them to the dossier."""
    errors: dict[str, str] = {}
    for pointer, value in file_values(schema, data):
        match = _REF.match(value) if isinstance(value, str) else None
        att = db.session.scalar(select(Attachment).where(Attachment.token == match.group(1))) if match else None
        owner_id = user.id if user else None
        if att is None or (att.uploaded_by_id != owner_id and att.dossier_id != dossier.id):
            errors[pointer] = "Tệp đính kèm không tồn tại hoặc không thuộc về bạn; vui lòng tải lên lại."
            continue
        att.dossier_id = dossier.id
    if errors:
        raise Invalid("Tệp đính kèm không hợp lệ.", code="attachment_invalid", details=errors)


def open_attachment(token: str, user: User | None, may_view: Any) -> tuple[Attachment, Path]:
    att = db.session.scalar(select(Attachment).where(Attachment.token == token))
    if att is None:
        raise NotFound("Không tìm thấy tệp.", code="attachment_not_found")
    owner = user is not None and att.uploaded_by_id == user.id
    if not owner and (att.dossier_id is None or not may_view(user, db.session.get(Dossier, att.dossier_id))):
        raise Forbidden("Bạn không có quyền xem tệp này.", code="attachment_forbidden")
    return att, Path(current_app.config["UPLOAD_DIR"]) / att.sha256[:2] / att.sha256
