"""Sample data for the shipped procedures: valid start forms and the data each task form needs.

File fields hold the placeholder FILE_MARK; `with_uploads` replaces it with a real upload's reference
(API), `form_fields` turns it into "FILE" for a multipart post (web).
"""

from __future__ import annotations

import copy
import io
from typing import Any

FILE_MARK = "FILE:"
# Smallest well-formed PDF: what the upload check reads is the signature, the rest makes it openable.
PDF_BYTES = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
             b"trailer<</Root 1 0 R>>\n%%EOF\n")

_ADDRESS = "Số 12 ngõ 34 phố Kim Mã, phường Ngọc Hà, thành phố Hà Nội"
# The demo citizen's wife in the demo population database: khai sinh looks her up when her ID is given.
MOTHER_ID = "001195012346"
START: dict[str, dict[str, Any]] = {
    "khai-sinh": {
        "nguoi_yeu_cau": {"ho_ten": "Nguyễn Văn An", "so_dinh_danh": "001090012345", "ngay_sinh": "1990-05-12",
                          "gioi_tinh": "nam", "dien_thoai": "0912345678", "email": "an.nguyen@example.vn",
                          "noi_cu_tru": _ADDRESS, "quan_he_voi_tre": "cha"},
        "tre": {"ho_ten": "Nguyễn Minh Khang", "gioi_tinh": "nam", "ngay_sinh": "2025-06-01",
                "noi_sinh": "Bệnh viện Phụ sản Hà Nội", "quoc_tich": "Việt Nam", "dan_toc": "Kinh",
                "que_quan": "Xã Đông Hưng, tỉnh Hưng Yên"},
        # Without the mother's personal ID the workflow skips the population look-up (see MOTHER_ID).
        "me": {"ho_ten": "Trần Thị Bình", "nam_sinh": 1995, "dan_toc": "Kinh",
               "quoc_tich": "Việt Nam", "noi_cu_tru": _ADDRESS},
        "giay_chung_sinh": FILE_MARK + "giay-chung-sinh.pdf",
        "so_ban_sao": 2,
    },
    "lien-thong-khai-sinh": {
        "nguoi_yeu_cau": {"ho_ten": "Nguyễn Văn An", "so_dinh_danh": "001090012345", "ngay_sinh": "1990-05-12",
                          "gioi_tinh": "nam", "dien_thoai": "0912345678", "email": "an.nguyen@example.vn",
                          "noi_cu_tru": _ADDRESS, "quan_he_voi_tre": "cha"},
        "tre": {"ho_ten": "Nguyễn Minh Khôi", "gioi_tinh": "nam", "ngay_sinh": "2026-11-20",
                "noi_sinh": "Bệnh viện Phụ sản Hà Nội", "quoc_tich": "Việt Nam", "dan_toc": "Kinh",
                "que_quan": "Xã Đông Hưng, tỉnh Hưng Yên"},
        "me": {"ho_ten": "Trần Thị Bình", "nam_sinh": 1995, "dan_toc": "Kinh",
               "quoc_tich": "Việt Nam", "noi_cu_tru": _ADDRESS},
        "giay_chung_sinh": FILE_MARK + "giay-chung-sinh.pdf",
        "thuong_tru": {"noi_thuong_tru": _ADDRESS, "chu_ho": "Nguyễn Văn An", "quan_he_voi_chu_ho": "con"},
        "bhyt": {"noi_dang_ky_kcb": "01004"},
    },
    "thuong-tru": {
        "nguoi_khai": {"ho_ten": "Lê Thị Hoa", "so_dinh_danh": "031188004567", "ngay_sinh": "1988-03-20",
                       "gioi_tinh": "nu", "dien_thoai": "0987654321", "email": "hoa.le@example.vn",
                       "noi_o_hien_tai": "Số 5 đường Lạch Tray, phường Lê Chân, thành phố Hải Phòng"},
        "noi_de_nghi_dang_ky": "Số 20 đường Trần Phú, phường Ngô Quyền, thành phố Hải Phòng",
        "co_so_hop_phap": "gcn_quyen_su_dung",
        "giay_to_cho_o_hop_phap": FILE_MARK + "giay-chung-nhan.pdf",
        "chu_ho": {"ho_ten": "Phạm Văn Minh", "so_dinh_danh": "031085001234", "quan_he_voi_chu_ho": "vo"},
        "thanh_vien_cung_dang_ky": [
            {"ho_ten": "Phạm Gia Bảo", "ngay_sinh": "2015-09-02", "so_dinh_danh": "031215006789", "quan_he": "con"},
        ],
        "noi_dung_de_nghi": "Đề nghị đăng ký thường trú cho tôi và con vào hộ gia đình ông Phạm Văn Minh (chồng).",
    },
}

TASKS: dict[tuple[str, str], dict[str, Any]] = {
    ("khai-sinh", "tiep-nhan.schema.json"): {"thanh_phan_da_nhan": ["TK", "GCS", "GTTT"], "so_bo_ho_so": 1,
                                             "quyet_dinh_tiep_nhan": "tiep_nhan"},
    ("khai-sinh", "tham-dinh.schema.json"): {"ket_qua_tham_dinh": "dat", "so_dang_ky": "125", "quyen_so": "01/2026"},
    ("khai-sinh", "ky-duyet.schema.json"): {"phe_duyet": True, "y_kien": "Đồng ý cấp giấy khai sinh."},
    ("khai-sinh", "tra-ket-qua.schema.json"): {"hinh_thuc_tra": "truc_tiep", "ngay_tra": "2026-11-24",
                                               "nguoi_nhan": "Nguyễn Văn An"},
    ("lien-thong-khai-sinh", "tiep-nhan.schema.json"): {"thanh_phan_da_nhan": ["TK", "GCS", "GTTT"],
                                                        "so_bo_ho_so": 1, "quyet_dinh_tiep_nhan": "tiep_nhan"},
    ("lien-thong-khai-sinh", "dang-ky-khai-sinh.schema.json"): {"so_dang_ky": "231", "quyen_so": "01/2026",
                                                                "so_dinh_danh_tre": "001226000123"},
    ("lien-thong-khai-sinh", "dang-ky-thuong-tru.schema.json"): {"ket_qua_thuong_tru": "da_dang_ky",
                                                                 "ngay_dang_ky": "2026-12-02"},
    ("lien-thong-khai-sinh", "cap-the-bhyt.schema.json"): {"doi_chieu": "khop"},
    ("lien-thong-khai-sinh", "tra-ket-qua.schema.json"): {"hinh_thuc_tra": "truc_tiep", "ngay_tra": "2026-12-04",
                                                          "nguoi_nhan": "Nguyễn Văn An"},
    ("thuong-tru", "tiep-nhan.schema.json"): {"thanh_phan_da_nhan": ["CT01", "CSHP"],
                                              "quyet_dinh_tiep_nhan": "tiep_nhan"},
    ("thuong-tru", "tham-dinh.schema.json"): {"ket_qua_tham_dinh": "dat",
                                              "ghi_chu": "Đã đối chiếu Cơ sở dữ liệu quốc gia về dân cư."},
    ("thuong-tru", "bo-sung.schema.json"): {"giai_trinh": "Đã bổ sung hợp đồng thuê nhà có công chứng."},
    ("thuong-tru", "phe-duyet.schema.json"): {"dong_y": True},
    ("thuong-tru", "tra-ket-qua.schema.json"): {"hinh_thuc_tra": "truc_tiep", "ngay_tra": "2026-11-24",
                                                "nguoi_nhan": "Lê Thị Hoa"},
}


def start_data(slug: str, files_as: str | None = None) -> dict[str, Any]:
    data = copy.deepcopy(START[slug])
    if files_as is not None:
        _replace_files(data, lambda _: files_as)
    return data


def task_data(slug: str, form: str | None) -> dict[str, Any]:
    return copy.deepcopy(TASKS[(slug, form or "")])


def _replace_files(node: Any, make: Any) -> Any:
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str) and value.startswith(FILE_MARK):
                node[key] = make(value.removeprefix(FILE_MARK))
            else:
                _replace_files(value, make)
    elif isinstance(node, list):
        for item in node:
            _replace_files(item, make)
    return node


def with_uploads(post: Any, headers: dict[str, str], data: dict[str, Any]) -> dict[str, Any]:
    """Upload a PDF for every file field through POST /api/v1/attachments and put its reference in.

    `post(url, **kwargs)` is a Flask test client's or requests' post bound to the server's base URL.
    """

    def upload(name: str) -> str:
        response = post("/api/v1/attachments", headers=headers, files_or_data=(name, PDF_BYTES))
        return str(response["reference"])

    return _replace_files(copy.deepcopy(data), upload)


def form_fields(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested data → the flat fields an HTML form posts; file fields become "FILE"."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            out.update(form_fields(value, path))
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for i, item in enumerate(value):
                out.update(form_fields(item, f"{path}[{i}]"))
        elif isinstance(value, list):
            out[path] = [str(v) for v in value]
        elif isinstance(value, bool):
            if value:
                out[path] = "true"
        elif isinstance(value, str) and value.startswith(FILE_MARK):
            out[path] = "FILE"
        else:
            out[path] = str(value)
    return out


def client_uploader(client: Any) -> Any:
    """with_uploads' `post` for a Flask test client."""

    def post(url: str, headers: dict[str, str], files_or_data: tuple[str, bytes]) -> dict[str, Any]:
        name, blob = files_or_data
        response = client.post(url, headers=headers, content_type="multipart/form-data",
                               data={"file": (io.BytesIO(blob), name)})
        assert response.status_code == 201, response.get_json()
        return dict(response.get_json())

    return post


def requests_uploader(base: str) -> Any:
    """with_uploads' `post` for requests against a live server."""
    import requests

    def post(url: str, headers: dict[str, str], files_or_data: tuple[str, bytes]) -> dict[str, Any]:
        name, blob = files_or_data
        response = requests.post(base + url, headers=headers, files={"file": (name, blob, "application/pdf")},
                                 timeout=10)
        assert response.status_code == 201, response.text
        return dict(response.json())

    return post


def with_stored_uploads(data: dict[str, Any], user: Any) -> dict[str, Any]:
    """Inside an app context: store a PDF as `user`'s upload for every file field (service-level tests)."""
    from app.dossiers.attachments import reference, store_upload

    return _replace_files(copy.deepcopy(data),
                          lambda name: reference(store_upload(PDF_BYTES, name, "application/pdf", "", user)))


def pay_fee(client: Any, jobs: Any, dossier_code: str) -> None:
    """Run the fee job, pay on the demo platform's hosted page and come back, as the payer's browser does."""
    from urllib.parse import urlsplit

    import requests
    from sqlalchemy import select

    from app.dossiers.payments import open_payment
    from app.extensions import db
    from app.models import Dossier

    while jobs.jobs:
        jobs.run_all()
    dossier = db.session.scalar(select(Dossier).where(Dossier.code == dossier_code))
    payment = open_payment(dossier)
    assert payment is not None, "no payment waiting for this dossier"
    answer = requests.post(payment.pay_url, data={"hanh_dong": "thanh_toan"}, allow_redirects=False, timeout=5)
    back = urlsplit(answer.headers["Location"])
    assert client.get(f"{back.path}?{back.query}").status_code == 303
