"""The studio's modeller in real headless Chromium, under the pages' own Content-Security-Policy.

A designer creates a new procedure, drops a task onto a flow of the diagram with the palette, makes it a user task
from its context menu, sees the live error the upload checker gives (no form) marked on that element, gives it a
new form, a status and an allotted time, adds a timer (sees its errors: no time, then a time that is not an
expression, then fixes it), saves and deploys; the deployed version then runs a dossier through the new step.
A second test opens khai sinh's deployed version as a draft and saves it untouched: what bpmn-js writes back keeps
every extension the platform reads (service-task operators and their parameters, properties), so the package
still passes. Each page is checked at 375 and 1280 px (nothing wider than the window, no serious axe-core
violation, no CSP violation, no script error); MOTCUA_SCREENSHOTS=<folder> keeps a PNG of each.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Page

from tests.e2e.conftest import login
from tests.e2e.test_diagram_browser import _axe, _problems, _strict_context
from tests.e2e.test_pages import AXE, overflow

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("MOTCUA_SCREENSHOTS")
CODE = "9.900101"


def _shape_ids(page: Page) -> list[str]:
    return list(page.eval_on_selector_all(".djs-shape", "els => els.map(e => e.dataset.elementId)"))


def _checked(page: Page) -> str:
    """Wait for the live check of the last change (the page marks it pending from the change until that check
    answers), and return its verdict: ok or problems."""
    page.wait_for_selector("#modeller[data-pending='0'][data-check]:not([data-check=running])", timeout=20000)
    return str(page.get_attribute("#modeller", "data-check"))


def _problem_codes(page: Page, element: str | None = None) -> list[str]:
    selector = "#check-problems li" + (f'[data-element="{element}"]' if element else "")
    return [str(code) for code in page.eval_on_selector_all(selector, "els => els.map(e => e.dataset.code)")]


def _open_version_as_draft(page: Page, base: str, code: str) -> None:
    """A designer opens a deployed version's page and turns it into a draft in the modeller, loaded and checked."""
    login(page, base, "thietke")
    page.goto(f"{base}/thiet-ke/thu-tuc/{code}/phien-ban/1")
    page.click("#edit-version")
    page.wait_for_selector("#modeller[data-state=ready]", timeout=30000)
    assert _checked(page) == "ok", page.inner_text("#check")


def _layout(page: Page, name: str) -> list[str]:
    problems: list[str] = []
    for width in (375, 1280):
        page.set_viewport_size({"width": width, "height": 800})
        page.wait_for_timeout(300)
        if SHOTS:
            Path(SHOTS).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(SHOTS) / f"modeller-{name}-{width}.png"), full_page=True)
        problems += [f"{name} {width} overflow: {line}" for line in overflow(page)]
        problems += [f"{name} {width} axe: {line}" for line in _axe(page)]
    page.set_viewport_size({"width": 1280, "height": 800})
    return problems + _problems(page)


def test_designer_adds_a_user_task_with_a_form_and_a_timer_sees_live_errors_and_deploys(
        live_server: Any, browser: Browser, live_token: Any) -> None:
    if not AXE.exists():
        pytest.fail("node_modules/axe-core is missing: run `npm ci` (scripts/test.sh does)")
    base = live_server.url
    context = _strict_context(browser)
    page = context.new_page()
    login(page, base, "thietke")
    page.goto(f"{base}/thiet-ke/")
    page.click("#drafts-link")
    page.fill("#code", CODE)
    page.fill("#name", "Cấp giấy xác nhận thử nghiệm")
    page.select_option("#agency", "000.00.01.H26")
    page.click("#new-draft button[type=submit]")
    page.wait_for_selector("#modeller[data-state=ready]", timeout=30000)
    assert _checked(page) == "ok", page.inner_text("#check")  # the blank package deploys as it is
    assert "Có thể triển khai" in page.inner_text("#check-state")
    layout = _layout(page, "blank")

    # The palette's task, dropped on the flow between reception and the result: the flow is split around it.
    before = set(_shape_ids(page))
    flow = page.locator('.djs-element[data-element-id="Flow_SangTraKetQua"]').bounding_box()
    assert flow is not None
    page.click('.djs-palette [data-action="create.task"]')
    x, y = flow["x"] + flow["width"] / 2, flow["y"] + flow["height"] / 2
    page.mouse.move(x - 40, y + 10)
    page.mouse.move(x, y)
    page.mouse.click(x, y)
    (task,) = set(_shape_ids(page)) - before
    page.keyboard.type("Thẩm định hồ sơ")  # the new task's label is being edited
    page.mouse.click(flow["x"] + 30, flow["y"] + 160)  # done: a click beside it
    pad = page.locator('.djs-context-pad.open [data-action="replace"]')
    if not pad.is_visible():
        page.click(f'.djs-element[data-element-id="{task}"]')
    pad.click()
    page.click('.djs-popup [data-id="replace-with-user-task"]')
    assert _checked(page) == "problems"

    # The live error, from the upload's checker, on the element itself: outline, badge, list, panel.
    assert _problem_codes(page, task) == ["form_unset"], page.inner_text("#check-problems")
    assert "mc-error" in (page.get_attribute(f'.djs-element[data-element-id="{task}"]', "class") or "")
    assert page.locator(f'.djs-overlays[data-container-id="{task}"] .mc-badge-error').inner_text() == "1"
    page.click(f'#check-problems li[data-element="{task}"] button')  # "Xem trên sơ đồ" selects it
    assert "Thẩm định hồ sơ" in page.inner_text("#properties")
    assert "chưa khai báo biểu mẫu" in page.inner_text("#properties .panel-problems")

    # Fixed from the panel: a new form of the package for this step, a status and an allotted time.
    page.click("#properties button:has-text('Tạo biểu mẫu mới cho bước này')")
    assert _checked(page) == "ok", page.inner_text("#check")
    form_select = page.locator("#properties select").first
    assert form_select.input_value() == "tham-dinh-ho-so.schema.json"
    assert page.locator('details.file[data-name="forms/tham-dinh-ho-so.schema.json"]').count() == 1
    assert "mc-error" not in (page.get_attribute(f'.djs-element[data-element-id="{task}"]', "class") or "")
    page.select_option("#properties select >> nth=1", "4")
    page.get_by_label("Thời hạn của bước (ngày làm việc)").fill("1")
    page.get_by_label("Thời hạn của bước (ngày làm việc)").press("Tab")
    assert _checked(page) == "ok"

    # A timer on the step: first without a time, then a time that is no expression, then a working-day deadline.
    page.click("#properties button:has-text('Thêm hẹn giờ cho bước này')")
    assert _checked(page) == "problems"
    (timer,) = [i for i in set(_shape_ids(page)) - before - {task} if not i.endswith("_label")]
    assert sorted(_problem_codes(page, timer)) == ["boundary_without_flow", "timer_unspecified"], \
        page.inner_text("#check-problems")
    page.get_by_label("Thời gian", exact=True).fill("2 ngày")
    page.get_by_label("Thời gian", exact=True).press("Tab")
    assert _checked(page) == "problems"
    assert "«2 ngày»" in " ".join(page.locator(f'#check-problems li[data-element="{timer}"]').all_inner_texts())
    page.get_by_label("Loại hẹn giờ").select_option("timeDate")
    _checked(page)
    page.get_by_label("Thời gian", exact=True).fill("working_days(1)")
    page.get_by_label("Thời gian", exact=True).press("Tab")
    # Interrupting with nowhere to go would end the dossier: the checker says so until it only reminds.
    assert _checked(page) == "problems"
    assert _problem_codes(page, timer) == ["boundary_without_flow"], page.inner_text("#check-problems")
    page.get_by_label("Khi đến hạn thì dừng bước đang làm (hẹn giờ ngắt)").uncheck()
    assert _checked(page) == "ok", page.inner_text("#check")
    assert _problem_codes(page, timer) == ["boundary_without_flow"]  # a warning now: it does nothing yet
    layout += _layout(page, "edited")

    page.click("#save-draft")
    page.wait_for_selector("#modeller[data-saved='2']")
    assert "bản 2" in page.inner_text("#save-state")
    page.click("#deploy-draft")
    page.wait_for_url(f"**/thiet-ke/thu-tuc/{CODE}")
    assert f"Đã triển khai {CODE} phiên bản 1 từ bản nháp." in page.inner_text("main")
    assert page.locator("#versions tbody tr").count() == 1
    context.close()
    assert not layout, "\n".join(layout)

    # The version runs: a dossier passes reception and lands on the new step, with its form and its deadline.
    citizen = live_token("congdan")
    start = {"nguoi_yeu_cau": {"ho_ten": "Nguyễn Văn An", "so_dinh_danh": "001090000001", "dien_thoai": "0912345678",
                               "dia_chi": "Số 1 phố Hàng Bạc, Hà Nội"}, "noi_dung": "Xin cấp giấy xác nhận."}
    created = requests.post(f"{base}/api/v1/procedures/{CODE}/dossiers", json=start, headers=citizen, timeout=10)
    assert created.status_code == 201, created.text
    code = created.json()["code"]
    desk = live_token("tiepnhan")

    def open_task() -> dict[str, Any]:
        tasks = requests.get(f"{base}/api/v1/tasks", headers=desk, timeout=10).json()["items"]
        (found,) = [t for t in tasks if t["dossier_code"] == code]
        return dict(found)

    reception = open_task()
    done = requests.post(f"{base}/api/v1/tasks/{reception['id']}/complete", headers=desk, timeout=10,
                         json={"ghi_chu_tiep_nhan": "Đủ giấy tờ."})
    assert done.status_code == 200, done.text
    step = open_task()
    assert (step["title"], step["form"]) == ("Thẩm định hồ sơ", "tham-dinh-ho-so.schema.json"), json.dumps(step)
    assert step.get("due_at"), step  # the allotted working day


def test_a_deployed_version_round_trips_through_the_modeller(live_server: Any, browser: Browser) -> None:
    """Open khai sinh v1 as a draft, save it untouched: the extensions survive bpmn-js and the package passes."""
    base = live_server.url
    context = _strict_context(browser)
    page = context.new_page()
    _open_version_as_draft(page, base, "1.001193")
    # A service task's operator and parameters, read into the panel through the platform's moddle extension.
    page.click('.djs-element[data-element-id="Task_TraCuuMe"]')
    assert page.locator("#properties select").first.input_value() == "population.lookup_citizen"
    assert page.get_by_label("so_dinh_danh").input_value() == "me['so_dinh_danh']"
    page.click('.djs-element[data-element-id="Task_ThamDinh"]')
    assert page.locator("#properties select").first.input_value() == "tham-dinh.schema.json"
    assert page.get_by_label("Thời hạn của bước (ngày làm việc)").input_value() == "0.5"
    page.click("#save-draft")
    page.wait_for_selector("#modeller[data-saved='2']")
    draft_url = page.url
    layout = _layout(page, "khai-sinh")
    context.close()
    assert not layout, "\n".join(layout)

    from app.models import ProcedureDraft
    from app.procedures import drafts

    draft_id = int(draft_url.rstrip("/").rsplit("/", 1)[1])
    with live_server.app.app_context():
        draft = drafts.find(draft_id)
        assert isinstance(draft, ProcedureDraft) and draft.revision == 2
        xml = draft.files["process.bpmn"]
        assert xml.count("<spiffworkflow:serviceTaskOperator") == 2
        assert 'spiffworkflow:parameter id="so_dinh_danh" type="str" value="me[&#39;so_dinh_danh&#39;]"' in xml or \
            "spiffworkflow:parameter id=\"so_dinh_danh\" type=\"str\" value=\"me['so_dinh_danh']\"" in xml
        report = drafts.check(draft.files, draft.slug)
        assert report.report.ok, report.as_json()


def test_an_inter_agency_version_round_trips_and_its_pools_show_their_agencies(live_server: Any,
                                                                               browser: Browser) -> None:
    """The birth bundle's collaboration in the modeller: each pool's agency in the panel (procedure.json
    `participants`), and saved untouched its message payloads and variables survive bpmn-js."""
    base = live_server.url
    context = _strict_context(browser)
    page = context.new_page()
    _open_version_as_draft(page, base, "2.002450")
    box = page.locator('.djs-element[data-element-id="Participant_CongAn"]').bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 12, box["y"] + box["height"] / 2)  # the pool's label band
    agency = page.get_by_label("Cơ quan thực hiện các bước trong bể «Công an cấp xã»")
    assert agency.input_value() == "000.00.02.H26"
    page.click("#save-draft")
    page.wait_for_selector("#modeller[data-saved='2']")
    draft_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    problems = _problems(page)
    context.close()
    assert not problems, problems

    from app.procedures import drafts

    with live_server.app.app_context():
        draft = drafts.find(draft_id)
        assert draft is not None
        xml = draft.files["process.bpmn"]
        assert xml.count("<spiffworkflow:messagePayload>") == 3 and xml.count("<spiffworkflow:messageVariable>") == 3
        assert drafts.check(draft.files, draft.slug).report.ok
