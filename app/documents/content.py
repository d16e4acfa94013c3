"""What each document says: its content read from the dossier, recorded when it is issued (IssuedDocument)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from flask import current_app
from flask_babel import force_locale, gettext, lazy_gettext
from flask_babel.speaklater import LazyString
from sqlalchemy import func, select

from app.dossiers import lateness
from app.dossiers.calendar import DUNG_HAN, QUA_HAN, TRONG_HAN, TRUOC_HAN
from app.dossiers.clock import local_tz, now_utc
from app.dossiers.components import received_components
from app.dossiers.deadlines import processing_amount, processing_rule
from app.dossiers.errors import Invalid, NotFound
from app.extensions import db
from app.models import AuditEvent, Dossier, IssuedDocument, User
from app.models.dossier import STATUSES

# The portal's public look-up page (app.web.portal.lookup; tests check the two agree): the QR code opens it.
PUBLIC_LOOKUP_PATH = "/tra-cuu"
CHANNELS = {1: "Trực tiếp", 2: "Trực tuyến", 3: "Qua dịch vụ bưu chính công ích"}
UNITS = {"working_days": "ngày làm việc", "days": "ngày"}


class DocumentError(Invalid):
    """A document asked for without what it must say (a refusal without its reason …)."""


@dataclass(frozen=True)
class Kind:
    code: str  # IssuedDocument.kind
    form: str  # the regulation's form it follows
    title: str  # as printed (Vietnamese: the documents are issued in the regulation's language)
    label: LazyString  # its name on the pages, in the reader's language
    for_applicant: bool  # the applicant may download it (the control sheet stays with the agency)


KINDS: dict[str, Kind] = {k.code: k for k in (
    Kind("receipt", "Mẫu số 01", "Giấy tiếp nhận hồ sơ và hẹn trả kết quả",
         lazy_gettext("Giấy tiếp nhận hồ sơ và hẹn trả kết quả"), True),
    Kind("supplement", "Mẫu số 02", "Phiếu yêu cầu bổ sung, hoàn thiện hồ sơ",
         lazy_gettext("Phiếu yêu cầu bổ sung, hoàn thiện hồ sơ"), True),
    Kind("refusal", "Mẫu số 03", "Phiếu từ chối tiếp nhận, giải quyết hồ sơ",
         lazy_gettext("Phiếu từ chối tiếp nhận, giải quyết hồ sơ"), True),
    Kind("apology", "Mẫu số 04", "Phiếu xin lỗi và hẹn lại ngày trả kết quả",
         lazy_gettext("Phiếu xin lỗi và hẹn lại ngày trả kết quả"), True),
    Kind("control", "Mẫu số 05", "Phiếu kiểm soát quá trình giải quyết hồ sơ",
         lazy_gettext("Phiếu kiểm soát quá trình giải quyết hồ sơ"), False),
)}


def status_url(code: str) -> str:
    """The public status page of a dossier, where its QR code leads (PUBLIC_URL: where citizens reach us)."""
    return f"{current_app.config['PUBLIC_URL'].rstrip('/')}{PUBLIC_LOOKUP_PATH}?{urlencode({'ma': code})}"


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _when(value: Any, name: str) -> datetime:
    """A moment given to `issue` (a datetime, or ISO 8601 text from a form)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            value = None
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, 17, 0, tzinfo=local_tz())
    if not isinstance(value, datetime):
        raise DocumentError(f"«{name}» phải là một thời điểm.", code="document_context")
    return value if value.tzinfo is not None else value.replace(tzinfo=local_tz())


def _text(context: Mapping[str, Any], name: str, *, required: bool = True) -> str:
    value = context.get(name)
    text = value.strip() if isinstance(value, str) else ""
    if required and not text:
        raise DocumentError(f"Văn bản này cần «{name}».", code="document_context")
    return text[:4000]


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Sequence):
        return []
    return [str(v).strip()[:500] for v in value if str(v).strip()][:100]


def _receiving_officer(dossier: Dossier) -> str:
    """Who received the dossier: the person whose step moved it to "received"."""
    name = db.session.scalar(select(AuditEvent.actor_name).where(
        AuditEvent.dossier_id == dossier.id, AuditEvent.status_to == 2).order_by(AuditEvent.id).limit(1))
    return name or ""


def _base(dossier: Dossier, now: datetime) -> dict[str, Any]:
    manifest = dossier.procedure_version.manifest
    agency = dossier.agency
    return {
        "code": dossier.code,
        "agency": {"name": agency.name, "code": agency.code, "address": agency.address or ""},
        "applicant": {"name": dossier.applicant_name, "id_number": dossier.applicant_id_number,
                      "address": dossier.applicant_address, "phone": dossier.applicant_phone,
                      "email": dossier.applicant_email},
        "procedure": {"code": manifest["code"], "name": manifest["name"]},
        "summary": dossier.summary,
        "channel": dossier.channel, "channel_label": CHANNELS.get(dossier.channel, ""),
        "submitted_at": _iso(dossier.submitted_at), "received_at": _iso(dossier.received_at),
        "due_at": _iso(dossier.due_at),
        "status_url": status_url(dossier.code),
        "issued_at": _iso(now),
    }


def _receipt(dossier: Dossier, actor: User | None, context: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    manifest = dossier.procedure_version.manifest
    received = dossier.received_at or now
    amount = processing_amount(manifest, dossier.channel)
    rule = processing_rule(manifest, dossier.agency, dossier.channel, received)
    return {
        "components": [{"name": c["name"], "copies": c.get("copies"), "uploaded": c["uploaded"],
                        "received": c["received"],
                        "reused_from": (c.get("reused_from") or {}).get("dossier_code")}
                       for c in received_components(dossier)],
        "sets": context["sets"] if isinstance(context.get("sets"), int) and context["sets"] > 0 else 1,
        "processing": {"amount": str(amount.normalize()) if amount else "0",
                       "unit": UNITS.get(manifest["processing_time"]["unit"], ""), "rule": rule.text},
        "fee_amount": dossier.fee_amount,
        "officer": actor.full_name if actor is not None else _receiving_officer(dossier),
        "result_place": _text(context, "result_place", required=False)
        or (f"{dossier.agency.name}" + (f", {dossier.agency.address}" if dossier.agency.address else "")),
    }


def _supplement(dossier: Dossier, actor: User | None, context: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    components = _names(context.get("components"))
    if not components:
        raise DocumentError("Phiếu yêu cầu bổ sung cần danh sách giấy tờ phải bổ sung («components»).",
                            code="document_context")
    return {"reason": _text(context, "reason"), "components_to_add": components,
            "deadline": _iso(_when(context.get("deadline"), "deadline")),
            "officer": actor.full_name if actor is not None else "",
            "receiving_officer": _receiving_officer(dossier),
            "contact": _text(context, "contact", required=False)}


def _refusal(dossier: Dossier, actor: User | None, context: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    return {"reason": _text(context, "reason"), "officer": actor.full_name if actor is not None else ""}


def _apology(dossier: Dossier, actor: User | None, context: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    old = _when(context["old_due"], "old_due") if context.get("old_due") else dossier.due_at
    return {"reason": _text(context, "reason"), "old_due": _iso(old),
            "new_due": _iso(_when(context.get("new_due"), "new_due")),
            "officer": actor.full_name if actor is not None else ""}


def _verdict(done: datetime | None, due: datetime | None, now: datetime, *, by_date: bool = False) -> str:
    """Trước hạn / đúng hạn / quá hạn for what is done (by the local date, and for a step also past its due
    moment); trong hạn / quá hạn for what is not done yet; "" without a due time."""
    if due is None:
        return ""
    tz = local_tz()
    if done is None:
        return "Đang xử lý, quá hạn" if now > due else "Đang xử lý, trong hạn"
    done_day, due_day = done.astimezone(tz).date(), due.astimezone(tz).date()
    if done_day > due_day or (not by_date and done > due):
        return "Quá hạn"
    return "Trước hạn" if done_day < due_day else "Đúng hạn"


# lateness.verdict's codes as the control sheet prints them (finished step or not).
STEP_VERDICTS = {(TRUOC_HAN, True): "Trước hạn", (DUNG_HAN, True): "Đúng hạn", (QUA_HAN, True): "Quá hạn",
                 (TRONG_HAN, False): "Đang xử lý, trong hạn", (QUA_HAN, False): "Đang xử lý, quá hạn"}


def control_content(dossier: Dossier, now: datetime | None = None) -> dict[str, Any]:
    """The control sheet's content: each step of the dossier (human_task rows: handed over, taken, due, done),
    who handed it over and who took it, its outcome from the history, and whether it was on time."""
    now = now or now_utc()
    steps = lateness.steps_of(dossier, now)  # who held each step, and how late: the one computation of it
    tasks = [step.task for step in steps]
    people = {t.claimed_by_id for t in tasks} | {t.completed_by_id for t in tasks}
    known = {p for p in people if p is not None}
    names: dict[int, str] = ({row.id: row.full_name for row in db.session.execute(
        select(User.id, User.full_name).where(User.id.in_(known)))} if known else {})
    history = list(db.session.scalars(select(AuditEvent).where(
        AuditEvent.dossier_id == dossier.id, AuditEvent.action.in_(("completed", "returned", "status")))
        .order_by(AuditEvent.at, AuditEvent.id)))
    done_events = {(e.task_title, e.at): e for e in history if e.action != "status"}
    rows = []
    handed_by = dossier.applicant_name or "Người nộp hồ sơ"
    for step in steps:
        task = step.task
        event = done_events.get((task.title, task.completed_at)) if task.completed_at else None
        holder = names.get(task.completed_by_id or task.claimed_by_id or -1, "")
        with force_locale("vi"):
            note = event.note_text if event is not None else ""
        rows.append({
            "step": task.title, "department": task.lane, "handed_by": handed_by, "taken_by": holder,
            "handed_at": _iso(task.created_at), "taken_at": _iso(task.claimed_at), "due_at": _iso(task.due_at),
            "done_at": _iso(task.completed_at), "outcome": event.outcome if event is not None else "",
            "returned": bool(event is not None and event.action == "returned"), "note": note,
            "verdict": STEP_VERDICTS[(step.verdict, step.finished)] if step.verdict else "",
            "late_hours": str(step.late_hours) if step.late else "",
            "holders": [{"name": h.officer_name, "from": _iso(h.held_from), "until": _iso(h.held_until),
                         "late_hours": str(h.late_hours)} for h in step.holdings if h.officer_id is not None],
        })
        if task.completed_at is not None:
            handed_by = holder or handed_by
    with force_locale("vi"):
        changes = [{"at": _iso(e.at), "by": e.actor_label, "status": str(STATUSES.get(e.status_to or 0, "")),
                    "note": e.note_text} for e in history if e.action == "status"]
    finished = dossier.finished_at
    return {**_base(dossier, now), "rows": rows, "status_changes": changes,
            "status": str(STATUSES.get(dossier.status, "")), "finished_at": _iso(finished),
            "returned_at": _iso(dossier.returned_at),
            "verdict": _verdict(finished, dossier.due_at, now, by_date=True)}


def _control(dossier: Dossier, actor: User | None, context: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    return control_content(dossier, now)


BUILDERS = {"receipt": _receipt, "supplement": _supplement, "refusal": _refusal, "apology": _apology,
            "control": _control}


def issue(dossier: Dossier, kind: str, actor: User | None, **context: Any) -> IssuedDocument:
    """Issue a document about `dossier`: record what it says now, numbered within the dossier and kind.

    `context` is what the dossier does not hold: for "supplement" the `reason`, the `components` to add (names)
    and the `deadline`; for "refusal" the `reason`; for "apology" the `reason` and `new_due` (`old_due` is the
    dossier's appointment unless given). Raises DocumentError when one is missing. Its sequence is taken when it
    is flushed (with the caller's other rows); the caller commits."""
    if kind not in KINDS:
        raise DocumentError(f"Không có loại văn bản «{kind}».", code="document_kind")
    now = now_utc()
    with force_locale("vi"):  # the regulation's language, whoever issues it
        content = {**_base(dossier, now), **BUILDERS[kind](dossier, actor, context, now)}
    # Numbered in the INSERT itself (one statement in the reception's transaction): the next of its kind.
    following = (select(func.coalesce(func.max(IssuedDocument.sequence), 0) + 1)
                 .where(IssuedDocument.dossier_id == dossier.id, IssuedDocument.kind == kind).scalar_subquery())
    document = IssuedDocument(dossier_id=dossier.id, kind=kind, sequence=following, issued_at=now,
                              issued_by_id=actor.id if actor is not None else None,
                              issued_by_name=actor.full_name if actor is not None else "", content=content)
    db.session.add(document)
    return document


def documents_of(dossier: Dossier, *, for_applicant: bool) -> list[IssuedDocument]:
    """The dossier's issued documents, oldest first; the applicant's view leaves out the agency's own."""
    kinds = [k for k, v in KINDS.items() if v.for_applicant or not for_applicant]
    return list(db.session.scalars(select(IssuedDocument).where(
        IssuedDocument.dossier_id == dossier.id, IssuedDocument.kind.in_(kinds))
        .order_by(IssuedDocument.issued_at, IssuedDocument.id)))


def find_document(dossier: Dossier, document_id: int, *, for_applicant: bool) -> IssuedDocument:
    document = db.session.get(IssuedDocument, document_id)
    if (document is None or document.dossier_id != dossier.id
            or (for_applicant and not KINDS[document.kind].for_applicant)):
        raise NotFound(gettext("Không tìm thấy văn bản."), code="document_not_found")
    return document
