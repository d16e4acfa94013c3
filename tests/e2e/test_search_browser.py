"""In real headless Chromium, under the pages' own Content-Security-Policy and with no script of the platform's:
a citizen asks the catalogue a plain question, reads the explained answers (the matched words marked), and opens
the best one. Both widths checked (overflow, axe-core, CSP); MOTCUA_SCREENSHOTS=<folder> keeps PNGs."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from tests.e2e.checks import at_both_widths
from tests.e2e.test_diagram_browser import _strict_context

pytestmark = pytest.mark.browser
QUESTION = "đăng ký hộ khẩu cho vợ"


def _fits(page: Page, name: str) -> list[str]:
    return at_both_widths(page, name, "search", lambda p: p.wait_for_timeout(200))


@pytest.mark.parametrize("width", [375, 1280])
def test_a_citizen_asks_a_question_reads_why_the_answers_match_and_opens_the_best(live_server: Any,
                                                                                    browser: Browser,
                                                                                    width: int) -> None:
    context = _strict_context(browser, width, touch=width == 375)
    page = context.new_page()
    page.goto(f"{live_server.url}/")
    page.fill("#q", QUESTION)
    page.click("form.search button[type=submit]")
    page.wait_for_selector("#answers")
    best = page.locator("#answers > li").first
    assert best.locator("h3 a").inner_text() == "Đăng ký thường trú"
    why = best.locator(".why").inner_text()
    assert why.startswith("Tìm thấy") and "cách gọi thường dùng" in why
    marked = best.locator("dl.matches mark").all_inner_texts()
    assert any("hộ khẩu" in m for m in marked) and not any(m.strip() == "cho" for m in marked)
    assert page.locator("#answers > li dl.matches").count() <= 3
    problems = _fits(page, "answers") if width == 1280 else []
    best.locator("h3 a").click()
    page.wait_for_load_state()
    assert page.url.endswith("/thu-tuc/1.004222")
    assert "Đăng ký thường trú" in page.locator("h1").inner_text()
    context.close()
    assert not problems, "\n".join(problems)
