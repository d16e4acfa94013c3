"""A stand-in for Vietnam's national services, spoken over real HTTP JSON.

Connectors, demos and end-to-end tests need something that behaves like the population database
and the business registry — bearer-token auth, Vietnamese error bodies, 404 on a mismatch, 5xx and
slowness on a bad day — without a network contract with a ministry. The data comes from
:mod:`sandbox.seed`, so a seed fixes every record.

Test hooks (never part of a real service): ``/_faults`` queues failures for the next matching
requests and ``/_log`` lists the requests received, so a test can assert how often a connector
retried. Both are unauthenticated on purpose; the sandbox must only ever listen on a test host.
"""

from __future__ import annotations

import hmac
import re
import threading
import time
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from flask import Flask, Response, current_app, jsonify, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException

from sandbox.seed import SandboxData, generate

__all__ = ["DEFAULT_TOKEN", "Fault", "SandboxState", "create_sandbox_app"]

DEFAULT_TOKEN: Final = "sandbox-secret"  # noqa: S105 - a published test token, not a credential
FAULT_MODES: Final = ("error", "timeout", "latency")
_ID_RE: Final = re.compile(r"^[0-9]{12}$", re.ASCII)
_TAX_RE: Final = re.compile(r"^[0-9]{10}(?:-[0-9]{3})?$", re.ASCII)
_DATE_RE: Final = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", re.ASCII)
_HOOK_PREFIX: Final = "/_"


@dataclass
class Fault:
    """``count`` more requests whose path starts with ``path_prefix`` fail in ``mode``."""

    path_prefix: str
    mode: str
    status: int
    delay_ms: int
    count: int

    def as_dict(self) -> dict[str, Any]:
        return {"path_prefix": self.path_prefix, "mode": self.mode, "status": self.status,
                "delay_ms": self.delay_ms, "count": self.count}


class SandboxState:
    """Queued faults and the request log, shared by the server's threads under one lock."""

    def __init__(self, data: SandboxData) -> None:
        self.data = data
        self.lock = threading.Lock()
        self.faults: list[Fault] = []
        self.log: list[dict[str, Any]] = []

    def record(self, method: str, path: str) -> None:
        now = time.time()
        entry = {"method": method, "path": path, "time": now,
                 "at": datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")}
        with self.lock:
            self.log.append(entry)

    def take_fault(self, path: str) -> Fault | None:
        """Consume one use of the first queued fault matching ``path`` (atomically: two threads never share one)."""
        with self.lock:
            for fault in self.faults:
                if path.startswith(fault.path_prefix):
                    fault.count -= 1
                    if fault.count <= 0:
                        self.faults.remove(fault)
                    return Fault(fault.path_prefix, fault.mode, fault.status, fault.delay_ms, 1)
        return None


def _error(status: int, code: str, message: str) -> tuple[Response, int]:
    return jsonify({"error_code": code, "message": message}), status


def _state() -> SandboxState:
    state: SandboxState = current_app.extensions["sandbox"]
    return state


def _normalise_name(name: str) -> str:
    """Case and spacing are forgiven, diacritics are not: "Nguyễn Văn An" ≠ "Nguyen Van An"."""
    return " ".join(unicodedata.normalize("NFC", name).split()).casefold()


def _authorised() -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    expected = str(current_app.config["SANDBOX_TOKEN"])
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), expected.encode())


def _parse_fault(body: Any) -> Fault | tuple[Response, int]:
    if not isinstance(body, dict):
        return _error(422, "du_lieu_khong_hop_le", "Nội dung yêu cầu phải là một đối tượng JSON.")
    prefix = body.get("path_prefix", "/")
    mode = body.get("mode", "error")
    status = body.get("status", 504 if mode == "timeout" else 503)
    delay_ms = body.get("delay_ms", 0)
    count = body.get("count", 1)
    if not isinstance(prefix, str) or not prefix.startswith("/"):
        return _error(422, "du_lieu_khong_hop_le", "“path_prefix” phải là một đường dẫn bắt đầu bằng “/”.")
    if mode not in FAULT_MODES:
        return _error(422, "du_lieu_khong_hop_le", "“mode” phải là một trong: error, timeout, latency.")
    for key, value, low in (("status", status, 100), ("delay_ms", delay_ms, 0), ("count", count, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            return _error(422, "du_lieu_khong_hop_le", f"“{key}” phải là số nguyên không nhỏ hơn {low}.")
    if status > 599:
        return _error(422, "du_lieu_khong_hop_le", "“status” phải là mã trạng thái HTTP (100–599).")
    return Fault(prefix, mode, status, delay_ms, count)


def create_sandbox_app(seed: int = 2026, config: dict[str, Any] | None = None) -> Flask:
    """Build the sandbox: seeded data, the national endpoints and the test hooks.

    ``config`` is merged into ``app.config``; ``SANDBOX_TOKEN`` is the bearer token clients must send.
    """
    app = Flask(__name__)
    app.config["SANDBOX_TOKEN"] = DEFAULT_TOKEN
    app.config.update(config or {})
    if isinstance(app.json, DefaultJSONProvider):
        app.json.ensure_ascii = False
        app.json.sort_keys = False
    app.extensions["sandbox"] = SandboxState(generate(seed))

    @app.before_request
    def _hooks() -> Any:
        state = _state()
        path = request.path
        if path.startswith(_HOOK_PREFIX):
            return None
        state.record(request.method, path)
        fault = state.take_fault(path)
        if fault is None:
            return None
        if fault.mode == "latency":
            time.sleep(fault.delay_ms / 1000)
            return None
        if fault.mode == "timeout":
            time.sleep(fault.delay_ms / 1000)
            return _error(504, "het_thoi_gian", "Hệ thống không phản hồi trong thời gian cho phép (mô phỏng).")
        return _error(fault.status, "loi_he_thong", "Hệ thống đang gặp sự cố, vui lòng thử lại sau (mô phỏng).")

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> tuple[Response, int]:
        messages = {404: ("khong_tim_thay", "Không tìm thấy tài nguyên được yêu cầu."),
                    405: ("phuong_thuc_khong_hop_le", "Phương thức không được hỗ trợ cho đường dẫn này.")}
        code, message = messages.get(exc.code or 500, ("loi_yeu_cau", "Yêu cầu không hợp lệ."))
        return _error(exc.code or 500, code, message)

    @app.get("/health")
    def health() -> Response:
        return jsonify({"status": "ok"})

    @app.post("/dan-cu/tra-cuu")
    def lookup_citizen() -> Any:
        if not _authorised():
            return _error(401, "chua_xac_thuc", "Thiếu hoặc sai mã truy cập (Authorization: Bearer …).")
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return _error(422, "du_lieu_khong_hop_le", "Nội dung yêu cầu phải là một đối tượng JSON.")
        number, name, birth = body.get("so_dinh_danh"), body.get("ho_ten"), body.get("ngay_sinh")
        year = body.get("nam_sinh")
        if not isinstance(number, str) or not _ID_RE.fullmatch(number.strip()):
            return _error(422, "so_dinh_danh_khong_hop_le", "Số định danh cá nhân phải gồm đúng 12 chữ số.")
        if not isinstance(name, str) or not name.strip():
            return _error(422, "du_lieu_khong_hop_le", "Thiếu họ và tên công dân.")
        if birth is None and isinstance(year, int) and not isinstance(year, bool):
            birth_matches: Any = lambda c: c["ngay_sinh"][:4] == f"{year:04d}"  # noqa: E731
        elif isinstance(birth, str) and _DATE_RE.fullmatch(birth.strip()):
            birth_matches = lambda c: c["ngay_sinh"] == birth.strip()  # noqa: E731
        else:
            return _error(422, "du_lieu_khong_hop_le",
                          "Cần ngày sinh dạng YYYY-MM-DD (ngay_sinh) hoặc năm sinh (nam_sinh).")
        citizen = _state().data.citizens.get(number.strip())
        if (citizen is None or _normalise_name(citizen["ho_ten"]) != _normalise_name(name)
                or not birth_matches(citizen)):
            return _error(404, "khong_tim_thay",
                          "Không tìm thấy công dân có số định danh, họ tên và ngày sinh như đã cung cấp.")
        return jsonify(citizen)

    @app.get("/doanh-nghiep/<ma_so_thue>")
    def lookup_business(ma_so_thue: str) -> Any:
        if not _authorised():
            return _error(401, "chua_xac_thuc", "Thiếu hoặc sai mã truy cập (Authorization: Bearer …).")
        if not _TAX_RE.fullmatch(ma_so_thue):
            return _error(422, "ma_so_thue_khong_hop_le",
                          "Mã số doanh nghiệp gồm 10 chữ số (đơn vị phụ thuộc: 10 chữ số, gạch nối, 3 chữ số).")
        # Dependent units (NNNNNNNNNN-NNN) are not seeded, so they are simply not found.
        business = _state().data.businesses.get(ma_so_thue)
        if business is None:
            return _error(404, "khong_tim_thay", f"Không tìm thấy doanh nghiệp có mã số thuế {ma_so_thue}.")
        return jsonify(business)

    @app.post("/_faults")
    def add_fault() -> Any:
        parsed = _parse_fault(request.get_json(silent=True))
        if not isinstance(parsed, Fault):
            return parsed
        state = _state()
        with state.lock:
            state.faults.append(parsed)
            queued = [f.as_dict() for f in state.faults]
        return jsonify({"faults": queued}), 201

    @app.get("/_faults")
    def list_faults() -> Response:
        state = _state()
        with state.lock:
            return jsonify({"faults": [f.as_dict() for f in state.faults]})

    @app.delete("/_faults")
    def clear_faults() -> Response:
        state = _state()
        with state.lock:
            state.faults.clear()
        return jsonify({"faults": []})

    @app.get("/_log")
    def get_log() -> Response:
        state = _state()
        with state.lock:
            return jsonify({"requests": list(state.log)})

    @app.delete("/_log")
    def clear_log() -> Response:
        state = _state()
        with state.lock:
            state.log.clear()
        return jsonify({"requests": []})

    from sandbox import payment, portal, sms, tax

    for service in (payment, tax, sms, portal):
        service.install(app)
    return app
