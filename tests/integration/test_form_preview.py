"""The studio's form preview (app.web.previews, /thiet-ke/thu-tuc/<code>/phien-ban/<n>/bieu-mau/<form>): each form of a
deployed version drawn as the portal or the officer's task page draws it, with sample data or empty, in a «Xem trước»
frame where nothing submits; for designers only. Also a draft's forms, previewed from memory."""

from __future__ import annotations

import copy
import json
from typing import Any

import lxml.html
import pytest

from app.eforms.samples import PERSONAL_ID
from app.web.previews import CITIZEN, OFFICER, UnknownForm, form_preview
from tests.conftest import ROOT, login

BASE = "/thiet-ke/thu-tuc/1.001193/phien-ban/1"
KHAI_SINH_FORMS = ["to-khai.schema.json", "ky-duyet.schema.json", "tham-dinh.schema.json", "tiep-nhan.schema.json",
                   "tra-ket-qua.schema.json"]


def page(client: Any, url: str, status: int = 200) -> Any:
    response = client.get(url)
    assert response.status_code == status, response.data[:800]
    return lxml.html.fromstring(response.data.decode())


def texts(tree: Any, xpath: str) -> list[str]:
    return [" ".join(e.text_content().split()) for e in tree.xpath(xpath)]


def fields_of(form: Any) -> list[tuple[str, str, str, str]]:
    """What a form asks for: (tag, name, type, id) of each control, the submit buttons aside."""
    return [(e.tag, e.get("name") or "", e.get("type") or "", e.get("id") or "")
            for e in form.xpath(".//input|.//select|.//textarea")
            if e.get("name") != "csrf_token"]


@pytest.fixture()
def designer(client: Any) -> Any:
    login(client, "thietke")
    return client


def test_the_version_page_lists_its_forms_each_linking_to_its_preview(designer: Any) -> None:
    tree = page(designer, BASE)
    links = tree.xpath('//ul[@id="version-forms"]/li/a/@href')
    assert links == [f"{BASE}/bieu-mau/{name}" for name in KHAI_SINH_FORMS]  # the start form first
    items = texts(tree, '//ul[@id="version-forms"]/li')
    assert "biểu mẫu bắt đầu" in items[0] and "Tiếp nhận hồ sơ" in items[3]


def test_the_start_form_shows_what_the_portal_shows_filled_with_the_sample(designer: Any, client: Any) -> None:
    tree = page(designer, f"{BASE}/bieu-mau/to-khai.schema.json")
    frame = tree.get_element_by_id("form-preview")
    assert frame.get("data-view") == CITIZEN
    assert "Xem trước" in texts(frame, './/p[@id="preview-label"]')[0]
    html = lxml.html.tostring(frame, encoding="unicode")
    assert f'value="{PERSONAL_ID}"' in html and 'value="Nguyễn Văn An"' in html and 'value="0912345678"' in html
    assert 'value="Trần Thị Bình"' in html and "mau/giay-chung-sinh.pdf" in html  # the mother; an attachment
    assert not tree.xpath('//*[@id="sample-problems"]')
    # Where the portal fills a field from the population registry, it says so: the preview too.
    assert texts(frame, './/*[@id="f-nguoi_yeu_cau-ho_ten-source"]')[0].startswith(
        "Lấy từ Cơ sở dữ liệu quốc gia về dân cư, ")
    assert not frame.xpath('.//*[@id="f-tre-ho_ten-source"]')
    # Nothing submits: no token, no post, the submit button disabled.
    form = frame.get_element_by_id("eform")
    assert form.get("method") == "get" and form.get("action") is None and not form.xpath('.//input[@name="csrf_token"]')
    assert all(b.get("disabled") is not None for b in form.xpath(".//button"))
    # Both views make sense for the start form.
    assert texts(tree, '//ul[@id="view-switch"]//a') == ["Công dân thấy", "Cán bộ thấy"]

    empty = page(designer, f"{BASE}/bieu-mau/to-khai.schema.json?mau=0").get_element_by_id("form-preview")
    assert PERSONAL_ID not in lxml.html.tostring(empty, encoding="unicode")
    login(client, "congdan")
    client.post("/dang-xuat")
    portal = page(client, "/thu-tuc/1.001193")  # as anyone opens it, before logging in: nothing prefilled
    # The same facts as the portal: fee, processing time, components, guidance; and the same fields.
    for xpath in ('*[@id="fee-rules"]', 'ul[li/span[@class="form-required"]]', '*[@id="procedure-guidance"]', "h1"):
        assert texts(empty, ".//" + xpath) == texts(portal, "//main//" + xpath), xpath
    assert texts(empty, './div/p[@class="muted"]') == texts(portal, '//main/p[@class="muted"]')
    assert "8.000 đ/bản" in texts(empty, './/*[@id="fee-rules"]')[0]
    rule = texts(portal, '//*[@id="processing-rule"]')[0]
    assert texts(empty, './/*[@id="processing-rule"]')[0].split(".")[0] == rule.split(".")[0]
    assert fields_of(empty.get_element_by_id("eform")) == fields_of(portal.get_element_by_id("eform"))


def test_the_officer_sees_the_start_form_at_the_walk_in_desk(designer: Any) -> None:
    tree = page(designer, f"{BASE}/bieu-mau/to-khai.schema.json?xem={OFFICER}")
    frame = tree.get_element_by_id("form-preview")
    assert frame.get("data-view") == OFFICER
    assert texts(frame, ".//h1") == ["Tiếp nhận hồ sơ trực tiếp"]
    assert texts(frame, './/button[@id="walk-in-submit"]') == ["Lập hồ sơ"]
    assert f'value="{PERSONAL_ID}"' in lxml.html.tostring(frame, encoding="unicode")
    assert tree.xpath('//ul[@id="view-switch"]//a[@aria-current="page"]/text()') == ["Cán bộ thấy"]
    assert not frame.xpath('.//*[contains(@class, "form-source")]')  # the desk types what the applicant brings


def test_a_task_form_shows_the_task_page_with_its_checklist_and_the_dossier(designer: Any) -> None:
    tree = page(designer, f"{BASE}/bieu-mau/tiep-nhan.schema.json?xem={CITIZEN}")  # meaningless here: the officer's
    frame = tree.get_element_by_id("form-preview")
    assert frame.get("data-view") == OFFICER and not tree.xpath('//ul[@id="view-switch"]')
    assert texts(frame, ".//h1") == ["Tiếp nhận hồ sơ"]
    assert "000.00.01.H26-" in texts(frame, './/p[@class="muted"]')[0]  # a dossier code as the agency gives them
    assert texts(frame, './/*[@id="task-guidance"]')  # the form's description, as the task page shows it
    ticked = frame.xpath('.//input[@type="checkbox"][@checked]/@value')
    assert ticked == ["TK", "GCS", "GTTT", "UQ"]  # the components checklist
    assert frame.xpath('.//input[@type="radio"][@checked]/@value') == ["tiep_nhan"]
    assert not frame.xpath('.//textarea[@name="ly_do"]/text()')  # no refusal reason when the sample accepts
    assert texts(frame, './/button[@id="complete"]') == ["Hoàn thành"]
    assert frame.xpath('.//button[@id="complete"]/@disabled') == ["disabled"]
    # The dossier the officer works on: the start form's sample, read-only.
    assert "Thông tin hồ sơ" in texts(frame, ".//h2")
    assert "Nguyễn Minh Khang" in texts(frame, './/dl[contains(@class, "form-values")]')[0]


def test_the_applicants_own_task_is_previewed_as_the_applicant_sees_it(client: Any) -> None:
    login(client, "thietke")
    tree = page(client, "/thiet-ke/thu-tuc/1.004222/phien-ban/1/bieu-mau/bo-sung.schema.json")
    frame = tree.get_element_by_id("form-preview")
    assert frame.get("data-view") == CITIZEN and not tree.xpath('//ul[@id="view-switch"]')
    assert "người nộp hồ sơ" in texts(frame, './/p[@id="preview-label"]')[0]


@pytest.mark.parametrize("url", [
    f"{BASE}/bieu-mau/khong-co.schema.json",
    f"{BASE}/bieu-mau/to-khai.ui.json",  # hints are not a form
    f"{BASE}/bieu-mau/to-khai",
    "/thiet-ke/thu-tuc/1.001193/phien-ban/99/bieu-mau/to-khai.schema.json",
    "/thiet-ke/thu-tuc/9.999999/phien-ban/1/bieu-mau/to-khai.schema.json",
])
def test_a_wrong_name_is_not_found(designer: Any, url: str) -> None:
    page(designer, url, 404)


def test_designers_only(client: Any) -> None:
    url = f"{BASE}/bieu-mau/to-khai.schema.json"
    assert client.get(url).status_code == 302  # to the login page
    for username in ("hotich", "congdan"):
        login(client, username)
        assert client.get(url).status_code == 403
        assert client.get(BASE).status_code == 403


def _draft() -> tuple[dict[str, Any], dict[str, Any]]:
    folder = ROOT / "tests/procedures/guide_example"
    manifest = json.loads((folder / "procedure.json").read_text("utf-8"))
    forms = {p.name: json.loads(p.read_text("utf-8")) for p in folder.glob("*.json") if p.name != "procedure.json"}
    return manifest, forms


def test_a_draft_in_memory_previews_without_a_database_row(app: Any, db_session: Any) -> None:
    manifest, forms = _draft()
    forms["nhom.schema.json"] = {"type": "object", "required": ["ma", "con"], "properties": {
        "ma": {"type": "string", "title": "Mã", "minLength": 5, "maxLength": 2},  # cannot be satisfied
        "con": {"type": "array", "title": "Con", "minItems": 1, "items": {"type": "object", "properties": {
            "ho_ten": {"type": "string", "title": "Họ và tên"}}}}}}
    forms["hong.schema.json"] = {"type": "object", "properties": {"x": {"type": ["string", "integer"]}}}
    before = copy.deepcopy(forms)
    with app.test_request_context("/"):
        start = form_preview(manifest, forms, manifest["start_form"], True)
        assert start.views == (CITIZEN, OFFICER) and start.problems == {}
        assert 'id="processing-rule"' not in start.html  # no agency given: no calendar to state the time with
        assert 'id="fee-rules"' in start.html
        group = form_preview(manifest, forms, "nhom.schema.json", True)
        assert group.views == (OFFICER,) and set(group.problems) == {"ma"}
        tree = lxml.html.fromstring(str(group.html))
        buttons = tree.xpath(".//button")
        assert {b.get("class") for b in buttons} >= {"secondary form-add", "form-default-submit"}
        assert all(b.get("disabled") is not None for b in buttons)  # add / remove / Enter: nothing submits
        assert 'value="Nguyễn Minh Khang"' in str(group.html)  # a child's name in «con»
        broken = form_preview(manifest, forms, "hong.schema.json", True)
        assert 'id="preview-error"' in broken.html and "/properties/x/type" in broken.html
        with pytest.raises(UnknownForm):
            form_preview(manifest, forms, "to-khai.ui.json", True)
        # A draft's manifest the package check would refuse: the frame says so, the page that embeds it still works.
        odd = {**manifest, "fee": {"per": [{"field": "/so_ban_sao", "amount": 1000}]}}  # an item without its name
        refused = form_preview(odd, forms, manifest["start_form"], True)
        assert 'id="preview-error"' in refused.html and "procedure.json" in refused.html
    assert forms == before  # the draft is read, never changed
