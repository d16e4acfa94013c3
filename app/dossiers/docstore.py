"""The applicant's personal document store (kho dữ liệu cá nhân, Nghị định 45/2020/NĐ-CP and 107/2021/NĐ-CP): the
electronic results of their dossiers and the components digitized when their dossiers were received, offered again
when a later form asks for the same kind of paper, so nobody submits twice what the state already holds.

- What goes in: when a dossier is received (status 2) each component the manifest declares with a `field` whose
  file the dossier holds (a digitized copy, as it was received), and later each component's file a supplement
  brings; when its result is handed back (status 10) each electronic result file (`ui:result`), described by the
  manifest's `result_documents` (kind, title, validity).
  Only dossiers with an applicant account (never a walk-in without one); a file that itself came from the store
  is not stored twice.
- Kinds: a component's `kind` (what it is) and `accepts` (other kinds that may stand in for it, e.g. a birth
  certificate as proof of kinship); a result's kind from `result_documents`. Matching is by these codes only.
- Taking one: a start-form file field carries `{"kho_giay_to": <id>}` (the API, and the web form's choice). The
  server resolves the id — the applicant's own, of a kind the field accepts, not revoked, not expired — and puts
  the stored file's reference in its place before the form is validated; the new dossier gets its own copy of the
  file (app.dossiers.attachments.claim_references), which names the store row it came from. That row, not anything
  the form says, is what tells the officer the file is a verified earlier result or digitized copy.
- Revocation (thu hồi): an officer of the agency that received or issued it; a revoked or expired document stays
  listed for its owner, marked, and is refused when chosen.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext
from sqlalchemy import ColumnElement, case, insert, literal, null, or_, select

from app.dossiers.access import may_view
from app.dossiers.attachments import accepted_types, reference, reference_token
from app.dossiers.clock import now_utc
from app.dossiers.errors import Forbidden, Invalid, NotFound
from app.dossiers.results import RESULT_HINT
from app.eforms.render import STORE_KEY
from app.eforms.schema import pointer_to_path, resolve_pointer
from app.extensions import db
from app.models import Agency, Attachment, AuditEvent, Dossier, PersonalDocument, ProcedureVersion, User
from app.models.personal_document import ORIGIN_COMPONENT, ORIGIN_RESULT
from app.models.user import ADMIN_ROLE, N_

RECEIVED, HANDED_BACK = 2, 10  # statuses at which documents enter the store


@dataclass(frozen=True)
class StoredDocument:
    """A row of the store with what its lists show: the file, the source dossier and agency, and its state."""

    document: PersonalDocument
    attachment: Attachment
    dossier_code: str
    procedure_name: str
    agency_name: str
    state: str  # "valid" | "revoked" | "expired"

    @property
    def id(self) -> int:
        return self.document.id


def state_of(document: PersonalDocument, at: datetime | None = None) -> str:
    if document.revoked_at is not None:
        return "revoked"
    if document.valid_until is not None and document.valid_until <= (at or now_utc()):
        return "expired"
    return "valid"


# ---------------------------------------------------------------- what goes in


def record(*, dossier: Dossier, new: int, **_: Any) -> None:
    """The status-change hook (app.subscriptions): received → its digitized components; handed back → its
    electronic results. Idempotent (a file already in the store is not added again); one INSERT … SELECT."""
    if dossier.applicant_user_id is None or new not in (RECEIVED, HANDED_BACK):
        return
    manifest = dossier.procedure_version.manifest
    at = now_utc()
    if new == RECEIVED:
        components = _component_files(dossier)
        if not components:
            return
        by_token = Attachment.token
        chosen: ColumnElement[bool] = Attachment.token.in_(list(components))
        values: dict[str, tuple[str | None, str, str | None, datetime | None]] = {
            token: (c.get("kind"), str(c["name"])[:500], str(c["code"])[:40], None) for token, c in components.items()}
        origin = ORIGIN_COMPONENT
    else:
        fields = _result_fields(dossier.procedure_version)
        if not fields:
            return
        declared = manifest.get("result_documents") or {}
        by_token = Attachment.field_path
        # The officers' attachments in a result field (`ui:result`) of a step form: the electronic result.
        chosen = Attachment.field_path.in_(fields) & or_(Attachment.uploaded_by_id.is_(None),
                                                         Attachment.uploaded_by_id != dossier.applicant_user_id)
        values = {}
        for path in fields:
            spec = declared.get(path) or {}
            days = spec.get("valid_days")
            values[path] = (spec.get("kind"), str(spec.get("title") or manifest["name"])[:500], None,
                            at + timedelta(days=int(days)) if days else None)
        origin = ORIGIN_RESULT

    def per_file(index: int, column: Any) -> Any:
        """The file's value of one column, by its token (a component) or field (a result), in SQL."""
        mapping = {key: row[index] for key, row in values.items() if row[index] is not None}
        return (case(mapping, value=by_token, else_=None) if mapping else null()).cast(column.type)

    table = PersonalDocument.__table__.c
    rows = (select(literal(dossier.applicant_user_id, table.owner_id.type), literal(origin, table.origin.type),
                   per_file(0, table.kind), per_file(1, table.title), per_file(2, table.component_code),
                   literal(dossier.id, table.dossier_id.type), literal(dossier.agency_id, table.agency_id.type),
                   Attachment.id, literal(at, table.issued_at.type), per_file(3, table.valid_until))
            .outerjoin(PersonalDocument, PersonalDocument.attachment_id == Attachment.id)
            .where(Attachment.dossier_id == dossier.id, Attachment.reused_from_id.is_(None),
                   PersonalDocument.id.is_(None), chosen))
    with db.session.no_autoflush:  # the files are in the database already; the step's own rows are its statements'
        db.session.execute(insert(PersonalDocument).from_select(
            ["owner_id", "origin", "kind", "title", "component_code", "dossier_id", "agency_id", "attachment_id",
             "issued_at", "valid_until"], rows))


def record_supplement(*, dossier: Dossier, received: Iterable[Mapping[str, Any]], **_: Any) -> None:
    """The supplement-received hook (app.subscriptions): a component's file brought in answer to a supplement
    request (uploaded online or scanned at the desk) is a digitized copy too, stored like those received with the
    form (one query and one insert)."""
    if dossier.applicant_user_id is None:
        return
    by_code = {c.get("code"): c for c in dossier.procedure_version.manifest.get("components") or []}
    wanted: dict[str, Mapping[str, Any]] = {}
    for item in received:
        token = reference_token(item.get("reference"))
        if token is not None and item.get("code") in by_code:
            wanted[token] = by_code[item["code"]]
    if not wanted:
        return
    found = db.session.execute(
        select(Attachment.id, Attachment.token)
        .outerjoin(PersonalDocument, PersonalDocument.attachment_id == Attachment.id)
        .where(Attachment.dossier_id == dossier.id, Attachment.token.in_(list(wanted)),
               Attachment.reused_from_id.is_(None), PersonalDocument.id.is_(None))).all()
    at = now_utc()
    rows = [PersonalDocument(origin=ORIGIN_COMPONENT, kind=wanted[r.token].get("kind"),
                             title=str(wanted[r.token]["name"])[:500], component_code=str(wanted[r.token]["code"])[:40],
                             attachment_id=r.id, owner_id=dossier.applicant_user_id, dossier_id=dossier.id,
                             agency_id=dossier.agency_id, issued_at=at) for r in found]
    if rows:
        db.session.add_all(rows)
        db.session.flush()


def _component_files(dossier: Dossier) -> dict[str, Mapping[str, Any]]:
    """The files the start form gave for the manifest's components, by attachment token."""
    out: dict[str, Mapping[str, Any]] = {}
    for component in dossier.procedure_version.manifest.get("components") or []:
        field = component.get("field")
        token = reference_token(resolve_pointer(dossier.form_data or {}, field)) if field else None
        if token is not None:
            out[token] = component
    return out


def _result_fields(version: ProcedureVersion) -> list[str]:
    """The file fields the procedure's step forms declare as the electronic result (`ui:result`)."""
    names: set[str] = set()
    for name, ui in version.forms.items():
        raw = ui.get(RESULT_HINT) if name.endswith(".ui.json") and isinstance(ui, Mapping) else None
        names.update([raw] if isinstance(raw, str) else [r for r in raw if isinstance(r, str)]
                     if isinstance(raw, list) else [])
    return sorted(names)


# ---------------------------------------------------------------- what the owner sees


def _stored(rows: Iterable[Any], at: datetime) -> list[StoredDocument]:
    return [StoredDocument(document=doc, attachment=att, dossier_code=source.code,
                           procedure_name=source.procedure_version.manifest["name"], agency_name=agency,
                           state=state_of(doc, at)) for doc, att, source, agency in rows]


def _query() -> Any:
    return (select(PersonalDocument, Attachment, Dossier, Agency.name)
            .join(Attachment, Attachment.id == PersonalDocument.attachment_id)
            .join(Dossier, Dossier.id == PersonalDocument.dossier_id)
            .join(Agency, Agency.id == PersonalDocument.agency_id))


def documents_of(user: User, *, kinds: Iterable[str] | None = None) -> list[StoredDocument]:
    """The person's documents, newest first (all of them, revoked and expired ones marked), or those of `kinds`."""
    query = _query().where(PersonalDocument.owner_id == user.id)
    if kinds is not None:
        query = query.where(PersonalDocument.kind.in_(list(kinds)))
    query = query.order_by(PersonalDocument.issued_at.desc(), PersonalDocument.id.desc())
    return _stored(db.session.execute(query).all(), now_utc())


def own_document(document_id: int, user: User | None) -> StoredDocument:
    """One of the person's documents; anyone else's (or none) is "not found", the same answer for both."""
    row = db.session.execute(_query().where(PersonalDocument.id == document_id)).first() \
        if user is not None and 0 < document_id < 2**31 else None
    if row is None or row[0].owner_id != user.id:  # type: ignore[union-attr]
        raise NotFound(gettext("Không tìm thấy giấy tờ này trong kho giấy tờ của bạn."),
                       code="personal_document_not_found")
    return _stored([row], now_utc())[0]


# ---------------------------------------------------------------- taking one in a new form


def field_kinds(manifest: Mapping[str, Any]) -> dict[str, set[str]]:
    """The start form's file fields (JSON pointers) that take a stored document, with the kinds each accepts."""
    out: dict[str, set[str]] = {}
    for component in manifest.get("components") or []:
        kinds = {k for k in [component.get("kind"), *(component.get("accepts") or [])] if isinstance(k, str)}
        if component.get("field") and kinds:
            out[component["field"]] = kinds
    return out


def _accepts(schema: Mapping[str, Any], pointer: str) -> list[str]:
    node: Any = schema
    for part in pointer.lstrip("/").split("/"):
        node = (node.get("items") if part.isdigit() else (node.get("properties") or {}).get(part)) \
            if isinstance(node, Mapping) else None
    media = node.get("contentMediaType") if isinstance(node, Mapping) else None
    return accepted_types(str(media).split(",") if media else None)


def offers(user: User | None, version: ProcedureVersion) -> dict[str, list[StoredDocument]]:
    """What the start form may offer from the person's store, by field path: valid documents of a kind the field
    accepts and of a file type it takes. Only fields with something to offer."""
    if user is None or not getattr(user, "id", None):
        return {}
    manifest = version.manifest
    wanted = field_kinds(manifest)
    if not wanted:
        return {}
    schema = version.forms[manifest["start_form"]]
    mine = [d for d in documents_of(user, kinds=set().union(*wanted.values())) if d.state == "valid"]
    out: dict[str, list[StoredDocument]] = {}
    for pointer, kinds in wanted.items():
        types = _accepts(schema, pointer)
        matching = [d for d in mine if d.document.kind in kinds and d.attachment.content_type in types]
        if matching:
            out[pointer_to_path(pointer)] = matching
    return out


def chosen_id(value: Any) -> Any:
    """The store id a field's value asks for (`{"kho_giay_to": id}`), or None for anything else."""
    return value.get(STORE_KEY) if isinstance(value, Mapping) and STORE_KEY in value else None


def _set(data: Any, pointer: str, value: Any) -> None:
    *parents, last = pointer.lstrip("/").split("/")
    node = data
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    node[int(last) if isinstance(node, list) else last] = value


def resolve(version: ProcedureVersion, data: Any, user: User | None) -> tuple[Any, dict[str, StoredDocument]]:
    """The start-form data with each chosen store document replaced by its stored file's reference, and which
    document went where (JSON pointer → row). The caller's data is left as it was (a refusal shows the form as
    filled in). Refused, field by field: not the person's (or no such id), a kind the field does not take, revoked,
    expired."""
    wanted = field_kinds(version.manifest)
    chosen = {p: chosen_id(resolve_pointer(data, p)) for p in wanted}
    chosen = {p: v for p, v in chosen.items() if v is not None}
    if not chosen:
        return data, {}
    data = copy.deepcopy(data)
    errors: dict[str, str] = {}
    taken: dict[str, StoredDocument] = {}
    now = now_utc()
    for pointer, raw in chosen.items():
        try:
            found = own_document(int(raw), user) if isinstance(raw, int | str) and str(raw).isdigit() else None
        except NotFound:
            found = None
        if found is None:
            errors[pointer] = gettext("Không tìm thấy giấy tờ này trong kho giấy tờ của bạn; vui lòng chọn giấy tờ "
                                      "khác hoặc tải tệp lên.")
            continue
        doc, state = found.document, state_of(found.document, now)
        if doc.kind not in wanted[pointer]:
            errors[pointer] = gettext("Giấy tờ «%(title)s» không phải loại giấy tờ trường này yêu cầu; vui lòng "
                                      "chọn giấy tờ khác hoặc tải tệp lên.", title=doc.title)
        elif state == "revoked":
            errors[pointer] = gettext("Giấy tờ «%(title)s» đã bị cơ quan cấp thu hồi (%(reason)s); vui lòng chọn "
                                      "giấy tờ khác hoặc tải tệp lên.", title=doc.title,
                                      reason=doc.revoked_reason or gettext("không nêu lý do"))
        elif state == "expired":
            errors[pointer] = gettext("Giấy tờ «%(title)s» đã hết thời hạn sử dụng; vui lòng chọn giấy tờ khác hoặc "
                                      "tải tệp lên.", title=doc.title)
        else:
            _set(data, pointer, reference(found.attachment))
            taken[pointer] = found
    if errors:
        raise Invalid(gettext("Không dùng được giấy tờ đã chọn từ kho giấy tờ."), code="personal_document_invalid",
                      details=errors)
    return data, taken


def _attachment(dossier: Dossier, value: Any) -> Attachment | None:
    token = reference_token(value)
    if token is None:
        return None
    return db.session.scalar(select(Attachment).where(Attachment.token == token,
                                                      Attachment.dossier_id == dossier.id))


def mark_taken(dossier: Dossier, taken: Mapping[str, StoredDocument]) -> None:
    """The new dossier's copies of the chosen files name the store rows they came from, and the dossier keeps where
    each came from (read with it by the receipt, the API and the national portal)."""
    reused: dict[str, Any] = {}
    for pointer, found in taken.items():
        att = _attachment(dossier, resolve_pointer(dossier.form_data, pointer))
        if att is None:
            continue
        att.reused_from_id = found.id
        reused[pointer_to_path(pointer)] = {"document_id": found.id, "origin": found.document.origin,
                                            "title": found.document.title, "dossier_code": found.dossier_code}
    if reused:  # never a JSON null: the indicators count the dossiers whose column is set
        dossier.reused_documents = reused
    db.session.flush()


# ---------------------------------------------------------------- what the officer sees


@dataclass(frozen=True)
class Reused:
    """A file of the dossier taken from its applicant's store: where it came from, and whether the reader may
    open the source dossier."""

    field_path: str
    component: str  # the manifest's name of the component the file was given for
    attachment: Attachment
    document: PersonalDocument
    source_code: str
    source_agency: str
    may_open_source: bool


def reused_in(dossier: Dossier, viewer: User | None) -> list[Reused]:
    rows = db.session.execute(
        select(Attachment, PersonalDocument, Dossier, Agency.name)
        .join(PersonalDocument, PersonalDocument.id == Attachment.reused_from_id)
        .join(Dossier, Dossier.id == PersonalDocument.dossier_id)
        .join(Agency, Agency.id == PersonalDocument.agency_id)
        .where(Attachment.dossier_id == dossier.id).order_by(Attachment.id)).all()
    names = {pointer_to_path(c["field"]): c["name"] for c in dossier.procedure_version.manifest.get("components") or []
             if c.get("field")}
    return [Reused(field_path=att.field_path, component=names.get(att.field_path, att.field_path), attachment=att,
                   document=doc, source_code=source.code, source_agency=agency,
                   may_open_source=may_view(viewer, source))
            for att, doc, source, agency in rows]


# ---------------------------------------------------------------- revocation


def stored_from(dossier: Dossier, viewer: User | None) -> list[PersonalDocument]:
    """The documents the dossier put in its applicant's store, for whoever may revoke them (else none)."""
    found = db.session.scalars(select(PersonalDocument).where(PersonalDocument.dossier_id == dossier.id)
                               .order_by(PersonalDocument.id)).all()
    return [d for d in found if may_revoke(viewer, d)]


def may_revoke(user: User | None, document: PersonalDocument) -> bool:
    """An officer of the agency that received or issued the document, or an administrator."""
    if user is None:
        return False
    return user.has_role(ADMIN_ROLE) or (user.is_officer and user.agency_id is not None
                                         and user.agency_id == document.agency_id)


def revoke(document_id: int, user: User, reason: str) -> PersonalDocument:
    """Thu hồi: the document stays in its owner's store, marked, and can no longer be chosen. Its dossier's
    history says who revoked it and why. Anyone not entitled is told it does not exist."""
    doc = db.session.get(PersonalDocument, document_id) if 0 < document_id < 2**31 else None
    if doc is None or not may_revoke(user, doc):
        if doc is not None and user is not None and doc.owner_id == user.id:
            raise Forbidden(gettext("Chỉ cơ quan đã cấp hoặc tiếp nhận giấy tờ mới thu hồi được."),
                            code="personal_document_revoke_forbidden")
        raise NotFound(gettext("Không tìm thấy giấy tờ."), code="personal_document_not_found")
    reason = (reason or "").strip()[:2000]
    if not reason:
        raise Invalid(gettext("Vui lòng nêu lý do thu hồi."), details={"ly_do": gettext("Vui lòng nêu lý do thu hồi.")})
    if doc.revoked_at is not None:
        return doc
    doc.revoked_at, doc.revoked_reason, doc.revoked_by_id = now_utc(), reason, user.id
    db.session.add(AuditEvent(dossier_id=doc.dossier_id, actor_id=user.id, actor_name=user.full_name,
                              action="document_revoked", at=doc.revoked_at,
                              note=N_("Thu hồi giấy tờ «%(title)s» trong kho giấy tờ của người nộp: %(reason)s"),
                              note_params={"title": doc.title, "reason": reason}))
    db.session.flush()
    return doc
