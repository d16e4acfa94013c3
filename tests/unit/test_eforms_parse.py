"""Parsing posted eForm fields back into typed JSON, and the add/remove buttons of repeatable groups."""

from __future__ import annotations

import copy
import unicodedata
from typing import Any

from werkzeug.datastructures import MultiDict

from app.eforms.parse import check_action, form_actions, parse_form
from app.eforms.render import render_form
from app.eforms.schema import DEFAULT_MAX_ITEMS, split_path
from app.eforms.validate import validate_data
from tests.unit.test_eforms_render import SMALL, SMALL_UI, doc, post
from tests.unit.test_eforms_schema import BIRTH_SCHEMA, BIRTH_UI, PDF_REF, VALID_BIRTH_DATA

FILLED_BY_PERSON = {
    "f-nguoi_yeu_cau-ho_ten": "Nguyễn Văn An", "f-nguoi_yeu_cau-so_dinh_danh": "001090012345",
    "f-nguoi_yeu_cau-ngay_sinh": "1990-05-17", "f-nguoi_yeu_cau-gioi_tinh": "nam",
    "f-nguoi_yeu_cau-email": "an.nguyen@example.vn", "f-nguoi_yeu_cau-dien_thoai": "0912345678",
    "f-nguoi_yeu_cau-quan_he": "cha",
    "f-tre-ho_ten": "Nguyễn Minh Khôi", "f-tre-ngay_sinh": "2026-11-20", "f-tre-gioi_tinh": "nam",
    "f-tre-noi_sinh": "Bệnh viện Phụ sản Hà Nội, phường Láng, thành phố Hà Nội", "f-tre-can_nang": "3.2",
    "f-cha-ho_ten": "Nguyễn Văn An", "f-cha-ngay_sinh": "1990-05-17", "f-cha-so_dinh_danh": "001090012345",
    "f-me-ho_ten": "Trần Thị Bình",
    "f-so_ban_sao": "2", "f-giay_to_kem_theo-ket_hon": True, "f-nhan_ket_qua-buu_chinh": True,
    "f-cam_doan": True,
}


def apply_action(data: dict[str, Any], action: dict[str, str]) -> dict[str, Any]:
    """What a page does with an add/remove press: one more / one less item, then render again."""
    data = copy.deepcopy(data)
    if "add" in action:
        *parents, last = split_path(action["add"])
        node: Any = data
        for part in parents:
            node = node[part]
        node.setdefault(last, []).append({})
    if "remove" in action:
        *parents, index = split_path(action["remove"])
        node = data
        for part in parents:
            node = node[part]
        del node[index]
    return data


# ---------------------------------------------------------------- the whole round trip


def test_round_trip_render_post_parse_validate_gives_the_same_data():
    form = doc(render_form(BIRTH_SCHEMA, BIRTH_UI))
    data, files = parse_form(BIRTH_SCHEMA, post(form, FILLED_BY_PERSON))
    assert files == ["giay_chung_sinh"]
    assert "giay_chung_sinh" not in data
    data["giay_chung_sinh"] = PDF_REF  # the page stores the upload and puts its reference here
    assert data == VALID_BIRTH_DATA
    assert validate_data(BIRTH_SCHEMA, data) == {}

    # Shown again (say another field was wrong) and posted unchanged: nothing is lost, not even the file.
    again, files = parse_form(BIRTH_SCHEMA, post(doc(render_form(BIRTH_SCHEMA, BIRTH_UI, data))))
    assert again == VALID_BIRTH_DATA and files == ["giay_chung_sinh"]


def test_an_empty_post_asks_for_every_required_field_by_name():
    data, _ = parse_form(BIRTH_SCHEMA, post(doc(render_form(BIRTH_SCHEMA, BIRTH_UI))))
    # required groups are kept (so their fields are asked for), optional untouched ones are left out
    assert set(data) == {"nguoi_yeu_cau", "tre", "so_ban_sao", "nhan_ket_qua", "cam_doan"}
    assert data["cam_doan"] is False and data["so_ban_sao"] == 1 and data["nhan_ket_qua"] == "truc_tiep"
    errors = validate_data(BIRTH_SCHEMA, data)
    assert errors["nguoi_yeu_cau.ho_ten"] == "Vui lòng nhập Họ, chữ đệm và tên."
    assert errors["tre.gioi_tinh"] == "Vui lòng chọn Giới tính."
    assert errors["giay_chung_sinh"] == "Vui lòng đính kèm Giấy chứng sinh."
    assert errors["cam_doan"] == "Vui lòng đánh dấu Tôi cam đoan những nội dung khai trên đây là đúng sự thật."
    assert not any(path.startswith(("cha", "me", "nguoi_lam_chung")) for path in errors)


# ---------------------------------------------------------------- types


def test_numbers_are_converted_and_unparseable_ones_kept_as_typed():
    form = MultiDict([("tuoi", " 42 "), ("chieu_cao", "1,68"), ("so_con", "2.0"), ("ten", "Lan")])
    data, _ = parse_form(SMALL, form)
    assert data["tuoi"] == 42 and isinstance(data["tuoi"], int)
    assert data["chieu_cao"] == 1.68
    assert data["so_con"] == 2 and isinstance(data["so_con"], int)
    bad, _ = parse_form(SMALL, MultiDict([("tuoi", "bốn mươi"), ("chieu_cao", "nan"), ("so_con", "1e999")]))
    assert (bad["tuoi"], bad["chieu_cao"], bad["so_con"]) == ("bốn mươi", "nan", "1e999")
    errors = validate_data(SMALL, bad)
    assert errors["tuoi"] == "Tuổi: phải là số nguyên."
    assert errors["chieu_cao"] == "Chiều cao (m): phải là số."


def test_checkbox_absent_is_false_and_empty_strings_are_left_out():
    data, _ = parse_form(SMALL, MultiDict([("ten", ""), ("thu", "   "), ("an", "v1")]), ui=SMALL_UI)
    assert data == {"dong_y": False, "an": "v1"}
    ticked, _ = parse_form(SMALL, {"dong_y": ["true"]})
    assert ticked["dong_y"] is True


def test_plain_mapping_of_lists_or_strings_is_accepted():
    data, _ = parse_form(SMALL, {"ten": ["Lan"], "tuoi": "30"})
    assert data["ten"] == "Lan" and data["tuoi"] == 30


def test_text_is_normalised_to_nfc_and_line_breaks_to_newlines():
    decomposed = unicodedata.normalize("NFD", "Nguyễn Thị Ánh")
    data, _ = parse_form(SMALL, MultiDict([("ten", decomposed), ("dai", "dòng 1\r\ndòng 2\r\n")]))
    assert data["ten"] == "Nguyễn Thị Ánh" and data["ten"] != decomposed
    assert data["dai"] == "dòng 1\ndòng 2"


def test_datetime_local_becomes_rfc3339_in_vietnam_time():
    data, _ = parse_form(SMALL, MultiDict([("luc", "2026-11-23T08:00"), ("ngay", "2026-11-23")]))
    assert data["luc"] == "2026-11-23T08:00:00+07:00" and data["ngay"] == "2026-11-23"
    assert "luc" not in validate_data(SMALL, data)


def test_enums_stay_strings_integer_enums_become_integers_and_checkbox_groups_lists():
    schema = {"type": "object", "properties": {
        "loai": {"type": "string", "enum": ["1", "2"]},
        "muc": {"type": "integer", "enum": [1, 2, 3]},
        "nhieu": {"type": "array", "items": {"type": "string", "enum": ["a", "b", "c"]}},
        "so": {"type": "array", "items": {"type": "integer", "oneOf": [{"const": 1}, {"const": 2}]}},
    }}
    data, _ = parse_form(schema, MultiDict([("loai", "2"), ("muc", "3"), ("nhieu", "a"), ("nhieu", "c"),
                                            ("so", "2"), ("so", "")]))
    assert data == {"loai": "2", "muc": 3, "nhieu": ["a", "c"], "so": [2]}
    none, _ = parse_form(schema, MultiDict([("nhieu", "")]))
    assert none == {}


def test_radio_booleans_are_true_false_or_absent():
    schema = {"type": "object", "properties": {"co": {"type": "boolean", "title": "Có con chung"}}}
    ui = {"co": {"ui:widget": "radio"}}
    tree = doc(render_form(schema, ui))
    assert tree.xpath("//input[@type='radio']/@value") == ["true", "false"]
    assert parse_form(schema, post(tree, {"f-co-false": True}), ui=ui)[0] == {"co": False}
    assert parse_form(schema, MultiDict(), ui=ui)[0] == {}


# ---------------------------------------------------------------- groups and files


def test_optional_group_left_untouched_is_omitted_even_with_its_default_posted():
    form = MultiDict([("cha.quoc_tich", "Việt Nam"), ("me.quoc_tich", "Việt Nam"), ("me.ho_ten", "Bình")])
    data, _ = parse_form(BIRTH_SCHEMA, form)
    assert "cha" not in data
    assert data["me"] == {"ho_ten": "Bình", "quoc_tich": "Việt Nam"}
    changed, _ = parse_form(BIRTH_SCHEMA, MultiDict([("cha.quoc_tich", "Lào")]))
    assert changed["cha"] == {"quoc_tich": "Lào"}
    assert validate_data(BIRTH_SCHEMA, changed)["cha.ho_ten"] == "Vui lòng nhập Họ, chữ đệm và tên."


def test_arrays_of_objects_from_indexed_names():
    form = MultiDict([("nguoi_lam_chung[0].ho_ten", "Lê A"), ("nguoi_lam_chung[1].ho_ten", "Phạm B"),
                      ("nguoi_lam_chung[1].so_dinh_danh", "079201000123"), ("nguoi_lam_chung.__count__", "2")])
    data, _ = parse_form(BIRTH_SCHEMA, form)
    assert data["nguoi_lam_chung"] == [{"ho_ten": "Lê A"}, {"ho_ten": "Phạm B", "so_dinh_danh": "079201000123"}]


def test_blank_trailing_items_are_dropped_blank_middle_items_kept_for_their_errors():
    form = MultiDict([("nguoi_lam_chung[0].ho_ten", ""), ("nguoi_lam_chung[1].ho_ten", "Phạm B"),
                      ("nguoi_lam_chung[2].ho_ten", ""), ("nguoi_lam_chung.__count__", "3")])
    data, _ = parse_form(BIRTH_SCHEMA, form)
    assert data["nguoi_lam_chung"] == [{}, {"ho_ten": "Phạm B"}]
    assert validate_data(BIRTH_SCHEMA, data)["nguoi_lam_chung[0].ho_ten"] == "Vui lòng nhập Họ và tên."


def test_a_forged_index_does_not_build_a_huge_list():
    data, _ = parse_form(BIRTH_SCHEMA, MultiDict([("nguoi_lam_chung[999999999].ho_ten", "X"),
                                                  ("nguoi_lam_chung.__count__", "88888888")]))
    assert "X" not in str(data)
    assert len(data.get("nguoi_lam_chung", [])) <= 2  # the group's maxItems


def test_item_indices_and_counts_are_bounded_by_max_items_or_the_platform_cap():
    schema = {"type": "object", "properties": {
        "co_gioi_han": {"type": "array", "maxItems": 3, "items": {"type": "object", "properties": {
            "ten": {"type": "string"}}}},
        "khong_gioi_han": {"type": "array", "items": {"type": "object", "properties": {"ten": {"type": "string"}}}},
    }}
    form = MultiDict([("co_gioi_han[2].ten", "trong"), ("co_gioi_han[3].ten", "ngoai"),
                      ("khong_gioi_han[4].ten", "trong"), ("khong_gioi_han[5].ten", "ngoai"),
                      ("khong_gioi_han.__count__", "999999999999"), ("__add__", "co_gioi_han")])
    data, _ = parse_form(schema, form, max_items=5)
    assert [item.get("ten") for item in data["co_gioi_han"]] == [None, None, "trong"]
    assert len(data["khong_gioi_han"]) == 5 and data["khong_gioi_han"][4] == {"ten": "trong"}
    data, _ = parse_form(schema, MultiDict([("khong_gioi_han[150].ten", "x")]))
    assert "khong_gioi_han" not in data and DEFAULT_MAX_ITEMS == 100


def test_an_add_or_remove_press_is_answered_only_within_the_schema():
    schema = {"type": "object", "properties": {
        "con": {"type": "array", "maxItems": 2, "title": "Con", "items": {"type": "object", "properties": {
            "ten": {"type": "string"},
            "chau": {"type": "array", "items": {"type": "object", "properties": {"ten": {"type": "string"}}}}}}},
        "chon": {"type": "array", "items": {"enum": ["a", "b"]}},
        "ten": {"type": "string"},
    }}
    data = {"con": [{"ten": "A", "chau": [{}]}]}
    assert check_action(schema, data, {"add": "con"}) is None
    assert check_action(schema, data, {"add": "con[0].chau"}) is None
    assert check_action(schema, data, {"remove": "con[0]"}) is None
    assert check_action(schema, data, {"remove": "con[0].chau[0]"}) is None
    assert check_action(schema, {"con": [{}, {}]}, {"add": "con"}) == ("con", "Con: tối đa 2 mục.")
    assert check_action(schema, data, {"add": "con[0].chau"}, max_items=1) == (
        "con[0].chau", "Danh sách: tối đa 1 mục.")
    for refused in ({"add": "con[20000000]"}, {"add": "con[1].chau"}, {"add": "con[5].chau"}, {"add": "chon"},
                    {"add": "ten"}, {"add": "khong_co"}, {"remove": "con[1]"}, {"remove": "con"},
                    {"add": "con[0]x"}, {"remove": "ten[0]"}):
        path, message = check_action(schema, data, refused)
        assert path == "" and "không hợp lệ" in message, refused


def test_file_fields_are_reported_by_concrete_path():
    schema = {"type": "object", "properties": {
        "ho_so": {"type": "object", "properties": {"don": {"type": "string", "contentMediaType": "application/pdf"}}},
        "tep": {"type": "array", "items": {"type": "string", "contentMediaType": "application/pdf"}},
        "anh": {"type": "string"},
    }}
    tree = doc(render_form(schema, None, {"tep": ["abcdefghijklmnopqrstu/a.pdf", None]}))
    data, files = parse_form(schema, post(tree))
    assert files == ["ho_so.don", "tep[0]", "tep[1]"]
    assert data == {"tep": ["abcdefghijklmnopqrstu/a.pdf"]}
    _, with_ui = parse_form(schema, MultiDict(), ui={"anh": {"ui:widget": "file"}})
    assert "anh" in with_ui


# ---------------------------------------------------------------- add / remove without JavaScript


def test_add_and_remove_items_with_submit_buttons():
    tree = doc(render_form(BIRTH_SCHEMA, BIRTH_UI))
    posted = post(tree, {"f-nguoi_lam_chung-0--ho_ten": "Lê A"}, click=("__add__", "nguoi_lam_chung"))
    action = form_actions(posted)
    assert action == {"add": "nguoi_lam_chung"}
    data, _ = parse_form(BIRTH_SCHEMA, posted)
    data = apply_action(data, action)
    tree = doc(render_form(BIRTH_SCHEMA, BIRTH_UI, data))
    assert len(tree.get_element_by_id("f-nguoi_lam_chung").find_class("form-group-item")) == 2
    assert tree.get_element_by_id("f-nguoi_lam_chung-0--ho_ten").value == "Lê A"

    posted = post(tree, {"f-nguoi_lam_chung-1--ho_ten": "Phạm B"}, click=("__remove__", "nguoi_lam_chung[0]"))
    action = form_actions(posted)
    assert action == {"remove": "nguoi_lam_chung[0]"}
    data = apply_action(parse_form(BIRTH_SCHEMA, posted)[0], action)
    tree = doc(render_form(BIRTH_SCHEMA, BIRTH_UI, data))
    assert len(tree.get_element_by_id("f-nguoi_lam_chung").find_class("form-group-item")) == 1
    assert tree.get_element_by_id("f-nguoi_lam_chung-0--ho_ten").value == "Phạm B"


def test_a_blank_item_survives_an_add_but_not_a_submit():
    tree = doc(render_form(BIRTH_SCHEMA, BIRTH_UI))
    posted = post(tree, click=("__add__", "nguoi_lam_chung"))
    data, _ = parse_form(BIRTH_SCHEMA, posted)
    assert data["nguoi_lam_chung"] == [{}]
    tree = doc(render_form(BIRTH_SCHEMA, BIRTH_UI, apply_action(data, form_actions(posted))))
    assert len(tree.find_class("form-group-item")) == 2
    assert tree.xpath("//button[@name='__add__']") == []  # maxItems is 2
    data, _ = parse_form(BIRTH_SCHEMA, post(tree))
    assert "nguoi_lam_chung" not in data


def test_form_actions_ignore_other_forms_and_garbage():
    assert form_actions(MultiDict([("__submit__", "1")])) == {}
    assert form_actions({"__add__": ["con"]}) == {"add": "con"}
    assert form_actions(MultiDict([("__remove__", "con[1]")])) == {"remove": "con[1]"}
    assert form_actions(MultiDict([("__add__", "khac.con")]), prefix="nv.") == {}
    assert form_actions(MultiDict([("__add__", "nv.con")]), prefix="nv.") == {"add": "con"}
    assert form_actions(MultiDict([("__remove__", "con[x]")])) == {}
    assert form_actions(MultiDict([("__add__", "")])) == {}


def test_prefixed_forms_parse_only_their_own_fields():
    tree = doc(render_form(SMALL, SMALL_UI, prefix="nv.") + render_form(SMALL, SMALL_UI, prefix="khac."))
    posted = post(tree, {"f-nv-ten": "Lan", "f-nv-tuoi": "30", "f-khac-ten": "Huệ"})
    data, _ = parse_form(SMALL, posted, prefix="nv.", ui=SMALL_UI)
    assert data["ten"] == "Lan" and data["tuoi"] == 30
    other, _ = parse_form(SMALL, posted, prefix="khac.", ui=SMALL_UI)
    assert other["ten"] == "Huệ" and "tuoi" not in other
