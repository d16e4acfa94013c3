"""Prefill from the population database (demo services over real HTTP), logged, and usable when it is down."""

from __future__ import annotations

import lxml.html
import requests
from sqlalchemy import select

from app.extensions import db
from app.models import RegistryLookup
from connectors import build_registry
from tests.conftest import login


def use_sandbox(app, monkeypatch, sandbox):
    requests.delete(f"{sandbox}/_faults", timeout=5)
    registry = build_registry({"POPULATION_URL": sandbox, "POPULATION_TOKEN": "sandbox-test-token",
                               "CONNECTOR_ATTEMPTS": 1, "CONNECTOR_TIMEOUT": 1})
    monkeypatch.setitem(app.extensions, "motcua_prefill_registry", registry)


def lookups():
    return db.session.scalars(select(RegistryLookup).order_by(RegistryLookup.id)).all()


def test_logged_in_citizen_gets_prefilled_fields_with_source(app, client, monkeypatch, sandbox):
    use_sandbox(app, monkeypatch, sandbox)
    login(client, "congdan")
    page = lxml.html.fromstring(client.get("/thu-tuc/1.001193").data)
    assert page.get_element_by_id("f-nguoi_yeu_cau-ho_ten").get("value") == "Nguyễn Văn An"
    assert page.get_element_by_id("f-nguoi_yeu_cau-so_dinh_danh").get("value") == "001090012345"
    assert "Phường Ba Đình" in page.get_element_by_id("f-nguoi_yeu_cau-noi_cu_tru").text_content()
    assert page.get_element_by_id("f-nguoi_yeu_cau-gioi_tinh-nam").get("checked") is not None
    note = page.xpath("//*[contains(@class, 'form-source') or contains(text(), 'Lấy từ')]")
    assert note and "Cơ sở dữ liệu quốc gia về dân cư" in note[0].text_content()
    log = lookups()[-1]
    assert (log.subject, log.outcome, log.operation) == ("001090012345", "ok", "population.lookup_citizen")
    assert "1.001193" in log.purpose and log.user_id is not None


def test_registry_down_leaves_the_form_usable(app, client, monkeypatch, sandbox):
    use_sandbox(app, monkeypatch, sandbox)
    requests.post(f"{sandbox}/_faults", json={"path_prefix": "/dan-cu", "mode": "error", "status": 503, "count": 1},
                  timeout=5)
    login(client, "congdan")
    response = client.get("/thu-tuc/1.001193")
    assert response.status_code == 200
    page = lxml.html.fromstring(response.data)
    assert "tạm gián đoạn" in page.get_element_by_id("prefill-notice").text_content()
    assert not page.get_element_by_id("f-nguoi_yeu_cau-ho_ten").get("value")
    assert lookups()[-1].outcome.startswith("unavailable")


def test_no_lookup_for_anonymous_visitors(app, client, monkeypatch, sandbox):
    use_sandbox(app, monkeypatch, sandbox)
    before = len(lookups())
    assert client.get("/thu-tuc/1.001193").status_code == 200
    assert len(lookups()) == before


def test_without_a_configured_registry_nothing_is_looked_up(app, client, monkeypatch):
    monkeypatch.setitem(app.extensions, "motcua_prefill_registry", build_registry({}))
    before = len(lookups())
    login(client, "congdan")
    page = lxml.html.fromstring(client.get("/thu-tuc/1.001193").data)
    assert page.get_element_by_id("prefill-notice", None) is None
    assert len(lookups()) == before


def test_the_lookup_is_tied_to_the_dossier_it_prefilled(app, client, monkeypatch, sandbox):
    from app.dossiers.services import submit_dossier
    from tests.conftest import user
    from tests.samples import start_data, with_stored_uploads

    use_sandbox(app, monkeypatch, sandbox)
    login(client, "congdan")
    client.get("/thu-tuc/1.001193")
    log = lookups()[-1]
    assert log.dossier_id is None
    citizen = user("congdan")
    dossier = submit_dossier("1.001193", with_stored_uploads(start_data("khai-sinh"), citizen), applicant=citizen)
    db.session.refresh(log)
    assert log.dossier_id == dossier.id
    other = submit_dossier("1.001193", with_stored_uploads(start_data("khai-sinh"), citizen), applicant=citizen)
    db.session.refresh(log)
    assert log.dossier_id == dossier.id != other.id  # one look-up, one dossier


def test_prefill_keeps_the_forms_defaults(app, client, monkeypatch, sandbox):
    use_sandbox(app, monkeypatch, sandbox)
    login(client, "congdan")
    page = lxml.html.fromstring(client.get("/thu-tuc/1.001193").data)
    assert page.get_element_by_id("f-nguoi_yeu_cau-ho_ten").get("value") == "Nguyễn Văn An"
    assert page.get_element_by_id("f-so_ban_sao").get("value") == "1"  # "Số bản sao", default 1
    assert page.get_element_by_id("f-tre-quoc_tich").get("value") == "Việt Nam"
    assert page.get_element_by_id("f-me-dan_toc").get("value") == "Kinh"


def test_prefilled_values_win_over_defaults_and_defaults_fill_the_rest():
    from app.dossiers.prefill import with_defaults

    schema = {"type": "object", "properties": {
        "so_ban_sao": {"type": "integer", "default": 1},
        "nguoi": {"type": "object", "properties": {"ten": {"type": "string"},
                                                   "quoc_tich": {"type": "string", "default": "Việt Nam"}}},
        "cha": {"type": "object", "properties": {"ten": {"type": "string"}}},
    }}
    assert with_defaults(schema, {"nguoi": {"ten": "An", "quoc_tich": "Lào"}}) == {
        "so_ban_sao": 1, "nguoi": {"ten": "An", "quoc_tich": "Lào"}}
    assert with_defaults(schema, {"nguoi": {"ten": "An"}}) == {
        "so_ban_sao": 1, "nguoi": {"ten": "An", "quoc_tich": "Việt Nam"}}
