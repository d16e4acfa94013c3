"""The leaders' dashboard in real headless Chromium under the pages' own Content-Security-Policy: an administrator
opens the province view, an agency and one procedure's late dossiers; a head of department lands on their own
agency. On each page, at 375 and 1280 px: both charts are drawn (a screenshot of each canvas has coloured pixels,
not only its background), nothing is wider than the window, no serious or critical axe-core violation, nothing
refused by the policy; and every figure of its tables equals app.dossiers.indicators' SQL for the same rows.
MOTCUA_SCREENSHOTS=<folder> keeps a full-page PNG of each."""

from __future__ import annotations

import io
import os
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from playwright.sync_api import Browser, Page
from sqlalchemy import delete, select

from app.dossiers import indicators
from app.extensions import db
from app.models import Agency, Dossier, IndicatorDay, Procedure, User
from tests.e2e.conftest import login
from tests.e2e.test_diagram_browser import _axe, _problems, _strict_context
from tests.e2e.test_pages import AXE, overflow

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("MOTCUA_SCREENSHOTS")
VN = ZoneInfo("Asia/Ho_Chi_Minh")
FIRST, LAST = date(2025, 11, 1), date(2025, 11, 30)  # a month no other browser test puts a dossier in
PERIOD = f"tu={FIRST.isoformat()}&den={LAST.isoformat()}"
MARK = "-251199-"


def at(month: int, day: int, hour: int = 9) -> datetime:
    return datetime(2025, month, day, hour, tzinfo=VN)


def _seed(app: Any) -> dict[str, int]:
    """Dossiers of November 2025 at two agencies (the commune's civil status, the commune police): each kind of
    counter has some; the closed ones are folded into the aggregate, the open ones counted live."""
    with app.app_context():
        agencies = {}
        for n, (code, agency_code, channel, received, due, status, finished, verdict, withdrawn) in enumerate([
            ("1.001193", "000.00.01.H26", 2, at(11, 3), at(11, 5, 17), 10, at(11, 4), "truoc_han", None),
            ("1.001193", "000.00.01.H26", 1, at(11, 10), at(11, 12, 17), 10, at(11, 12, 16), "dung_han", None),
            ("1.001193", "000.00.01.H26", 2, at(11, 10), at(11, 11, 17), 9, at(11, 12), "qua_han", None),
            ("1.001193", "000.00.01.H26", 1, at(10, 28), at(11, 2, 17), 4, None, None, None),
            ("1.001193", "000.00.01.H26", 2, at(11, 20), at(12, 3, 17), 4, None, None, None),
            ("1.001193", "000.00.01.H26", 2, at(11, 5), at(11, 7, 17), 3, at(11, 5, 10), None, None),
            ("1.001193", "000.00.01.H26", 2, at(11, 6), at(11, 9, 17), 7, None, None, at(11, 8)),
            ("1.004222", "000.00.02.H26", 2, at(11, 4), at(11, 13, 17), 10, at(11, 18), "qua_han", None),
            ("1.004222", "000.00.02.H26", 1, at(11, 6), at(11, 17, 17), 10, at(11, 14), "truoc_han", None),
            ("1.004222", "000.00.02.H26", 2, at(11, 24), at(11, 27, 17), 5, None, None, None),
        ], start=1):
            procedure = db.session.scalar(select(Procedure).where(Procedure.code == code))
            agency = db.session.scalar(select(Agency).where(Agency.code == agency_code))
            agencies[agency_code] = agency.id
            db.session.add(Dossier(
                code=f"{agency_code}{MARK}{9000 + n}", procedure_version_id=procedure.current_version_id,
                agency_id=agency.id, status=status, channel=channel, applicant_name="Nguyễn Văn An", summary="",
                form_data={}, fee_amount=0, submitted_at=received, received_at=received, due_at=due,
                finished_at=finished, finished_verdict=verdict, withdrawn_at=withdrawn,
                components_held=3, components_digitized=3 if channel == 2 else 1))
        db.session.commit()
        indicators.refresh()
        db.session.commit()
        db.session.remove()
        return agencies


def _clean(app: Any) -> None:
    with app.app_context():
        db.session.execute(delete(Dossier).where(Dossier.code.like(f"%{MARK}%")))
        db.session.execute(delete(IndicatorDay).where(IndicatorDay.day >= date(2025, 10, 1),
                                                      IndicatorDay.day < date(2026, 1, 1)))
        db.session.commit()
        db.session.remove()


def _sql(app: Any, agency_ids: list[int] | None = None) -> list[indicators.Counters]:
    with app.app_context():
        start, end = indicators.bounds(FIRST, LAST)
        rows = indicators.progress(start, end, agency_ids)
        db.session.remove()
        return rows


def _shown(value: Any) -> str:
    return "" if value is None else f"{value * 100:.1f}%" if isinstance(value, float) else str(value)


def _table(page: Page, table: str) -> dict[str, dict[str, str]]:
    """The figures of each row of a table on the page, by row key and counter."""
    return dict(page.evaluate("""(table) => Object.fromEntries(
      [...document.querySelectorAll(`#${table} tbody tr`)].map(tr => [tr.dataset.row,
        Object.fromEntries([...tr.querySelectorAll('td[data-key]')].map(td => [td.dataset.key, td.textContent]))]))""",
                              table))


def _drawn(page: Page, canvas: str) -> int:
    """How many pixels of a screenshot of the canvas are coloured (neither white nor grey: the bars)."""
    image = Image.open(io.BytesIO(page.locator(f"#{canvas}").screenshot())).convert("RGB")
    raw = image.tobytes()
    return sum(1 for i in range(0, len(raw), 3) if max(raw[i:i + 3]) - min(raw[i:i + 3]) > 40)


def _check(page: Page, name: str, charts: bool = True) -> list[str]:
    problems: list[str] = []
    for width in (375, 1280):
        page.set_viewport_size({"width": width, "height": 800})
        page.wait_for_timeout(200)  # Chart.js redraws on resize (a ResizeObserver)
        if SHOTS:
            Path(SHOTS).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(SHOTS) / f"dashboard-{name}-{width}.png"), full_page=True)
        if charts:
            for canvas in ("chart-results", "chart-received"):
                if _drawn(page, canvas) < 200:
                    problems.append(f"{name} {width}: {canvas} is blank")
        problems += [f"{name} {width} overflow: {line}" for line in overflow(page)]
        problems += [f"{name} {width} axe: {line}" for line in _axe(page)]
    problems += [f"{name}: {line}" for line in _problems(page)]
    page.set_viewport_size({"width": 1280, "height": 800})
    return problems


def test_the_dashboard_in_the_browser(live_server: Any, browser: Browser) -> None:
    if not AXE.exists():
        pytest.fail("node_modules/axe-core is missing: run `npm ci` (scripts/test.sh does)")
    base, app = live_server.url, live_server.app
    _clean(app)
    agencies = _seed(app)
    commune, police = agencies["000.00.01.H26"], agencies["000.00.02.H26"]
    problems: list[str] = []
    try:
        admin = _strict_context(browser).new_page()
        login(admin, base, "quantri")
        admin.goto(f"{base}/can-bo/chi-so?{PERIOD}")
        admin.wait_for_function("() => window.Chart && Object.keys(window.Chart.instances).length === 2")
        assert "Số liệu tính đến" in admin.inner_text("#as-of")
        shown = _table(admin, "dashboard-table")
        for agency_id in (commune, police):
            expected = indicators.total(_sql(app, [agency_id])).as_dict()
            assert shown[f"co-quan-{agency_id}"] == {k: _shown(expected[k]) for k in shown[f"co-quan-{agency_id}"]}
        assert shown[f"co-quan-{commune}"]["finished_late"] == "1" and shown[f"co-quan-{police}"]["paused"] == "1"
        problems += _check(admin, "province")

        admin.click(f"#dashboard-table tr[data-row='co-quan-{commune}'] th a")
        admin.wait_for_function("() => window.Chart && Object.keys(window.Chart.instances).length === 2")
        shown = _table(admin, "dashboard-table")
        (khai_sinh,) = [r.as_dict() for r in _sql(app, [commune]) if r.procedure_code == "1.001193"]
        assert shown["thu-tuc-1.001193"] == {k: _shown(khai_sinh[k]) for k in shown["thu-tuc-1.001193"]}
        assert shown["thu-tuc-1.001193"]["digitized"] == "5"  # the online ones received in November
        fields = _table(admin, "fields-table")
        assert list(fields.values()) == [shown["thu-tuc-1.001193"]]  # its only procedure, in the field «Hộ tịch»
        problems += _check(admin, "agency")

        admin.click("#dashboard-table tr[data-row='thu-tuc-1.001193'] th a")
        admin.wait_for_selector("#late-dossiers")
        late = set(admin.locator("#late-dossiers tbody tr").evaluate_all("rows => rows.map(r => r.dataset.dossier)"))
        assert {c[-4:] for c in late} == {"9003", "9004"}  # handled late; open past its date at the end
        problems += _check(admin, "late", charts=False)

        head = _strict_context(browser).new_page()
        login(head, base, "truongphong")
        head.goto(f"{base}/can-bo/chi-so?{PERIOD}")
        assert head.url.startswith(f"{base}/can-bo/chi-so/co-quan/{commune}")
        head.wait_for_function("() => window.Chart && Object.keys(window.Chart.instances).length === 2")
        problems += _check(head, "head-of-department")
        refused = head.goto(f"{base}/can-bo/chi-so/co-quan/{police}?{PERIOD}")
        assert refused is not None and refused.status == 403
    finally:
        _clean(app)
    with app.app_context():
        assert db.session.scalar(select(User.id).where(User.username == "truongphong"))
        db.session.remove()
    assert not problems, "\n".join(problems)
