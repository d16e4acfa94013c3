"""In real headless Chromium under the pages' own Content-Security-Policy: the citizen's page «Ai đã xem dữ liệu của
tôi» lists an officer's views of their dossier (name, agency, what, why) and their own prefill look-up, at 375 and
1280 px (nothing wider than the window, no serious or critical axe-core violation, nothing the policy refused);
MOTCUA_SCREENSHOTS=<folder> keeps a PNG of each."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser

from tests.e2e.conftest import login
from tests.e2e.test_diagram_browser import _axe, _problems, _strict_context
from tests.e2e.test_pages import AXE, overflow
from tests.samples import requests_uploader, start_data, with_uploads

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("MOTCUA_SCREENSHOTS")


def test_citizen_sees_who_looked_at_their_data(live_server: Any, live_token: Any, browser: Browser) -> None:
    if not AXE.exists():
        pytest.fail("node_modules/axe-core is missing: run `npm ci` (scripts/test.sh does)")
    base = live_server.url
    citizen = live_token("congdan")
    data = with_uploads(requests_uploader(base), citizen, start_data("khai-sinh"))
    created = requests.post(f"{base}/api/v1/procedures/1.001193/dossiers", json=data, headers=citizen, timeout=10)
    assert created.status_code == 201, created.text
    code = created.json()["code"]

    officer_context = _strict_context(browser)
    officer = officer_context.new_page()
    login(officer, base, "tiepnhan")
    assert officer.goto(f"{base}/can-bo/ho-so/{code}").status == 200
    officer_context.close()

    problems: list[str] = []
    for width in (375, 1280):
        context = _strict_context(browser, width, touch=width == 375)
        page = context.new_page()
        login(page, base, "congdan")
        page.goto(f"{base}/ho-so-cua-toi")
        page.click("a[href='/ho-so-cua-toi/ai-da-xem']")
        page.wait_for_selector("h1")
        assert page.url.endswith("/ho-so-cua-toi/ai-da-xem")
        rows = page.locator("#data-access tbody tr")
        texts = [rows.nth(i).inner_text() for i in range(rows.count())]
        seen = [t for t in texts if code in t and "Nguyễn Thị Tiếp" in t]
        assert seen and "Mở trang hồ sơ" in seen[0] and "UBND phường Ba Đình" in seen[0], texts
        assert page.locator(f"#data-access a[href='/ho-so/{code}']").count() >= 1
        if SHOTS:
            Path(SHOTS).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(SHOTS) / f"data-access-{width}.png"), full_page=True)
        problems += [f"{width} overflow: {line}" for line in overflow(page)]
        problems += [f"{width} axe: {line}" for line in _axe(page)]
        problems += [f"{width}: {line}" for line in _problems(page)]
        context.close()
    assert problems == []
