"""In real headless Chromium: the deadline warning in the officer's inbox, the apology given from the dossier's desk
page, and the head of department's list of overdue steps and dossiers, each at 375 and 1280 px (nothing wider than
the window, no serious or critical axe-core violation); MOTCUA_SCREENSHOTS=<folder> keeps a PNG of each."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from playwright.sync_api import Browser
from sqlalchemy import select, update

from app.dossiers import services, watch
from app.dossiers.deadlines import calendar_for
from app.extensions import db
from app.models import Dossier, HumanTask
from tests.conftest import user
from tests.e2e.test_desk_browser import _check, _complete, _page
from tests.e2e.test_pages import AXE
from tests.samples import requests_uploader, start_data, with_uploads

pytestmark = pytest.mark.browser
VN = ZoneInfo("Asia/Ho_Chi_Minh")


def _at_signing(base: str, live_token: Any) -> str:
    citizen = live_token("congdan")
    data = with_uploads(requests_uploader(base), citizen, start_data("khai-sinh"))
    created = requests.post(f"{base}/api/v1/procedures/1.001193/dossiers", json=data, headers=citizen, timeout=10)
    assert created.status_code == 201, created.text
    code = created.json()["code"]
    _complete(base, live_token("tiepnhan"), code)
    _complete(base, live_token("hotich"), code)
    return str(code)


def test_warning_apology_and_the_heads_overdue_list_in_the_browser(live_server: Any, live_token: Any,
                                                                    browser: Browser) -> None:
    if not AXE.exists():
        pytest.fail("node_modules/axe-core is missing: run `npm ci` (scripts/test.sh does)")
    base, app = live_server.url, live_server.app
    soon, late = _at_signing(base, live_token), _at_signing(base, live_token)
    now = datetime.now(VN)
    with app.app_context():
        dossiers = {d.code: d for d in db.session.scalars(select(Dossier).where(Dossier.code.in_((soon, late))))}
        tasks = {t.dossier_id: t for t in db.session.scalars(select(HumanTask).where(
            HumanTask.dossier_id.in_([d.id for d in dossiers.values()]), HumanTask.state == "ready"))}
        warned = tasks[dossiers[soon].id]
        services.claim_task(warned.id, user("chutich"))
        warned.due_at = now + timedelta(minutes=30)  # due soon: warned
        dossiers[soon].due_at = now - timedelta(hours=2)  # and the dossier past its appointment
        tasks[dossiers[late].id].due_at = now - timedelta(hours=1)  # a step overdue
        new_day = calendar_for(dossiers[soon].agency).add_working_days(now.date(), 3)
        ids = [d.id for d in dossiers.values()]
        warned_id = warned.id
        db.session.commit()
        watch.scan(datetime.now(VN), 500)
        db.session.commit()
        db.session.remove()
    problems: list[str] = []
    try:
        leader = _page(browser, base, "chutich")
        leader.goto(f"{base}/can-bo/")
        assert soon in leader.inner_text("#deadline-warnings")
        assert leader.locator(f"[data-warned='{warned_id}']").count() == 1
        problems += _check(leader, "inbox-warning")

        leader.goto(f"{base}/can-bo/ho-so/{soon}")
        assert leader.locator("#dossier-late").count() == 1
        problems += _check(leader, "dossier-apology-form")
        leader.fill("#apology-date", new_day.isoformat())
        leader.fill("#apology-reason", "Chờ văn bản xác minh của bệnh viện nơi sinh.")
        leader.click("#apology-submit")
        leader.wait_for_selector("#apologies")
        assert "Đã gửi phiếu xin lỗi" in leader.inner_text("main")
        assert new_day.strftime("%d/%m/%Y") in leader.inner_text("#due")
        problems += _check(leader, "dossier-apologised")

        head = _page(browser, base, "truongphong")
        head.goto(f"{base}/can-bo/phong")
        assert late in head.inner_text("#overdue-steps")
        assert soon in head.inner_text("#overdue-dossiers") and late not in head.inner_text("#overdue-dossiers")
        problems += _check(head, "head-overdue")
    finally:
        with app.app_context():  # the live database is shared: these dossiers owe nothing more
            db.session.execute(update(HumanTask).where(HumanTask.dossier_id.in_(ids)).values(state="cancelled"))
            db.session.execute(update(Dossier).where(Dossier.id.in_(ids)).values(status=10))
            db.session.commit()
            db.session.remove()
    assert problems == []
