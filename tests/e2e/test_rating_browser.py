"""In real headless Chromium, under the pages' own Content-Security-Policy: the applicant of a dossier whose result
was handed back rates it on the dossier page, on a phone (375 px), and then sees their rating; the desk's kiosk page
is checked at both widths too. No overflow, no serious axe-core violation, no CSP violation at 375 and 1280 px;
MOTCUA_SCREENSHOTS=<folder> keeps a PNG of each."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Page

from tests.e2e.checks import at_both_widths
from tests.e2e.conftest import login
from tests.e2e.test_diagram_browser import _strict_context
from tests.samples import requests_uploader, start_data, task_data, with_uploads

pytestmark = pytest.mark.browser
OFFICERS = {"tiep_nhan": "tiepnhan", "chuyen_vien": "hotich", "lanh_dao_ky": "chutich", "tra_ket_qua": "traketqua"}


def _returned(base: str, live_token: Any) -> str:
    """A khai sinh dossier of the demo citizen taken through every step over the API: the result handed back."""
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
                found = (mine[0], headers)
                break
        if found is None:
            break
        task, headers = found
        done = requests.post(f"{base}/api/v1/tasks/{task['id']}/complete", headers=headers, timeout=20,
                             json=task_data("khai-sinh", task["form"]))
        assert done.status_code == 200, done.text
    return code


def _fits(page: Page, name: str) -> list[str]:
    return at_both_widths(page, name, "rating", lambda p: p.wait_for_timeout(200))


def test_the_applicant_rates_the_handled_dossier_on_a_phone(live_server: Any, browser: Browser,
                                                           live_token: Any) -> None:
    base = live_server.url
    code = _returned(base, live_token)
    context = _strict_context(browser, 375, touch=True)
    page = context.new_page()
    login(page, base, "congdan")
    page.goto(f"{base}/ho-so/{code}")
    assert page.locator("#rating-form fieldset").count() == 8
    problems = _fits(page, "form")
    page.set_viewport_size({"width": 375, "height": 800})
    page.click("#rating-submit")  # nothing chosen: the server says what is missing, nothing is recorded
    page.wait_for_load_state()
    assert "Phiếu đánh giá chưa đầy đủ" in page.inner_text("main")
    for fieldset in page.locator("#rating-form fieldset").all():
        fieldset.get_by_label("Rất hài lòng").check()
    page.fill("#rating-comment", "Cán bộ hướng dẫn tận tình.")
    page.click("#rating-submit")
    page.wait_for_selector("#rating-summary")
    assert "Cảm ơn bạn đã đánh giá" in page.inner_text("main")
    assert page.locator("#rating-summary dd").all_inner_texts()[:2] == ["Rất hài lòng", "Rất hài lòng"]
    problems += _fits(page, "done")
    context.close()

    desk = _strict_context(browser)
    page = desk.new_page()
    login(page, base, "traketqua")
    page.goto(f"{base}/can-bo/ho-so/{code}/danh-gia")
    assert "Hồ sơ này đã được đánh giá." in page.inner_text("main")  # once per dossier, whichever way
    problems += _fits(page, "kiosk")
    desk.close()
    assert not problems, "\n".join(problems)
