"""In real headless Chromium under the pages' own Content-Security-Policy, the way in and the tenants end to end:
with passwords for the administrator only, a citizen logs in through the demo identity provider (VNeID) and
submits a khai sinh dossier; an officer of the dossier's agency, also through VNeID, sees its step in the inbox and
takes it, while an officer of another agency sees nothing of it, not even by the step's address; the administrator
(the break-glass password) moves the first officer to another department, and the step the officer holds follows
them. Each officer page at 375 and 1280 px: nothing wider than the window, no serious or critical axe-core
violation, nothing refused by the policy; MOTCUA_SCREENSHOTS=<folder> keeps a PNG of each."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page
from sqlalchemy import select

from app.extensions import db
from app.models import Department, HumanTask, User
from tests.e2e.conftest import login
from tests.e2e.test_admin_browser import _check
from tests.e2e.test_browser import fill
from tests.e2e.test_diagram_browser import _strict_context
from tests.e2e.test_pages import AXE
from tests.e2e.test_sso_browser import live_vneid  # noqa: F401 - the fixture
from tests.samples import start_data

pytestmark = pytest.mark.browser
POLICE_DESK = "ca.tiepnhan"  # the commune police's reception officer: another agency


@pytest.fixture()
def passwords_for_the_administrator_only(live_vneid: Any) -> Iterator[Any]:  # noqa: F811 - the fixture above
    app = live_vneid.app
    saved = app.config["PASSWORD_LOGIN_ADMIN_ONLY"]
    app.config["PASSWORD_LOGIN_ADMIN_ONLY"] = True
    yield live_vneid
    app.config["PASSWORD_LOGIN_ADMIN_ONLY"] = saved
    with app.app_context():  # the live database is shared by the session's browser tests: as the seed left it
        officer = db.session.scalar(select(User).where(User.username == "tiepnhan"))
        officer.department_id = db.session.scalar(select(Department.id).where(Department.name == "Bộ phận một cửa"))
        db.session.commit()
        db.session.remove()


def _through_vneid(browser: Browser, base: str, sandbox: str, who: str) -> Page:
    page = _strict_context(browser).new_page()
    page.goto(f"{base}/dang-nhap")
    page.click("#sso-login")
    page.wait_for_url(re.compile(re.escape(f"{sandbox}/vneid/authorize")))
    page.check(f"input[name=nguoi][value='{who}']")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(re.escape(base)))
    return page


def test_vneid_logins_reach_the_right_agency_and_a_moved_officer_keeps_the_step(
        passwords_for_the_administrator_only: Any, sandbox: str, browser: Browser, tmp_path: Path) -> None:
    if not AXE.exists():
        pytest.fail("node_modules/axe-core is missing: run `npm ci` (scripts/test.sh does)")
    live = passwords_for_the_administrator_only
    base, app = live.url, live.app
    problems: list[str] = []

    # A password does not let an officer in any more: VNeID does.
    refused = _strict_context(browser).new_page()
    login(refused, base, "tiepnhan")
    assert "/dang-nhap" in refused.url and refused.locator("#login-error").count() == 1

    citizen = _through_vneid(browser, base, sandbox, "congdan")
    citizen.goto(f"{base}/thu-tuc/1.001193")
    fill(citizen, start_data("khai-sinh", files_as="FILE:giay-chung-sinh.pdf"), tmp_path)
    citizen.click("button[name=__submit__]")
    citizen.wait_for_selector("#receipt")
    code = citizen.inner_text("#dossier-code").strip()
    assert code.startswith("000.00.01.H26-")
    with app.app_context():
        task_id = db.session.scalar(select(HumanTask.id).where(HumanTask.dossier_code == code))
        db.session.remove()

    desk = _through_vneid(browser, base, sandbox, "tiepnhan")
    desk.goto(f"{base}/can-bo/")
    assert desk.locator("#inbox tr", has_text=code).count() == 1
    problems += _check(desk, "identity-inbox")
    desk.locator("#inbox tr", has_text=code).locator("a").first.click()
    desk.click("#claim")
    desk.wait_for_selector("#task-form")

    police = _through_vneid(browser, base, sandbox, POLICE_DESK)
    police.goto(f"{base}/can-bo/")
    assert code not in police.inner_text("main")
    problems += _check(police, "identity-other-agency")
    for path in (f"/cong-viec/{task_id}", f"/can-bo/ho-so/{code}", f"/ho-so/{code}"):
        answer = police.goto(f"{base}{path}")
        assert answer is not None and answer.status in (403, 404), path
        assert code not in police.inner_text("main") or answer.status == 404, path

    admin = _strict_context(browser).new_page()
    login(admin, base, "quantri")
    with app.app_context():
        officer_id = db.session.scalar(select(User.id).where(User.username == "tiepnhan"))
        db.session.remove()
    admin.goto(f"{base}/quan-tri/can-bo/{officer_id}")
    assert admin.inner_text("#officer-department") == "Bộ phận một cửa"
    held = int(admin.inner_text("#officer-held"))  # this step, and any an earlier test left them holding
    assert held >= 1
    admin.select_option("#f-move", label="Phòng Tư pháp - Hộ tịch")
    admin.click("#move-submit")
    admin.wait_for_selector(".flash")
    assert admin.inner_text("#officer-department") == "Phòng Tư pháp - Hộ tịch"
    assert int(admin.inner_text("#officer-held")) == held

    desk.goto(f"{base}/can-bo/?can_bo=me")
    assert desk.locator("#inbox tr", has_text=code).count() == 1  # the step followed the officer
    problems += _check(desk, "identity-moved")
    with app.app_context():
        task = db.session.get(HumanTask, task_id)
        assert task.state == "claimed" and task.claimed_by_id == officer_id
        db.session.remove()
    assert not problems, "\n".join(problems)
