"""In real headless Chromium, under the pages' own Content-Security-Policy: the applicant of a dossier whose result
was handed back rates it on the dossier page, on a phone (375 px), and then sees their rating; the desk's kiosk page
is checked at both widths too. No overflow, no serious axe-core violation, no CSP violation at 375 and 1280 px;
MOTCUA_SCREENSHOTS=<folder> keeps a PNG of each."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from tests.e2e.checks import at_both_widths
from tests.e2e.conftest import login
from tests.e2e.flows import handed_back
from tests.e2e.test_diagram_browser import _strict_context

pytestmark = pytest.mark.browser



def _fits(page: Page, name: str) -> list[str]:
    return at_both_widths(page, name, "rating", lambda p: p.wait_for_timeout(200))


def test_the_applicant_rates_the_handled_dossier_on_a_phone(live_server: Any, browser: Browser,
                                                           live_token: Any) -> None:
    base = live_server.url
    code = handed_back(base, live_token)
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
