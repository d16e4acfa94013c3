"""What a package declares for the officers' screens is checked at upload: look-up fields to show, the
reception checklist of components, and the fields a form names as its reason and decision."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from app.procedures.package import check_package, load_directory

ROOT = Path(__file__).resolve().parent.parent.parent


def package_with(tmp_path, change_manifest=None, change_forms=None):
    target = tmp_path / "bpmn" / "khai-sinh"
    shutil.copytree(ROOT / "bpmn" / "khai-sinh", target)
    shutil.copytree(ROOT / "forms" / "khai-sinh", tmp_path / "forms" / "khai-sinh")
    manifest = json.loads((target / "procedure.json").read_text(encoding="utf-8"))
    if change_manifest:
        change_manifest(manifest)
    (target / "procedure.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    if change_forms:
        for name, change in change_forms.items():
            path = tmp_path / "forms" / "khai-sinh" / name
            form = json.loads(path.read_text(encoding="utf-8"))
            change(form)
            path.write_text(json.dumps(form, ensure_ascii=False), encoding="utf-8")
    return check_package(load_directory(target))


def codes(report):
    return {p.code: p for p in report.problems}


def test_the_shipped_declarations_pass(tmp_path):
    report = package_with(tmp_path)
    assert report.ok, [(p.code, p.message) for p in report.problems]


def test_lookup_fields_must_name_a_result_and_a_declared_field(tmp_path):
    def change(m):
        m["lookup_results"]["tra_cuu_ba"] = {"fields": [{"key": "ho_ten", "label": "Họ tên"}]}
        m["lookup_results"]["tra_cuu_me"]["fields"][0]["compare"] = "/me/ho_va_ten"

    report = package_with(tmp_path, change)
    found = codes(report)
    assert not report.ok
    assert "tra_cuu_ba" in found["lookup_result_unknown"].message
    assert found["lookup_result_unknown"].pointer == "/lookup_results/tra_cuu_ba"
    assert "/me/ho_va_ten" in found["lookup_compare_unknown"].message
    assert found["lookup_compare_unknown"].pointer == "/lookup_results/tra_cuu_me/fields/0/compare"


def test_lookup_fields_have_a_known_way_to_match(tmp_path):
    def change(m):
        m["lookup_results"]["tra_cuu_cha"]["fields"][1]["match"] = "gan_dung"

    report = package_with(tmp_path, change)
    assert any(p.pointer == "/lookup_results/tra_cuu_cha/fields/1/match" for p in report.problems)


def test_components_field_must_be_the_reception_checklist_of_known_codes(tmp_path):
    report = package_with(tmp_path, lambda m: m.update(components_field="/thanh_phan"))
    assert codes(report)["components_field_unknown"].pointer == "/components_field"

    def extra_code(form):
        form["properties"]["thanh_phan_da_nhan"]["items"]["enum"].append("XX")
        form["properties"]["thanh_phan_da_nhan"]["items"]["x-enum-titles"].append("Không có trong procedure.json")

    report = package_with(tmp_path / "b", change_forms={"tiep-nhan.schema.json": extra_code})
    assert "XX" in codes(report)["components_field_codes"].message


def test_reason_and_decision_hints_must_name_form_fields(tmp_path):
    report = package_with(tmp_path, change_forms={"ky-duyet.ui.json": lambda ui: ui.update({"ui:reason": "ly_do"})})
    problem = codes(report)["ui_hint_unknown_field"]
    assert problem.file == "ky-duyet.ui.json" and problem.pointer == "/ui:reason" and "ly_do" in problem.message
