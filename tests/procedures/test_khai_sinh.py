"""1.001193 Đăng ký khai sinh, end to end through the web pages: portal → four officers → result."""

from __future__ import annotations

import io

from sqlalchemy import select

from app.extensions import db
from app.models import Dossier, HumanTask
from tests.conftest import login
from tests.samples import PDF_BYTES, form_fields, start_data, task_data

USERS = {"tiep_nhan": "tiepnhan", "chuyen_vien": "hotich", "lanh_dao_ky": "chutich", "tra_ket_qua": "traketqua"}


def test_khai_sinh_from_portal_to_returned_result(client, jobs):
    login(client, "congdan")
    fields = form_fields(start_data("khai-sinh"))
    files = {k: (io.BytesIO(PDF_BYTES), "gcs.pdf") for k, v in fields.items() if v == "FILE"}
    fields = {k: v for k, v in fields.items() if v != "FILE"}
    response = client.post("/thu-tuc/1.001193", data={**fields, **files, "__submit__": "1"},
                           content_type="multipart/form-data")
    assert response.status_code == 302
    code = response.location.rstrip("/").split("/")[-2]
    client.post("/dang-xuat")

    titles = []
    while True:
        dossier = db.session.scalar(select(Dossier).where(Dossier.code == code))
        task = db.session.scalar(select(HumanTask).where(HumanTask.dossier_id == dossier.id,
                                                         HumanTask.state == "ready"))
        if task is None:
            break
        titles.append(task.title)
        login(client, USERS[task.role])
        assert client.post(f"/cong-viec/{task.id}/nhan").status_code == 302
        form = {**form_fields(task_data("khai-sinh", task.form)), "__submit__": "1"}
        done = client.post(f"/cong-viec/{task.id}", data=form)
        assert done.status_code == 302, done.data[:2000]
        client.post("/dang-xuat")
    assert titles == ["Tiếp nhận hồ sơ", "Thẩm định, ghi sổ hộ tịch", "Ký giấy khai sinh", "Trả kết quả"]
    dossier = db.session.scalar(select(Dossier).where(Dossier.code == code))
    assert dossier.status == 10 and dossier.returned_at is not None
    # Each status change leaves one notification job; running them twice adds nothing.
    ids = jobs.run_all()
    assert len(ids) == 5 and all(ids)
    login(client, "congdan")
    page = client.get(f"/ho-so/{code}").get_data(as_text=True)
    assert "Đã trả kết quả" in page and "Thông báo đã gửi" in page
