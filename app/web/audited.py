"""What the web layer writes into the security audit log (app.audit): the request's address and page for every
event written while it runs, and the reads of personal data (a dossier, a task page, a file, a document), which
change nothing else and so commit their audit row themselves."""

from __future__ import annotations

from typing import Any

from flask import Flask, has_request_context, request
from flask_babel import gettext, lazy_gettext
from flask_login import current_user

from app import audit
from app.extensions import db
from app.models import Dossier, User


def request_context() -> dict[str, str]:
    """Where an event written during this request comes from: the client's address (as ProxyFix gives it) and the
    method and path it asked for."""
    if not has_request_context():
        return {}
    return {"ip": request.remote_addr or "", "where": f"{request.method} {request.path}"[:500]}


def install(app: Flask) -> None:
    app.extensions[audit.CONTEXT_KEY] = request_context


def _person(user: User | None) -> User | None:
    if user is not None:
        return user
    if current_user and current_user.is_authenticated:
        person: User = current_user._get_current_object()
        return person
    return None


def viewed(dossier: Dossier, kind: str, *, user: User | None = None, ref: Any = None,
           detail: dict[str, Any] | None = None) -> None:
    """`user` (default: the logged-in person) read `dossier`'s personal data through `kind` of page or answer
    (app.audit.VIEW_KINDS): one audit row in the dossier's agency's chain, its reason the page asked for,
    committed now (the read itself writes nothing else)."""
    audit.record_for_dossier(audit.VIEW, dossier, actor=_person(user), object_kind=kind, object_ref=ref,
                             detail=detail)
    db.session.commit()


def deployed(result: Any, *, user: User | None = None, draft_id: int | None = None) -> None:
    """A procedure version was deployed (an upload, the API or a draft), in the procedure's agency's chain; the
    caller commits."""
    proc, version = result.procedure, result.version
    audit.record(audit.DRAFT_DEPLOYED if draft_id is not None else audit.DEPLOYED, actor=_person(user),
                 agency=proc.agency, object_kind="procedure_version", object_ref=f"{proc.code}@{version.version}",
                 detail={"content_hash": version.content_hash, "created": bool(result.created),
                         **({"draft": draft_id} if draft_id is not None else {})})


def retired(proc: Any, version: Any, *, user: User | None = None) -> None:
    """A version was retired (no new dossier starts on it); the caller commits."""
    current = proc.current_version
    audit.record(audit.RETIRED, actor=_person(user), agency=proc.agency, object_kind="procedure_version",
                 object_ref=f"{proc.code}@{version.version}",
                 detail={"current": current.version if current is not None else None})


# ---------------------------------------------------------------- what a citizen is shown (page and API)

LOOKUP_LABELS: dict[str, Any] = {
    "population": lazy_gettext("Tra cứu Cơ sở dữ liệu quốc gia về dân cư"),
    "business": lazy_gettext("Tra cứu Cơ sở dữ liệu quốc gia về đăng ký doanh nghiệp"),
    "social_insurance": lazy_gettext("Tra cứu cơ sở dữ liệu bảo hiểm xã hội"),
}
VIEW_LABELS: dict[str, Any] = {
    "dossier": lazy_gettext("Mở trang hồ sơ"),
    "receipt": lazy_gettext("Xem giấy tiếp nhận hồ sơ"),
    "task": lazy_gettext("Mở bước xử lý «%(step)s»"),
    "attachment": lazy_gettext("Tải tệp đính kèm của hồ sơ"),
    "document": lazy_gettext("Tải văn bản của hồ sơ"),
    "control_sheet": lazy_gettext("Xem phiếu kiểm soát quá trình giải quyết hồ sơ"),
    "api_dossier": lazy_gettext("Đọc hồ sơ qua API"),
    "api_task": lazy_gettext("Đọc bước xử lý qua API"),
}
PAGE_SIZE = 50


def what(seen: audit.Seen) -> str:
    """What was done with the citizen's data, in the reader's language."""
    if seen.action == audit.LOOKUP:
        return str(LOOKUP_LABELS.get(seen.kind.split(".")[0], lazy_gettext("Tra cứu cơ sở dữ liệu quốc gia")))
    label = VIEW_LABELS.get(seen.kind)
    if label is None:
        return gettext("Xem dữ liệu của hồ sơ")
    return str(label) % {"step": seen.detail.get("step", "")} if "%(step)s" in str(label) else str(label)


def who(seen: audit.Seen) -> str:
    if seen.own:
        return gettext("Bạn")
    return seen.actor_name or gettext("Hệ thống (bước tự động)")


def why(seen: audit.Seen) -> str:
    """The reason recorded: a look-up's purpose as written then (Vietnamese), or for a view, the step or the
    dossier handled."""
    if seen.action == audit.LOOKUP:
        return seen.reason
    if seen.dossier_code:
        return gettext("Giải quyết hồ sơ %(code)s", code=seen.dossier_code)
    return seen.reason


def page_of(user: User, page: int) -> tuple[list[audit.Seen], bool]:
    return audit.seen_by_others(user, PAGE_SIZE, (max(page, 1) - 1) * PAGE_SIZE)


def as_json(seen: audit.Seen) -> dict[str, Any]:
    return {"at": seen.at.isoformat(), "action": "lookup" if seen.action == audit.LOOKUP else "view",
            "what": what(seen), "kind": seen.kind, "by": who(seen), "own": seen.own, "agency": seen.actor_agency,
            "reason": why(seen), "dossier_code": seen.dossier_code,
            "outcome": seen.detail.get("outcome") if seen.action == audit.LOOKUP else None}
