"""In real headless Chromium, under the pages' own Content-Security-Policy: a citizen whose birth registration was
handed back with its electronic result finds it in their document store, starts the permanent-residence procedure,
picks the stored birth certificate as proof of kinship instead of uploading it, and submits; the police's receiving
officer sees that the file came from a verified earlier result of that dossier. No overflow, no serious axe-core
violation, no CSP violation at 375 and 1280 px; MOTCUA_SCREENSHOTS=<folder> keeps a PNG of each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from tests.e2e.checks import at_both_widths
from tests.e2e.conftest import login
from tests.e2e.flows import handed_back
from tests.e2e.test_browser import fill
from tests.e2e.test_diagram_browser import _strict_context
from tests.samples import start_data

pytestmark = pytest.mark.browser



def _fits(page: Page, name: str) -> list[str]:
    return at_both_widths(page, name, "docstore", lambda p: p.wait_for_timeout(200))


def test_a_citizen_reuses_a_stored_result_and_the_officer_sees_its_origin(live_server: Any, browser: Browser,
                                                                          live_token: Any, tmp_path: Path) -> None:
    base = live_server.url
    source = handed_back(base, live_token, online=True)
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
