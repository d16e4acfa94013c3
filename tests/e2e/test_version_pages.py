"""The studio's version pages (compare two versions, move running dossiers) in real headless Chromium, on a phone
(375 px) and a desktop (1280 px): nothing wider than the window, no serious or critical axe-core violation.

A designer moves running dossiers in the browser: the dry run lists the one that cannot move, the move takes the
other; a dossier stopped on an engine error is repaired by moving it to the fixed version. The versions deployed for
them are retired afterwards, so that the other browser tests find version 1 current as before.
Set MOTCUA_SCREENSHOTS=<folder> to keep a full-page PNG of each page visited.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Page

from app.procedures.package import PackageFiles, load_directory
from tests.conftest import ROOT, bearer_for
from tests.e2e.conftest import login
from tests.e2e.test_pages import AXE, WIDTHS, axe_violations, overflow
from tests.integration.test_version_moves import BROKEN, without_signing
from tests.samples import requests_uploader, start_data, task_data, with_uploads

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("MOTCUA_SCREENSHOTS")
CODE = "1.001193"


@dataclass
class Scene:
    second: int  # khai sinh without signing, with a filing step (tests.integration.test_version_moves)
    third: int  # khai sinh as shipped again (no filing step): a dossier waiting on filing cannot move to it
    broken: int  # a gateway condition with a typo
    fixed: int
    at_reception: str  # on `second`, waiting for reception: movable
    at_filing: str  # on `second`, waiting on the filing step: blocked
    stuck: str  # on `broken`, stopped on the engine error after reception


def _shipped(comment: bytes) -> PackageFiles:
    """Khai sinh as shipped, its text changed by a comment only: a new version, the same behaviour."""
    pkg = load_directory(ROOT / "bpmn" / "khai-sinh")
    pkg.bpmn["process.bpmn"] = pkg.bpmn["process.bpmn"].replace(b"</bpmn:definitions>",
                                                                b"<!-- " + comment + b" -->\n</bpmn:definitions>")
    return pkg


@pytest.fixture(scope="module")
def scene(live_server: Any) -> Iterator[Scene]:

    base = live_server.url

    def token(username: str) -> dict[str, str]:
        return bearer_for(live_server, username)

    designer = token("thietke")

    def deploy(pkg: PackageFiles) -> int:
        files = [("files", (name, body)) for name, body in
                 [("procedure.json", pkg.manifest or b""), *pkg.bpmn.items(), *pkg.forms.items()]]
        answer = requests.post(f"{base}/api/v1/procedures", files=files, headers=designer, timeout=30)
        assert answer.status_code == 201, answer.text
        return int(answer.json()["version"])

    citizen = token("congdan")

    def submit() -> str:
        data = with_uploads(requests_uploader(base), citizen, start_data("khai-sinh"))
        answer = requests.post(f"{base}/api/v1/procedures/{CODE}/dossiers", json=data, headers=citizen, timeout=10)
        assert answer.status_code == 201, answer.text
        return str(answer.json()["code"])

    def step(code: str, officer: str) -> None:
        headers = token(officer)
        tasks = requests.get(f"{base}/api/v1/tasks", headers=headers, timeout=10).json()["items"]
        task = next(t for t in tasks if t["dossier_code"] == code)
        data = {"ghi_chu": "Đã lưu."} if task["form"] == "luu-ho-so.schema.json" else task_data("khai-sinh",
                                                                                                task["form"])
        if task["form"] == "tra-ket-qua.schema.json":
            data.pop("nguoi_nhan")  # the second version's result form has no such field
        answer = requests.post(f"{base}/api/v1/tasks/{task['id']}/complete", json=data, headers=headers, timeout=10)
        assert answer.status_code == 200, answer.text

    second = deploy(without_signing())
    at_reception, at_filing = submit(), submit()
    for officer in ("tiepnhan", "hotich", "traketqua"):
        step(at_filing, officer)
    third = deploy(_shipped(b"v3"))
    broken_pkg = load_directory(ROOT / "bpmn" / "khai-sinh")
    broken_pkg.bpmn["process.bpmn"] = broken_pkg.bpmn["process.bpmn"].replace(
        b'quyet_dinh_tiep_nhan == "tu_choi"', BROKEN.replace('"', "&quot;").encode())
    broken = deploy(broken_pkg)
    stuck = submit()
    step(stuck, "tiepnhan")  # the reception is saved, then the gateway's condition fails: an incident
    fixed = deploy(_shipped(b"sua dieu kien"))
    yield Scene(second, third, broken, fixed, at_reception, at_filing, stuck)
    for number in (second, third, broken, fixed):  # version 1 is current again for the other browser tests
        requests.post(f"{base}/api/v1/procedures/{CODE}/versions/{number}/retire", headers=token("thietke"),
                      timeout=10)


def _designer_page(browser: Browser, live_server: Any, width: int,
                   username: str = "thietke") -> tuple[BrowserContext, Page]:
    context = browser.new_context(viewport={"width": width, "height": 800}, locale="vi-VN", bypass_csp=True)
    page = context.new_page()
    login(page, live_server.url, username)
    return context, page


def test_the_dry_run_lists_the_blocked_dossier_and_the_move_takes_the_other(live_server: Any, browser: Browser,
                                                                            scene: Scene) -> None:
    context, page = _designer_page(browser, live_server, 1280)
    try:
        page.goto(f"{live_server.url}/thiet-ke/thu-tuc/{CODE}/chuyen-phien-ban?tu={scene.second}&den={scene.third}")
        blocked = page.locator("#moves tr.blocked")
        assert blocked.count() == 1 and scene.at_filing in blocked.inner_text()
        assert "Lưu hồ sơ" in blocked.inner_text() and "không còn trong phiên bản mới" in blocked.inner_text()
        movable = page.locator("#moves tr.movable")
        assert movable.count() == 1 and scene.at_reception in movable.inner_text()
        page.click("form.card button[type=submit]")
        page.wait_for_selector("#move-summary")
        assert "1/2" in page.locator("#move-summary").inner_text()
        assert "Đã chuyển" in page.locator("#moves tr.movable").inner_text()
        page.goto(f"{live_server.url}/thiet-ke/thu-tuc/{CODE}")
        running = page.locator("#running").inner_text()
        assert f"v{scene.third}" in running and f"v{scene.second}" in running
    finally:
        context.close()


def test_a_stuck_dossier_is_repaired_by_moving_it_to_the_fixed_version(live_server: Any, browser: Browser,
                                                                        scene: Scene) -> None:
    context, page = _designer_page(browser, live_server, 375)
    try:
        page.goto(f"{live_server.url}/thiet-ke/thu-tuc/{CODE}/chuyen-phien-ban?tu={scene.broken}&den={scene.fixed}")
        row = page.locator("#moves tr.movable")
        assert row.count() == 1 and scene.stuck in row.inner_text()
        assert "sự cố quy trình" in row.inner_text() and "sự cố được khắc phục" in row.inner_text()
        assert "Thẩm định, ghi sổ hộ tịch" in row.inner_text()
        page.click("form.card button[type=submit]")
        page.wait_for_selector("#move-summary")
        assert "1/1" in page.locator("#move-summary").inner_text()
    finally:
        context.close()
    context, page = _designer_page(browser, live_server, 375, "tiepnhan")
    try:
        page.goto(f"{live_server.url}/can-bo/su-co")
        assert scene.stuck not in page.locator("main").inner_text()  # no open incident any more
        page.goto(f"{live_server.url}/ho-so/{scene.stuck}")
        assert "Chuyển hồ sơ từ phiên bản" in page.locator("#history").inner_text()
    finally:
        context.close()


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", ["studio-compare", "studio-move"])
def test_version_page_fits_the_window_and_passes_the_accessibility_audit(live_server: Any, browser: Browser,
                                                                        scene: Scene, width: int,
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
            pair = f"tu=1&den={scene.second}" if name == "studio-compare" else f"tu={scene.second}&den={scene.third}"
            page.goto(f"{live_server.url}/thiet-ke/thu-tuc/{CODE}/{path}?{pair}&lang={lang}")
            assert page.locator("main#main").count() == 1, f"{name} ({lang}) did not render: {page.url}"
            if name == "studio-compare":
                assert page.locator("#diagram-diff").inner_text().count("Task_KyGiayKhaiSinh") == 1
            else:
                assert page.locator("#moves tr.blocked").count() == 1  # the dossier waiting on filing, at least
            if SHOTS:
                Path(SHOTS).mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(Path(SHOTS) / f"{name}-{width}-{lang}.png"), full_page=True)
            problems += [f"{lang} overflow: {line}" for line in overflow(page)]
            problems += [f"{lang} axe: {line}" for line in axe_violations(page)]
        assert not problems, f"{name} at {width}px:\n" + "\n".join(problems)
    finally:
        context.close()
