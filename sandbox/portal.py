"""Sandbox: the national public-service portal (Cổng Dịch vụ công quốc gia) dossier sync API.

Every answer of a business endpoint is HTTP 200 with ``{"error_code": "...", "message": "..."}`` —
``"0"`` when accepted, another code otherwise (the portal's practice); only a missing/wrong token (401) and an
outage (503) use HTTP statuses. Dates are strings ``yyyyMMddHHmmss`` (Vietnam time) and must be real dates.

Endpoints (bearer auth):

- ``POST /dvcqg/ho-so/them-moi`` — create a dossier. Fields: ``ma_ho_so``*, ``ma_thu_tuc``*, ``ten_thu_tuc``,
  ``linh_vuc``, ``kenh`` (1 trực tiếp, 2 trực tuyến, 3 bưu chính), ``chu_ho_so`` {``ho_ten``, ``so_dinh_danh``,
  ``loai_doi_tuong`` (1 công dân, 2 tổ chức/doanh nghiệp), ``email``, ``so_dien_thoai``}, ``trich_yeu``,
  ``ngay_nop``*, ``ngay_tiep_nhan``, ``ngay_hen_tra``, ``ngay_tra``, ``ngay_ket_thuc``, ``ngay_tu_choi``,
  ``trang_thai``* (1–10, TrangThaiHoSo), ``don_vi_xu_ly``, ``thanh_phan`` [{``ten``*, ``ma``, ``url``,
  ``so_hoa``: bool, ``tai_su_dung``: bool}], ``le_phi`` [{``ten``*, ``so_tien``*: integer VND ≥ 0}],
  ``lich_su_bo_sung`` [objects], ``ket_qua`` [objects] (in these two lists every key named ``ngay_*`` must be a
  date), ``phien_ban``* (integer ≥ 1: the sender's monotonically increasing version of this dossier).
  (* required; optional fields may be omitted or null; unknown fields are refused.)
  Already there → ``HS_DA_TON_TAI`` "Hồ sơ đã tồn tại" (the client then retries as an update).
- ``POST /dvcqg/ho-so/cap-nhat`` — the same payload, for a dossier that exists (else ``HS_KHONG_TON_TAI``).
  Every accepted payload is recorded. One whose ``phien_ban`` is lower than the version already applied is
  recorded with ``out_of_order: true`` and does NOT overwrite the newer state; an equal one is re-applied and
  flagged ``duplicate: true`` (a retry).
- ``POST /dvcqg/qua-trinh`` — push a process step ``{ma_ho_so, buoc: {ma_buoc*, can_bo, chuc_danh, phong_ban,
  thoi_diem*, noi_dung*, trang_thai* (1–10), bat_dau, han_xu_ly}}``. The same ``ma_buoc`` with the same content
  again is stored once and answers ``"0"``; with different content → ``QT_MA_BUOC_XUNG_DOT``. Unknown dossier →
  ``HS_KHONG_TON_TAI``.

Other error codes: ``THIEU_TRUONG_BAT_BUOC`` (a required field is missing), ``NGAY_KHONG_HOP_LE`` (a date not
``yyyyMMddHHmmss`` or not a real date), ``DU_LIEU_KHONG_HOP_LE`` (any other wrong type/value/unknown field),
``HE_THONG_BAN`` (only in a simulated outage, mode ``ma_loi``: transient), and HTTP 401 ``chua_xac_thuc``.

Test hooks (unauthenticated, not part of the real portal):

- ``GET /_portal`` → ``{"dossiers": {ma_ho_so: {"current", "applied_version", "versions" (every accepted
  phien_ban, arrival order), "out_of_order" (the versions flagged), "history" [{seq, endpoint, phien_ban,
  applied, out_of_order, duplicate}], "steps" [buoc…]}}, "received": [every authenticated request in order:
  {seq, at, endpoint, ma_ho_so, phien_ban, ma_buoc, error_code, body}], "outage": {count, mode, status}}``;
- ``DELETE /_portal`` forgets everything;
- ``POST /_portal/outage`` ``{"count": n, "mode": "http"|"ma_loi", "status": 5xx}``: the next ``n`` requests
  under ``/dvcqg`` answer HTTP ``status`` (default 503) — or, mode ``ma_loi``, HTTP 200 with error_code
  ``HE_THONG_BAN``. ``count: 0`` ends the outage. A shorthand for :mod:`sandbox.faults`: the outage is
  one fault (prefix ``/dvcqg``, mode ``error`` or ``busy``) in the same queue as ``POST /_faults``, which
  also offers timeouts and latency.
"""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Final

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue

from sandbox.common import BAD_JSON, Refused, Service, attach_state, bearer, is_int, json_object, stamp, state
from sandbox.faults import Fault, Queue, check_ints, in_band_busy

__all__ = ["DATE_FIELDS", "PortalState", "bp", "check_dossier", "check_step"]

PREFIX: Final = "/dvcqg"
DATE_FORMAT: Final = "%Y%m%d%H%M%S"
_DATE_RE: Final = re.compile(r"^[0-9]{14}$", re.ASCII)
_CODE_RE: Final = re.compile(r"^\S{1,100}$")
DATE_FIELDS: Final = ("ngay_nop", "ngay_tiep_nhan", "ngay_hen_tra", "ngay_tra", "ngay_ket_thuc", "ngay_tu_choi")
TEXT_FIELDS: Final = ("ten_thu_tuc", "linh_vuc", "trich_yeu", "don_vi_xu_ly")
LIST_FIELDS: Final = ("thanh_phan", "le_phi", "lich_su_bo_sung", "ket_qua")
DOSSIER_FIELDS: Final = frozenset(("ma_ho_so", "ma_thu_tuc", "kenh", "chu_ho_so", "trang_thai", "phien_ban",
                                   *DATE_FIELDS, *TEXT_FIELDS, *LIST_FIELDS))
DOSSIER_REQUIRED: Final = ("ma_ho_so", "ma_thu_tuc", "trang_thai", "ngay_nop", "phien_ban")
APPLICANT_FIELDS: Final = frozenset(("ho_ten", "so_dinh_danh", "loai_doi_tuong", "email", "so_dien_thoai"))
COMPONENT_FIELDS: Final = frozenset(("ten", "ma", "url", "so_hoa", "tai_su_dung"))
FEE_FIELDS: Final = frozenset(("ten", "so_tien"))
STEP_FIELDS: Final = frozenset(("ma_buoc", "can_bo", "chuc_danh", "phong_ban", "thoi_diem", "noi_dung",
                                "trang_thai", "bat_dau", "han_xu_ly"))
STEP_REQUIRED: Final = ("ma_buoc", "thoi_diem", "noi_dung", "trang_thai")
STEP_DATES: Final = ("thoi_diem", "bat_dau", "han_xu_ly")
OUTAGE_MODES: Final = ("http", "ma_loi")

OK: Final = "0"
EXISTS: Final = ("HS_DA_TON_TAI", "Hồ sơ đã tồn tại")
UNKNOWN: Final = ("HS_KHONG_TON_TAI", "Hồ sơ không tồn tại trên Cổng Dịch vụ công quốc gia")
MISSING: Final = "THIEU_TRUONG_BAT_BUOC"
BAD_DATE: Final = "NGAY_KHONG_HOP_LE"
INVALID: Final = "DU_LIEU_KHONG_HOP_LE"
STEP_CONFLICT: Final = "QT_MA_BUOC_XUNG_DOT"
BUSY: Final = ("HE_THONG_BAN", "Hệ thống đang bận, vui lòng thử lại sau (mô phỏng).")

Problem = tuple[str, str]  # (error_code, Vietnamese message)


class PortalState(Service):
    """Dossiers, their version history and steps, the raw request log and the simulated outage."""

    def __init__(self) -> None:
        super().__init__()
        self.dossiers: dict[str, dict[str, Any]] = {}
        self.received: list[dict[str, Any]] = []
        self.seq = 0
        self.outage: Fault | None = None  # the fault POST /_portal/outage queued last

    def clear(self) -> None:
        self.dossiers.clear()
        self.received.clear()
        self.seq = 0
        self.end_outage()

    def end_outage(self) -> None:
        if self.outage is not None:
            faults = state("faults", Queue)
            with faults.lock:
                if faults.holds(self.outage):
                    faults.items.remove(self.outage)
        self.outage = None

    def outage_dict(self) -> dict[str, Any]:
        outage, faults = self.outage, state("faults", Queue)
        if outage is None:
            return {"count": 0, "mode": "http", "status": 503}
        with faults.lock:
            count = outage.count if faults.holds(outage) else 0
        return {"count": count, "mode": "ma_loi" if outage.mode == "busy" else "http", "status": outage.status}

    def log(self, endpoint: str, body: Any, error_code: str) -> int:
        """Append to the raw log (caller holds the lock); the entry's sequence number."""
        self.seq += 1
        fields = body if isinstance(body, dict) else {}
        raw_step = fields.get("buoc")
        step = raw_step if isinstance(raw_step, dict) else {}
        self.received.append({
            "seq": self.seq, "at": stamp(time.time()), "endpoint": endpoint, "ma_ho_so": fields.get("ma_ho_so"),
            "phien_ban": fields.get("phien_ban"), "ma_buoc": step.get("ma_buoc"), "error_code": error_code,
            "body": copy.deepcopy(body),
        })
        return self.seq

    def dump(self) -> dict[str, Any]:
        dossiers = {}
        for code, record in self.dossiers.items():
            dossiers[code] = {
                "current": copy.deepcopy(record["current"]),
                "applied_version": record["applied_version"],
                "versions": [h["phien_ban"] for h in record["history"]],
                "out_of_order": [h["phien_ban"] for h in record["history"] if h["out_of_order"]],
                "history": copy.deepcopy(record["history"]),
                "steps": copy.deepcopy(record["steps"]),
            }
        return {"dossiers": dossiers, "received": copy.deepcopy(self.received), "outage": self.outage_dict()}


# ------------------------------------------------------------------ validation


def check_date(name: str, value: Any) -> Problem | None:
    """``yyyyMMddHHmmss`` and a date that exists (no 30 February, no 25 o'clock)."""
    if not isinstance(value, str) or not _DATE_RE.fullmatch(value):
        return BAD_DATE, (f"Trường «{name}» phải là ngày giờ dạng yyyyMMddHHmmss (14 chữ số, ví dụ "
                          f"20260315143000); giá trị nhận được: «{value}».")
    try:
        datetime.strptime(value, DATE_FORMAT)  # a wall-clock time in Vietnam: no zone on the wire
    except ValueError:
        return BAD_DATE, f"Trường «{name}» có giá trị «{value}» không phải ngày giờ có thật (yyyyMMddHHmmss)."
    return None


def _check_code(name: str, value: Any) -> Problem | None:
    if not isinstance(value, str) or not _CODE_RE.fullmatch(value):
        return INVALID, f"Trường «{name}» phải là chuỗi 1–100 ký tự, không có khoảng trắng."
    return None


def _check_dates(prefix: str, data: dict[str, Any], keys: Iterable[str]) -> Problem | None:
    for key in keys:
        if data.get(key) is not None:
            problem = check_date(f"{prefix}{key}", data[key])
            if problem:
                return problem
    return None


def _check_text(name: str, value: Any, required: bool = False) -> Problem | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        return INVALID, f"Trường «{name}» phải là chuỗi ký tự{' không rỗng' if required else ''}."
    return None


def _check_unknown(where: str, data: dict[str, Any], allowed: frozenset[str]) -> Problem | None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        return INVALID, f"{where} có trường không được hỗ trợ: {', '.join(unknown)}."
    return None


def _check_status(name: str, value: Any) -> Problem | None:
    if not is_int(value) or not 1 <= value <= 10:
        return INVALID, f"Trường «{name}» phải là mã trạng thái hồ sơ, số nguyên từ 1 đến 10; nhận được «{value}»."
    return None


def _check_items(name: str, value: Any, item: Callable[[str, dict[str, Any]], Problem | None]) -> Problem | None:
    if value is None:
        return None
    if not isinstance(value, list):
        return INVALID, f"Trường «{name}» phải là một danh sách."
    for index, entry in enumerate(value):
        where = f"{name}[{index}]"
        if not isinstance(entry, dict):
            return INVALID, f"Phần tử «{where}» phải là một đối tượng."
        problem = item(where, entry)
        if problem:
            return problem
    return None


def _check_component(where: str, entry: dict[str, Any]) -> Problem | None:
    problem = _check_unknown(f"Thành phần «{where}»", entry, COMPONENT_FIELDS) or _check_text(
        f"{where}.ten", entry.get("ten"), required=True)
    for key in ("ma", "url"):
        problem = problem or _check_text(f"{where}.{key}", entry.get(key))
    for key in ("so_hoa", "tai_su_dung"):
        if problem is None and entry.get(key) is not None and not isinstance(entry[key], bool):
            problem = INVALID, f"Trường «{where}.{key}» phải là true hoặc false."
    return problem


def _check_fee(where: str, entry: dict[str, Any]) -> Problem | None:
    problem = _check_unknown(f"Lệ phí «{where}»", entry, FEE_FIELDS) or _check_text(
        f"{where}.ten", entry.get("ten"), required=True)
    if problem is None and (not is_int(entry.get("so_tien")) or entry["so_tien"] < 0):
        problem = INVALID, f"Trường «{where}.so_tien» phải là số nguyên (đồng) không âm."
    return problem


def _check_record_dates(where: str, entry: dict[str, Any]) -> Problem | None:
    return _check_dates(f"{where}.", entry, [key for key in entry if key.startswith("ngay_")])


def _check_applicant(value: Any) -> Problem | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        return INVALID, "Trường «chu_ho_so» phải là một đối tượng."
    problem = _check_unknown("Chủ hồ sơ", value, APPLICANT_FIELDS)
    for key in ("ho_ten", "so_dinh_danh", "email", "so_dien_thoai"):
        problem = problem or _check_text(f"chu_ho_so.{key}", value.get(key))
    kind = value.get("loai_doi_tuong")
    if problem is None and kind is not None and (not is_int(kind) or kind not in (1, 2)):
        problem = INVALID, "Trường «chu_ho_so.loai_doi_tuong» phải là 1 (công dân) hoặc 2 (tổ chức, doanh nghiệp)."
    email = value.get("email")
    if problem is None and email and "@" not in email:
        problem = INVALID, f"Trường «chu_ho_so.email» không phải địa chỉ thư điện tử: «{email}»."
    return problem


def check_dossier(body: Any) -> Problem | None:
    """The first problem with a them-moi/cap-nhat payload, or None if the portal accepts it."""
    if not isinstance(body, dict):
        return INVALID, BAD_JSON
    missing = [key for key in DOSSIER_REQUIRED if body.get(key) is None]
    if missing:
        return MISSING, f"Thiếu trường bắt buộc: {', '.join(missing)}."
    problem = _check_unknown("Hồ sơ", body, DOSSIER_FIELDS)
    if problem:
        return problem
    problem = (_check_code("ma_ho_so", body["ma_ho_so"]) or _check_code("ma_thu_tuc", body["ma_thu_tuc"])
               or _check_dates("", body, DATE_FIELDS))
    for key in TEXT_FIELDS:
        problem = problem or _check_text(key, body.get(key))
    if problem:
        return problem
    if not is_int(body["phien_ban"]) or body["phien_ban"] < 1:
        return INVALID, f"Trường «phien_ban» phải là số nguyên ≥ 1; nhận được «{body['phien_ban']}»."
    kenh = body.get("kenh")
    if kenh is not None and (not is_int(kenh) or kenh not in (1, 2, 3)):
        return INVALID, "Trường «kenh» phải là 1 (trực tiếp), 2 (trực tuyến) hoặc 3 (bưu chính)."
    return (_check_status("trang_thai", body["trang_thai"])
            or _check_applicant(body.get("chu_ho_so"))
            or _check_items("thanh_phan", body.get("thanh_phan"), _check_component)
            or _check_items("le_phi", body.get("le_phi"), _check_fee)
            or _check_items("lich_su_bo_sung", body.get("lich_su_bo_sung"), _check_record_dates)
            or _check_items("ket_qua", body.get("ket_qua"), _check_record_dates))


def check_step(body: Any) -> Problem | None:
    """The first problem with a qua-trinh payload, or None."""
    if not isinstance(body, dict):
        return INVALID, BAD_JSON
    step = body.get("buoc")
    if body.get("ma_ho_so") is None or step is None:
        return MISSING, "Thiếu trường bắt buộc: " + ", ".join(k for k in ("ma_ho_so", "buoc") if body.get(k) is None)
    problem = _check_unknown("Yêu cầu", body, frozenset(("ma_ho_so", "buoc")))
    if problem:
        return problem
    problem = _check_code("ma_ho_so", body["ma_ho_so"])
    if problem:
        return problem
    if not isinstance(step, dict):
        return INVALID, "Trường «buoc» phải là một đối tượng."
    missing = [f"buoc.{key}" for key in STEP_REQUIRED if step.get(key) is None]
    if missing:
        return MISSING, f"Thiếu trường bắt buộc: {', '.join(missing)}."
    problem = _check_unknown("Bước xử lý", step, STEP_FIELDS)
    if problem:
        return problem
    problem = (_check_code("buoc.ma_buoc", step["ma_buoc"]) or _check_dates("buoc.", step, STEP_DATES)
               or _check_text("buoc.noi_dung", step["noi_dung"], required=True))
    for key in ("can_bo", "chuc_danh", "phong_ban"):
        problem = problem or _check_text(f"buoc.{key}", step.get(key))
    return problem or _check_status("buoc.trang_thai", step["trang_thai"])


# ------------------------------------------------------------------ routes


def _answer(code: str, message: str) -> Response:
    return jsonify({"error_code": code, "message": message})


bp = Blueprint("portal", __name__)
attach_state(bp, "portal", lambda app: PortalState(), hook="/_portal")
in_band_busy(bp, lambda: _answer(*BUSY))


def _logged(held: PortalState, body: Any, problem: Problem) -> Response:
    """Record the request with the answer's code (caller holds the lock), then answer."""
    held.log(request.path, body, problem[0])
    return _answer(*problem)


def _receive(check: Callable[[Any], Problem | None],
             apply: Callable[[PortalState, dict[str, Any]], Response]) -> Response:
    """Check the JSON body, then ``apply`` it under the lock; every request is recorded."""
    body = request.get_json(silent=True)
    problem = check(body)
    held = state("portal", PortalState)
    with held.lock:
        if problem:
            return _logged(held, body, problem)
        assert isinstance(body, dict)
        return apply(held, body)


def _save(held: PortalState, body: dict[str, Any], create: bool) -> Response:
    code, version = body["ma_ho_so"], body["phien_ban"]
    record = held.dossiers.get(code)
    if create and record is not None:
        return _logged(held, body, EXISTS)
    if not create and record is None:
        return _logged(held, body, UNKNOWN)
    seq = held.log(request.path, body, OK)
    if record is None:
        record = {"current": None, "applied_version": 0, "history": [], "steps": [], "step_index": {}}
        held.dossiers[code] = record
    out_of_order = version < record["applied_version"]
    duplicate = version == record["applied_version"]
    record["history"].append({"seq": seq, "endpoint": request.path, "phien_ban": version, "applied": not out_of_order,
                              "out_of_order": out_of_order, "duplicate": duplicate})
    if out_of_order:
        return _answer(OK, f"Đã ghi nhận phiên bản {version}; hồ sơ giữ phiên bản mới hơn {record['applied_version']}.")
    record["current"] = copy.deepcopy(body)
    record["applied_version"] = version
    return _answer(OK, "Tiếp nhận hồ sơ thành công." if create else "Cập nhật hồ sơ thành công.")


def _push(held: PortalState, body: dict[str, Any]) -> Response:
    record = held.dossiers.get(body["ma_ho_so"])
    if record is None:
        return _logged(held, body, UNKNOWN)
    step = body["buoc"]
    known = record["step_index"].get(step["ma_buoc"])
    if known is not None and known != step:
        return _logged(held, body, (STEP_CONFLICT, f"Bước «{step['ma_buoc']}» đã được ghi nhận với nội dung khác."))
    held.log(request.path, body, OK)
    if known is not None:
        return _answer(OK, "Bước xử lý đã được ghi nhận trước đó.")
    record["step_index"][step["ma_buoc"]] = copy.deepcopy(step)
    record["steps"].append(copy.deepcopy(step))
    return _answer(OK, "Cập nhật quá trình xử lý thành công.")


@bp.post(f"{PREFIX}/ho-so/them-moi", endpoint="create", defaults={"create": True})
@bp.post(f"{PREFIX}/ho-so/cap-nhat", endpoint="update", defaults={"create": False})
@bearer
def save_dossier(create: bool) -> Response:
    return _receive(check_dossier, lambda held, body: _save(held, body, create))


@bp.post(f"{PREFIX}/qua-trinh")
@bearer
def push_step() -> Response:
    return _receive(check_step, _push)


@bp.post("/_portal/outage")
def set_outage() -> ResponseReturnValue:
    body = json_object()
    values = {"count": body.get("count", 1), "status": body.get("status", 503)}
    check_ints(values, {"count": 0, "status": 500})
    mode = body.get("mode", "http")
    if mode not in OUTAGE_MODES:
        raise Refused(422, "du_lieu_khong_hop_le", "“mode” phải là “http” hoặc “ma_loi”.")
    if values["status"] > 599:
        raise Refused(422, "du_lieu_khong_hop_le", "“status” phải là mã lỗi máy chủ HTTP (500–599).")
    held = state("portal", PortalState)
    with held.lock:
        held.end_outage()
        held.outage = Fault(PREFIX, "busy" if mode == "ma_loi" else "error", values["status"], 0, values["count"])
        if values["count"]:
            faults = state("faults", Queue)
            with faults.lock:
                faults.items.append(held.outage)
        return jsonify({"outage": held.outage_dict()}), 201
