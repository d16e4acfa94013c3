"""The national-portal (Cổng DVCQG) connector against the sandbox portal over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import requests

from connectors.base import CircuitBreaker, HttpClient, PermanentError, RetryPolicy, TransientError
from connectors.portal import PortalConnector, parse_portal_time, portal_time
from connectors.registry import Registry

TOKEN = "sandbox-test-token"
CODE = "000.00.01.H29-260115-0001"


@pytest.fixture()
def portal_url(sandbox: str) -> Iterator[str]:
    for hook in ("_faults", "_log", "_portal"):
        requests.delete(f"{sandbox}/{hook}", timeout=5)
    yield sandbox
    requests.delete(f"{sandbox}/_faults", timeout=5)
    requests.delete(f"{sandbox}/_portal", timeout=5)


def connector(url: str, token: str = TOKEN, attempts: int = 3) -> PortalConnector:
    client = HttpClient("portal", url, token=token, timeout=2.0, breaker=CircuitBreaker(),
                        retry=RetryPolicy(attempts=attempts, base_delay=0.001, max_delay=0.01))
    return PortalConnector(client)


def dossier(**fields: Any) -> dict[str, Any]:
    submitted = datetime(2026, 1, 15, 1, 30, tzinfo=UTC)  # 08:30 in Hà Nội
    body: dict[str, Any] = {
        "ma_ho_so": CODE, "ma_thu_tuc": "1.001193", "ten_thu_tuc": "Đăng ký khai sinh", "linh_vuc": "Hộ tịch",
        "kenh": 2, "chu_ho_so": {"ho_ten": "Nguyễn Văn An", "so_dinh_danh": "001090012345", "loai_doi_tuong": 1,
                                 "email": "an@example.vn", "so_dien_thoai": "0912345678"},
        "trich_yeu": "Đăng ký khai sinh cho Nguyễn Văn Bình", "ngay_nop": portal_time(submitted),
        "ngay_tiep_nhan": portal_time(submitted + timedelta(minutes=30)),
        "ngay_hen_tra": portal_time(submitted + timedelta(days=1)), "trang_thai": 2,
        "don_vi_xu_ly": "UBND phường Hàng Bạc",
        "thanh_phan": [{"ten": "Giấy chứng sinh", "ma": "GCS", "url": None, "so_hoa": True, "tai_su_dung": True}],
        "le_phi": [{"ten": "Lệ phí đăng ký khai sinh", "so_tien": 0}],
        "lich_su_bo_sung": [], "ket_qua": [], "phien_ban": 1,
    }
    body.update(fields)
    return body


def step(ma_buoc: str = "b1", **fields: Any) -> dict[str, Any]:
    body = {"ma_buoc": ma_buoc, "can_bo": "Trần Thị Hoa", "chuc_danh": "Công chức tư pháp - hộ tịch",
            "phong_ban": "Bộ phận một cửa", "thoi_diem": "20260115090000", "noi_dung": "Tiếp nhận hồ sơ",
            "trang_thai": 2, "bat_dau": "20260115090000", "han_xu_ly": "20260116083000"}
    body.update(fields)
    return body


def portal(url: str) -> dict[str, Any]:
    result: dict[str, Any] = requests.get(f"{url}/_portal", timeout=5).json()
    return result


def calls(url: str) -> list[str]:
    return [r["path"] for r in requests.get(f"{url}/_log", timeout=5).json()["requests"]
            if r["path"].startswith("/dvcqg")]


def test_portal_time() -> None:
    assert portal_time(datetime(2026, 1, 15, 1, 30, tzinfo=UTC)) == "20260115083000"
    assert portal_time(datetime(2025, 12, 31, 20, 0, 5, tzinfo=UTC)) == "20260101030005"  # the next day in Vietnam
    assert portal_time(datetime(2026, 1, 15, 8, 30, tzinfo=timezone(timedelta(hours=7)))) == "20260115083000"
    with pytest.raises(ValueError, match="aware"):
        portal_time(datetime(2026, 1, 15, 8, 30))  # naive on purpose
    assert parse_portal_time("20260115083000") == datetime(2026, 1, 15, 1, 30, tzinfo=UTC)
    with pytest.raises(ValueError):
        parse_portal_time("20260230083000")


def test_create_then_update_through_the_same_call(portal_url: str) -> None:
    sync = connector(portal_url)
    first = sync.push_dossier(dossier())
    assert first["action"] == "created" and first["error_code"] == "0" and first["phien_ban"] == 1
    second = sync.push_dossier(dossier(phien_ban=2, trang_thai=4))
    assert second["action"] == "updated" and second["phien_ban"] == 2
    record = portal(portal_url)["dossiers"][CODE]
    assert record["current"]["trang_thai"] == 4 and record["current"]["ngay_nop"] == "20260115083000"
    assert record["versions"] == [1, 2] and record["out_of_order"] == []
    # Version 1 is created; a later version goes straight to update (one request, not two).
    assert calls(portal_url) == ["/dvcqg/ho-so/them-moi", "/dvcqg/ho-so/cap-nhat"]
    # Version 1 sent again (a retry after a lost answer) meets "already exists" and becomes an update.
    assert sync.push_dossier(dossier())["action"] == "updated"
    assert calls(portal_url)[2:] == ["/dvcqg/ho-so/them-moi", "/dvcqg/ho-so/cap-nhat"]


def test_a_later_version_of_a_dossier_the_portal_lacks_is_created(portal_url: str) -> None:
    # Say version 1 was refused and fixed by hand: version 2 tries an update, learns it is unknown, creates.
    result = connector(portal_url).push_dossier(dossier(phien_ban=2))
    assert result["action"] == "created"
    assert calls(portal_url) == ["/dvcqg/ho-so/cap-nhat", "/dvcqg/ho-so/them-moi"]
    assert portal(portal_url)["dossiers"][CODE]["versions"] == [2]


def test_every_version_arrives_in_order(portal_url: str) -> None:
    sync = connector(portal_url)
    for version, status in enumerate((1, 2, 4, 5, 4, 9, 10), start=1):
        sync.push_dossier(dossier(phien_ban=version, trang_thai=status))
    record = portal(portal_url)["dossiers"][CODE]
    assert record["versions"] == [1, 2, 3, 4, 5, 6, 7] and record["out_of_order"] == []
    assert record["current"]["trang_thai"] == 10


def test_a_late_older_update_is_detected_and_does_not_win(portal_url: str) -> None:
    sync = connector(portal_url)
    sync.push_dossier(dossier(phien_ban=1))
    sync.push_dossier(dossier(phien_ban=3, trang_thai=9))
    assert sync.push_dossier(dossier(phien_ban=2, trang_thai=4))["action"] == "updated"
    record = portal(portal_url)["dossiers"][CODE]
    assert record["versions"] == [1, 3, 2] and record["out_of_order"] == [2]
    assert record["current"]["trang_thai"] == 9


def test_steps_are_idempotent(portal_url: str) -> None:
    sync = connector(portal_url)
    with pytest.raises(TransientError) as info:  # the dossier's own create may still be on its way
        sync.push_step(CODE, step())
    assert info.value.code == "HS_KHONG_TON_TAI"
    sync.push_dossier(dossier())
    assert sync.push_step(CODE, step()) == {"ma_ho_so": CODE, "ma_buoc": "b1", "error_code": "0",
                                            "message": "Cập nhật quá trình xử lý thành công."}
    assert sync.push_step(CODE, step())["error_code"] == "0"
    sync.push_step(CODE, step("b2", noi_dung="Chuyển phòng chuyên môn", trang_thai=4, thoi_diem="20260115100000"))
    with pytest.raises(PermanentError) as conflict:
        sync.push_step(CODE, step(noi_dung="Khác"))
    assert conflict.value.code == "QT_MA_BUOC_XUNG_DOT"
    assert [s["ma_buoc"] for s in portal(portal_url)["dossiers"][CODE]["steps"]] == ["b1", "b2"]


@pytest.mark.parametrize(("fields", "field"), [
    ({"ngay_nop": "2026-01-15T08:30:00"}, "ngay_nop"),
    ({"ngay_hen_tra": "20260230170000"}, "ngay_hen_tra"),
    ({"ngay_ket_thuc": "20260116246000"}, "ngay_ket_thuc"),
    ({"ket_qua": [{"ten": "Giấy khai sinh", "ngay_ky": "16/01/2026"}]}, "ket_qua[0].ngay_ky"),
])
def test_bad_dates_are_refused_before_calling_out(portal_url: str, fields: dict[str, Any], field: str) -> None:
    with pytest.raises(PermanentError) as info:
        connector(portal_url).push_dossier(dossier(**fields))
    assert info.value.code == "ngay_khong_hop_le"
    assert f"«{field}»" in info.value.message and "yyyyMMddHHmmss" in info.value.message
    with pytest.raises(PermanentError) as step_info:
        connector(portal_url).push_step(CODE, step(thoi_diem="20261301000000"))
    assert "buoc.thoi_diem" in step_info.value.message
    assert calls(portal_url) == []


def test_other_bad_payloads_are_refused_before_calling_out(portal_url: str) -> None:
    sync = connector(portal_url)
    for payload in (dossier(trang_thai=11), dossier(phien_ban=0), dossier(kenh=4), dossier(ma_ho_so=None),
                    dossier(ngay_tra_ket_qua="20260116170000")):
        with pytest.raises(PermanentError) as info:
            sync.push_dossier(payload)
        assert info.value.code == "invalid_payload"
    assert calls(portal_url) == []


def test_the_portal_own_check_of_dates(portal_url: str) -> None:
    # Bypass the connector's own check: the portal refuses with a clear message, and the connector says so.
    sync = connector(portal_url)
    answer = sync.client.request("POST", "/dvcqg/ho-so/them-moi", json=dossier(ngay_tiep_nhan="20260132090000"))
    assert answer["error_code"] == "NGAY_KHONG_HOP_LE" and "ngay_tiep_nhan" in answer["message"]
    assert portal(portal_url)["dossiers"] == {}


def test_outage_then_success(portal_url: str) -> None:
    requests.post(f"{portal_url}/_faults", json={"path_prefix": "/dvcqg", "status": 503, "count": 2}, timeout=5)
    assert connector(portal_url).push_dossier(dossier())["action"] == "created"
    assert calls(portal_url) == ["/dvcqg/ho-so/them-moi"] * 3
    requests.post(f"{portal_url}/_portal/outage", json={"count": 2}, timeout=5)
    assert connector(portal_url).push_dossier(dossier(phien_ban=2))["action"] == "updated"
    assert portal(portal_url)["dossiers"][CODE]["versions"] == [1, 2]


def test_long_outage_is_transient_and_loses_nothing(portal_url: str) -> None:
    requests.post(f"{portal_url}/_portal/outage", json={"count": 3}, timeout=5)
    sync = connector(portal_url)
    with pytest.raises(TransientError) as info:
        sync.push_dossier(dossier())
    assert info.value.status == 503
    assert portal(portal_url)["dossiers"] == {}
    assert sync.push_dossier(dossier())["action"] == "created"  # the job's later retry


def test_busy_error_code_is_transient(portal_url: str) -> None:
    requests.post(f"{portal_url}/_portal/outage", json={"count": 1, "mode": "ma_loi"}, timeout=5)
    with pytest.raises(TransientError) as info:
        connector(portal_url).push_dossier(dossier())
    assert info.value.code == "HE_THONG_BAN"


def test_lost_answer_then_retry_becomes_an_update(portal_url: str) -> None:
    # The create went through but the sender never heard back: its retry must not be lost.
    sync = connector(portal_url)
    sync.push_dossier(dossier())
    assert sync.push_dossier(dossier())["action"] == "updated"
    record = portal(portal_url)["dossiers"][CODE]
    assert record["versions"] == [1, 1] and [h["duplicate"] for h in record["history"]] == [False, True]


def test_unauthenticated_is_refused(portal_url: str) -> None:
    with pytest.raises(PermanentError) as info:
        connector(portal_url, token="sai").push_dossier(dossier())
    assert info.value.status == 401 and info.value.code == "chua_xac_thuc"
    assert calls(portal_url) == ["/dvcqg/ho-so/them-moi"]  # refused once, not retried
    assert portal(portal_url)["dossiers"] == {}


def test_registry_operations(portal_url: str) -> None:
    registry = Registry()
    for operation in connector(portal_url).operations():
        registry.register(operation)
    assert registry.ids() == ["portal.push_dossier", "portal.push_step"]
    assert registry.call("portal.push_dossier", {"payload": dossier()})["action"] == "created"
    assert registry.call("portal.push_step", {"ma_ho_so": CODE, "buoc": step()})["ma_buoc"] == "b1"
    with pytest.raises(PermanentError) as info:
        registry.call("portal.push_step", {"ma_ho_so": CODE, "buoc": step(trang_thai="2")})
    assert info.value.code == "invalid_params"
