"""The indicators as pages and files (app.dossiers.indicators): an agency's table for any days (its officers, an
administrator for every agency), exported as CSV and XLSX with the same columns, and a public transparency page per
agency for a year — counts only, nothing about any person."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, time, timedelta
from typing import Any

from flask import Blueprint, Response, abort, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext, lazy_gettext
from flask_login import current_user, login_required
from openpyxl import Workbook
from sqlalchemy import select

from app.clock import local_today, local_tz
from app.dossiers import indicators
from app.dossiers.access import operating_scope
from app.extensions import db
from app.models import Agency, Procedure

bp = Blueprint("statistics", __name__)

# (key of Counters.as_dict, column title) in the order of the table and the files.
COLUMNS: list[tuple[str, Any]] = [
    ("received_online", lazy_gettext("Tiếp nhận trực tuyến")),
    ("received_in_person", lazy_gettext("Tiếp nhận trực tiếp")),
    ("carried_over", lazy_gettext("Kỳ trước chuyển qua")),
    ("finished_before", lazy_gettext("Giải quyết trước hạn")),
    ("finished_on_time", lazy_gettext("Giải quyết đúng hạn")),
    ("finished_late", lazy_gettext("Giải quyết quá hạn")),
    ("on_time_rate", lazy_gettext("Tỉ lệ đúng hạn")),
    ("refused", lazy_gettext("Từ chối")),
    ("withdrawn", lazy_gettext("Rút hồ sơ")),
    ("open_in_time", lazy_gettext("Đang giải quyết trong hạn")),
    ("open_overdue", lazy_gettext("Đang giải quyết quá hạn")),
    ("paused", lazy_gettext("Tạm dừng")),
    ("paid_online", lazy_gettext("Thanh toán trực tuyến")),
    ("received_reused", lazy_gettext("Có giấy tờ tái sử dụng")),
    ("rated", lazy_gettext("Lượt đánh giá")),
    ("satisfaction_rate", lazy_gettext("Tỉ lệ hài lòng")),
]


def _day(name: str, default: date) -> date:
    raw = request.args.get(name)
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        abort(400)


def _period() -> tuple[date, date, datetime, datetime]:
    today = local_today()
    first, last = _day("tu", today.replace(day=1)), _day("den", today)
    if last < first or (last - first).days > 3660:
        abort(400)
    zone = local_tz()
    return first, last, datetime.combine(first, time.min, zone), datetime.combine(last + timedelta(days=1),
                                                                                  time.min, zone)


def _rows(rows: list[indicators.Counters]) -> list[dict[str, Any]]:
    names = {code: name for code, name in db.session.execute(select(Procedure.code, Procedure.name))}
    agencies = {agency_id: name for agency_id, name in db.session.execute(select(Agency.id, Agency.name))}
    return [{**r.as_dict(), "agency": agencies.get(r.agency_id, ""), "procedure": names.get(r.procedure_code, "")}
            for r in rows]


def _scoped() -> list[int] | None:
    scope = operating_scope(current_user)
    if not scope.everywhere and scope.agency_id is None:
        abort(403)
    return None if scope.everywhere or scope.agency_id is None else [scope.agency_id]


def _shown(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value * 100:.1f}%"
    return "" if value is None else value


@bp.route("/can-bo/thong-ke")
@login_required
def table() -> ResponseReturnValue:
    first, last, start, end = _period()
    rows = _rows(indicators.progress(start, end, _scoped()))
    return render_template("statistics/table.html", rows=rows, columns=COLUMNS, first=first, last=last,
                           shown=_shown)


def _matrix(rows: list[dict[str, Any]]) -> list[list[Any]]:
    head = [gettext("Cơ quan"), gettext("Mã thủ tục"), gettext("Tên thủ tục"), *[str(t) for _, t in COLUMNS]]
    return [head] + [[r["agency"], r["procedure_code"], r["procedure"], *[r[k] for k, _ in COLUMNS]] for r in rows]


@bp.route("/can-bo/thong-ke.csv")
@login_required
def table_csv() -> ResponseReturnValue:
    first, last, start, end = _period()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for line in _matrix(_rows(indicators.progress(start, end, _scoped()))):
        writer.writerow(["" if v is None else v for v in line])
    response = Response("\ufeff" + buffer.getvalue(), mimetype="text/csv; charset=utf-8")  # BOM: Excel reads UTF-8
    response.headers["Content-Disposition"] = f'attachment; filename="thong-ke-{first}-{last}.csv"'
    return response


@bp.route("/can-bo/thong-ke.xlsx")
@login_required
def table_xlsx() -> ResponseReturnValue:
    first, last, start, end = _period()
    book = Workbook()
    sheet = book.active
    sheet.title = gettext("Thống kê")[:31]
    for line in _matrix(_rows(indicators.progress(start, end, _scoped()))):
        sheet.append(line)
    buffer = io.BytesIO()
    book.save(buffer)
    response = Response(buffer.getvalue(),
                        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response.headers["Content-Disposition"] = f'attachment; filename="thong-ke-{first}-{last}.xlsx"'
    return response


@bp.route("/cong-khai/<agency_code>")
def transparency(agency_code: str) -> ResponseReturnValue:
    """An agency's figures for a year, public: counts and rates per procedure, nothing about any person."""
    agency = db.session.scalar(select(Agency).where(Agency.code == agency_code))
    if agency is None:
        abort(404)
    year = request.args.get("nam", type=int) or local_today().year
    if not 2000 <= year <= 2100:
        abort(404)
    zone = local_tz()
    start, end = datetime(year, 1, 1, tzinfo=zone), datetime(year + 1, 1, 1, tzinfo=zone)
    rows = _rows(indicators.progress(start, end, [agency.id]))
    return render_template("statistics/public.html", agency=agency, year=year, rows=rows, columns=COLUMNS,
                           shown=_shown)
