"""Feedback (phản ánh, kiến nghị) as a procedure of the platform itself (bpmn/phan-anh-kien-nghi): filed like any
dossier, received, answered within its own deadline (10 working days), the answer sent to the asker and, when the
asker agreed and the officer chose to, published without who asked."""

from __future__ import annotations

from typing import Any

import lxml.html
from sqlalchemy import select

from app.dossiers import services
from app.extensions import db
from app.models import Dossier, HumanTask
from tests.conftest import user

CODE = "9.000165"
OFFICERS = {"tiep_nhan": "tiepnhan", "chuyen_vien": "hotich"}


COMPLAINT = "Hồ sơ khai sinh của con tôi bị trả lại hai lần mà không rõ lý do."
REPLY = "Đã kiểm tra: hồ sơ thiếu giấy chứng sinh bản chính; cơ quan xin lỗi vì chưa ghi rõ lý do."


def feedback(consent: bool = True, text: str = COMPLAINT) -> dict[str, Any]:
    return {"nguoi_phan_anh": {"ho_ten": "Nguyễn Văn An", "dien_thoai": "0912345678"}, "loai": "phan_anh",
            "ma_ho_so": "000.00.01.H26-261201-0001", "noi_dung": text, "dong_y_cong_khai": consent}


def answer(db_session: Any, dossier: Dossier, publish: bool = True, reply: str = REPLY) -> None:
    forms = {"tiep-nhan.schema.json": {"quyet_dinh_tiep_nhan": "tiep_nhan"},
             "tra-loi.schema.json": {"noi_dung_tra_loi": reply, "cong_bo": publish},
             "gui-tra-loi.schema.json": {"ngay_gui": "2026-12-02"}}
    while True:
        task = db.session.scalar(select(HumanTask).where(HumanTask.dossier_id == dossier.id,
                                                         HumanTask.state == "ready"))
        if task is None:
            break
        services.complete_task(task.id, user(OFFICERS[task.role]), forms[task.form])
    db_session.commit()


def test_feedback_is_answered_on_time_and_its_answer_reaches_the_asker(client, db_session):
    dossier = services.submit_dossier(CODE, feedback(), applicant=user("congdan"))
    db_session.commit()
    answer(db_session, dossier)
    db.session.refresh(dossier)
    assert dossier.status == 10 and dossier.finished_at <= dossier.due_at  # answered before its deadline
    from tests.conftest import login

    login(client, "congdan")
    page = lxml.html.fromstring(client.get(f"/ho-so/{dossier.code}").data)
    results = " ".join(page.get_element_by_id("results").text_content().split())
    assert "thiếu giấy chứng sinh bản chính" in results


def test_only_answers_the_asker_agreed_to_and_the_officer_chose_are_published(client, db_session):
    shown = services.submit_dossier(CODE, feedback(text="Đề nghị niêm yết rõ lệ phí bản sao tại quầy một cửa."),
                                    applicant=user("congdan"))
    private = services.submit_dossier(CODE, feedback(consent=False, text="Cán bộ tiếp nhận không hướng dẫn tôi."),
                                      applicant=user("congdan"))
    withheld = services.submit_dossier(CODE, feedback(text="Phản ánh về một cán bộ cụ thể, chưa xác minh xong."),
                                       applicant=user("congdan"))
    db_session.commit()
    answer(db_session, shown, reply="Đã niêm yết bảng lệ phí tại quầy từ ngày 02/12/2026.")
    answer(db_session, private)
    answer(db_session, withheld, publish=False)
    page = lxml.html.fromstring(client.get("/phan-anh-kien-nghi").data)
    items = [" ".join(li.text_content().split()) for li in page.xpath('//ol[@id="published"]/li')]
    mine = [i for i in items if "niêm yết" in i]
    assert len(mine) == 1 and "Đã niêm yết bảng lệ phí tại quầy" in mine[0] and "Phản ánh" in mine[0]
    everything = " ".join(items)
    assert "Cán bộ tiếp nhận không hướng dẫn tôi" not in everything  # no consent
    assert "chưa xác minh xong" not in everything  # not chosen for publication
    assert "Nguyễn Văn An" not in everything and "0912345678" not in everything  # never who asked
