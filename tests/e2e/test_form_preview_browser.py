"""In real headless Chromium, under the pages' own Content-Security-Policy: a designer previews the forms of a deployed
version (app.web.previews) from the version page — the citizen's start form with sample data, the same form as the
desk officer sees it, empty, and an officer's task form with its components checklist and a repeatable group — at
375 and 1280 px: nothing wider than the window, no serious or critical axe-core violation, no CSP violation or
script error, and nothing on the previewed form submits. MOTCUA_SCREENSHOTS=<folder> keeps a PNG of each."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from app.eforms.samples import PERSONAL_ID
from tests.e2e.checks import at_both_widths
from tests.e2e.conftest import login
from tests.e2e.test_diagram_browser import _problems, _strict_context
from tests.e2e.test_pages import AXE

pytestmark = pytest.mark.browser


def _check(page: Page, name: str) -> list[str]:
    def reload(p: Page) -> None:
        p.reload()
        p.wait_for_selector("#form-preview")

    return at_both_widths(page, name, "preview", reload)


def test_designer_previews_a_versions_forms_as_citizens_and_officers_see_them(live_server: Any,
                                                                              browser: Browser) -> None:
    if not AXE.exists():
        pytest.fail("node_modules/axe-core is missing: run `npm ci` (scripts/test.sh does)")
    base = live_server.url
    context = _strict_context(browser)
    page = context.new_page()
    login(page, base, "thietke")
    page.goto(f"{base}/thiet-ke/thu-tuc/1.001193/phien-ban/1")
    page.locator("#version-forms a").first.click()
    page.wait_for_selector("#form-preview")
    assert page.url.endswith("/bieu-mau/to-khai.schema.json")
    assert page.locator("#preview-label").inner_text().startswith("Xem trước")
    assert page.input_value("#f-nguoi_yeu_cau-so_dinh_danh") == PERSONAL_ID
    assert page.input_value("#f-tre-ngay_sinh")  # a date the date input shows
    assert page.locator("#fee-rules").inner_text().count("8.000") == 1
    # Nothing submits: the button is disabled, Enter in a field goes nowhere.
    assert page.locator("#eform button[type=submit]").is_disabled()
    # A submission fires its event while the key press is handled, so it would be counted by the time press() returns.
    page.evaluate("""() => { window.__submits = 0; document.addEventListener('submit', e => {
      window.__submits += 1; e.preventDefault(); }, true); }""")
    page.fill("#f-nguoi_yeu_cau-ho_ten", "Lê Thị Thu")
    page.press("#f-nguoi_yeu_cau-ho_ten", "Enter")
    page.locator("#eform button[type=submit]").click(force=True)
    assert page.evaluate("window.__submits") == 0
    problems = _problems(page) + _check(page, "start-citizen")

    page.click("#view-switch a:has-text('Cán bộ thấy')")
    page.wait_for_selector("#form-preview[data-view=can-bo]")
    assert page.locator("#walk-in-submit").is_disabled()
    problems += _check(page, "start-officer")

    page.click("#sample-switch a:has-text('Để trống')")
    page.wait_for_selector("#form-preview[data-view=can-bo]")
    assert page.input_value("#f-nguoi_yeu_cau-so_dinh_danh") == ""
    problems += _check(page, "start-officer-empty")

    page.goto(f"{base}/thiet-ke/thu-tuc/1.001193/phien-ban/1/bieu-mau/tiep-nhan.schema.json")
    assert page.locator("#form-preview input[type=checkbox]:checked").count() == 4  # the components checklist
    assert page.locator("#complete").is_disabled()
    problems += _check(page, "task-officer")

    # A repeatable group (thường trú's household members): its add / remove buttons are there and do nothing.
    page.goto(f"{base}/thiet-ke/thu-tuc/1.004222/phien-ban/1/bieu-mau/to-khai.schema.json")
    add = page.locator("#form-preview .form-add")
    assert add.count() == 1 and add.is_disabled()
    page.evaluate("""() => { window.__submits = 0; document.addEventListener('submit', e => {
      window.__submits += 1; e.preventDefault(); }, true); }""")
    page.press("#f-nguoi_khai-ho_ten", "Enter")  # the form's first button is its hidden default one: disabled too
    add.click(force=True)
    assert page.evaluate("window.__submits") == 0
    problems += _check(page, "group-citizen")
    context.close()
    assert not problems, "\n".join(problems)
