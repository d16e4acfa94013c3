"""eForm schemas: paths ↔ JSON pointers, and the deploy-time check of a form schema.

BIRTH_SCHEMA / BIRTH_UI (a birth registration declaration, 1.001193) are shared by the other
test_eforms_* modules.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from app.eforms.schema import (
    FormSchemaError,
    check_form_schema,
    describe_root,
    field_id,
    path_to_pointer,
    pointer_to_path,
)

PERSON_ID = {"type": "string", "title": "Số định danh cá nhân", "pattern": "^[0-9]{12}$",
             "x-pattern-message": "Số định danh cá nhân phải gồm đúng 12 chữ số.",
             "description": "12 chữ số in trên thẻ căn cước"}
SEX = {"type": "string", "title": "Giới tính", "oneOf": [{"const": "nam", "title": "Nam"},
                                                         {"const": "nu", "title": "Nữ"}]}

BIRTH_SCHEMA: dict = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Tờ khai đăng ký khai sinh",
    "type": "object",
    "additionalProperties": False,
    "required": ["nguoi_yeu_cau", "tre", "giay_chung_sinh", "cam_doan"],
    "$defs": {
        "cha_me": {
            "type": "object",
            "required": ["ho_ten"],
            "properties": {
                "ho_ten": {"type": "string", "title": "Họ, chữ đệm và tên", "minLength": 2, "maxLength": 100},
                "ngay_sinh": {"type": "string", "format": "date", "title": "Ngày sinh"},
                "so_dinh_danh": PERSON_ID,
                "quoc_tich": {"type": "string", "title": "Quốc tịch", "default": "Việt Nam"},
            },
        },
    },
    "properties": {
        "nguoi_yeu_cau": {
            "type": "object",
            "title": "Người yêu cầu",
            "required": ["ho_ten", "so_dinh_danh", "ngay_sinh", "gioi_tinh", "dien_thoai"],
            "properties": {
                "ho_ten": {"type": "string", "title": "Họ, chữ đệm và tên", "minLength": 2, "maxLength": 100},
                "so_dinh_danh": PERSON_ID,
                "ngay_sinh": {"type": "string", "format": "date", "title": "Ngày sinh"},
                "gioi_tinh": SEX,
                "email": {"type": "string", "format": "email", "title": "Thư điện tử"},
                "dien_thoai": {"type": "string", "title": "Số điện thoại", "pattern": "^0[0-9]{9}$"},
                "quan_he": {"type": "string", "title": "Quan hệ với người được khai sinh",
                            "enum": ["cha", "me", "ong_ba", "khac"], "x-enumNames": ["Cha", "Mẹ", "Ông/Bà", "Khác"]},
            },
        },
        "tre": {
            "type": "object",
            "title": "Người được khai sinh",
            "required": ["ho_ten", "ngay_sinh", "gioi_tinh", "noi_sinh"],
            "properties": {
                "ho_ten": {"type": "string", "title": "Họ, chữ đệm và tên", "minLength": 2, "maxLength": 100},
                "ngay_sinh": {"type": "string", "format": "date", "title": "Ngày sinh"},
                "gioi_tinh": SEX,
                "noi_sinh": {"type": "string", "title": "Nơi sinh", "maxLength": 500,
                             "description": "Tên cơ sở y tế, xã/phường, tỉnh/thành phố"},
                "can_nang": {"type": "number", "title": "Cân nặng khi sinh (kg)", "exclusiveMinimum": 0,
                             "maximum": 10},
            },
        },
        "cha": {"$ref": "#/$defs/cha_me", "title": "Người cha"},
        "me": {"$ref": "#/$defs/cha_me", "title": "Người mẹ"},
        "nguoi_lam_chung": {
            "type": "array",
            "title": "Người làm chứng",
            "description": "Chỉ khai khi không có giấy chứng sinh",
            "maxItems": 2,
            "items": {"type": "object", "title": "Người làm chứng", "required": ["ho_ten"],
                      "properties": {"ho_ten": {"type": "string", "title": "Họ và tên"},
                                     "so_dinh_danh": PERSON_ID}},
        },
        "so_ban_sao": {"type": "integer", "title": "Số bản sao trích lục", "minimum": 0, "maximum": 10,
                       "default": 1},
        "giay_to_kem_theo": {"type": "array", "title": "Giấy tờ nộp kèm", "uniqueItems": True,
                             "items": {"type": "string", "enum": ["uy_quyen", "ket_hon"],
                                       "x-enumNames": ["Văn bản ủy quyền", "Giấy chứng nhận kết hôn của cha mẹ"]}},
        "giay_chung_sinh": {"type": "string", "title": "Giấy chứng sinh", "contentMediaType": "application/pdf"},
        "nhan_ket_qua": {"type": "string", "title": "Hình thức nhận kết quả", "default": "truc_tiep",
                         "enum": ["truc_tiep", "buu_chinh"], "x-enumNames": ["Nhận trực tiếp", "Qua bưu chính"]},
        "ghi_chu": {"type": "string", "title": "Ghi chú"},
        "cam_doan": {"type": "boolean", "const": True,
                     "title": "Tôi cam đoan những nội dung khai trên đây là đúng sự thật"},
    },
}

BIRTH_UI: dict = {
    "ui:order": ["nguoi_yeu_cau", "tre", "cha", "me", "*", "cam_doan"],
    "nguoi_yeu_cau": {"dien_thoai": {"ui:placeholder": "0912345678", "ui:autocomplete": "tel"},
                      "ho_ten": {"ui:help": "Viết đúng như trên giấy tờ tùy thân"}},
    "nhan_ket_qua": {"ui:widget": "radio"},
    "ghi_chu": {"ui:widget": "textarea"},
}

PDF_REF = "AbCdEfGhIjKlMnOpQrStUv/giay-chung-sinh.pdf"

VALID_BIRTH_DATA: dict = {
    "nguoi_yeu_cau": {"ho_ten": "Nguyễn Văn An", "so_dinh_danh": "001090012345", "ngay_sinh": "1990-05-17",
                      "gioi_tinh": "nam", "email": "an.nguyen@example.vn", "dien_thoai": "0912345678",
                      "quan_he": "cha"},
    "tre": {"ho_ten": "Nguyễn Minh Khôi", "ngay_sinh": "2026-11-20", "gioi_tinh": "nam",
            "noi_sinh": "Bệnh viện Phụ sản Hà Nội, phường Láng, thành phố Hà Nội", "can_nang": 3.2},
    "cha": {"ho_ten": "Nguyễn Văn An", "ngay_sinh": "1990-05-17", "so_dinh_danh": "001090012345",
            "quoc_tich": "Việt Nam"},
    "me": {"ho_ten": "Trần Thị Bình", "quoc_tich": "Việt Nam"},
    "so_ban_sao": 2,
    "giay_to_kem_theo": ["ket_hon"],
    "giay_chung_sinh": PDF_REF,
    "nhan_ket_qua": "buu_chinh",
    "cam_doan": True,
}


def test_paths_and_pointers_convert_both_ways():
    cases = {"": "", "ho_ten": "/ho_ten", "nguoi_yeu_cau.ho_ten": "/nguoi_yeu_cau/ho_ten",
             "con[0].ho_ten": "/con/0/ho_ten", "con[12]": "/con/12", "a[1].b[2].c": "/a/1/b/2/c"}
    for path, pointer in cases.items():
        assert path_to_pointer(path) == pointer
        assert pointer_to_path(pointer) == path


def test_pointer_escaping_follows_rfc_6901():
    assert path_to_pointer("a/b.c~d") == "/a~1b/c~0d"
    assert pointer_to_path("/a~1b/c~0d") == "a/b.c~d"


def test_field_ids_replace_punctuation_but_keep_underscores():
    assert field_id("nguoi_yeu_cau.ho_ten") == "f-nguoi_yeu_cau-ho_ten"
    assert field_id("con[0].ho_ten") == "f-con-0--ho_ten"
    assert field_id("ho_ten", "task.") == "f-task-ho_ten"


def test_the_birth_declaration_is_a_valid_form():
    assert check_form_schema(BIRTH_SCHEMA) == []


def test_invalid_json_schema_is_reported_at_the_offending_keyword():
    schema = {"type": "object", "properties": {"a": {"type": "strin"}, "b": {"type": "string", "minLength": -1}}}
    problems = dict(check_form_schema(schema))
    assert "/properties/a/type" in problems and "strin" in problems["/properties/a/type"]
    assert problems["/properties/b/minLength"] == "“minLength” phải là số nguyên không âm."
    wrong_kind = dict(check_form_schema({"type": "object", "properties": {"a": {"type": "string", "maxLength": "3"}}}))
    assert wrong_kind == {"/properties/a/maxLength": "Giá trị của “maxLength” phải là một số nguyên."}


def test_invalid_regular_expression_is_reported():
    problems = dict(check_form_schema({"type": "object", "properties": {"a": {"type": "string", "pattern": "(["}}}))
    assert "Biểu thức chính quy" in problems["/properties/a/pattern"]


def test_root_must_be_an_object_with_properties():
    assert check_form_schema([]) == [("", "Biểu mẫu phải là một đối tượng JSON Schema.")]
    assert [p for p, _ in check_form_schema({"type": "array", "items": {"type": "string"}})] == ["/type", "/properties"]
    assert [p for p, _ in check_form_schema({"type": "object"})] == ["/properties"]


def test_other_dialects_are_refused():
    schema = {**BIRTH_SCHEMA, "$schema": "http://json-schema.org/draft-07/schema#"}
    assert [p for p, _ in check_form_schema(schema)] == ["/$schema"]


def test_unsupported_constructs_are_reported_with_their_pointer():
    schema = {"type": "object", "required": ["khong_co"], "properties": {
        "a": {"type": "null", "title": "Trống"},
        "b": {"type": ["string", "integer"]},
        "c": {"type": "object", "title": "Tự do"},
        "d": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
        "e": {"$ref": "https://example.com/x.json"},
        "f": {"$ref": "#/$defs/khong_co"},
        "g": {"title": "Không kiểu"},
        "ok": {"type": ["string", "null"]},
        "nhom": {"type": "object", "properties": {"h": {"type": "null"}}},
        "ten có dấu": {"type": "string"},
    }}
    problems = dict(check_form_schema(schema))
    assert set(problems) == {"/required", "/properties/a/type", "/properties/b/type", "/properties/c",
                             "/properties/d/items", "/properties/e/$ref", "/properties/f/$ref", "/properties/g",
                             "/properties/nhom/properties/h/type", "/properties/ten có dấu"}
    assert "khong_co" in problems["/required"]
    assert "“null”" in problems["/properties/a/type"] and "Trống" in problems["/properties/a/type"]


def test_recursive_references_are_refused_not_followed_forever():
    schema = {"type": "object", "$defs": {"nguoi": {"type": "object", "properties": {
        "ten": {"type": "string"}, "cha": {"$ref": "#/$defs/nguoi"}}}},
              "properties": {"nguoi": {"$ref": "#/$defs/nguoi"}}}
    problems = check_form_schema(schema)
    assert problems and "sâu" in problems[0][1]


def test_describe_root_raises_a_form_schema_error_with_pointer():
    with pytest.raises(FormSchemaError) as caught:
        describe_root({"type": "object", "properties": {"x": {"type": "null"}}}).children()
    assert caught.value.pointer == "/properties/x/type"
    assert "null" in caught.value.message


def test_the_shared_birth_schema_is_not_mutated_by_checks():
    before = copy.deepcopy(BIRTH_SCHEMA)
    check_form_schema(BIRTH_SCHEMA)
    assert before == BIRTH_SCHEMA


def test_a_repeatable_group_may_not_declare_more_than_the_ceiling():
    def group(max_items):
        return {"type": "object", "properties": {"con": {"type": "array", "maxItems": max_items, "items": {
            "type": "object", "properties": {"ten": {"type": "string"}}}}}}

    assert check_form_schema(group(1000)) == []
    problems = dict(check_form_schema(group(20_000_000)))
    assert list(problems) == ["/properties/con/maxItems"] and "1000" in problems["/properties/con/maxItems"]


def test_form_defaults_nest_like_the_form():
    from app.eforms.schema import form_defaults

    schema = {"type": "object", "$defs": {"nguoi": {"type": "object", "properties": {
        "ten": {"type": "string"}, "quoc_tich": {"type": "string", "default": "Việt Nam"}}}},
        "properties": {"so_ban_sao": {"type": "integer", "default": 1}, "me": {"$ref": "#/$defs/nguoi"},
                       "cha": {"type": "object", "properties": {"ten": {"type": "string"}}},
                       "nhan": {"type": "object", "default": {"cach": "buu_chinh"},
                                "properties": {"cach": {"type": "string"}, "so": {"type": "integer", "default": 2}}},
                       "chon": {"type": "array", "items": {"enum": ["a", "b"]}, "default": ["a"]}}}
    assert form_defaults(schema) == {"so_ban_sao": 1, "me": {"quoc_tich": "Việt Nam"},
                                     "nhan": {"cach": "buu_chinh", "so": 2}, "chon": ["a"]}


def test_patterns_a_linear_time_engine_cannot_run_are_refused_with_the_reason():
    def problems_of(**pattern_in: Any) -> dict[str, str]:
        return dict(check_form_schema({"type": "object", "properties": {"a": {"type": "string", **pattern_in}}}))

    backreference = problems_of(pattern="^(a)\\1$")
    assert list(backreference) == ["/properties/a/pattern"]
    assert "tham chiếu ngược" in backreference["/properties/a/pattern"]
    lookahead = problems_of(pattern="^(?=.*[0-9]).+$")
    assert "nhìn trước" in lookahead["/properties/a/pattern"]
    too_long = problems_of(pattern="^" + "a" * 2000 + "$")
    assert "quá dài" in too_long["/properties/a/pattern"]
    keyed = dict(check_form_schema({"type": "object", "properties": {"a": {"type": "string"}},
                                    "patternProperties": {"^(x)\\1$": {"type": "string"}}}))
    assert any("tham chiếu ngược" in message for message in keyed.values()), keyed
    assert problems_of(pattern="^(a+)+$") == {}
    assert problems_of(pattern="^[A-Za-z\\u00C0-\\u1EF9 ]+$") == {}
