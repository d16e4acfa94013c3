"""The dossier history is read in the reader's language: what the platform writes (its own name, payment and
submission notes) is stored as a message plus parameters and rendered when shown; what people typed is shown
as they typed it, and jobs (emails, SMS) still read Vietnamese."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import lxml.html
import pytest
from flask_babel import get_translations

from app.dossiers import payments
from app.models import AuditEvent
from app.models.dossier import render_note
from tests.conftest import login
from tests.integration.test_payments import on_platform, submit_online

# Stand-ins for the English catalogue entries of the platform's history messages (the catalogue is consolidated
# separately); only entries the compiled catalogue lacks are added, and they are taken out again afterwards.
ENGLISH = {
    "Hệ thống": "System",
    "Nộp hồ sơ trực tuyến.": "Submitted online.",
    "Tạo giao dịch thanh toán %(transaction)s: %(amount)s.": "Payment transaction %(transaction)s created: %(amount)s.",
    "Đã thanh toán %(amount)s (giao dịch %(transaction)s, xác nhận qua %(source_msg)s).":
        "Paid %(amount)s (transaction %(transaction)s, confirmed by %(source_msg)s).",
    "trang trả về": "the return page",
}


@pytest.fixture()
def english(app: Any) -> Iterator[None]:
    with app.test_request_context("/?lang=en"):
        translations = get_translations()
    catalog = getattr(translations, "_catalog", None)
    assert catalog, "compile the English catalogue first: .venv/bin/pybabel compile -d app/translations"
    added = {k: v for k, v in ENGLISH.items() if k not in catalog}
    catalog.update(added)
    yield
    for key in added:
        catalog.pop(key, None)


def history_rows(client: Any, code: str, lang: str) -> list[str]:
    page = lxml.html.fromstring(client.get(f"/ho-so/{code}?lang={lang}").data)
    return [" | ".join(td.text_content().strip() for td in tr.findall("td"))
            for tr in page.get_element_by_id("history").iter("tr") if tr.findall("td")]


def test_platform_history_is_shown_in_english(client, db_session, jobs, national, sandbox, english):
    dossier = submit_online(db_session, jobs)
    [payment] = payments.payments_of(dossier)
    login(client, "congdan")
    assert client.get(on_platform(sandbox, payment)).status_code == 303  # paid, confirmed by the return page

    rows = history_rows(client, dossier.code, "en")
    text = "\n".join(rows)
    for vietnamese in ("Hệ thống", "Nộp hồ sơ trực tuyến", "Tạo giao dịch thanh toán", "Đã thanh toán",
                       "trang trả về"):
        assert vietnamese not in text, rows
    assert any("Submitted online." in r for r in rows), rows
    assert any("System" in r and f"Payment transaction {payment.transaction_id} created: 10.000 đ." in r
               for r in rows), rows
    assert any(f"Paid 10.000 đ (transaction {payment.transaction_id}, confirmed by the return page)." in r
               for r in rows), rows

    rows = history_rows(client, dossier.code, "vi")  # the same rows, in Vietnamese
    assert any("Hệ thống" in r and f"Tạo giao dịch thanh toán {payment.transaction_id}: 10.000 đ." in r
               for r in rows), rows
    assert any("Nộp hồ sơ trực tuyến." in r for r in rows), rows


def test_a_note_renders_its_parameters_in_the_readers_language(app, english):
    message = "Đã thanh toán %(amount)s (giao dịch %(transaction)s, xác nhận qua %(source_msg)s)."
    params = {"amount": 1250000, "transaction": "GD-1", "source_msg": "trang trả về"}
    with app.test_request_context("/?lang=en"):
        assert render_note(message, params) == "Paid 1.250.000 đ (transaction GD-1, confirmed by the return page)."
        assert render_note("Nộp hồ sơ trực tuyến.", {}) == "Submitted online."
        # Typed by a person, or stored before notes were messages: as written, even if it reads like a msgid.
        assert render_note("Nộp hồ sơ trực tuyến.", None) == "Nộp hồ sơ trực tuyến."
        assert render_note("50% xong", None) == "50% xong"
        assert AuditEvent(actor_id=None, actor_name="").actor_label == "System"
        assert AuditEvent(actor_id=None, actor_name="Hệ thống").actor_label == "System"  # rows stored before
        assert AuditEvent(actor_id=3, actor_name="Nguyễn Văn A").actor_label == "Nguyễn Văn A"
    with app.app_context():  # a job (email, SMS): Vietnamese
        assert render_note(message, params) == "Đã thanh toán 1.250.000 đ (giao dịch GD-1, xác nhận qua trang trả về)."
        assert AuditEvent(actor_id=None, actor_name="").actor_label == "Hệ thống"
    assert render_note(message, params) == "Đã thanh toán 1.250.000 đ (giao dịch GD-1, xác nhận qua trang trả về)."
