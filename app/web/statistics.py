"""The indicators as pages and files (app.dossiers.indicators): an agency's table for any days (its officers, an
administrator for every agency), exported as CSV and XLSX with the same columns, a public transparency page per
agency for a year — counts only, nothing about any person — and the leaders' dashboard: charts and tables that
drill down from the province to an agency, its procedures and fields, and the late dossiers themselves (only those
the viewer may see). Every figure comes from indicators.summary, which equals the defining SQL at any moment."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext, lazy_gettext
from flask_login import current_user, login_required
from openpyxl import Workbook
from sqlalchemy import select

from app.clock import local_today, local_tz, now_utc
from app.dossiers import indicators, listings
from app.dossiers.access import leader_agencies, operating_scope, viewable_at
from app.extensions import db
from app.models import Agency, Procedure
from app.web.lists import list_query

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
    ("digitized", lazy_gettext("Hồ sơ được số hóa")),
    ("digitization_rate", lazy_gettext("Tỉ lệ số hóa")),
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


def _period() -> tuple[date, date]:
    today = local_today()
    first, last = _day("tu", today.replace(day=1)), _day("den", today)
    if last < first or (last - first).days > 3660:
        abort(400)
    return first, last


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
    first, last = _period()
    rows = _rows(indicators.summary(first, last, _scoped()))
    return render_template("statistics/table.html", rows=rows, columns=COLUMNS, first=first, last=last,
                           shown=_shown)


def _matrix(rows: list[dict[str, Any]]) -> list[list[Any]]:
    head = [gettext("Cơ quan"), gettext("Mã thủ tục"), gettext("Tên thủ tục"), *[str(t) for _, t in COLUMNS]]
    return [head] + [[r["agency"], r["procedure_code"], r["procedure"], *[r[k] for k, _ in COLUMNS]] for r in rows]


@bp.route("/can-bo/thong-ke.csv")
@login_required
def table_csv() -> ResponseReturnValue:
    first, last = _period()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for line in _matrix(_rows(indicators.summary(first, last, _scoped()))):
        writer.writerow(["" if v is None else v for v in line])
    response = Response("\ufeff" + buffer.getvalue(), mimetype="text/csv; charset=utf-8")  # BOM: Excel reads UTF-8
    response.headers["Content-Disposition"] = f'attachment; filename="thong-ke-{first}-{last}.csv"'
    return response


@bp.route("/can-bo/thong-ke.xlsx")
@login_required
def table_xlsx() -> ResponseReturnValue:
    first, last = _period()
    book = Workbook()
    sheet = book.active
    sheet.title = gettext("Thống kê")[:31]
    for line in _matrix(_rows(indicators.summary(first, last, _scoped()))):
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
    rows = _rows(indicators.summary(date(year, 1, 1), date(year, 12, 31), [agency.id]))
    return render_template("statistics/public.html", agency=agency, year=year, rows=rows, columns=COLUMNS,
                           shown=_shown)


# ---------------------------------------------------------------- the leaders' dashboard

# The headline figures (key of Counters.as_dict, title), above the charts.
TILES: list[tuple[str, Any]] = [
    ("received", lazy_gettext("Hồ sơ tiếp nhận")),
    ("finished", lazy_gettext("Đã giải quyết")),
    ("on_time_rate", lazy_gettext("Tỉ lệ đúng hạn")),
    ("open_overdue", lazy_gettext("Đang quá hạn")),
    ("digitization_rate", lazy_gettext("Tỉ lệ số hóa")),
    ("paid_online", lazy_gettext("Thanh toán trực tuyến")),
    ("satisfaction_rate", lazy_gettext("Tỉ lệ hài lòng")),
]
FEEDBACK_PROCEDURE = "9.000165"  # phản ánh, kiến nghị (bpmn/phan-anh-kien-nghi): its on-time rate is its own tile


def _leader_scope() -> list[int] | None:
    scope = leader_agencies(current_user)
    if scope == []:
        abort(403)
    return scope


def _province_of(agency_id: int, agencies: dict[int, Agency]) -> int | None:
    """The nearest province-level agency at or above it (its province), or None."""
    seen: set[int] = set()
    current: int | None = agency_id
    while current is not None and current not in seen:
        seen.add(current)
        agency = agencies.get(current)
        if agency is None:
            return None
        if agency.level == "tinh":
            return agency.id
        current = agency.parent_id
    return None


def _chart(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """What the charts draw (app/static/dashboard.js): one label per row, a series per counter."""
    series = [("finished_before", gettext("Trước hạn")), ("finished_on_time", gettext("Đúng hạn")),
              ("finished_late", gettext("Quá hạn")), ("open_overdue", gettext("Đang quá hạn"))]
    received = [("received_online", gettext("Trực tuyến")), ("received_in_person", gettext("Trực tiếp")),
                ("digitized", gettext("Được số hóa"))]
    return {"labels": [str(r["label"]) for r in rows],
            "results": [{"key": k, "label": t, "data": [r["counters"][k] for r in rows]} for k, t in series],
            "received": [{"key": k, "label": t, "data": [r["counters"][k] for r in rows]} for k, t in received]}


def _tiles(rows: list[indicators.Counters]) -> tuple[dict[str, Any], float | None]:
    overall = indicators.total(rows).as_dict()
    feedback = indicators.total(r for r in rows if r.procedure_code == FEEDBACK_PROCEDURE)
    return overall, feedback.on_time_rate


def _page(template: str, **context: Any) -> ResponseReturnValue:
    return render_template(template, shown=_shown, tiles=TILES, columns=COLUMNS,
                           as_of=now_utc().astimezone(local_tz()), **context)


@bp.route("/can-bo/chi-so")
@login_required
def dashboard() -> ResponseReturnValue:
    """The province (or every agency an administrator sees): a row per province, or per agency of one."""
    first, last = _period()
    scope = _leader_scope()
    if scope is not None and len(scope) == 1:
        return redirect(url_for("statistics.dashboard_agency", agency_id=scope[0], tu=first.isoformat(),
                                den=last.isoformat()))
    agencies = {a.id: a for a in db.session.scalars(select(Agency))}
    rows = indicators.summary(first, last, scope)
    province = request.args.get("tinh", type=int)
    provinces = {r.agency_id: _province_of(r.agency_id, agencies) for r in rows}
    if province is not None:
        rows = [r for r in rows if provinces[r.agency_id] == (province or None)]
    groups = sorted({provinces[r.agency_id] for r in rows}, key=lambda p: (p is None, p or 0))
    by_province = province is None and len(groups) > 1
    table = []
    if by_province:
        for group in groups:
            counters = indicators.total(r for r in rows if provinces[r.agency_id] == group)
            table.append({"label": agencies[group].name if group is not None else gettext("Cơ quan không thuộc tỉnh"),
                          "href": url_for("statistics.dashboard", tinh=group or 0, tu=first.isoformat(),
                                          den=last.isoformat()),
                          "counters": counters.as_dict(), "key": f"tinh-{group or 0}"})
    else:
        for agency_id in sorted({r.agency_id for r in rows}, key=lambda i: agencies[i].name):
            counters = indicators.total(r for r in rows if r.agency_id == agency_id)
            table.append({"label": agencies[agency_id].name,
                          "href": url_for("statistics.dashboard_agency", agency_id=agency_id, tu=first.isoformat(),
                                          den=last.isoformat()),
                          "counters": counters.as_dict(), "key": f"co-quan-{agency_id}"})
    overall, feedback = _tiles(rows)
    heading = (agencies[province].name if province else gettext("Cơ quan không thuộc tỉnh")) if (
        province is not None) else gettext("Toàn bộ cơ quan")
    crumbs = [(gettext("Toàn bộ cơ quan"), url_for("statistics.dashboard", tu=first.isoformat(),
                                                  den=last.isoformat()))] if province is not None else []
    return _page("statistics/dashboard.html", first=first, last=last, heading=heading, crumbs=crumbs,
                 level=gettext("Tỉnh") if by_province else gettext("Cơ quan"), table=table, chart=_chart(table),
                 overall=overall, feedback=feedback, fields=[], late_href=None)


def _agency_in_scope(agency_id: int) -> Agency:
    scope = _leader_scope()
    agency = db.session.get(Agency, agency_id)
    if agency is None:
        abort(404)
    if scope is not None and agency_id not in scope:
        abort(403)
    return agency


def _crumbs(agency: Agency, first: date, last: date) -> list[tuple[str, str]]:
    period: dict[str, Any] = {"tu": first.isoformat(), "den": last.isoformat()}
    scope = leader_agencies(current_user)
    if scope is not None and len(scope) == 1:
        return []
    crumbs = [(gettext("Toàn bộ cơ quan"), url_for("statistics.dashboard", **period))]
    agencies = {a.id: a for a in db.session.scalars(select(Agency))}
    province = _province_of(agency.id, agencies)
    if province is not None and province != agency.id:
        crumbs.append((agencies[province].name, url_for("statistics.dashboard", tinh=province, **period)))
    return crumbs


@bp.route("/can-bo/chi-so/co-quan/<int:agency_id>")
@login_required
def dashboard_agency(agency_id: int) -> ResponseReturnValue:
    """One agency: a row per procedure (each leading to its late dossiers) and per field."""
    first, last = _period()
    agency = _agency_in_scope(agency_id)
    rows = indicators.summary(first, last, [agency.id])
    names = {code: name for code, name in db.session.execute(select(Procedure.code, Procedure.name))}
    period: dict[str, Any] = {"tu": first.isoformat(), "den": last.isoformat()}
    table = [{"label": f"{r.procedure_code} — {names.get(r.procedure_code, '')}",
              "href": url_for("statistics.dashboard_late", agency_id=agency.id, thu_tuc=r.procedure_code, **period),
              "counters": r.as_dict(), "key": f"thu-tuc-{r.procedure_code}"} for r in rows]
    field_of = indicators.fields_of(r.procedure_code for r in rows)
    fields = [{"label": field or gettext("Chưa xác định lĩnh vực"), "href": None, "key": f"linh-vuc-{n}",
               "counters": indicators.total(r for r in rows if field_of.get(r.procedure_code, "") == field).as_dict()}
              for n, field in enumerate(sorted({field_of.get(r.procedure_code, "") for r in rows}))]
    overall, feedback = _tiles(rows)
    return _page("statistics/dashboard.html", first=first, last=last, heading=agency.name,
                 crumbs=_crumbs(agency, first, last), level=gettext("Thủ tục"), table=table, chart=_chart(table),
                 overall=overall, feedback=feedback, fields=fields,
                 late_href=url_for("statistics.dashboard_late", agency_id=agency.id, **period))


@bp.route("/can-bo/chi-so/co-quan/<int:agency_id>/tre-han")
@login_required
def dashboard_late(agency_id: int) -> ResponseReturnValue:
    """The late dossiers behind an agency's (or one of its procedures') counters, those the viewer may see."""
    first, last = _period()
    agency = _agency_in_scope(agency_id)
    code = request.args.get("thu_tuc") or None
    procedure = db.session.scalar(select(Procedure).where(Procedure.code == code)) if code else None
    if code and procedure is None:
        abort(404)
    rows = [r for r in indicators.summary(first, last, [agency.id]) if code is None or r.procedure_code == code]
    overall = indicators.total(rows).as_dict()
    query = list_query()
    late, shown, hidden = indicators.late_dossiers(first, last, agency.id, viewable_at(current_user, agency.id), code,
                                                   offset=query.offset, limit=query.size + 1)
    dossiers = listings.page_of(late, query, shown)
    period: dict[str, Any] = {"tu": first.isoformat(), "den": last.isoformat()}
    crumbs = [*_crumbs(agency, first, last),
              (agency.name, url_for("statistics.dashboard_agency", agency_id=agency.id, **period))]
    return _page("statistics/late.html", first=first, last=last, agency=agency, procedure=procedure,
                 crumbs=crumbs, overall=overall, dossiers=dossiers, hidden=hidden,
                 end=indicators.bounds(first, last)[1])
