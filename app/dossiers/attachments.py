"""Files uploaded with eForms: checked by type, size and content, stored by SHA-256 outside the web root.

Form data carries only a reference `<token>/<file name>`; the token is random, so a reference cannot be
guessed, and a reference is accepted only from the person who uploaded the file (or, once it belongs to a
dossier, from someone entitled to that dossier).

A file is accepted when its content is one of the types the field accepts, its own name ends the way that
type's files do, and the content is what its first bytes claim (a PDF has its end-of-file marker, an image
opens in Pillow). It is served under a name the platform makes (the field + the extension of the verified type), with
that type, `nosniff`, and inline only for the PDFs and images verified here.

An attachment belongs to one dossier. Using a reference again in another dossier (its uploader, or someone
entitled to the first dossier) gives the new dossier its own attachment row over the same stored blob; the
first dossier keeps its file.

Files follow the transaction of their row. A new blob is written (and fsync'd) under a name of its own in
``UPLOAD_DIR/.staging`` and moved to its place (``UPLOAD_DIR/<aa>/<sha256>``) only after the transaction commits;
a rollback deletes it. So a rolled-back request leaves no file behind, and a blob in its place always belongs to
a committed row: a rollback never deletes a file another transaction counts on. Should the process die between
the commit and the move, the staged copy is still there: reading the attachment moves it into place, and
``flask uploads settle`` does it for all (and deletes the staged files of transactions that never committed).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import secrets
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from flask import current_app
from flask_babel import gettext
from PIL import Image, UnidentifiedImageError
from sqlalchemy import String, bindparam, event, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from app.dossiers.clock import now_utc
from app.dossiers.errors import Invalid, NotFound
from app.eforms.schema import pointer_to_path
from app.extensions import db
from app.models import Attachment, Dossier, User


@dataclass(frozen=True)
class FileType:
    mime: str
    label: str
    signatures: tuple[bytes, ...]
    extensions: tuple[str, ...]  # the first is the one a served file gets


TYPES: dict[str, FileType] = {t.mime: t for t in (
    FileType("application/pdf", "PDF", (b"%PDF-",), ("pdf",)),
    FileType("image/jpeg", "JPEG", (b"\xff\xd8\xff",), ("jpg", "jpeg")),
    FileType("image/png", "PNG", (b"\x89PNG\r\n\x1a\n",), ("png",)),
)}
INLINE_TYPES = frozenset(TYPES)  # verified PDFs and images open in the browser; anything else downloads
_REF = re.compile(r"^([A-Za-z0-9_-]{20,64})/(.{1,255})$")
_STAGED = "motcua_staged_files"  # session.info: [(staged path, final path)] written by this transaction
STAGING = ".staging"
log = logging.getLogger(__name__)


def _is_whole(mime: str, data: bytes) -> bool:
    """The content is a file of that type, not only its first bytes."""
    if mime == "application/pdf":
        return b"%%EOF" in data[5:]  # its end-of-file marker; "%PDF-" followed by anything else is not a PDF
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.get_format_mimetype() != mime:
                return False
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return False
    return True


def sniff(data: bytes) -> str | None:
    """The type the content really is (one of TYPES), or None."""
    mime = next((m for m, t in TYPES.items() if data.startswith(t.signatures)), None)
    return mime if mime is not None and _is_whole(mime, data) else None


def accepted_types(accept: Iterable[str] | None) -> list[str]:
    """The types a field accepts (its contentMediaType, comma-separated), among those the platform checks."""
    wanted = [t.strip().lower() for t in (accept or TYPES)]
    allowed = [t for t in TYPES if t in wanted or f"{t.split('/')[0]}/*" in wanted]
    return allowed or list(TYPES)


def _type_names(types: Iterable[str]) -> str:
    return ", ".join(sorted({TYPES[t].label for t in types}))


def safe_filename(name: str) -> str:
    name = unicodedata.normalize("NFC", Path(name.replace("\\", "/")).name)
    name = re.sub(r"[\x00-\x1f<>:\"/\\|?*]", "_", name).strip(" .")
    return name[:200] or "tep"


def store_upload(data: bytes, filename: str, content_type: str, field_path: str, user: User | None,
                 accept: Iterable[str] | None = None) -> Attachment:
    """Check and keep one uploaded file. `content_type` (what the browser claimed) is not trusted."""
    limit = current_app.config["MAX_UPLOAD_FILE_BYTES"]
    label = field_path or safe_filename(filename)
    if not data:
        raise Invalid(gettext("Tệp tải lên rỗng."), details={field_path: gettext("Tệp tải lên rỗng.")})
    if len(data) > limit:
        message = gettext("Tệp «%(name)s» vượt quá %(size)s MB.", name=safe_filename(filename),
                          size=limit // (1024 * 1024))
        raise Invalid(message, details={field_path: message})
    allowed = accepted_types(accept)
    detected = sniff(data)
    if detected is None or detected not in allowed:
        message = gettext("Tệp của trường «%(field)s» phải là %(types)s hợp lệ.", field=label,
                          types=_type_names(allowed))
        raise Invalid(message, details={field_path: message})
    extension = Path(safe_filename(filename)).suffix.lower().lstrip(".")
    if extension not in TYPES[detected].extensions:
        wanted = gettext(" hoặc ").join(f".{e}" for e in TYPES[detected].extensions)
        message = gettext("Tệp «%(name)s» là tệp %(kind)s: tên tệp phải có đuôi %(wanted)s.",
                          name=safe_filename(filename), kind=TYPES[detected].label, wanted=wanted)
        raise Invalid(message, details={field_path: message})
    digest = hashlib.sha256(data).hexdigest()
    _stage(data, digest)
    attachment = Attachment(token=secrets.token_urlsafe(24), uploaded_by_id=user.id if user else None,
                            field_path=field_path[:255], filename=safe_filename(filename), content_type=detected,
                            size=len(data), sha256=digest)
    db.session.add(attachment)
    db.session.flush()
    return attachment


def blob_path(digest: str) -> Path:
    """Where a committed blob lives."""
    return Path(current_app.config["UPLOAD_DIR"]) / digest[:2] / digest


def _stage(data: bytes, digest: str) -> None:
    """Write a blob not stored yet under a name of its own, to be moved into place when the session commits."""
    final = blob_path(digest)
    if final.exists():
        return  # committed already (only a commit puts a blob there)
    staging = Path(current_app.config["UPLOAD_DIR"]) / STAGING
    staging.mkdir(parents=True, exist_ok=True)
    staged = staging / f"{digest}.{secrets.token_hex(8)}.part"
    with open(staged, "xb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())  # durable before the row that needs it is committed
    db.session.info.setdefault(_STAGED, []).append((staged, final))


def _promote(session: Session) -> None:
    """After a commit: move this transaction's new blobs into place (one that fails is moved when read)."""
    for staged, final in session.info.pop(_STAGED, []):
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, final)  # atomic; the same content may already be there from another transaction
        except OSError:
            log.exception("uploaded file %s could not be moved to %s; it is moved when first read", staged, final)


def _discard(session: Session, previous_transaction: Any) -> None:
    """After a rollback of the whole transaction: its new blobs go with it."""
    if session.in_transaction():
        return  # a savepoint: the files wait for the outcome of the transaction
    for staged, _final in session.info.pop(_STAGED, []):
        staged.unlink(missing_ok=True)


def track_files_with_transactions() -> None:
    """Connect the staging of uploaded files to the sessions' commits and rollbacks (app.subscriptions)."""
    for name, handler in (("after_commit", _promote), ("after_soft_rollback", _discard)):
        if not event.contains(Session, name, handler):
            event.listen(Session, name, handler)


def _recover(digest: str) -> bool:
    """Move a staged copy of a committed blob into place (the process died between the commit and the move).
    Only called for a blob a committed row names; the copy's content is checked against its name."""
    staging = Path(current_app.config["UPLOAD_DIR"]) / STAGING
    for staged in sorted(staging.glob(f"{digest}.*.part")) if staging.is_dir() else []:
        if hashlib.sha256(staged.read_bytes()).hexdigest() == digest:
            blob_path(digest).parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, blob_path(digest))
            return True
    return False


def settle_staged(older_than_seconds: float = 3600.0) -> tuple[int, int]:
    """Staged files left by processes that died mid-request: a blob some committed row names is moved into
    place, any other is deleted. Only files older than `older_than_seconds` (a younger one may belong to a
    transaction still running). Returns (moved, deleted)."""
    staging = Path(current_app.config["UPLOAD_DIR"]) / STAGING
    if not staging.is_dir():
        return 0, 0
    moved = deleted = 0
    horizon = now_utc().timestamp() - older_than_seconds
    for staged in sorted(staging.glob("*.part")):
        try:
            if staged.stat().st_mtime > horizon:
                continue
        except FileNotFoundError:
            continue
        digest = staged.name.split(".", 1)[0]
        named = db.session.scalar(select(Attachment.id).where(Attachment.sha256 == digest).limit(1))
        if named is not None and not blob_path(digest).exists() and _recover(digest):
            moved += 1
        elif named is None or blob_path(digest).exists():
            staged.unlink(missing_ok=True)
            deleted += 1
    return moved, deleted


def reference(attachment: Attachment) -> str:
    return f"{attachment.token}/{attachment.filename}"


def reference_token(value: Any) -> str | None:
    """The attachment token a form value refers to (`token/filename`), or None."""
    match = _REF.match(value) if isinstance(value, str) else None
    return match.group(1) if match else None


FileField = tuple[str, Any, Mapping[str, Any]]  # (JSON pointer, value, the field's schema)


def _file_fields(schema: Mapping[str, Any], data: Any, pointer: str = "") -> Iterable[FileField]:
    if not isinstance(schema, Mapping):
        return
    if schema.get("type") == "string" and schema.get("contentMediaType"):
        if data is not None:
            yield pointer, data, schema
        return
    if isinstance(data, Mapping):
        for name, child in (schema.get("properties") or {}).items():
            if name in data:
                yield from _file_fields(child, data[name], f"{pointer}/{name}")
    elif isinstance(data, list) and isinstance(schema.get("items"), Mapping):
        for i, item in enumerate(data):
            yield from _file_fields(schema["items"], item, f"{pointer}/{i}")


MayView = Callable[[User | None, Dossier], bool]


def claim_references(schema: Mapping[str, Any], data: Any, user: User | None, dossier: Dossier,
                     may_view: MayView | None = None) -> bool:
    """Every file field must name an upload of this person, a file of this dossier, or a file of another
    dossier that this person uploaded or may view (`may_view`); the field's accepted types must include the
    file's verified one. Fresh uploads are linked to the dossier; a file of another dossier is copied (a new
    row over the same blob) and its reference in `data` replaced by the copy's. True when `data` changed.
    """
    errors: dict[str, str] = {}
    owner_id = user.id if user else None
    changed = False
    fields = list(_file_fields(schema, data))
    linked = _link_fresh_uploads(fields, owner_id, dossier) if owner_id is not None and fields else {}
    for pointer, value, node in fields:
        match = _REF.match(value) if isinstance(value, str) else None
        if match and match.group(1) in linked:
            content_type, filename = linked[match.group(1)]
            allowed = accepted_types(str(node["contentMediaType"]).split(","))
            if content_type not in allowed:  # linked above, but the caller rolls back on the error raised
                errors[pointer] = gettext("Tệp «%(name)s» không được nhận: trường này chỉ nhận tệp %(types)s.",
                                          name=filename, types=_type_names(allowed))
            continue
        att = db.session.scalar(select(Attachment).where(Attachment.token == match.group(1))) if match else None
        source = db.session.get(Dossier, att.dossier_id) if att is not None and att.dossier_id is not None else None
        own = owner_id is not None and att is not None and att.uploaded_by_id == owner_id
        reusable = att is not None and (att.dossier_id == dossier.id or own or (
            source is not None and may_view is not None and may_view(user, source)))
        if att is None or not reusable:
            errors[pointer] = gettext("Tệp đính kèm không tồn tại hoặc không thuộc về bạn; vui lòng tải lên lại.")
            continue
        allowed = accepted_types(str(node["contentMediaType"]).split(","))
        if att.content_type not in allowed:
            errors[pointer] = gettext("Tệp «%(name)s» không được nhận: trường này chỉ nhận tệp %(types)s.",
                                      name=att.filename, types=_type_names(allowed))
            continue
        if att.dossier_id is None:
            att.dossier_id = dossier.id
            att.field_path = pointer_to_path(pointer)[:255]
        elif att.dossier_id != dossier.id:
            copy = Attachment(token=secrets.token_urlsafe(24), dossier_id=dossier.id,
                              uploaded_by_id=att.uploaded_by_id, field_path=pointer_to_path(pointer)[:255],
                              filename=att.filename, content_type=att.content_type, size=att.size, sha256=att.sha256)
            db.session.add(copy)
            _replace(data, pointer, reference(copy))
            changed = True
    if errors:
        raise Invalid(gettext("Tệp đính kèm không hợp lệ."), code="attachment_invalid", details=errors)
    db.session.flush()
    return changed


def _link_fresh_uploads(fields: list[FileField], owner_id: int, dossier: Dossier) -> dict[str, tuple[str, str]]:
    """The common case in one statement (PostgreSQL): the person's own uploads not yet in a dossier are linked to
    this one, all fields together; token → (type, file name) of those linked. The rest (files of other dossiers,
    unknown tokens) take the general path, one by one."""
    if db.session.get_bind().dialect.name != "postgresql":
        return {}
    paths: dict[str, str] = {}
    for pointer, value, _ in fields:
        match = _REF.match(value) if isinstance(value, str) else None
        if match:
            paths.setdefault(match.group(1), pointer_to_path(pointer)[:255])
    if not paths:
        return {}
    rows = db.session.execute(_link_statement(), {"tokens": list(paths), "paths": list(paths.values()),
                                                   "owner_id": owner_id, "linked_dossier_id": dossier.id}).all()
    linked = {row.token: (row.content_type, row.filename) for row in rows}
    for att in [obj for obj in db.session.identity_map.values() if isinstance(obj, Attachment)]:
        if att.token in linked:  # a row this session holds: show it what the statement wrote
            set_committed_value(att, "dossier_id", dossier.id)
            set_committed_value(att, "field_path", paths[att.token])
    return linked


@cache
def _link_statement() -> Any:
    """_link_fresh_uploads' UPDATE, built once: the (token, path) pairs come as two arrays, read side by side."""
    wanted = select(func.unnest(bindparam("tokens", type_=ARRAY(String))).label("token"),
                    func.unnest(bindparam("paths", type_=ARRAY(String))).label("path")).subquery("wanted")
    return (update(Attachment)
            .where(Attachment.token == wanted.c.token, Attachment.uploaded_by_id == bindparam("owner_id"),
                   Attachment.dossier_id.is_(None))
            .values(dossier_id=bindparam("linked_dossier_id"), field_path=wanted.c.path)
            .returning(Attachment.token, Attachment.content_type, Attachment.filename)
            .execution_options(synchronize_session=False))


def _replace(data: Any, pointer: str, value: str) -> None:
    *parents, last = pointer.lstrip("/").split("/")
    node = data
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def open_attachment(token: str, user: User | None, may_view: Any) -> tuple[Attachment, Path]:
    """The file behind a token for someone entitled to its dossier (or its uploader, before it has one).
    Anyone else is told it does not exist."""
    att = db.session.scalar(select(Attachment).where(Attachment.token == token[:64]))
    owner = att is not None and user is not None and att.uploaded_by_id == user.id and att.dossier_id is None
    if att is None or not (owner or (att.dossier_id is not None
                                     and may_view(user, db.session.get(Dossier, att.dossier_id)))):
        raise NotFound(gettext("Không tìm thấy tệp."), code="attachment_not_found")
    path = blob_path(att.sha256)
    if not path.exists():
        _recover(att.sha256)
    return att, path


def served_as(att: Attachment) -> tuple[str, str, bool]:
    """(content type, file name, inline?) to serve an attachment with: the name is made from the field it
    was given for and the extension of its verified type, never the name it was uploaded under."""
    kind = TYPES.get(att.content_type)
    stem = re.sub(r"[^A-Za-z0-9_]+", "-", (att.field_path or "").split(".")[-1]).strip("-") or "tep"
    if kind is None:
        return "application/octet-stream", f"{stem}.bin", False
    return kind.mime, f"{stem}.{kind.extensions[0]}", kind.mime in INLINE_TYPES
