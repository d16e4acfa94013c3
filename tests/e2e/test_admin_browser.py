"""In real headless Chromium under the pages' own Content-Security-Policy: the administration area (/quan-tri)
refuses an officer; an administrator creates an agency with its office hours, gives it a department and a day off,
publishes a procedure for it (the citizen's form then asks which agency), moves an officer to another department
while the officer holds a step (the step follows: still in the officer's inbox), and reads the change log. Each
page at 375 and 1280 px: nothing wider than the window, no serious or critical axe-core violation, nothing refused
by the policy; MOTCUA_SCREENSHOTS=<folder> keeps a PNG of each."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Page
from sqlalchemy import select

from app.extensions import db
from app.models import Agency, CalendarDay, Department, HumanTask, Procedure, User
from tests.e2e.checks import at_both_widths
from tests.e2e.conftest import login
from tests.e2e.test_diagram_browser import _strict_context
from tests.e2e.test_pages import AXE
from tests.samples import requests_uploader, start_data, with_uploads

pytestmark = pytest.mark.browser
NEW_CODE = "000.00.09.H26"
NEW_NAME = "UBND phường Thử Nghiệm, thành phố Hà Nội"


def _check(page: Page, name: str) -> list[str]:
    return at_both_widths(page, name, "admin")


def _page(browser: Browser, base: str, username: str) -> Page:
    page = _strict_context(browser).new_page()
    login(page, base, username)
    return page


def _claimed_reception(base: str, live_token: Any) -> str:
    citizen = live_token("congdan")
    data = with_uploads(requests_uploader(base), citizen, start_data("khai-sinh"))
    created = requests.post(f"{base}/api/v1/procedures/1.001193/dossiers", json=data, headers=citizen, timeout=10)
    assert created.status_code == 201, created.text
    code = str(created.json()["code"])
    officer = live_token("tiepnhan")
    task = next(t for t in requests.get(f"{base}/api/v1/tasks", headers=officer, timeout=10).json()["items"]
                if t["dossier_code"] == code)
    claimed = requests.post(f"{base}/api/v1/tasks/{task['id']}/claim", headers=officer, timeout=10)
    assert claimed.status_code == 200, claimed.text
    return code


def _restore(app: Any) -> None:
    """The live database is shared by the session's browser tests: leave it as the seed made it."""
    with app.app_context():
        officer = db.session.scalar(select(User).where(User.username == "tiepnhan"))
        officer.department_id = db.session.scalar(select(Department.id).where(Department.name == "Bộ phận một cửa"))
        new = db.session.scalar(select(Agency).where(Agency.code == NEW_CODE))
        if new is not None:
            procedure = db.session.scalar(select(Procedure).where(Procedure.code == "1.001193"))
            if new in procedure.published_to:
                procedure.published_to.remove(new)
        db.session.commit()
        db.session.remove()


def test_the_administration_area_in_the_browser(live_server: Any, live_token: Any, browser: Browser) -> None:
    if not AXE.exists():
        pytest.fail("node_modules/axe-core is missing: run `npm ci` (scripts/test.sh does)")
    base, app = live_server.url, live_server.app
    code = _claimed_reception(base, live_token)
    problems: list[str] = []
    try:
        officer = _page(browser, base, "hotich")
        refused = officer.goto(f"{base}/quan-tri/")
        assert refused is not None and refused.status == 403
        problems += _check(officer, "refused")

        admin = _page(browser, base, "quantri")
        admin.goto(f"{base}/quan-tri/")
        assert admin.locator(f"#agencies tr[data-code='{'000.00.01.H26'}']").count() == 1
        problems += _check(admin, "index")

        admin.click("#new-agency")
        admin.fill("#f-code", NEW_CODE)
        admin.fill("#f-name", NEW_NAME)
        admin.fill("#f-office_hours", "17:00-07:00")
        admin.click("#agency-save")
        assert admin.locator("#f-office_hours[aria-invalid=true]").count() == 1
        problems += _check(admin, "agency-errors")
        admin.fill("#f-office_hours", "07:30-11:30, 13:00-16:30")
        admin.fill("#f-address", "Số 1 phố Thử Nghiệm, phường Thử Nghiệm, thành phố Hà Nội")
        admin.click("#agency-save")
        admin.wait_for_selector("#department-form")
        admin.fill("#f-department", "Bộ phận một cửa")
        admin.click("#department-form button[type=submit]")
        admin.wait_for_selector("#departments")
        admin.fill("#f-day", "2026-12-31")
        admin.fill("#f-note", "Nghỉ bù")
        admin.click("#calendar-save")
        admin.wait_for_selector("#calendar tr[data-day='2026-12-31']")
        problems += _check(admin, "agency")

        admin.goto(f"{base}/quan-tri/thu-tuc/1.001193")
        admin.fill("#f-agency", NEW_CODE)
        admin.click("#publish-submit")
        admin.wait_for_selector(f"#offered li[data-code='{NEW_CODE}']")
        problems += _check(admin, "procedure")

        citizen = _page(browser, base, "congdan")
        citizen.goto(f"{base}/thu-tuc/1.001193")
        options = citizen.locator("#f-co_quan option").all_inner_texts()
        assert NEW_NAME in options and "UBND phường Ba Đình, thành phố Hà Nội" in options
        problems += _check(citizen, "citizen-chooses-agency")

        # The officer holds the reception step; moved to another department, it follows them.
        desk = _page(browser, base, "tiepnhan")
        desk.goto(f"{base}/can-bo/?can_bo=me")
        assert code in desk.inner_text("main")
        with app.app_context():
            person = db.session.scalar(select(User).where(User.username == "tiepnhan"))
            person_id = person.id
            db.session.remove()
        admin.goto(f"{base}/quan-tri/can-bo/{person_id}")
        assert admin.inner_text("#officer-department") == "Bộ phận một cửa"
        assert admin.inner_text("#officer-held") == "1"
        admin.select_option("#f-move", label="Phòng Tư pháp - Hộ tịch")
        admin.click("#move-submit")
        admin.wait_for_selector(".flash")
        assert admin.inner_text("#officer-department") == "Phòng Tư pháp - Hộ tịch"
        assert admin.inner_text("#officer-held") == "1"
        problems += _check(admin, "officer")
        desk.goto(f"{base}/can-bo/?can_bo=me")
        assert code in desk.inner_text("main")
        with app.app_context():
            task = db.session.scalar(select(HumanTask).where(HumanTask.dossier_code == code))
            assert task.claimed_by_id == person_id and task.state == "claimed"
            new = db.session.scalar(select(Agency).where(Agency.code == NEW_CODE))
            assert new.office_hours == [["07:30", "11:30"], ["13:00", "16:30"]]
            assert db.session.scalar(select(CalendarDay.note).where(CalendarDay.agency_id == new.id)) == "Nghỉ bù"
            db.session.remove()

        admin.goto(f"{base}/quan-tri/nguoi-dung")
        assert admin.locator("#people tr[data-user='tiepnhan']").count() == 1
        problems += _check(admin, "people")
        admin.goto(f"{base}/quan-tri/lich-chung")
        problems += _check(admin, "national-calendar")

        # Another system gets its client ID and secret once, then loses them.
        admin.goto(f"{base}/quan-tri/he-thong-ket-noi")
        admin.fill("#f-name", "Hệ thống một cửa điện tử tỉnh")
        admin.uncheck("input[name=scopes][value='api:read']")
        admin.click("#issue-submit")
        assert admin.locator("#f-scopes-error").count() == 1
        assert admin.input_value("#f-name") == "Hệ thống một cửa điện tử tỉnh"  # kept
        problems += _check(admin, "api-clients-errors")
        admin.fill("#f-agency", "000.00.01.H26")
        admin.check("input[name=scopes][value='api:write']")
        admin.check("input[name=roles][value='tiep_nhan']")
        admin.click("#issue-submit")
        client_id = admin.inner_text("#issued-id").strip()
        secret = admin.inner_text("#issued-secret").strip()
        problems += _check(admin, "api-client-issued")
        answer = requests.post(f"{base}/oauth/token", data={"grant_type": "client_credentials"},
                               auth=(client_id, secret), timeout=10)
        assert answer.status_code == 200 and answer.json()["scope"] == "api:write"
        admin.click(f"#clients tr[data-client='{client_id}'] button")
        admin.wait_for_selector(f"#clients tr[data-client='{client_id}'][data-revoked='1']")
        assert secret not in admin.content()
        problems += _check(admin, "api-clients")
        assert requests.post(f"{base}/oauth/token", data={"grant_type": "client_credentials"},
                             auth=(client_id, secret), timeout=10).status_code == 401

        admin.goto(f"{base}/quan-tri/nhat-ky")
        actions = [(r.get_attribute("data-entity"), r.get_attribute("data-action"))
                   for r in admin.locator("#changes tbody tr").all()]
        assert actions[:2] == [("api_client", "revoked"), ("api_client", "created")]
        assert actions[2:7] == [("officer", "moved"), ("procedure", "published"), ("calendar_day", "created"),
                               ("department", "created"), ("agency", "created")]
        problems += _check(admin, "changes")
    finally:
        _restore(app)
    assert not problems, "\n".join(problems)
