"""The upload page offers the conversion of another modeller's export and applies it only when asked: a Camunda
flavoured copy of khai-sinh is checked, converted, checked again and downloaded as a zip that deploys."""

from __future__ import annotations

import base64
import io
import zipfile
from pathlib import Path

import lxml.html

from app.procedures.package import check_package, load_upload
from tests.conftest import login
from tests.integration.test_studio import post_api, post_studio

ROOT = Path(__file__).resolve().parents[2]
CAMUNDA = ROOT / "tests" / "unit" / "data" / "camunda-khai-sinh"


def camunda_files() -> dict[str, bytes]:
    files = {p.name: p.read_bytes() for p in sorted(CAMUNDA.iterdir())}
    files.update({p.name: p.read_bytes() for p in sorted((ROOT / "forms" / "khai-sinh").iterdir())})
    return files


def page(response):
    return lxml.html.fromstring(response.data)


def hidden(form) -> dict[str, str]:
    return {field.get("name"): field.get("value") for field in form.xpath(".//input[@type='hidden']")}


def test_conversion_is_offered_then_applied_then_downloaded(client):
    login(client, "thietke")
    checked = post_studio(client, camunda_files())
    assert checked.status_code == 422
    html = page(checked)
    assert "không thực thi được" in html.get_element_by_id("report").text_content()
    offered = [li.text_content() for li in html.xpath("//ul[@id='conversion-changes']/li")]
    assert len(offered) == 18
    assert any('camunda:formKey="embedded:app:forms/tham-dinh.html" → spiffworkflow:property '
               'formJsonSchemaFilename="tham-dinh.schema.json"' in item for item in offered)
    assert any('"Lãnh đạo UBND": "lanh_dao_ky"' in item for item in offered)
    # The report itself still says what is wrong with the upload as it is: nothing was changed.
    codes = html.xpath("//div[@id='report']//li/span[@class='muted']/text()")
    assert "(foreign_form)" in codes and "(foreign_assignee)" in codes

    form = html.xpath("//div[@id='conversion']//form")[0]
    assert form.get("action") == "/thiet-ke/tai-len/chuyen-doi"
    assert form.xpath(".//button")[0].text_content().strip() == "Áp dụng chuyển đổi"
    fields = hidden(form)
    applied = client.post("/thiet-ke/tai-len/chuyen-doi", data={**fields, "action": "apply"})
    assert applied.status_code == 200, applied.data[:2000]
    html = page(applied)
    done = [li.text_content() for li in html.xpath("//ul[@id='applied-changes']/li")]
    assert done == offered
    report = html.get_element_by_id("report").text_content()
    assert "có thể triển khai" in report
    assert not html.xpath("//div[@id='conversion']")  # nothing more to convert

    download = html.xpath("//div[@id='converted']//form")[0]
    response = client.post("/thiet-ke/tai-len/chuyen-doi", data={**hidden(download), "action": "download"})
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    assert response.headers["Content-Disposition"] == 'attachment; filename="process-chuyen-doi.zip"'
    names = zipfile.ZipFile(io.BytesIO(response.data)).namelist()
    assert "bpmn/process/process.bpmn" in names and "forms/process/tham-dinh.schema.json" in names
    pkg = load_upload([("goi.zip", response.data)])
    assert check_package(pkg).verdict == "deployable"
    # The downloaded zip deploys through the ordinary upload.
    deployed = client.post("/thiet-ke/tai-len", data={"action": "deploy", "slug": "khai-sinh-camunda",
                                                      "files": [(io.BytesIO(response.data), "goi.zip")]},
                           content_type="multipart/form-data")
    assert deployed.status_code == 302, deployed.data[:2000]


def test_a_package_of_the_platform_is_offered_nothing(client):
    login(client, "thietke")
    files = {p.name: p.read_bytes() for p in sorted((ROOT / "bpmn" / "khai-sinh").iterdir())}
    files.update({p.name: p.read_bytes() for p in sorted((ROOT / "forms" / "khai-sinh").iterdir())})
    response = post_studio(client, files)
    assert response.status_code == 200
    assert not page(response).xpath("//div[@id='conversion']")


def test_a_forged_package_field_is_a_clear_422(client):
    login(client, "thietke")
    for value in ("not base64!", "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==" + "x"):
        response = client.post("/thiet-ke/tai-len/chuyen-doi", data={"package": value, "action": "apply"})
        assert response.status_code == 422
        assert page(response).xpath("//p[@class='error-box']")
    empty_zip = io.BytesIO()
    zipfile.ZipFile(empty_zip, "w").close()
    response = client.post("/thiet-ke/tai-len/chuyen-doi",
                           data={"package": base64.b64encode(empty_zip.getvalue()).decode(), "action": "apply"})
    assert response.status_code == 422


def test_only_designers_convert(client):
    login(client, "tiepnhan")
    assert client.post("/thiet-ke/tai-len/chuyen-doi", data={"package": "", "action": "apply"}).status_code == 403


def test_the_api_dry_run_lists_the_conversions_without_applying_them(client, token):
    response = post_api(client, token("thietke"), camunda_files())
    assert response.status_code == 422
    body = response.get_json()
    assert body["verdict"] == "not_executable"
    assert len(body["conversions"]) == 18
    assert {"file": "procedure.json", "line": None, "code": "foreign_candidate_groups",
            "message": 'procedure.json, mục lanes: thêm "Lãnh đạo UBND": "lanh_dao_ky" (làn chứa «Ký giấy khai sinh» '
                       '(id «Task_KyGiayKhaiSinh»), giao cho nhóm «lanh_dao_ky» theo candidateGroups).'
            } in body["conversions"]
    assert "foreign_form" in {p["code"] for p in body["problems"]}
    plain = {p.name: p.read_bytes() for p in sorted((ROOT / "bpmn" / "khai-sinh").iterdir())}
    plain.update({p.name: p.read_bytes() for p in sorted((ROOT / "forms" / "khai-sinh").iterdir())})
    assert post_api(client, token("thietke"), plain).get_json()["conversions"] == []
