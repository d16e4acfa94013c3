"""The sandbox SMS gateway and national-portal sync API, over raw HTTP as any client would see them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sandbox.sms import normalise_phone, segments

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture()
def url(base_url: str) -> Iterator[str]:
    for hook in ("_faults", "_log", "_sms", "_portal"):
        requests.delete(f"{base_url}/{hook}", timeout=5)
    yield base_url
    requests.delete(f"{base_url}/_faults", timeout=5)


def post(url: str, path: str, body: Any, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.post(f"{url}{path}", json=body, headers=AUTH if headers is None else headers, timeout=5)


# ------------------------------------------------------------------ SMS


def sms(url: str, **fields: Any) -> requests.Response:
    body = {"so_dien_thoai": "0912345678", "noi_dung": "Ho so cua ban da duoc tiep nhan.", "ma_tin": "tin-1"}
    body.update(fields)
    return post(url, "/sms/gui", body)


@pytest.mark.parametrize(("raw", "expected"), [
    ("0912345678", "0912345678"), ("+84912345678", "0912345678"), ("84 912 345 678", "0912345678"),
    ("091.234.5678", "0912345678"), ("(+84) 387-654-321", "0387654321"),
    ("0241234567", None), ("091234567", None), ("09123456789", None), ("+8491234567", None), ("abc", None),
])
def test_phone_normalisation(raw: str, expected: str | None) -> None:
    assert normalise_phone(raw) == expected


def test_segments_gsm7_and_unicode() -> None:
    assert segments("a" * 160) == (1, "GSM-7")
    assert segments("a" * 161) == (2, "GSM-7")  # 153 per part once split
    assert segments("a" * 306) == (2, "GSM-7") and segments("a" * 307) == (3, "GSM-7")
    assert segments("€" * 80) == (1, "GSM-7") and segments("€" * 81) == (2, "GSM-7")  # extension: 2 units each
    assert segments("ồ" * 70) == (1, "UCS-2") and segments("ồ" * 71) == (2, "UCS-2")
    assert segments("ồ" * 134) == (2, "UCS-2") and segments("ồ" * 135) == (3, "UCS-2")  # 67 per part


def test_sms_is_accepted_normalised_and_readable(url: str) -> None:
    text = "Hồ sơ 000.00.01.H29-240115-0001 đã được tiếp nhận."
    response = sms(url, so_dien_thoai="+84 912 345 678", noi_dung=text)
    assert response.status_code == 201, response.text
    assert response.json() == {"ma_tin": "tin-1", "trang_thai": "da_gui", "so_phan_doan": 1,
                               "so_dien_thoai": "0912345678", "ma_hoa": "UCS-2"}
    long = sms(url, ma_tin="tin-2", noi_dung="A" * 200)
    assert long.status_code == 201 and long.json()["so_phan_doan"] == 2 and long.json()["ma_hoa"] == "GSM-7"
    messages = requests.get(f"{url}/_sms", timeout=5).json()["messages"]
    assert [(m["ma_tin"], m["so_dien_thoai"]) for m in messages] == [("tin-1", "0912345678"), ("tin-2", "0912345678")]
    assert messages[0]["noi_dung"] == text


def test_sms_same_id_is_stored_once(url: str) -> None:
    first = sms(url, ma_tin="lap-lai")
    again = sms(url, ma_tin="lap-lai", so_dien_thoai="+84912345678")  # same number, other spelling
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()
    assert len(requests.get(f"{url}/_sms", timeout=5).json()["messages"]) == 1
    conflict = sms(url, ma_tin="lap-lai", noi_dung="Nội dung khác")
    assert conflict.status_code == 409 and conflict.json()["error_code"] == "ma_tin_da_dung"


@pytest.mark.parametrize(("fields", "code"), [
    ({"so_dien_thoai": "0241234567"}, "so_dien_thoai_khong_hop_le"),
    ({"so_dien_thoai": 912345678}, "so_dien_thoai_khong_hop_le"),
    ({"noi_dung": "   "}, "noi_dung_khong_hop_le"),
    ({"noi_dung": "x" * 481}, "noi_dung_khong_hop_le"),
    ({"ma_tin": ""}, "ma_tin_khong_hop_le"),
    ({"ma_tin": "có dấu"}, "ma_tin_khong_hop_le"),
])
def test_sms_refuses_bad_input(url: str, fields: dict[str, Any], code: str) -> None:
    response = sms(url, **fields)
    assert response.status_code == 422 and response.json()["error_code"] == code
    assert response.json()["message"]
    assert requests.get(f"{url}/_sms", timeout=5).json()["messages"] == []


def test_sms_needs_the_token_and_obeys_faults(url: str) -> None:
    body = {"so_dien_thoai": "0912345678", "noi_dung": "x", "ma_tin": "t"}
    assert post(url, "/sms/gui", body, headers={}).status_code == 401
    assert post(url, "/sms/gui", body, headers={"Authorization": "Bearer sai"}).status_code == 401
    requests.post(f"{url}/_faults", json={"path_prefix": "/sms", "status": 503}, timeout=5)
    assert post(url, "/sms/gui", body).status_code == 503
    assert post(url, "/sms/gui", body).status_code == 201
    assert len(requests.get(f"{url}/_sms", timeout=5).json()["messages"]) == 1


# ------------------------------------------------------------------ national portal


def dossier(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ma_ho_so": "000.00.01.H29-260115-0001", "ma_thu_tuc": "1.001193", "ten_thu_tuc": "Đăng ký khai sinh",
        "linh_vuc": "Hộ tịch", "kenh": 2,
        "chu_ho_so": {"ho_ten": "Nguyễn Văn An", "so_dinh_danh": "001090012345", "loai_doi_tuong": 1,
                      "email": "an@example.vn", "so_dien_thoai": "0912345678"},
        "trich_yeu": "Đăng ký khai sinh cho Nguyễn Văn Bình", "ngay_nop": "20260115083000",
        "ngay_tiep_nhan": "20260115090000", "ngay_hen_tra": "20260116170000", "ngay_tra": None,
        "trang_thai": 2, "don_vi_xu_ly": "UBND phường Hàng Bạc",
        "thanh_phan": [{"ten": "Giấy chứng sinh", "ma": "GCS", "url": "https://example.vn/gcs.pdf", "so_hoa": True,
                        "tai_su_dung": False}],
        "le_phi": [{"ten": "Lệ phí đăng ký khai sinh", "so_tien": 0}],
        "lich_su_bo_sung": [], "ket_qua": [], "phien_ban": 1,
    }
    body.update(fields)
    return body


def step(**fields: Any) -> dict[str, Any]:
    body = {"ma_buoc": "b1", "can_bo": "Trần Thị Hoa", "chuc_danh": "Công chức tư pháp - hộ tịch",
            "phong_ban": "Bộ phận một cửa", "thoi_diem": "20260115090000", "noi_dung": "Tiếp nhận hồ sơ",
            "trang_thai": 2, "bat_dau": "20260115090000", "han_xu_ly": "20260116170000"}
    body.update(fields)
    return body


def state(url: str) -> dict[str, Any]:
    result: dict[str, Any] = requests.get(f"{url}/_portal", timeout=5).json()
    return result


CREATE, UPDATE, STEP = "/dvcqg/ho-so/them-moi", "/dvcqg/ho-so/cap-nhat", "/dvcqg/qua-trinh"


def test_create_then_create_again_then_update(url: str) -> None:
    created = post(url, CREATE, dossier())
    assert created.status_code == 200 and created.json()["error_code"] == "0"
    again = post(url, CREATE, dossier(phien_ban=2))
    assert again.status_code == 200
    assert again.json() == {"error_code": "HS_DA_TON_TAI", "message": "Hồ sơ đã tồn tại"}
    updated = post(url, UPDATE, dossier(phien_ban=2, trang_thai=4))
    assert updated.json()["error_code"] == "0"
    record = state(url)["dossiers"]["000.00.01.H29-260115-0001"]
    assert record["current"]["trang_thai"] == 4 and record["applied_version"] == 2
    assert record["versions"] == [1, 2] and record["out_of_order"] == []
    received = state(url)["received"]
    assert [(r["endpoint"], r["phien_ban"], r["error_code"]) for r in received] == [
        (CREATE, 1, "0"), (CREATE, 2, "HS_DA_TON_TAI"), (UPDATE, 2, "0")]


def test_update_of_unknown_dossier(url: str) -> None:
    answer = post(url, UPDATE, dossier(ma_ho_so="khong-co")).json()
    assert answer["error_code"] == "HS_KHONG_TON_TAI"
    assert state(url)["dossiers"] == {}


def test_older_version_is_recorded_but_does_not_overwrite(url: str) -> None:
    post(url, CREATE, dossier(phien_ban=1, trang_thai=2))
    post(url, UPDATE, dossier(phien_ban=3, trang_thai=9))
    late = post(url, UPDATE, dossier(phien_ban=2, trang_thai=4))
    assert late.json()["error_code"] == "0"
    post(url, UPDATE, dossier(phien_ban=3, trang_thai=9))  # a retry of the same version
    record = state(url)["dossiers"]["000.00.01.H29-260115-0001"]
    assert record["versions"] == [1, 3, 2, 3]
    assert record["out_of_order"] == [2]
    assert [h["duplicate"] for h in record["history"]] == [False, False, False, True]
    assert record["current"]["trang_thai"] == 9 and record["applied_version"] == 3


@pytest.mark.parametrize(("fields", "code", "needle"), [
    ({"ngay_nop": "2026-01-15 08:30:00"}, "NGAY_KHONG_HOP_LE", "ngay_nop"),
    ({"ngay_hen_tra": "20260230170000"}, "NGAY_KHONG_HOP_LE", "ngay_hen_tra"),  # 30 February
    ({"ngay_tra": "20260116250000"}, "NGAY_KHONG_HOP_LE", "ngay_tra"),  # 25 o'clock
    ({"ngay_tu_choi": 20260116170000}, "NGAY_KHONG_HOP_LE", "ngay_tu_choi"),
    ({"ket_qua": [{"ten": "Giấy khai sinh", "ngay_ky": "16/01/2026"}]}, "NGAY_KHONG_HOP_LE", "ket_qua[0].ngay_ky"),
    ({"ngay_nop": None}, "THIEU_TRUONG_BAT_BUOC", "ngay_nop"),
    ({"phien_ban": None}, "THIEU_TRUONG_BAT_BUOC", "phien_ban"),
    ({"phien_ban": 0}, "DU_LIEU_KHONG_HOP_LE", "phien_ban"),
    ({"phien_ban": True}, "DU_LIEU_KHONG_HOP_LE", "phien_ban"),
    ({"trang_thai": 11}, "DU_LIEU_KHONG_HOP_LE", "trang_thai"),
    ({"kenh": 4}, "DU_LIEU_KHONG_HOP_LE", "kenh"),
    ({"thanh_phan": [{"ten": "Tờ khai", "so_hoa": "co"}]}, "DU_LIEU_KHONG_HOP_LE", "so_hoa"),
    ({"le_phi": [{"ten": "Lệ phí", "so_tien": -1}]}, "DU_LIEU_KHONG_HOP_LE", "so_tien"),
    ({"chu_ho_so": {"ho_ten": "A", "gioi_tinh": "Nam"}}, "DU_LIEU_KHONG_HOP_LE", "gioi_tinh"),
    ({"ngay_hoan_thanh": "20260116170000"}, "DU_LIEU_KHONG_HOP_LE", "ngay_hoan_thanh"),
])
def test_invalid_dossiers_are_refused_with_a_clear_message(url: str, fields: dict[str, Any], code: str,
                                                           needle: str) -> None:
    response = post(url, CREATE, dossier(**fields))
    assert response.status_code == 200
    assert response.json()["error_code"] == code
    assert needle in response.json()["message"]
    assert state(url)["dossiers"] == {}
    assert state(url)["received"][0]["error_code"] == code


def test_steps_are_idempotent_by_step_id(url: str) -> None:
    assert post(url, STEP, {"ma_ho_so": "000.00.01.H29-260115-0001", "buoc": step()}).json()["error_code"] == \
        "HS_KHONG_TON_TAI"
    post(url, CREATE, dossier())
    for _ in range(2):
        assert post(url, STEP, {"ma_ho_so": "000.00.01.H29-260115-0001", "buoc": step()}).json()["error_code"] == "0"
    second = step(ma_buoc="b2", noi_dung="Chuyển xử lý", trang_thai=4, thoi_diem="20260115100000")
    assert post(url, STEP, {"ma_ho_so": "000.00.01.H29-260115-0001", "buoc": second}).json()["error_code"] == "0"
    conflict = post(url, STEP, {"ma_ho_so": "000.00.01.H29-260115-0001", "buoc": step(noi_dung="Khác")}).json()
    assert conflict["error_code"] == "QT_MA_BUOC_XUNG_DOT"
    steps = state(url)["dossiers"]["000.00.01.H29-260115-0001"]["steps"]
    assert [s["ma_buoc"] for s in steps] == ["b1", "b2"] and steps[0]["noi_dung"] == "Tiếp nhận hồ sơ"


@pytest.mark.parametrize(("buoc", "code"), [
    (step(thoi_diem="20261301000000"), "NGAY_KHONG_HOP_LE"),
    (step(han_xu_ly="2026-01-16"), "NGAY_KHONG_HOP_LE"),
    (step(ma_buoc=None), "THIEU_TRUONG_BAT_BUOC"),
    (step(trang_thai=0), "DU_LIEU_KHONG_HOP_LE"),
    (step(ghi_chu="x"), "DU_LIEU_KHONG_HOP_LE"),
])
def test_invalid_steps(url: str, buoc: dict[str, Any], code: str) -> None:
    post(url, CREATE, dossier())
    assert post(url, STEP, {"ma_ho_so": "000.00.01.H29-260115-0001", "buoc": buoc}).json()["error_code"] == code
    assert state(url)["dossiers"]["000.00.01.H29-260115-0001"]["steps"] == []


def test_portal_needs_the_token(url: str) -> None:
    for path, body in ((CREATE, dossier()), (UPDATE, dossier()), (STEP, {"ma_ho_so": "x", "buoc": step()})):
        response = post(url, path, body, headers={"Authorization": "Bearer sai"})
        assert response.status_code == 401 and response.json()["error_code"] == "chua_xac_thuc"
    assert state(url)["received"] == []


def test_outage_hook(url: str) -> None:
    assert requests.post(f"{url}/_portal/outage", json={"count": 2}, timeout=5).status_code == 201
    assert post(url, CREATE, dossier()).status_code == 503
    assert post(url, CREATE, dossier()).status_code == 503
    assert post(url, CREATE, dossier()).json()["error_code"] == "0"
    requests.post(f"{url}/_portal/outage", json={"count": 1, "mode": "ma_loi"}, timeout=5)
    busy = post(url, UPDATE, dossier(phien_ban=2))
    assert busy.status_code == 200 and busy.json()["error_code"] == "HE_THONG_BAN"
    assert post(url, UPDATE, dossier(phien_ban=2)).json()["error_code"] == "0"
    assert state(url)["dossiers"]["000.00.01.H29-260115-0001"]["versions"] == [1, 2]
    assert requests.post(f"{url}/_portal/outage", json={"count": -1}, timeout=5).status_code == 422
    assert requests.post(f"{url}/_portal/outage", json={"mode": "x"}, timeout=5).status_code == 422


def test_generic_faults_apply_and_delete_resets(url: str) -> None:
    requests.post(f"{url}/_faults", json={"path_prefix": "/dvcqg", "status": 502}, timeout=5)
    assert post(url, CREATE, dossier()).status_code == 502
    assert post(url, CREATE, dossier()).json()["error_code"] == "0"
    requests.delete(f"{url}/_portal", timeout=5)
    assert state(url) == {"dossiers": {}, "received": [], "outage": {"count": 0, "mode": "http", "status": 503}}
