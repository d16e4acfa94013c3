"""In real headless Chromium: an officer returns a dossier with a reason, another asks for a supplement, the citizen
uploads it from the dossier page and the dossier resumes with its new appointment date; the officer then downloads
the control sheet, whose PDF text shows each step. Each new screen is checked
at 375 and 1280 px (nothing wider than the window, no serious or critical axe-core violation); set
MOTCUA_SCREENSHOTS=<folder> to keep a PNG of each."""

from __future__ import annotations

import base64
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pypdfium2
import pytest
import requests
from playwright.sync_api import Browser, Page

from app.clock import local_today
from tests.e2e.checks import SHOTS, at_both_widths
from tests.e2e.conftest import login
from tests.e2e.test_pages import AXE
from tests.integration.test_documents import flat, pdf_text
from tests.samples import PDF_BYTES, requests_uploader, start_data, task_data, with_uploads

pytestmark = pytest.mark.browser


def _check(page: Page, name: str) -> list[str]:
    return at_both_widths(page, name, "desk")


def _complete(base: str, headers: dict[str, str], code: str) -> None:
    task = next(t for t in requests.get(f"{base}/api/v1/tasks", headers=headers, timeout=10).json()["items"]
                if t["dossier_code"] == code)
    done = requests.post(f"{base}/api/v1/tasks/{task['id']}/complete", json=task_data("khai-sinh", task["form"]),
                         headers=headers, timeout=10)
    assert done.status_code == 200, done.text


def _page(browser: Browser, base: str, user: str) -> Page:
    # bypass_csp: the audit injects axe-core as an inline script, which the pages' policy rightly refuses.
    page = browser.new_context(viewport={"width": 1280, "height": 800}, locale="vi-VN", bypass_csp=True).new_page()
    login(page, base, user)
    return page


# The control sheet's rows (who handed the step to whom, then the step's times, its result and whether it was on
# time), as this walk leaves them: the leader's signing returned with its reason, the examination re-opened.
EXAMINATION, RETURN_REASON = "Thẩm định, ghi sổ hộ tịch", "Tên cha trong sổ hộ tịch chưa khớp với tờ khai."
SHEET_ROWS = [
    ("Tiếp nhận hồ sơ", "Nguyễn Văn An", "Nguyễn Thị Tiếp", "Tiếp nhận hồ sơ"),
    (EXAMINATION, "Nguyễn Thị Tiếp", "Trần Văn Hộ", "Đủ điều kiện, trình ký Giấy khai sinh"),
    ("Ký giấy khai sinh", "Trần Văn Hộ", "Lê Minh Chủ", f"Trả lại «{EXAMINATION}»: {RETURN_REASON}"),
    (EXAMINATION, "Lê Minh Chủ", "Trần Văn Hộ", ""),
]
MOMENT = re.compile(r"\d{2}:\d{2} \d{2}/\d{2}/\d{4}")


def _control_sheet(live_server: Any, code: str, sheet: bytes, appointment: str) -> list[str]:
    """What the downloaded control sheet's text lacks: its heading and appointment, and for each step of the walk
    its row — who handed it to whom, when it was handed over and taken, its deadline, when it was done, its result
    and whether it was on time — with the values the platform recorded. `pdf_text` also checks that every
    character is drawn in the documents' own font (DejaVu Serif, complete for Vietnamese): no diacritic is lost to
    a fallback font or an empty box."""
    from sqlalchemy import select

    from app import documents
    from app.extensions import db
    from app.models import Dossier

    text = flat(pdf_text(sheet))
    problems = [f"control sheet lacks {p!r}" for p in (
        "PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ", f"Mã hồ sơ: {code}", "Bên giao → Bên nhận", "Hạn bước",
        "Hoàn thành", "Trước/ đúng/quá hạn", f"Hẹn trả kết quả: {appointment}", "Trạng thái: Đang xử lý",
        "Đã nhận hồ sơ bổ sung (trực tuyến)") if p not in text]
    with live_server.app.app_context():
        recorded = documents.control_content(db.session.scalar(select(Dossier).where(Dossier.code == code)))["rows"]
        db.session.remove()
    if [(r["step"], r["handed_by"], r["taken_by"]) for r in recorded] != [row[:3] for row in SHEET_ROWS]:
        return [*problems, f"recorded steps: {recorded}"]
    body = text[text.index("Trước/ đúng/quá hạn"):text.index("Diễn biến trạng thái hồ sơ:")]
    starts = [body.index(f" {n} {step} ") for n, (step, *_) in enumerate(SHEET_ROWS, 1)]
    for n, (start, end, row, (step, handed, taken, result)) in enumerate(
            zip(starts, [*starts[1:], len(body)], recorded, SHEET_ROWS, strict=True), 1):
        cells = body[start:end]
        shown = [documents.pdf._short(row[key]) for key in ("handed_at", "taken_at", "due_at", "done_at")]
        expected = [f"{handed} → {taken}", result, row["verdict"] or "—", " ".join(v or "—" for v in shown[2:3])]
        problems += [f"row {n} ({step}) lacks {e!r}: {cells!r}" for e in expected if e not in cells]
        # Its moments in the sheet's order: handed over, taken (if claimed), due (if any), done (if done).
        if MOMENT.findall(cells) != [v for v in shown if v]:
            problems.append(f"row {n} ({step}) moments {MOMENT.findall(cells)} != {shown}: {cells!r}")
    verdicts = [r["verdict"] for r in recorded]
    if verdicts[1] not in ("Trước hạn", "Đúng hạn", "Quá hạn") or verdicts[3] not in ("Đang xử lý, trong hạn",
                                                                                    "Đang xử lý, quá hạn"):
        problems.append(f"verdicts {verdicts}")
    return problems


def test_return_then_supplement_uploaded_online_and_the_dossier_resumes(live_server: Any, live_token: Any,
                                                                       browser: Browser, tmp_path: Path) -> None:
    if not AXE.exists():
        pytest.fail("node_modules/axe-core is missing: run `npm ci` (scripts/test.sh does)")
    base = live_server.url
    citizen_token = live_token("congdan")
    data = with_uploads(requests_uploader(base), citizen_token, start_data("khai-sinh"))
    created = requests.post(f"{base}/api/v1/procedures/1.001193/dossiers", json=data, headers=citizen_token,
                            timeout=10)
    assert created.status_code == 201, created.text
    code = created.json()["code"]
    _complete(base, live_token("tiepnhan"), code)
    _complete(base, live_token("hotich"), code)
    problems: list[str] = []

    # The leader returns the dossier to the examination, with a reason.
    leader = _page(browser, base, "chutich")
    leader.goto(f"{base}/can-bo/")
    problems += _check(leader, "inbox")
    leader.locator("#inbox tr", has_text=code).locator("a").first.click()
    leader.click("#return-action summary")
    problems += _check(leader, "task-actions")
    leader.select_option("#return-step", "Task_ThamDinh")
    leader.fill("#return-reason", RETURN_REASON)
    leader.click("#return-submit")
    leader.wait_for_url(f"{base}/can-bo/")
    assert "Đã trả hồ sơ" in leader.inner_text("main")

    # The examiner finds it back in the inbox with the reason, and asks the citizen for a supplement.
    examiner = _page(browser, base, "hotich")
    examiner.goto(f"{base}/can-bo/")
    examiner.locator("#inbox tr", has_text=code).locator("a").first.click()
    assert "Tên cha trong sổ hộ tịch chưa khớp" in examiner.inner_text("#returned")
    examiner.click("#dossier-desk-link")
    examiner.click("#supplement-action summary")
    problems += _check(examiner, "dossier-desk")
    examiner.check("#need-GCS")
    examiner.fill("[name=ghi_chu_GCS]", "bản chụp rõ nét")
    examiner.fill("#supplement-reason", "Giấy chứng sinh bị mờ, không đọc được số.")
    examiner.fill("#supplement-deadline", (local_today() + timedelta(days=10)).isoformat())
    examiner.click("#supplement-submit")
    examiner.wait_for_selector("#open-supplement")
    assert "Đã gửi yêu cầu bổ sung" in examiner.inner_text("main")
    assert examiner.inner_text("#status").strip() == "Yêu cầu bổ sung giấy tờ"
    problems += _check(examiner, "dossier-desk-waiting")

    # The citizen sees what is missing and uploads it; the dossier resumes with its new appointment date.
    citizen = _page(browser, base, "congdan")
    citizen.goto(f"{base}/ho-so/{code}")
    assert "Giấy chứng sinh bị mờ" in citizen.inner_text("#supplement")
    assert "bản chụp rõ nét" in citizen.inner_text("#supplement")
    problems += _check(citizen, "citizen-supplement")
    pdf = tmp_path / "giay-chung-sinh.pdf"
    pdf.write_bytes(PDF_BYTES)
    citizen.set_input_files("#supplement-file-0", str(pdf))
    citizen.click("#supplement-submit")
    citizen.wait_for_selector(".flash")
    message = citizen.inner_text(".flash")
    assert "Đã gửi giấy tờ bổ sung" in message
    assert citizen.inner_text("#status").strip() == "Đang xử lý" and citizen.locator("#supplement").count() == 0
    new_due = re.search(r"\d{2}:\d{2} \d{2}/\d{2}/\d{4}", message)
    assert new_due is not None and new_due.group(0) in citizen.inner_text("main")
    assert "Đã nhận hồ sơ bổ sung" in citizen.inner_text("#history")
    problems += _check(citizen, "citizen-resumed")

    # The desk shows the same new appointment date (moved by the paused working time: here seconds, or nothing
    # outside office hours; the arithmetic over weekends and Tết is tests/integration/test_desk.py's).
    examiner.goto(f"{base}/can-bo/ho-so/{code}")
    assert examiner.inner_text("#status").strip() == "Đang xử lý"
    assert examiner.inner_text("#due") == new_due.group(0)
    examiner.goto(f"{base}/can-bo/")
    assert examiner.locator("#inbox tr", has_text=code).count() == 1

    # The control sheet, downloaded from the dossier's page as the officer gets it, shows each step.
    examiner.goto(f"{base}/ho-so/{code}")
    # Headless Chromium opens an inline PDF in its viewer rather than as a download, so the page fetches the
    # link's address itself: the browser's own request, with the officer's session.
    link = examiner.get_attribute("#control-sheet", "href")
    got = examiner.evaluate("""async (href) => {
        const response = await fetch(href, {credentials: "same-origin"});
        const bytes = new Uint8Array(await response.arrayBuffer());
        let binary = "";
        for (const b of bytes) binary += String.fromCharCode(b);
        return {status: response.status, type: response.headers.get("content-type"), body: btoa(binary)};
    }""", link)
    assert (got["status"], got["type"]) == (200, "application/pdf")
    sheet = base64.b64decode(got["body"])
    problems += _control_sheet(live_server, code, sheet, new_due.group(0))
    if SHOTS:  # to look at its diacritics as drawn
        pypdfium2.PdfDocument(sheet)[0].render(scale=3).to_pil().save(Path(SHOTS) / "desk-control-sheet.png")

    head = _page(browser, base, "truongphong")
    head.goto(f"{base}/can-bo/phong")
    problems += _check(head, "department")
    assert not problems, "\n".join(problems)
