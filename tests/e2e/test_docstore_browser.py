"""In real headless Chromium, under the pages' own Content-Security-Policy: a citizen whose birth registration was
handed back with its electronic result finds it in their document store, starts the permanent-residence procedure,
picks the stored birth certificate as proof of kinship instead of uploading it, and submits; the police's receiving
officer sees that the file came from a verified earlier result of that dossier. No overflow, no serious axe-core
violation, no CSP violation at 375 and 1280 px; MOTCUA_SCREENSHOTS=<folder> keeps a PNG of each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Page

from tests.e2e.checks import at_both_widths
from tests.e2e.conftest import login
from tests.e2e.test_browser import fill
from tests.e2e.test_diagram_browser import _strict_context
from tests.samples import PDF_BYTES, requests_uploader, start_data, task_data, with_uploads

pytestmark = pytest.mark.browser
OFFICERS = {"tiep_nhan": "tiepnhan", "chuyen_vien": "hotich", "lanh_dao_ky": "chutich", "tra_ket_qua": "traketqua"}


def _handed_back_online(base: str, live_token: Any) -> str:
    """A khai sinh dossier of the demo citizen taken through every step over the API, the electronic birth
    certificate attached at the last one and handed back online."""
    citizen = live_token("congdan")
    created = requests.post(f"{base}/api/v1/procedures/1.001193/dossiers", headers=citizen, timeout=10,
                            json=with_uploads(requests_uploader(base), citizen, start_data("khai-sinh")))
    assert created.status_code == 201, created.text
    code = str(created.json()["code"])
    while True:
        found = None
        for role, officer in OFFICERS.items():
            headers = live_token(officer)
            mine = [t for t in requests.get(f"{base}/api/v1/tasks?size=100", headers=headers, timeout=10)
                    .json()["items"] if t["dossier_code"] == code and t["role"] == role]
            if mine:
                found = (mine[0], headers, role)
                break
        if found is None:
            break
        task, headers, role = found
        data = task_data("khai-sinh", task["form"])
        if role == "tra_ket_qua":
            result = requests.post(f"{base}/api/v1/attachments", headers=headers, timeout=10,
                                   files={"file": ("giay-khai-sinh.pdf", PDF_BYTES, "application/pdf")}).json()
            data = {**data, "hinh_thuc_tra": "truc_tuyen", "ban_dien_tu": result["reference"]}
        done = requests.post(f"{base}/api/v1/tasks/{task['id']}/complete", headers=headers, timeout=20, json=data)
        assert done.status_code == 200, done.text
    return code


def _fits(page: Page, name: str) -> list[str]:
    return at_both_widths(page, name, "docstore", lambda p: p.wait_for_timeout(200))


def test_a_citizen_reuses_a_stored_result_and_the_officer_sees_its_origin(live_server: Any, browser: Browser,
                                                                          live_token: Any, tmp_path: Path) -> None:
    base = live_server.url
    source = _handed_back_online(base, live_token)
    context = _strict_context(browser, 375, touch=True)
    page = context.new_page()
    login(page, base, "congdan")
    page.click("text=Kho giấy tờ")
    result = page.locator("#my-documents tr", has_text="Giấy khai sinh (bản điện tử)")
    assert source in result.inner_text() and "Còn hiệu lực" in result.inner_text()
    # Digitized at reception: once for this dossier (the live database holds other tests' dossiers of this citizen).
    assert page.locator("#my-documents tr", has_text="Giấy chứng sinh").filter(has_text=source).count() == 1
    problems = _fits(page, "store")

    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(f"{base}/thu-tuc/1.004222")
    choice = page.locator("#f-giay_to_quan_he_nhan_than-kho")
    assert "Hoặc chọn từ kho giấy tờ của tôi" in choice.inner_text() and source in choice.inner_text()
    fill(page, start_data("thuong-tru", files_as=None), tmp_path)
    choice.get_by_label("Giấy khai sinh (bản điện tử)", exact=False).check()
    problems += _fits(page, "form")
    page.click("button[name=__submit__]")
    page.wait_for_selector("#receipt")
    code = page.inner_text("#dossier-code").strip()
    assert f"lấy từ kho giấy tờ, hồ sơ {source}" in page.inner_text("#components")
    problems += _fits(page, "receipt")
    context.close()

    desk = _strict_context(browser)
    officer = desk.new_page()
    login(officer, base, "ca.tiepnhan")
    officer.goto(f"{base}/can-bo/ho-so/{code}")
    origin = officer.inner_text("#reused-files")
    assert "Giấy khai sinh (bản điện tử)" in origin and "lấy từ kết quả điện tử đã xác minh của hồ sơ" in origin
    assert source in origin
    assert officer.locator("#reused-files a.reused-source").count() == 0  # the commune's dossier is not theirs
    problems += _fits(officer, "officer")
    desk.close()
    assert not problems, "\n".join(problems)
