"""In real headless Chromium: a citizen submits the khai sinh eForm, an officer completes the first task."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from tests.e2e.conftest import login
from tests.samples import PDF_BYTES, start_data, task_data

pytestmark = pytest.mark.browser


def field_id(path: str) -> str:
    return "#f-" + re.sub(r"[^A-Za-z0-9_]", "-", path)


def flatten(data: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield from flatten(value, f"{prefix}.{key}" if prefix else key)
    elif isinstance(data, list) and data and isinstance(data[0], dict):
        for i, item in enumerate(data):
            yield from flatten(item, f"{prefix}[{i}]")
    else:
        yield prefix, data


def fill(page: Page, data: dict[str, Any], tmp_path: Path) -> None:
    for path, value in flatten(data):
        selector = field_id(path)
        if isinstance(value, str) and value.startswith("FILE:"):
            pdf = tmp_path / value.removeprefix("FILE:")
            pdf.write_bytes(PDF_BYTES)
            page.set_input_files(selector, str(pdf))
            continue
        if isinstance(value, list):  # checkbox group: one input per option, `<id>-<value>`
            for item in value:
                page.check(f"{selector}-{item}")
            continue
        element = page.locator(selector)
        if element.count() == 0:  # radio groups: one input per option
            page.check(f"{selector}-{value}" if not isinstance(value, bool) else selector)
            continue
        tag = element.evaluate("e => e.tagName.toLowerCase() + ':' + (e.type || '')")
        if tag.startswith("select"):
            element.select_option(str(value))
        elif tag.endswith("checkbox"):
            element.set_checked(bool(value))
        else:
            element.fill(str(value))


def test_citizen_submits_and_officer_completes_first_task(live_server, browser: Browser, tmp_path: Path):
    base = live_server.url
    citizen = browser.new_context(locale="vi-VN").new_page()
    login(citizen, base, "congdan")
    citizen.goto(f"{base}/?q=khai sinh")
    citizen.click("text=Đăng ký khai sinh")
    # Server-side validation first: an empty submission shows Vietnamese errors next to fields.
    citizen.click("button[name=__submit__]")
    assert citizen.locator("[aria-invalid=true]").count() > 0
    assert "Vui lòng" in citizen.inner_text("#form-errors")

    fill(citizen, start_data("khai-sinh", files_as="FILE:giay-chung-sinh.pdf"), tmp_path)
    citizen.click("button[name=__submit__]")
    citizen.wait_for_selector("#receipt")
    code = citizen.inner_text("#dossier-code").strip()
    assert re.fullmatch(r"000\.00\.01\.H26-\d{6}-\d{4}", code)
    assert re.search(r"\d{2}:\d{2} \d{2}/\d{2}/\d{4}", citizen.inner_text("#due-date"))

    officer = browser.new_context(locale="vi-VN").new_page()
    login(officer, base, "tiepnhan")
    officer.goto(f"{base}/can-bo/")
    row = officer.locator("#inbox tr", has_text=code)
    row.locator("a").first.click()
    officer.click("#claim")
    officer.wait_for_selector("#task-form")
    form_name = officer.locator("#task-form").get_attribute("data-form") or ""
    fill(officer, task_data("khai-sinh", form_name or "tiep-nhan.schema.json"), tmp_path)
    officer.click("#complete")
    officer.wait_for_url(f"{base}/can-bo/")
    assert "Đã hoàn thành «Tiếp nhận hồ sơ»" in officer.inner_text("main")
    assert officer.locator("#inbox tr", has_text=code).count() == 0

    citizen.goto(f"{base}/ho-so/{code}")
    assert "Được tiếp nhận" in citizen.inner_text("#history")
    citizen.goto(f"{base}/tra-cuu?ma={code}")
    assert citizen.inner_text("#public-status").strip() == "Đang xử lý"


def test_citizen_pays_the_fee_online_and_downloads_the_e_receipt(live_national, live_token, browser: Browser,
                                                                 tmp_path: Path):
    import requests

    from tests.samples import requests_uploader, with_uploads

    base = live_national.url
    citizen_token = live_token("congdan")
    data = with_uploads(requests_uploader(base), citizen_token, start_data("thuong-tru"))
    code = requests.post(f"{base}/api/v1/procedures/1.004222/dossiers", json=data, headers=citizen_token,
                         timeout=10).json()["code"]

    citizen = browser.new_context(locale="vi-VN", accept_downloads=True).new_page()
    login(citizen, base, "congdan")
    citizen.goto(f"{base}/ho-so/{code}")
    for _ in range(50):  # the job creating the payment runs in the background
        if "Thanh toán" in citizen.inner_text("#payment"):
            break
        citizen.wait_for_timeout(100)
        citizen.reload()
    citizen.click("#pay-button")
    citizen.wait_for_url(re.compile(r".*/thanh-toan/trang/.*"))  # the platform's hosted page
    assert "10.000" in citizen.inner_text("body")
    citizen.click("button[value=thanh_toan]")
    citizen.wait_for_url(f"{base}/ho-so/{code}")
    assert "Thanh toán thành công" in citizen.inner_text("main")
    for _ in range(100):  # the e-receipt is fetched by a job
        if citizen.locator("#payments a").count():
            break
        citizen.wait_for_timeout(100)
        citizen.reload()
    with citizen.expect_download() as download:
        citizen.locator("#payments a").first.click()
    saved = tmp_path / "bien-lai.pdf"
    download.value.save_as(saved)
    assert saved.read_bytes().startswith(b"%PDF")

    officer = browser.new_context(locale="vi-VN").new_page()
    login(officer, base, "ca.tiepnhan")
    officer.goto(f"{base}/can-bo/")
    assert officer.locator("#inbox tr", has_text=code).count() == 1
