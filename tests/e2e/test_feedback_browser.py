"""In real headless Chromium, under the pages' own Content-Security-Policy: a citizen files feedback (phản ánh,
kiến nghị) from the catalogue's link on a phone; the one-stop desk receives it and the officer answers it in the
inbox's task pages before its deadline; the citizen reads the answer on the dossier page and the public page lists
it without who asked. Both widths checked (overflow, axe-core, CSP); MOTCUA_SCREENSHOTS=<folder> keeps PNGs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from tests.e2e.checks import at_both_widths
from tests.e2e.conftest import login
from tests.e2e.test_browser import fill
from tests.e2e.test_diagram_browser import _problems, _strict_context

pytestmark = pytest.mark.browser
QUESTION = "Đề nghị niêm yết rõ lệ phí cấp bản sao trích lục tại quầy một cửa."
REPLY = "Bảng lệ phí đã được niêm yết tại quầy một cửa từ ngày 02/12/2026."


def _fits(page: Page, name: str) -> list[str]:
    return at_both_widths(page, name, "feedback", lambda p: p.wait_for_timeout(200))


def _do_task(browser: Browser, base: str, officer: str, code: str, data: dict[str, Any], tmp_path: Path) -> None:
    context = _strict_context(browser)
    page = context.new_page()
    login(page, base, officer)
    page.goto(f"{base}/can-bo/")
    page.locator("#inbox tr", has_text=code).locator("a").first.click()
    page.wait_for_load_state()
    if page.locator("button[formaction$='/nhan'], button:has-text('Nhận việc')").count():
        page.locator("button:has-text('Nhận việc')").first.click()
        page.wait_for_load_state()
    fill(page, data, tmp_path)
    page.click("button[name=__submit__]")
    page.wait_for_load_state()
    problems = _problems(page)
    context.close()
    assert not problems, problems


def test_a_citizen_files_feedback_that_an_officer_answers_before_its_deadline(live_server: Any, browser: Browser,
                                                                               tmp_path: Path) -> None:
    base = live_server.url
    context = _strict_context(browser, 375, touch=True)
    page = context.new_page()
    login(page, base, "congdan")
    page.goto(f"{base}/")
    page.click("#feedback-link")
    problems = _fits(page, "form")
    page.set_viewport_size({"width": 375, "height": 800})
    fill(page, {"loai": "kien_nghi", "noi_dung": QUESTION,
                "nguoi_phan_anh": {"ho_ten": "Nguyễn Văn An", "dien_thoai": "0912345678"}}, tmp_path)
    page.click("button[name=__submit__]")
    page.wait_for_selector("#receipt")
    code = page.inner_text("#dossier-code").strip()

    _do_task(browser, base, "tiepnhan", code, {"quyet_dinh_tiep_nhan": "tiep_nhan"}, tmp_path)
    _do_task(browser, base, "hotich", code, {"noi_dung_tra_loi": REPLY, "cong_bo": True}, tmp_path)
    _do_task(browser, base, "tiepnhan", code, {"ngay_gui": "2026-12-02"}, tmp_path)

    from app.models import Dossier

    with live_server.app.app_context():
        from sqlalchemy import select

        from app.extensions import db

        answered = db.session.scalar(select(Dossier).where(Dossier.code == code))
        assert answered is not None and answered.finished_at is not None and answered.finished_at <= answered.due_at
        db.session.remove()
    page.goto(f"{base}/ho-so/{code}")
    assert page.locator("#status").inner_text() == "Đã trả kết quả"
    assert REPLY in page.inner_text("#results")
    problems += _fits(page, "answered")
    public = _strict_context(browser).new_page()
    public.goto(f"{base}/phan-anh-kien-nghi")
    item = public.locator("#published li", has_text=QUESTION)
    assert item.count() == 1 and REPLY in item.inner_text()
    assert "Nguyễn Văn An" not in public.inner_text("#published")
    problems += _fits(public, "public")
    context.close()
    assert not problems, "\n".join(problems)
