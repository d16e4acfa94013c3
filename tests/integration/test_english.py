"""The English interface: every string the sources mark for translation has an English translation, plurals
read right, and statuses and eForm chrome follow the reader's language."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po
from flask_babel import force_locale
from lxml import html

from app.eforms import render_form
from app.models.dossier import STATUSES
from app.web import duration
from tests.conftest import ROOT, login

CATALOGUE = ROOT / "app" / "translations" / "en" / "LC_MESSAGES" / "messages.po"
# The keywords the project marks strings with: gettext's usual ones (_, ngettext, N_, …) and flask_babel's lazy
# forms for module-level tables.
EXTRACT = ["-F", "babel.cfg", "-k", "lazy_gettext", "-k", "lazy_ngettext:1,2", "--no-location"]


def extract(tmp_path: Path) -> Path:
    out = tmp_path / "messages.pot"
    pybabel = Path(sys.executable).with_name("pybabel")
    subprocess.run([str(pybabel), "-q", "extract", *EXTRACT, "-o", str(out), "."], cwd=ROOT, check=True)
    return out


def test_every_interface_string_has_an_english_translation(tmp_path: Path):
    with extract(tmp_path).open("rb") as f:
        wanted = read_po(f)
    with CATALOGUE.open("rb") as f:
        english = read_po(f, locale="en")
    missing = []
    for message in wanted:
        if not message.id:
            continue
        translated = english.get(message.id, message.context)
        strings = translated.string if translated is not None else None
        values = list(strings) if isinstance(strings, tuple | list) else [strings]
        if translated is None or translated.fuzzy or not all(values):
            missing.append(message.id if isinstance(message.id, str) else message.id[0])
    assert not missing, f"{len(missing)} strings lack an English translation:\n" + "\n".join(missing)


def test_translations_keep_every_placeholder():
    """A translation that drops or renames %(name)s or {1} would fail (KeyError) or say less when shown."""
    with CATALOGUE.open("rb") as f:
        english = read_po(f, locale="en")
    placeholder = re.compile(r"%\(\w+\)s|\{\d+\}")
    wrong = []
    for message in english:
        if not message.id or not message.string:
            continue
        ids = message.id if isinstance(message.id, tuple | list) else (message.id,)
        strings = message.string if isinstance(message.string, tuple | list) else (message.string,)
        wanted = set(placeholder.findall(ids[-1])) | set(placeholder.findall(ids[0]))
        for string in strings:
            found = set(placeholder.findall(string))
            if found != wanted:
                wrong.append(f"{ids[0]!r} → {string!r}")
    assert not wrong, "\n".join(wrong)


def test_english_plurals_statuses_and_form_chrome(client):
    catalogue = client.get("/?lang=en").get_data(as_text=True)
    assert ">Same day<" in catalogue  # khai sinh: the same day (after 15:00, the next working day)
    with client.application.test_request_context("/?lang=en"):
        assert duration(1, "working_days") == "1 working day" and duration(2, "days") == "2 days"
    assert ">7 working days<" in catalogue  # thường trú
    login(client, "congdan")
    page = html.fromstring(client.get("/thu-tuc/1.004222?lang=en").get_data(as_text=True))
    text = page.text_content()
    assert "(required)" in text and "Fields marked" in text
    assert "bắt buộc" not in text and "— Chọn —" not in text
    add = page.find_class("form-add")[0]
    assert add.text_content().startswith("Add ")
    with client.application.test_request_context("/"):
        with force_locale("en"):
            assert str(STATUSES[10]) == "Result returned"
        with force_locale("vi"):
            assert str(STATUSES[10]) == "Đã trả kết quả"


def test_form_chrome_in_english(app):
    schema = {"type": "object", "required": ["ten"], "properties": {
        "ten": {"type": "string", "title": "Tên"},
        "loai": {"type": "string", "title": "Loại", "enum": ["a", "b"]},
        "tep": {"type": "string", "title": "Tệp", "contentMediaType": "application/pdf"},
        "ds": {"type": "array", "title": "Danh sách", "items": {"type": "string", "title": "Mục"}, "minItems": 0},
    }}
    with app.test_request_context("/?lang=en"):
        tree = html.fromstring(str(render_form(schema, data={"tep": "abc/giay.pdf"}, errors={"": "Bad."})))
    text = tree.text_content()
    for vietnamese in ("Chọn", "bắt buộc", "Thêm", "Xóa", "thứ", "Đã đính kèm", "Gửi"):
        assert vietnamese not in text, vietnamese
    assert "— Choose —" in text and "Add" in text and "Attached:" in text


def test_form_errors_and_page_messages_in_english(client):
    login(client, "congdan")
    response = client.post("/thu-tuc/1.001193?lang=en", data={"__submit__": "1"})
    assert response.status_code == 422
    page = html.fromstring(response.get_data(as_text=True))
    summary = page.get_element_by_id("form-errors").text_content()
    assert "The application has invalid entries" in summary and "Please enter" in summary
    assert "Vui lòng" not in summary
    missing = client.get("/khong-co?lang=en").get_data(as_text=True)
    assert "Page not found." in missing and "Không tìm thấy" not in missing


def test_api_refusals_in_english_when_asked(client):
    english = client.get("/api/v1/public/dossiers/000.00.01.H26-261130-9999?lang=en").get_json()
    assert english["error"]["message"] == "No dossier has the code «000.00.01.H26-261130-9999»."
    vietnamese = client.get("/api/v1/public/dossiers/000.00.01.H26-261130-9999?lang=vi").get_json()
    assert vietnamese["error"]["message"].startswith("Không tìm thấy hồ sơ")


def test_package_problems_in_english(client):
    import io

    login(client, "thietke")
    bad = b'<?xml version="1.0"?>\n<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">\n<oops>'
    response = client.post("/thiet-ke/tai-len?lang=en", content_type="multipart/form-data",
                           data={"action": "check", "files": [(io.BytesIO(bad), "process.bpmn")]})
    assert response.status_code == 422
    problems = [li.text_content() for li in html.fromstring(response.get_data(as_text=True)).find_class("problems")[0]]
    xml = next(p for p in problems if p.startswith("process.bpmn"))
    assert "is not valid XML" in xml and "Tệp" not in xml
    manifest = next(p for p in problems if p.startswith("procedure.json"))
    assert "procedure.json is missing" in manifest
