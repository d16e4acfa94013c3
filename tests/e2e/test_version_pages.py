"""The studio's version pages (compare two versions, move running dossiers) in real headless Chromium, on a phone
(375 px) and a desktop (1280 px): nothing wider than the window, no serious or critical axe-core violation.

A second khai sinh version (tests.integration.test_version_moves.without_signing) is deployed for them and retired
again afterwards, so that the other browser tests find version 1 current as before.
Set MOTCUA_SCREENSHOTS=<folder> to keep a full-page PNG of each page visited.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser

from tests.e2e.conftest import login
from tests.e2e.test_pages import AXE, WIDTHS, axe_violations, overflow
from tests.integration.test_version_moves import without_signing
from tests.samples import requests_uploader, start_data, with_uploads

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("MOTCUA_SCREENSHOTS")
CODE = "1.001193"


@pytest.fixture(scope="module")
def second_version(live_server: Any) -> Iterator[int]:
    from app.accounts import issue_token
    from app.extensions import db
    from tests.conftest import user

    def token(username: str) -> dict[str, str]:
        with live_server.app.app_context():
            value = issue_token(user(username), 1)
            db.session.commit()
        return {"Authorization": f"Bearer {value}"}

    base = live_server.url
    citizen = token("congdan")
    data = with_uploads(requests_uploader(base), citizen, start_data("khai-sinh"))
    assert requests.post(f"{base}/api/v1/procedures/{CODE}/dossiers", json=data, headers=citizen,
                         timeout=10).status_code == 201
    pkg = without_signing()
    files = [("files", (name, body)) for name, body in
             [("procedure.json", pkg.manifest or b""), *pkg.bpmn.items(), *pkg.forms.items()]]
    designer = token("thietke")
    answer = requests.post(f"{base}/api/v1/procedures", files=files, headers=designer, timeout=30)
    assert answer.status_code in (200, 201), answer.text
    number = int(answer.json()["version"])
    yield number
    requests.post(f"{base}/api/v1/procedures/{CODE}/versions/{number}/retire", headers=token("thietke"), timeout=10)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", ["studio-compare", "studio-move"])
def test_version_page_fits_the_window_and_passes_the_accessibility_audit(live_server: Any, browser: Browser,
                                                                        second_version: int, width: int,
                                                                        name: str) -> None:
    if not AXE.exists():
        pytest.fail("node_modules/axe-core is missing: run `npm ci`")
    path = {"studio-compare": "so-sanh", "studio-move": "chuyen-phien-ban"}[name]
    context = browser.new_context(viewport={"width": width, "height": 800}, locale="vi-VN", bypass_csp=True)
    try:
        page = context.new_page()
        login(page, live_server.url, "thietke")
        problems: list[str] = []
        for lang in ("vi", "en"):
            page.goto(f"{live_server.url}/thiet-ke/thu-tuc/{CODE}/{path}?tu=1&den={second_version}&lang={lang}")
            assert page.locator("main#main").count() == 1, f"{name} ({lang}) did not render: {page.url}"
            if name == "studio-compare":
                assert page.locator("#diagram-diff").inner_text().count("Task_KyGiayKhaiSinh") == 1
            else:
                assert page.locator("#moves tr.movable").count() >= 1
            if SHOTS:
                Path(SHOTS).mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(Path(SHOTS) / f"{name}-{width}-{lang}.png"), full_page=True)
            problems += [f"{lang} overflow: {line}" for line in overflow(page)]
            problems += [f"{lang} axe: {line}" for line in axe_violations(page)]
        assert not problems, f"{name} at {width}px:\n" + "\n".join(problems)
    finally:
        context.close()
