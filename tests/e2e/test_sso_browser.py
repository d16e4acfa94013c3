"""In real headless Chromium, under the platform's own Content-Security-Policy: a citizen logs in through the demo
identity provider (VNeID), submits a khai sinh dossier and logs out of both, at 375 and 1280 px.

The platform's login page and the provider's are each checked (nothing wider than the window, no serious or
critical axe-core violation, no CSP violation, no script error); MOTCUA_SCREENSHOTS=<folder> keeps a PNG of each.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Page

from tests.e2e.test_browser import fill
from tests.e2e.test_diagram_browser import SHOTS, _axe, _problems, _strict_context
from tests.e2e.test_pages import AXE, overflow
from tests.samples import start_data

pytestmark = pytest.mark.browser


@pytest.fixture()
def live_vneid(live_server: Any, sandbox: str) -> Iterator[Any]:
    """The live platform logging people in at the demo provider."""
    app = live_server.app
    saved = {k: app.config[k] for k in ("OIDC_ISSUER", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET")}
    app.config.update(OIDC_ISSUER=f"{sandbox}/vneid", OIDC_CLIENT_ID="motcua", OIDC_CLIENT_SECRET="motcua-demo-secret")
    requests.delete(f"{sandbox}/_vneid/sessions", timeout=5)
    yield live_server
    app.config.update(saved)


def _audit(page: Page, name: str, width: int) -> list[str]:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"sso-{name}-{width}.png"), full_page=True)
    problems = [f"{name} {width} overflow: {line}" for line in overflow(page)]
    problems += [f"{name} {width} axe: {line}" for line in _axe(page)]
    return problems + [f"{name} {width}: {line}" for line in _problems(page)]


def test_citizen_logs_in_through_vneid_submits_and_logs_out_of_both(live_vneid: Any, sandbox: str, browser: Browser,
                                                                   tmp_path: Path) -> None:
    if not AXE.exists():
        pytest.fail("node_modules/axe-core is missing: run `npm ci` (scripts/test.sh does)")
    base = live_vneid.url
    problems: list[str] = []
    for width in (375, 1280):
        context = _strict_context(browser, width)
        page = context.new_page()
        page.goto(f"{base}/dang-nhap")
        problems += _audit(page, "platform-login", width)
        page.click("#sso-login")
        page.wait_for_url(re.compile(re.escape(f"{sandbox}/vneid/authorize")))
        assert "Nguyễn Văn An" in page.inner_text("main")
        problems += _audit(page, "provider-login", width)
        page.check("input[name=nguoi][value=congdan]")
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/")
        assert "Nguyễn Văn An" in page.inner_text("header")

        page.goto(f"{base}/thu-tuc/1.001193")
        fill(page, start_data("khai-sinh", files_as="FILE:giay-chung-sinh.pdf"), tmp_path)
        page.click("button[name=__submit__]")
        page.wait_for_selector("#receipt")
        assert re.fullmatch(r"000\.00\.01\.H26-\d{6}-\d{4}", page.inner_text("#dossier-code").strip())
        problems += _audit(page, "receipt", width)

        page.click("header button:has-text('Đăng xuất')")
        page.wait_for_url(f"{base}/")  # through the provider's end_session and back
        assert "Đã đăng xuất" in page.inner_text("main")
        assert requests.get(f"{sandbox}/_vneid/sessions", timeout=5).json()["sessions"] == []
        page.goto(f"{base}/ho-so-cua-toi")
        assert "/dang-nhap" in page.url
        context.close()
    assert not problems, "\n".join(problems)
