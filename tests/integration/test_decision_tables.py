"""DMN decision tables through the platform.

Routing: a business-rule task (spiffworkflow:calledDecisionId) evaluates a .dmn of the package over the dossier's
data, and its output picks the gateway's branch: a large plot goes to the leader, a small one to the specialist.

Fees: the manifest's `fee.decision` names a decision evaluated once, at submission, over the start form and the
channel (`kenh`); that amount is the dossier's fee: what the workflow reads (`thong_tin_ho_so['le_phi']`), the
receipt, the national portal's snapshot and the API all show it. A table that gives no amount refuses the
submission with a clear message; the checker refuses a decision that is not there, an output it lacks, or an input
that does not exist when the fee is computed.
"""

from __future__ import annotations

import lxml.html
import pytest

from app.dossiers import services
from app.dossiers.errors import Invalid
from app.dossiers.fees import describe_fee, shown_fee_lines
from app.dossiers.portal_sync import snapshot
from app.models import Dossier
from tests.breadth_support import (
    MANIFEST,
    checked,
    complete,
    definitions,
    deployed,
    end,
    errors,
    open_tasks,
    process,
    submit,
    task_data,
    user_task,
)
from tests.conftest import login, user

PROCESS = "tham_dinh_lien_nganh"


def dmn(decision_id: str, inputs: list[tuple[str, str]], outputs: list[str], rules: list[tuple[list[str], list[str]]],
        hit_policy: str = "FIRST") -> str:
    """A DMN 1.3 decision table: inputs (label, expression), output names, rules (input entries, output entries)."""
    ins = "".join(f'<input id="in{i}" label="{label}"><inputExpression id="ie{i}"><text>{expr}</text>'
                  "</inputExpression></input>" for i, (label, expr) in enumerate(inputs))
    outs = "".join(f'<output id="out{i}" name="{name}"/>' for i, name in enumerate(outputs))
    rows = "".join(
        f'<rule id="r{r}">'
        + "".join(f'<inputEntry id="r{r}i{i}"><text>{e}</text></inputEntry>' for i, e in enumerate(entries))
        + "".join(f'<outputEntry id="r{r}o{i}"><text>{e}</text></outputEntry>' for i, e in enumerate(results))
        + "</rule>" for r, (entries, results) in enumerate(rules))
    return ('<?xml version="1.0" encoding="UTF-8"?><definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" '
            f'id="Defs_{decision_id}" name="{decision_id}" namespace="http://motcua.test">'
            f'<decision id="{decision_id}" name="{decision_id}"><decisionTable id="T_{decision_id}" '
            f'hitPolicy="{hit_policy}">{ins}{outs}{rows}</decisionTable></decision></definitions>')


ROUTING = dmn("phan_luong", [("Diện tích", "dien_tich")], ["luong", "ly_do"], [
    (["&gt; 500"], ['"lanh_dao"', '"Diện tích lớn"']),
    (["-"], ['"chuyen_vien"', '"Thông thường"']),
])
# Lệ phí: online 5.000 đ up to 2 copies then 3.000 đ a copy; in person 10.000 đ up to 2, then 5.000 đ a copy; at
# most 20 copies (no rule beyond).
FEES = dmn("bang_phi", [("Kênh", "kenh"), ("Số bản", "so_ban")], ["le_phi"], [
    (["2", "&lt;= 2"], ["5000"]),
    (["2", "&lt;= 20"], ["so_ban * 3000"]),
    (["-", "&lt;= 2"], ["10000"]),
    (["-", "&lt;= 20"], ["so_ban * 5000"]),
])


def routed() -> str:
    """Reception → the routing decision → the leader (large plots) or the specialist (otherwise)."""
    rule = ('<bpmn:businessRuleTask id="Phan_Luong" name="Phân luồng hồ sơ"><bpmn:extensionElements>'
            "<spiffworkflow:calledDecisionId>phan_luong</spiffworkflow:calledDecisionId></bpmn:extensionElements>"
            "</bpmn:businessRuleTask>")
    return definitions(process(
        PROCESS,
        '<bpmn:startEvent id="Bat_Dau"/>'
        + user_task("Tiep_Nhan", "Tiếp nhận hồ sơ", "tiep-nhan", status=1, receives=True) + rule
        + '<bpmn:exclusiveGateway id="Gw_Luong" default="F_ChuyenVien"/>'
        + user_task("Ky_Duyet", "Lãnh đạo xem xét", "ky", status=4)
        + user_task("Tham_Dinh", "Chuyên viên thẩm định", "tham-dinh", status=4)
        + end("Ket_Thuc_1", 10) + end("Ket_Thuc_2", 10),
        {"Bộ phận một cửa": ["Bat_Dau", "Tiep_Nhan", "Phan_Luong", "Gw_Luong"], "Lãnh đạo": ["Ky_Duyet", "Ket_Thuc_1"],
         "Chuyên viên": ["Tham_Dinh", "Ket_Thuc_2"]},
        [("F1", "Bat_Dau", "Tiep_Nhan"), ("F2", "Tiep_Nhan", "Phan_Luong"), ("F3", "Phan_Luong", "Gw_Luong"),
         ("F_LanhDao", "Gw_Luong", "Ky_Duyet", "luong == 'lanh_dao'"), ("F_ChuyenVien", "Gw_Luong", "Tham_Dinh"),
         ("F4", "Ky_Duyet", "Ket_Thuc_1"), ("F5", "Tham_Dinh", "Ket_Thuc_2")]))


def simple() -> str:
    return definitions(process(
        PROCESS,
        '<bpmn:startEvent id="Bat_Dau"/>' + user_task("Tiep_Nhan", "Tiếp nhận hồ sơ", "tiep-nhan", status=1,
                                                      receives=True) + end("Ket_Thuc", 10),
        {"Bộ phận một cửa": ["Bat_Dau", "Tiep_Nhan", "Ket_Thuc"]},
        [("F1", "Bat_Dau", "Tiep_Nhan"), ("F2", "Tiep_Nhan", "Ket_Thuc")]))


FEE_MANIFEST = {**MANIFEST, "fee": {"in_person": 0, "decision": {"id": "bang_phi", "name": "Phí cấp bản sao"}}}


@pytest.mark.parametrize(("area", "step", "role", "route"), [
    (1000, "Lãnh đạo xem xét", "lanh_dao_ky", "lanh_dao"), (120, "Chuyên viên thẩm định", "chuyen_vien", "chuyen_vien"),
])
def test_a_decision_table_picks_the_branch(db_session, area, step, role, route):
    deployed({"process.bpmn": routed(), "phan-luong.dmn": ROUTING})
    db_session.commit()
    dossier = submit(db_session, {"dien_tich": area})
    complete(db_session, open_tasks(dossier.id)[0], {})
    [task] = open_tasks(dossier.id)
    assert (task.title, task.role) == (step, role)
    assert task_data(task)["luong"] == route
    complete(db_session, task, {"dat": True} if role == "chuyen_vien" else {"phe_duyet": True})
    assert db_session.get(Dossier, dossier.id).status == 10


@pytest.mark.parametrize(("channel", "copies", "fee"), [(2, 1, 5000), (2, 4, 12000), (1, 1, 10000), (1, 4, 20000)])
def test_a_fee_table_gives_the_dossier_s_one_fee(db_session, client, token, channel, copies, fee):
    version = deployed({"process.bpmn": simple(), "bang-phi.dmn": FEES}, FEE_MANIFEST)
    db_session.commit()
    dossier = submit(db_session, {"so_ban": copies}, channel=channel)
    assert dossier.fee_amount == fee
    [reception] = open_tasks(dossier.id)
    assert task_data(reception)["thong_tin_ho_so"]["le_phi"] == fee  # what a payment step charges
    # The receipt's lines, the national portal and the API: the same amount.
    lines = shown_fee_lines(version, channel, dossier.form_data, dossier.fee_amount)
    assert [(line.name, line.amount) for line in lines] == [("Phí cấp bản sao", fee)]
    assert snapshot(dossier, 1)["le_phi"] == [{"ten": "Phí cấp bản sao", "so_tien": fee}]
    answer = client.get(f"/api/v1/dossiers/{dossier.code}", headers=token("congdan"))
    assert answer.status_code == 200 and answer.get_json()["fee_amount"] == fee
    login(client, "congdan")
    page = lxml.html.fromstring(client.get(f"/ho-so/{dossier.code}/bien-nhan").data)
    assert f"{fee:,}".replace(",", ".") in page.get_element_by_id("fee").text_content()
    # The procedure's page says the fee comes from the table.
    assert any("Phí cấp bản sao" in words and "bảng quyết định" in words for words in describe_fee(FEE_MANIFEST, 2))


def test_a_fee_table_with_no_answer_refuses_the_submission(db_session):
    deployed({"process.bpmn": simple(), "bang-phi.dmn": FEES}, FEE_MANIFEST)
    db_session.commit()
    with pytest.raises(Invalid) as refused:
        services.submit_dossier("9.000001", {"ho_ten": "Nguyễn Văn An", "so_ban": 30}, applicant=user("congdan"))
    assert refused.value.code == "fee_undecided" and "bang_phi" in refused.value.message
    db_session.rollback()
    negative = dmn("bang_phi", [("Số bản", "so_ban")], ["le_phi"], [(["-"], ["0 - 1000"])])
    deployed({"process.bpmn": simple(), "bang-phi.dmn": negative}, FEE_MANIFEST)
    db_session.commit()
    with pytest.raises(Invalid) as refused:
        services.submit_dossier("9.000001", {"ho_ten": "Nguyễn Văn An", "so_ban": 1}, applicant=user("congdan"))
    assert refused.value.code == "fee_undecided" and "-1000" in refused.value.message
    db_session.rollback()


def test_the_checker_validates_decisions_for_fees_and_routing():
    assert checked({"process.bpmn": simple(), "bang-phi.dmn": FEES}, FEE_MANIFEST).ok
    assert checked({"process.bpmn": routed(), "phan-luong.dmn": ROUTING}).ok
    missing = checked({"process.bpmn": simple(), "phan-luong.dmn": ROUTING}, FEE_MANIFEST)
    assert not missing.ok and "phan_luong" in errors(missing)["fee_decision_missing"]
    output = checked({"process.bpmn": simple(), "bang-phi.dmn": FEES},
                     {**FEE_MANIFEST, "fee": {"decision": {"id": "bang_phi", "output": "so_tien"}}})
    assert not output.ok and "le_phi" in errors(output)["fee_decision_output_unknown"]
    later = dmn("bang_phi", [("Kết quả", "ket_qua_tham_dinh")], ["le_phi"], [(["-"], ["1000"])])
    unknown = checked({"process.bpmn": simple(), "bang-phi.dmn": later}, FEE_MANIFEST)
    assert not unknown.ok and "ket_qua_tham_dinh" in errors(unknown)["fee_decision_input_unknown"]
    # A business-rule task without its decision, or naming one the package lacks.
    unlinked = checked({"process.bpmn": routed().replace(
        "<spiffworkflow:calledDecisionId>phan_luong</spiffworkflow:calledDecisionId>", ""),
        "phan-luong.dmn": ROUTING})
    assert not unlinked.ok and "calledDecisionId" in errors(unlinked)["business_rule_unlinked"]
    absent = checked({"process.bpmn": routed()})
    assert not absent.ok and "decision_missing" in errors(absent)
    # The routing condition reads a decision output: a typo in it is caught.
    typo = checked({"process.bpmn": routed().replace("luong == 'lanh_dao'", "luongg == 'lanh_dao'"),
                    "phan-luong.dmn": ROUTING})
    assert not typo.ok and "luongg" in errors(typo)["expression_name_undefined"]


def test_the_checker_follows_what_a_routing_table_reads():
    # The table reads a name nothing defines: the dossier would stop at the business-rule task.
    typo = ROUTING.replace("<text>dien_tich</text>", "<text>dien_tch</text>")
    report = checked({"process.bpmn": routed(), "phan-luong.dmn": typo})
    assert not report.ok
    problem = next(p for p in report.problems if p.code == "expression_name_undefined")
    assert problem.file == "phan-luong.dmn" and problem.line is not None
    assert "dien_tch" in problem.message and "«dien_tich»" in problem.message  # did you mean
