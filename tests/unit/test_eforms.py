"""eForms: render → post → parse → validate round trip, Vietnamese messages, accessibility, escaping."""

from __future__ import annotations

import lxml.html
from werkzeug.datastructures import MultiDict

from app.eforms.parse import form_actions, parse_form
from app.eforms.render import render_form, render_values
from app.eforms.schema import check_form_schema, path_to_pointer, pointer_to_path
from app.eforms.validate import validate_data

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["nguoi", "so_ban", "ngay"],
    "properties": {
        "nguoi": {
            "type": "object",
            "title": "Người yêu cầu",
            "required": ["ho_ten", "cccd"],
            "properties": {
                "ho_ten": {"type": "string", "title": "Họ và tên", "minLength": 2},
                "cccd": {
                    "type": "string",
                    "title": "Số định danh",
                    "pattern": "^[0-9]{12}$",
                    "x-pattern-message": "Số định danh gồm đúng 12 chữ số.",
                },
                "email": {"type": "string", "title": "Email", "format": "email"},
                "gioi_tinh": {
                    "title": "Giới tính",
                    "oneOf": [{"const": "nam", "title": "Nam"}, {"const": "nu", "title": "Nữ"}],
                },
            },
        },
        "so_ban": {"type": "integer", "title": "Số bản sao", "minimum": 0, "maximum": 10},
        "ngay": {"type": "string", "format": "date", "title": "Ngày"},
        "dong_y": {"type": "boolean", "title": "Đồng ý"},
        "ghi_chu": {"type": "string", "maxLength": 2000, "title": "Ghi chú", "description": "Không bắt buộc"},
        "con": {
            "type": "array",
            "title": "Con",
            "items": {
                "type": "object",
                "title": "Con",
                "required": ["ten"],
                "properties": {"ten": {"type": "string", "title": "Tên"}},
            },
        },
        "tep": {"type": "string", "contentMediaType": "application/pdf", "title": "Giấy chứng sinh"},
    },
}


def doc(html: str):
    return lxml.html.fragment_fromstring(f"<div>{html}</div>")


def test_paths_and_pointers_round_trip():
    assert path_to_pointer("con[0].ten") == "/con/0/ten"
    assert pointer_to_path("/con/0/ten") == "con[0].ten"
    assert pointer_to_path("/nguoi/ho_ten") == "nguoi.ho_ten"


def test_schema_checks():
    assert check_form_schema(SCHEMA) == []
    assert check_form_schema({"type": "object", "properties": {"x": {"type": "strin"}}})
    assert check_form_schema([]) != []


def test_render_every_kind_of_field():
    tree = doc(render_form(SCHEMA, {}, {}))
    assert tree.get_element_by_id("f-nguoi-ho_ten").get("required") is not None
    assert tree.get_element_by_id("f-nguoi-cccd").get("inputmode") == "numeric"
    assert tree.get_element_by_id("f-nguoi-email").get("type") == "email"
    select = tree.get_element_by_id("f-nguoi-gioi_tinh")
    assert select.tag == "select" and [o.text for o in select.findall("option")][1:] == ["Nam", "Nữ"]
    assert tree.get_element_by_id("f-so_ban").get("type") == "number"
    assert tree.get_element_by_id("f-ngay").get("type") == "date"
    assert tree.get_element_by_id("f-dong_y").get("type") == "checkbox"
    assert tree.get_element_by_id("f-ghi_chu").tag == "textarea"
    assert tree.get_element_by_id("f-ghi_chu").get("aria-describedby") == "f-ghi_chu-help"
    assert tree.get_element_by_id("f-tep").get("type") == "file"
    assert tree.get_element_by_id("f-con-0--ten") is not None
    assert tree.xpath("//button[@name='__add__']/@value") == ["con"]
    assert tree.xpath("//label[@for='f-nguoi-ho_ten']")


def test_errors_are_linked_and_values_kept_and_escaped():
    html = render_form(
        SCHEMA, {}, {"nguoi": {"ho_ten": "<script>alert(1)</script>"}}, {"nguoi.ho_ten": "Vui lòng <b>sửa</b>"}
    )
    assert "<script>" not in html and "&lt;script&gt;" in html
    tree = doc(html)
    field = tree.get_element_by_id("f-nguoi-ho_ten")
    assert field.get("aria-invalid") == "true"
    assert field.get("value") == "<script>alert(1)</script>"
    error = tree.get_element_by_id("f-nguoi-ho_ten-error")
    assert error.get("role") == "alert" and error.text_content() == "Vui lòng <b>sửa</b>"
    assert "f-nguoi-ho_ten-error" in field.get("aria-describedby")


def test_round_trip_parse_and_validate():
    form = MultiDict(
        [
            ("nguoi.ho_ten", "Nguyễn Văn An"),
            ("nguoi.cccd", "001090012345"),
            ("nguoi.gioi_tinh", "nam"),
            ("so_ban", "2"),
            ("ngay", "2026-11-20"),
            ("dong_y", "true"),
            ("ghi_chu", ""),
            ("con[0].ten", "Bình"),
            ("con[1].ten", "Chi"),
            ("tep", "abcdefghijklmnopqrstuvwx/gcs.pdf"),
        ]
    )
    data, files = parse_form(SCHEMA, form)
    assert data == {
        "nguoi": {"ho_ten": "Nguyễn Văn An", "cccd": "001090012345", "gioi_tinh": "nam"},
        "so_ban": 2,
        "ngay": "2026-11-20",
        "dong_y": True,
        "con": [{"ten": "Bình"}, {"ten": "Chi"}],
        "tep": "abcdefghijklmnopqrstuvwx/gcs.pdf",
    }
    assert files == ["tep"]
    assert validate_data(SCHEMA, data) == {}
    rendered = doc(render_form(SCHEMA, {}, data))
    assert rendered.get_element_by_id("f-con-1--ten").get("value") == "Chi"
    assert "gcs.pdf" in rendered.text_content()


def test_vietnamese_messages_per_field():
    data, _ = parse_form(
        SCHEMA,
        MultiDict(
            [
                ("nguoi.cccd", "12ab"),
                ("nguoi.email", "khong-phai-email"),
                ("so_ban", "mười"),
                ("ngay", "20/11/2026"),
                ("con[0].ten", ""),
            ]
        ),
    )
    errors = validate_data(SCHEMA, data)
    assert errors["nguoi.ho_ten"] == "Vui lòng nhập Họ và tên."
    assert errors["nguoi.cccd"] == "Số định danh gồm đúng 12 chữ số."
    assert errors["nguoi.email"] == "Email: Địa chỉ email không hợp lệ."
    assert errors["so_ban"] == "Số bản sao: phải là số nguyên."
    assert errors["ngay"].startswith("Ngày: Ngày không hợp lệ")
    assert validate_data(SCHEMA, {**data, "so_ban": 11})["so_ban"] == "Số bản sao: phải nhỏ hơn hoặc bằng 10."
    missing = validate_data(SCHEMA, {})
    assert set(missing) >= {"nguoi", "so_ban", "ngay"}


def test_repeatable_group_actions_without_javascript():
    assert form_actions(MultiDict([("__add__", "con")])) == {"add": "con"}
    assert form_actions(MultiDict([("__remove__", "con[1]")])) == {"remove": "con[1]"}
    assert form_actions(MultiDict([("__submit__", "1")])) == {}
    tree = doc(render_form(SCHEMA, {}, {"con": [{"ten": "a"}, {"ten": "b"}, {}]}))
    assert tree.xpath("//button[@name='__remove__']/@value") == ["con[0]", "con[1]", "con[2]"]


def test_values_for_officers():
    html = render_values(
        SCHEMA,
        {},
        {"nguoi": {"ho_ten": "An", "gioi_tinh": "nu"}, "dong_y": True, "tep": "abcdefghijklmnopqrstuvwx/gcs.pdf"},
        file_url=lambda ref: "/tep/" + ref.split("/")[0],
    )
    tree = doc(html)
    assert "Nữ" in tree.text_content() and "Có" in tree.text_content()
    assert tree.xpath("//a/@href") == ["/tep/abcdefghijklmnopqrstuvwx"]


def test_enum_titles_and_formatted_long_strings():
    schema = {"type": "object", "properties": {
        "quan_he": {"type": "string", "title": "Quan hệ", "enum": ["cha", "me"], "x-enum-titles": ["Cha", "Mẹ"]},
        "email": {"type": "string", "format": "email", "maxLength": 254, "title": "Email"}}}
    tree = doc(render_form(schema, {}, {}))
    assert "Mẹ" in tree.text_content()
    assert tree.get_element_by_id("f-email").tag == "input"
