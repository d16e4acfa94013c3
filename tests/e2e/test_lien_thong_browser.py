"""The inter-agency birth bundle in real headless Chromium: the applicant files one dossier, each agency's officer
finds its own step in the inbox while the other agencies' officers find nothing of it, the social-insurance office's
system issues the card over real HTTP (the demo national services), and the applicant's page shows one code, one
deadline and the three agencies' results, at 375 and 1280 px with no overflow, no serious axe-core violation and no
CSP violation. The steps are completed over the API, as the agencies' own systems could; the pages are the browser's.
MOTCUA_SCREENSHOTS=<folder> keeps a PNG of each width."""

from __future__ import annotations

import os
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser

from tests.e2e.conftest import login
from tests.e2e.test_diagram_browser import _axe, _problems, _strict_context
from tests.e2e.test_pages import overflow
from tests.integration.test_social_insurance_calls import child_id
from tests.samples import requests_uploader, start_data, task_data, with_uploads

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("MOTCUA_SCREENSHOTS")
SLUG, CODE = "lien-thong-khai-sinh", "2.002450"
OFFICERS = {"tiepnhan": "ubnd", "hotich": "ubnd", "ca.cutru": "cong_an", "bhxh.the": "bhxh"}


def _inbox_has(browser: Browser, base: str, officer: str, code: str) -> bool:
    context = _strict_context(browser)
    page = context.new_page()
    login(page, base, officer)
    page.goto(f"{base}/can-bo/")
    found = page.locator("#inbox tr", has_text=code).count() == 1
    problems = _problems(page)
    context.close()
    assert not problems, problems
    return found


def _open_task(base: str, headers: dict[str, str], code: str) -> dict[str, Any]:
    """The officer's one open step of the dossier; a step after a service call opens once its job has answered."""
    for _ in range(100):
        tasks = [t for t in requests.get(f"{base}/api/v1/tasks?size=100", headers=headers, timeout=10).json()["items"]
                 if t["dossier_code"] == code]
        if tasks:
            (task,) = tasks
            return dict(task)
        time.sleep(0.2)
    raise AssertionError(f"no open step of {code}")


def test_one_dossier_three_agencies_each_sees_its_own_step_and_the_applicant_sees_three_results(
        live_national: Any, browser: Browser, live_token: Any) -> None:
    base = live_national.url
    citizen = live_token("congdan")
    created = requests.post(f"{base}/api/v1/procedures/{CODE}/dossiers", headers=citizen, timeout=10,
                            json=with_uploads(requests_uploader(base), citizen, start_data(SLUG)))
    assert created.status_code == 201, created.text
    code = created.json()["code"]
    child = child_id(date.fromisoformat(start_data(SLUG)["tre"]["ngay_sinh"]))
    steps = [
        ("tiepnhan", "Tiếp nhận hồ sơ", task_data(SLUG, "tiep-nhan.schema.json")),
        ("hotich", "Đăng ký khai sinh, cấp số định danh cá nhân",
         {**task_data(SLUG, "dang-ky-khai-sinh.schema.json"), "so_dinh_danh_tre": child}),
        ("ca.cutru", "Đăng ký thường trú cho trẻ", task_data(SLUG, "dang-ky-thuong-tru.schema.json")),
        ("bhxh.the", "Cấp thẻ bảo hiểm y tế", task_data(SLUG, "cap-the-bhyt.schema.json")),
        ("tiepnhan", "Trả kết quả liên thông", task_data(SLUG, "tra-ket-qua.schema.json")),
    ]
    for officer, title, data in steps:
        headers = live_token(officer)
        task = _open_task(base, headers, code)
        assert task["title"] == title, task
        assert _inbox_has(browser, base, officer, code), f"{officer} does not see {title}"
        for other, agency in OFFICERS.items():
            if agency != OFFICERS[officer]:
                assert not _inbox_has(browser, base, other, code), f"{other} ({agency}) sees {title}"
        done = requests.post(f"{base}/api/v1/tasks/{task['id']}/complete", headers=headers, json=data, timeout=20)
        assert done.status_code == 200, done.text

    context = _strict_context(browser)
    page = context.new_page()
    login(page, base, "congdan")
    page.goto(f"{base}/ho-so/{code}")
    assert page.locator("h1 .code").inner_text() == code
    assert page.locator("#status").inner_text() == "Đã trả kết quả"
    assert page.locator("#results h3").all_inner_texts() == [
        "Giấy khai sinh, số định danh cá nhân của trẻ — UBND phường Ba Đình, thành phố Hà Nội",
        "Đăng ký thường trú — Công an phường Ba Đình, thành phố Hà Nội",
        "Thẻ bảo hiểm y tế — Bảo hiểm xã hội cơ sở Ba Đình, thành phố Hà Nội"]
    assert child in page.inner_text("#results")
    problems: list[str] = []
    for width in (375, 1280):
        page.set_viewport_size({"width": width, "height": 800})
        page.reload()
        if SHOTS:
            Path(SHOTS).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(SHOTS) / f"lien-thong-{width}.png"), full_page=True)
        problems += [f"{width} overflow: {line}" for line in overflow(page)]
        problems += [f"{width} axe: {line}" for line in _axe(page)]
    problems += _problems(page)
    context.close()
    assert not problems, "\n".join(problems)
