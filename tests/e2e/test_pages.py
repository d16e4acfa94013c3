"""Every kind of page, in real headless Chromium, on a phone (375 px) and a desktop (1280 px), in Vietnamese and
English: nothing is wider than the window, and axe-core finds no serious or critical accessibility violation.

Set MOTCUA_SCREENSHOTS=<folder> to keep a full-page PNG of each page visited.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Page

from tests.conftest import ROOT, bearer_for
from tests.e2e.conftest import login
from tests.samples import MOTHER_ID, requests_uploader, start_data, with_uploads

pytestmark = pytest.mark.browser
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
WIDTHS = (375, 1280)
SHOTS = os.environ.get("MOTCUA_SCREENSHOTS")


@dataclass
class Site:
    base: str
    code: str  # a khai sinh dossier of the demo citizen, waiting for reception
    task_id: int  # its reception task
    contexts: dict[tuple[str | None, int], BrowserContext] = field(default_factory=dict)


@pytest.fixture(scope="module")
def site(live_server: Any, browser: Browser) -> Iterator[Site]:
    base = live_server.url

    def live_token(username: str) -> dict[str, str]:
        return bearer_for(live_server, username)

    def live_user_id(username: str) -> int:
        from tests.conftest import user

        with live_server.app.app_context():
            return int(user(username).id)

    citizen = live_token("congdan")
    data = with_uploads(requests_uploader(base), citizen, start_data("khai-sinh"))
    # A long free-text value and a long unbroken one, as people type them.
    data["tre"]["noi_sinh"] = "Bệnh viện Phụ sản Trung ương, số 43 Tràng Thi, phường Hoàn Kiếm, thành phố Hà Nội"
    data["nguoi_yeu_cau"]["email"] = "nguyen.van.an.rat.dai.de.thu.giao.dien.dien.thoai@example.vn"
    response = requests.post(f"{base}/api/v1/procedures/1.001193/dossiers", json=data, headers=citizen, timeout=10)
    assert response.status_code == 201, response.text
    code = response.json()["code"]
    # A second one whose population look-up cannot be made (no population service here): the incidents page has
    # a row to show.
    data = with_uploads(requests_uploader(base), citizen, start_data("khai-sinh"))
    data["me"]["so_dinh_danh"] = MOTHER_ID
    response = requests.post(f"{base}/api/v1/procedures/1.001193/dossiers", json=data, headers=citizen, timeout=10)
    assert response.status_code == 201, response.text
    officer = live_token("tiepnhan")
    tasks = requests.get(f"{base}/api/v1/tasks", headers=officer, timeout=10).json()["items"]
    task_id = next(t["id"] for t in tasks if t["dossier_code"] == code)
    # An officer on leave from today, for the department's page and the leave calendar.
    today = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date()
    response = requests.post(f"{base}/api/v1/leaves", headers=live_token("truongphong"), timeout=10, json={
        "can_bo": live_user_id("chutich"), "tu_ngay": today.isoformat(),
        "den_ngay": (today + timedelta(days=2)).isoformat(), "ly_do": "Nghỉ phép năm"})
    assert response.status_code == 201, response.text
    result = Site(base, code, task_id)
    yield result
    for context in result.contexts.values():
        context.close()


def page_for(site: Site, browser: Browser, user: str | None, width: int) -> Page:
    """One logged-in browser context per (user, width), reused by the pages of that user."""
    key = (user, width)
    if key not in site.contexts:
        # bypass_csp: the audit injects axe-core as an inline script, which the pages' policy rightly refuses.
        context = browser.new_context(viewport={"width": width, "height": 800}, locale="vi-VN", bypass_csp=True)
        site.contexts[key] = context
        if user:
            login(context.new_page(), site.base, user)
    context = site.contexts[key]
    return context.pages[0] if context.pages else context.new_page()


# (name, user, path); "{code}" and "{task}" are filled from the site.
PAGES: list[tuple[str, str | None, str]] = [
    ("catalogue", None, "/"),
    ("login", None, "/dang-nhap"),
    ("password", "congdan", "/doi-mat-khau"),
    ("public-lookup", None, "/tra-cuu?ma={code}"),
    ("error", None, "/khong-co-trang-nay"),
    ("procedure-form", "congdan", "/thu-tuc/1.001193"),
    ("procedure-form-errors", "congdan", "/thu-tuc/1.001193#submit-empty"),
    ("receipt", "congdan", "/ho-so/{code}/bien-nhan"),
    ("dossier", "congdan", "/ho-so/{code}"),
    ("my-dossiers", "congdan", "/ho-so-cua-toi"),
    ("my-documents", "congdan", "/kho-giay-to"),
    ("officer-inbox", "tiepnhan", "/can-bo/"),
    ("task", "tiepnhan", "/cong-viec/{task}"),
    ("officer-dossier", "tiepnhan", "/ho-so/{code}"),
    ("incidents", "tiepnhan", "/can-bo/su-co"),
    ("dossier-desk", "tiepnhan", "/can-bo/ho-so/{code}"),
    ("department", "truongphong", "/can-bo/phong"),
    ("leave-calendar", "truongphong", "/can-bo/nghi-phep"),
    ("leave-calendar-errors", "truongphong", "/can-bo/nghi-phep#submit-backwards"),
    ("walk-in", "tiepnhan", "/can-bo/tiep-nhan-truc-tiep?thu_tuc=1.001193"),
    ("studio-index", "thietke", "/thiet-ke/"),
    ("studio-procedure", "thietke", "/thiet-ke/thu-tuc/1.001193"),
    ("studio-upload", "thietke", "/thiet-ke/tai-len"),
    ("studio-version", "thietke", "/thiet-ke/thu-tuc/1.001193/phien-ban/1"),
    ("studio-upload-report", "thietke", "/thiet-ke/tai-len#check-broken"),
    ("studio-upload-convert", "thietke", "/thiet-ke/tai-len#check-camunda"),
    ("studio-upload-converted", "thietke", "/thiet-ke/tai-len#convert-camunda"),
    ("studio-guide", "thietke", "/thiet-ke/huong-dan"),
    ("studio-drafts", "thietke", "/thiet-ke/ban-nhap/"),
    ("studio-draft", "thietke", "/thiet-ke/ban-nhap/#new-draft"),
]


def visit(page: Page, site: Site, path: str, lang: str) -> None:
    path, _, action = path.partition("#")
    url = site.base + path.format(code=site.code, task=site.task_id)
    url += ("&" if "?" in url else "?") + f"lang={lang}"
    page.goto(url)
    if action == "submit-empty":  # the server answers with every field's error and the summary
        page.click("button[name=__submit__]")
        page.wait_for_selector("#form-errors")
    elif action == "submit-backwards":  # a leave whose last day is before its first: refused on the form
        page.fill("#leave-from", "2030-01-10")
        page.fill("#leave-to", "2030-01-09")
        page.click("#leave-submit")
        page.wait_for_selector("#leave-error")
    elif action == "check-broken":  # a package with problems: the checker's report, file names and codes
        page.set_input_files("#files", files=[
            {"name": "process.bpmn", "mimeType": "application/xml", "buffer": b"<definitions>not bpmn"},
            {"name": "procedure.json", "mimeType": "application/json", "buffer": b'{"code": "x"}'},
        ])
        page.click("button[value=check]")
        page.wait_for_selector("#report")
    elif action in ("check-camunda", "convert-camunda"):  # another modeller's export: the offered conversion
        from tests.integration.test_studio_convert import camunda_files

        page.set_input_files("#files", files=[{"name": name, "mimeType": "application/octet-stream", "buffer": data}
                                              for name, data in camunda_files().items()])
        page.click("button[value=check]")
        page.wait_for_selector("#conversion")
        if action == "convert-camunda":  # applied: the list of changes, the converted package's check, its zip
            page.click("#conversion button[value=apply]")
            page.wait_for_selector("#converted")
    elif action == "new-draft":  # the modeller on a new procedure's draft, loaded and checked
        page.fill("#code", "9.900199")
        page.fill("#name", "Thủ tục thử giao diện")
        page.click("#new-draft button[type=submit]")
        page.wait_for_selector("#modeller[data-state=ready][data-pending='0']", timeout=30000)


def overflow(page: Page) -> list[str]:
    """The document's width beyond the window's, and the widest elements that stick out."""
    return page.evaluate("""() => {
      const limit = window.innerWidth;
      if (document.documentElement.scrollWidth <= limit) return [];
      const out = [`document ${document.documentElement.scrollWidth}px > window ${limit}px`];
      for (const e of document.querySelectorAll('body *')) {
        const r = e.getBoundingClientRect();
        if (r.right > limit + 1 && out.length < 8) {
          out.push(`${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''}${e.className ? '.' + e.className : ''}`
                   + ` right=${Math.round(r.right)}`);
        }
      }
      return out;
    }""")


def axe_violations(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page, one line per rule with where it was found."""
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("""async () => {
      const result = await axe.run(document, {resultTypes: ['violations']});
      return result.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
        .map(v => `${v.impact} ${v.id}: ${v.help} -- ` + v.nodes.slice(0, 5).map(n => n.target.join(' ')).join(' | '));
    }""")
    return list(found)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize(("name", "user", "path"), PAGES, ids=[p[0] for p in PAGES])
def test_page_fits_the_window_and_passes_the_accessibility_audit(site: Site, browser: Browser, width: int, name: str,
                                                                 user: str | None, path: str) -> None:
    if not AXE.exists():
        pytest.fail("node_modules/axe-core is missing: run `npm ci` (scripts/test.sh does)")
    page = page_for(site, browser, user, width)
    problems: list[str] = []
    for lang in ("vi", "en"):
        visit(page, site, path, lang)
        assert page.locator("main#main").count() == 1, f"{name} ({lang}) did not render: {page.url}"
        if SHOTS:
            Path(SHOTS).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(SHOTS) / f"{name}-{width}-{lang}.png"), full_page=True)
        problems += [f"{lang} overflow: {line}" for line in overflow(page)]
        problems += [f"{lang} axe: {line}" for line in axe_violations(page)]
    assert not problems, f"{name} at {width}px:\n" + "\n".join(problems)


def test_the_audit_reports_what_it_should(browser: Browser) -> None:
    """The audit itself: a page with an unlabelled field, an image without text and grey-on-white text fails."""
    page = browser.new_page()
    page.set_content('<!doctype html><html><head><title>t</title></head><body><main><h1>t</h1>'
                     '<img src="x.png"><input id="x"><p style="color:#bbb">mờ</p></main></body></html>')
    found = " ".join(axe_violations(page))
    page.close()
    assert "image-alt" in found and "label" in found and "color-contrast" in found
    assert "html-has-lang" in found


# Letters only Vietnamese writes: what is left of an English page once its data is set aside must have none.
VIETNAMESE_ONLY = re.compile(r"[ăâđêôơưàáạảãầấậẩẫằắặẳẵèéẹẻẽềếệểễìíịỉĩòóọỏõồốộổỗờớợởỡùúụủũừứựửữỳýỵỷỹ]", re.IGNORECASE)
# The interface around the data on these pages, with what each shows from data (names, titles, codes) set aside.
ENGLISH_PAGES = [p for p in PAGES if p[0] in {
    "catalogue", "login", "password", "public-lookup", "error", "procedure-form-errors", "receipt", "my-dossiers",
    "officer-inbox", "task", "officer-dossier", "dossier", "incidents", "studio-index", "studio-procedure",
    "studio-version", "studio-upload", "studio-upload-report", "studio-drafts", "studio-draft"}]


def data_strings(app: Any) -> list[str]:
    """Everything the pages may show that people or procedure packages wrote, in Vietnamese: names, titles,
    manifest and form texts. Longest first, so a longer one is set aside before a part of it."""
    from sqlalchemy import select

    from app.dossiers.services import mask_name
    from app.extensions import db
    from app.models import Agency, ProcedureDraft, User
    from app.models.dossier import AuditEvent, Dossier, HumanTask, Notification
    from app.models.integration import ServiceCall
    from app.models.procedure import ProcedureVersion

    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, str):
            found.add(node)
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    with app.app_context():
        for version in db.session.scalars(select(ProcedureVersion)):
            walk(version.manifest)
            walk(version.forms)
            walk(version.tasks)  # the steps' titles, as the version page lists them by form
            for xml in version.bpmn_files.values():  # names, lanes and the documentation of the diagram's steps
                found.update(html.unescape(t.strip()) for t in re.findall(r">([^<>]+)</", xml) if t.strip())
        for draft in db.session.scalars(select(ProcedureDraft)):  # drafts: the name and the diagram's texts
            found.add(draft.name)
            for name, text in draft.files.items():
                if name.endswith(".bpmn"):
                    found.update(html.unescape(t.strip()) for t in re.findall(r">([^<>]+)</", text) if t.strip())
        found.update(a.name for a in db.session.scalars(select(Agency)))
        found.update(u.full_name for u in db.session.scalars(select(User)))
        for d in db.session.scalars(select(Dossier)):
            found.update(s for s in (d.summary, d.applicant_name, d.applicant_address) if s)
            walk(d.form_data)
            found.add(mask_name(d.applicant_name or ""))
        for task in db.session.scalars(select(HumanTask)):
            found.update(s for s in (task.title, task.lane) if s)
            walk(task.data)
        for event in db.session.scalars(select(AuditEvent)):  # the history as it was recorded
            found.update(s for s in (event.task_title, event.actor_name, event.outcome) if s)
            if event.note_params is None:  # typed by a person; the platform's own notes are translated
                found.add(event.note)
            else:  # what the platform's message quotes (reasons, step titles, errors as given)
                found.update(v for k, v in event.note_params.items() if isinstance(v, str) and not k.endswith("_msg"))
        found.update(n.subject for n in db.session.scalars(select(Notification)) if n.subject)
        for call in db.session.scalars(select(ServiceCall)):  # step titles, and errors as recorded by the job
            found.update(s for s in (call.title, call.error_message) if s)
        db.session.remove()
    return sorted((s for s in found if VIETNAMESE_ONLY.search(s)), key=len, reverse=True)


@pytest.mark.parametrize(("name", "user", "path"), ENGLISH_PAGES, ids=[p[0] for p in ENGLISH_PAGES])
def test_english_pages_have_no_vietnamese_interface_text(site: Site, browser: Browser, live_server: Any, name: str,
                                                         user: str | None, path: str) -> None:
    page = page_for(site, browser, user, 1280)
    visit(page, site, path, "en")
    # A drawn diagram is the designer's content (names wrapped into lines by bpmn-js), not the interface: hidden.
    texts: list[str] = page.evaluate("""() => {
      for (const box of document.querySelectorAll('.diagram-canvas, .modeller-canvas')) box.style.display = 'none';
      const out = document.body.innerText.split('\\n');
      for (const e of document.querySelectorAll('[aria-label], [placeholder], [title], [data-label], [alt]'))
        for (const a of ['aria-label', 'placeholder', 'title', 'data-label', 'alt'])
          if (e.hasAttribute(a)) out.push(e.getAttribute(a));
      return out;
    }""")
    known = data_strings(live_server.app)
    if name == "procedure-form-errors":  # the form's own labels and help come from the procedure's schema
        texts = page.evaluate("""() => [...document.querySelectorAll(
            '.form-required-note, .form-add, .form-remove, #form-errors > p, option[value=""], button, h2, .flash')]
            .map(e => e.innerText)""")
    plurals = [line for line in texts if re.search(r"(?<![\d.,])1 (copies|working days|days|items|characters)\b", line)]
    assert not plurals, f"{name} in English reads: {plurals}"
    left = []
    for line in texts:
        for value in known:
            line = line.replace(value, " ")
        line = re.sub(r"\d[\d.]* đ\b", " ", line)  # amounts in đồng
        if VIETNAMESE_ONLY.search(line):
            left.append(line.strip())
    assert not left, f"{name} in English still shows:\n" + "\n".join(left)
