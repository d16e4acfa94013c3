"""The applicant rates how the dossier was handled (đánh giá mức độ hài lòng): once per dossier, after the result
is handed back (status 10), on the criteria of QĐ 766/QĐ-TTg, each on the three-step scale — online (the dossier's
page, the API) or at the desk, on a kiosk page an officer of the dossier's agency opens for the applicant.
Nothing here commits: the request does."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_babel import gettext, lazy_gettext
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.dossiers.access import desk_scope
from app.dossiers.errors import Conflict, Forbidden, Invalid, NotFound
from app.extensions import db
from app.models import Dossier, DossierRating, User

RATED_AFTER = 10  # Đã trả kết quả
# The criteria the applicant answers (QĐ 766/QĐ-TTg's satisfaction group), in the order they are asked.
CRITERIA: dict[str, Any] = {
    "tong_the": lazy_gettext("Mức độ hài lòng chung với việc giải quyết hồ sơ"),
    "thuan_tien": lazy_gettext("Sự thuận tiện khi thực hiện thủ tục"),
    "dung_han": lazy_gettext("Kết quả được trả đúng hẹn"),
    "thoi_gian": lazy_gettext("Thời gian giải quyết so với quy định"),
    "thai_do": lazy_gettext("Thái độ, tác phong của cán bộ tiếp nhận và giải quyết"),
    "so_lan_lien_he": lazy_gettext("Số lần phải liên hệ để hoàn thành thủ tục"),
    "so_co_quan": lazy_gettext("Số cơ quan phải liên hệ"),
    "cong_khai": lazy_gettext("Việc công khai, minh bạch thủ tục hành chính"),
}
SCALE: dict[int, Any] = {
    1: lazy_gettext("Không hài lòng"),
    2: lazy_gettext("Hài lòng"),
    3: lazy_gettext("Rất hài lòng"),
}
MAX_COMMENT = 2000


def rating_of(dossier: Dossier) -> DossierRating | None:
    return db.session.scalar(select(DossierRating).where(DossierRating.dossier_id == dossier.id))


def may_rate(dossier: Dossier) -> bool:
    """The result has been handed back and nobody has rated the dossier yet."""
    return dossier.status == RATED_AFTER and rating_of(dossier) is None


def _dossier(code: str) -> Dossier:
    dossier = db.session.scalar(select(Dossier).where(Dossier.code == code))
    if dossier is None:
        raise NotFound(gettext("Không tìm thấy hồ sơ %(code)s.", code=code[:40]))
    return dossier


def _answers(answers: Any) -> dict[str, int]:
    """Every criterion answered on the scale; Invalid naming each one that is not."""
    given = answers if isinstance(answers, Mapping) else {}
    problems: dict[str, str] = {}
    clean: dict[str, int] = {}
    for key in CRITERIA:
        value = given.get(key)
        try:
            number = int(value) if value not in (None, "") and not isinstance(value, bool) else None
        except (TypeError, ValueError):
            number = None
        if number not in SCALE:
            problems[f"/{key}"] = gettext("Hãy chọn một mức cho tiêu chí «%(criterion)s».", criterion=CRITERIA[key])
        else:
            clean[key] = number
    unknown = sorted(str(k) for k in given if k not in CRITERIA)
    for key in unknown:
        problems[f"/{key}"] = gettext("«%(key)s» không phải tiêu chí đánh giá.", key=key[:40])
    if problems:
        raise Invalid(gettext("Phiếu đánh giá chưa đầy đủ."), details=problems)
    return clean


def _record(dossier: Dossier, answers: Any, comment: str, channel: str, rated_by: User | None,
            recorded_by: User | None) -> DossierRating:
    if dossier.status != RATED_AFTER:
        raise Conflict(gettext("Hồ sơ chỉ được đánh giá sau khi đã trả kết quả."), code="not_returned")
    if rating_of(dossier) is not None:
        raise Conflict(gettext("Hồ sơ này đã được đánh giá; mỗi hồ sơ được đánh giá một lần."), code="already_rated")
    text = " ".join(str(comment or "").split())
    if len(text) > MAX_COMMENT:
        raise Invalid(gettext("Ý kiến tối đa %(n)s ký tự.", n=MAX_COMMENT), details={"/y_kien": ""})
    rating = DossierRating(dossier_id=dossier.id, agency_id=dossier.agency_id, channel=channel,
                           answers=_answers(answers), comment=text,
                           rated_by_id=rated_by.id if rated_by else None,
                           recorded_by_id=recorded_by.id if recorded_by else None)
    db.session.add(rating)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError as exc:  # rated at the same moment elsewhere (the unique dossier_id)
        raise Conflict(gettext("Hồ sơ này đã được đánh giá; mỗi hồ sơ được đánh giá một lần."),
                       code="already_rated") from exc
    return rating


def rate_online(code: str, user: User, answers: Any, comment: str = "") -> DossierRating:
    """The applicant rates their own dossier (its page, the API)."""
    dossier = _dossier(code)
    if dossier.applicant_user_id is None or dossier.applicant_user_id != user.id:
        raise Forbidden(gettext("Chỉ người nộp hồ sơ được đánh giá việc giải quyết hồ sơ."), code="not_applicant")
    return _record(dossier, answers, comment, "online", user, None)


def rate_at_desk(code: str, officer: User, answers: Any, comment: str = "") -> DossierRating:
    """The applicant rates at the desk, on the kiosk page an officer of the dossier's agency opened for them."""
    dossier = _dossier(code)
    if not desk_scope(officer).allows(dossier):
        raise Forbidden(gettext("Chỉ cán bộ của cơ quan giải quyết hồ sơ mở được phiếu đánh giá tại quầy."),
                        code="not_agency_officer")
    return _record(dossier, answers, comment, "desk", None, officer)
