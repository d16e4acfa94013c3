"""Rendering eForms as accessible server-side HTML, asserted on the parsed element tree."""

from __future__ import annotations

from typing import Any

import lxml.html
from markupsafe import Markup
from werkzeug.datastructures import MultiDict

from app.eforms.render import render_form, render_values
from tests.unit.test_eforms_schema import BIRTH_SCHEMA, BIRTH_UI, PDF_REF, VALID_BIRTH_DATA


def doc(html: str) -> Any:
    """The rendered fields inside a <form>, as a browser would hold them."""
    return lxml.html.fromstring(f"<form>{html}</form>")


def post(form: Any, fill: dict[str, Any] | None = None, click: tuple[str, str] | None = None) -> MultiDict:
    """What a browser would submit after the person sets some fields (by element id) and presses a button."""
    for element_id, value in (fill or {}).items():
        element = form.get_element_by_id(element_id)
        if element.tag == "input" and element.get("type") == "radio":
            for sibling in form.xpath(".//input[@type='radio'][@name=$name]", name=element.get("name")):
                sibling.checked = False  # a browser keeps one radio of a group checked
            element.checked = bool(value)
        elif element.tag == "input" and element.get("type") == "checkbox":
            element.checked = bool(value)
        else:
            element.value = value
    pairs = form.form_values()
    if click:
        pairs.append(click)
    return MultiDict(pairs)


def one(tree: Any, xpath: str) -> Any:
    found = tree.xpath(xpath)
    assert len(found) == 1, f"{xpath}: {len(found)} matches"
    return found[0]


def described_by(tree: Any, element: Any) -> list[str]:
    """The texts an assistive technology would read as the element's description."""
    return [tree.get_element_by_id(i).text_content() for i in (element.get("aria-describedby") or "").split()]


SMALL = {
    "type": "object",
    "required": ["ten", "tuoi"],
    "properties": {
        "ten": {"type": "string", "title": "Tên", "minLength": 2, "maxLength": 50},
        "tuoi": {"type": "integer", "title": "Tuổi", "minimum": 0, "maximum": 150},
        "chieu_cao": {"type": "number", "title": "Chiều cao (m)", "minimum": 0.3, "multipleOf": 0.01},
        "so_con": {"type": "integer", "title": "Số con", "exclusiveMinimum": 0, "exclusiveMaximum": 20},
        "ngay": {"type": "string", "format": "date", "title": "Ngày"},
        "luc": {"type": "string", "format": "date-time", "title": "Lúc"},
        "thu": {"type": "string", "format": "email", "title": "Thư"},
        "ma": {"type": "string", "title": "Mã", "pattern": "^[A-Z]{2}[0-9]{4}$"},
        "tu_do": {"type": "string", "title": "Mẫu không neo", "pattern": "[0-9]"},
        "dai": {"type": "string", "title": "Trình bày", "maxLength": 1000},
        "dong_y": {"type": "boolean", "title": "Đồng ý nhận tin", "default": True},
        "an": {"type": "string", "title": "Ẩn", "default": "v1"},
    },
}
SMALL_UI = {"an": {"ui:widget": "hidden"}, "ui:order": ["tuoi", "*", "ten"]}


# ---------------------------------------------------------------- field types


def test_every_scalar_type_becomes_the_right_control():
    tree = doc(render_form(SMALL, SMALL_UI))
    ten = tree.get_element_by_id("f-ten")
    assert (ten.tag, ten.get("type"), ten.get("minlength"), ten.get("maxlength")) == ("input", "text", "2", "50")
    tuoi = tree.get_element_by_id("f-tuoi")
    assert (tuoi.get("type"), tuoi.get("min"), tuoi.get("max"), tuoi.get("step")) == ("number", "0", "150", "1")
    cao = tree.get_element_by_id("f-chieu_cao")
    assert (cao.get("type"), cao.get("min"), cao.get("step")) == ("number", "0.3", "0.01")
    so_con = tree.get_element_by_id("f-so_con")
    assert (so_con.get("min"), so_con.get("max")) == ("1", "19")
    assert tree.get_element_by_id("f-ngay").get("type") == "date"
    assert tree.get_element_by_id("f-luc").get("type") == "datetime-local"
    assert tree.get_element_by_id("f-thu").get("type") == "email"
    ma = tree.get_element_by_id("f-ma")
    assert ma.get("pattern") == "^[A-Z]{2}[0-9]{4}$" and ma.get("inputmode") is None
    # HTML anchors a pattern, JSON Schema does not: an unanchored pattern is left to the server.
    assert tree.get_element_by_id("f-tu_do").get("pattern") is None
    assert tree.get_element_by_id("f-dai").tag == "textarea"
    assert tree.get_element_by_id("f-dong_y").get("type") == "checkbox"
    hidden = one(tree, "//input[@name='an']")
    assert hidden.get("type") == "hidden" and hidden.get("value") == "v1"
    assert not tree.xpath("//label[@for='f-an']")


def test_number_step_is_any_without_multiple_of():
    schema = {"type": "object", "properties": {"x": {"type": "number", "title": "X"}}}
    assert doc(render_form(schema)).get_element_by_id("f-x").get("step") == "any"


def test_digits_only_pattern_asks_for_the_numeric_keyboard():
    tree = doc(render_form(BIRTH_SCHEMA, BIRTH_UI))
    cccd = tree.get_element_by_id("f-nguoi_yeu_cau-so_dinh_danh")
    assert (cccd.get("pattern"), cccd.get("inputmode")) == ("^[0-9]{12}$", "numeric")
    phone = tree.get_element_by_id("f-nguoi_yeu_cau-dien_thoai")
    assert (phone.get("inputmode"), phone.get("placeholder"), phone.get("autocomplete")) == (
        "numeric",
        "0912345678",
        "tel",
    )


def test_every_field_has_a_label_and_ui_order_is_followed():
    tree = doc(render_form(SMALL, SMALL_UI))
    for control in tree.xpath("//input[@type!='hidden'] | //select | //textarea"):
        label = one(tree, f"//label[@for='{control.get('id')}']")
        assert label.text_content().strip()
    names = [e.get("name") for e in tree.xpath("//input | //select | //textarea")]
    assert names[0] == "tuoi" and names[-1] == "ten"


def test_enum_is_a_select_with_labelled_options():
    tree = doc(render_form(BIRTH_SCHEMA, BIRTH_UI))
    quan_he = tree.get_element_by_id("f-nguoi_yeu_cau-quan_he")
    assert quan_he.tag == "select"
    assert [(o.get("value"), o.text) for o in quan_he.findall("option")] == [
        ("", "— Chọn —"),
        ("cha", "Cha"),
        ("me", "Mẹ"),
        ("ong_ba", "Ông/Bà"),
        ("khac", "Khác"),
    ]
    sex = tree.get_element_by_id("f-tre-gioi_tinh")  # oneOf const + title
    assert [o.text for o in sex.findall("option")] == ["— Chọn —", "Nam", "Nữ"]
    assert sex.get("required") is not None


def test_required_select_with_a_value_has_no_empty_choice():
    tree = doc(render_form(BIRTH_SCHEMA, BIRTH_UI, VALID_BIRTH_DATA))
    sex = tree.get_element_by_id("f-tre-gioi_tinh")
    assert [o.get("value") for o in sex.findall("option")] == ["nam", "nu"]
    assert sex.value == "nam"


def test_radio_widget_is_a_fieldset_of_radios():
    tree = doc(render_form(BIRTH_SCHEMA, BIRTH_UI))
    group = tree.get_element_by_id("f-nhan_ket_qua-group")
    assert group.tag == "fieldset"
    assert group.find("legend").text_content() == "Hình thức nhận kết quả"
    radios = group.xpath(".//input[@type='radio']")
    assert [r.get("id") for r in radios] == ["f-nhan_ket_qua-truc_tiep", "f-nhan_ket_qua-buu_chinh"]
    assert {r.get("name") for r in radios} == {"nhan_ket_qua"}
    assert [r.checked for r in radios] == [True, False]  # the default
    assert one(tree, "//label[@for='f-nhan_ket_qua-buu_chinh']").text == "Qua bưu chính"


def test_array_of_enum_strings_is_a_checkbox_group():
    tree = doc(render_form(BIRTH_SCHEMA, BIRTH_UI, {"giay_to_kem_theo": ["ket_hon"]}))
    group = tree.get_element_by_id("f-giay_to_kem_theo-group")
    boxes = group.xpath(".//input[@type='checkbox']")
    assert [(b.get("name"), b.get("value"), b.checked) for b in boxes] == [
        ("giay_to_kem_theo", "uy_quyen", False),
        ("giay_to_kem_theo", "ket_hon", True),
    ]
    assert all(b.get("required") is None for b in boxes)


def test_boolean_checkbox_and_a_box_that_must_be_ticked():
    tree = doc(render_form(BIRTH_SCHEMA, BIRTH_UI))
    box = tree.get_element_by_id("f-cam_doan")
    assert (box.get("type"), box.get("value"), box.get("required")) == ("checkbox", "true", "")
    assert "cam đoan" in one(tree, "//label[@for='f-cam_doan']").text_content()
    plain = doc(render_form(SMALL, SMALL_UI)).get_element_by_id("f-dong_y")
    assert plain.get("required") is None and plain.checked  # default True on a fresh form


def test_nested_objects_are_fieldsets_with_legends():
    tree = doc(render_form(BIRTH_SCHEMA, BIRTH_UI))
    cha = tree.get_element_by_id("f-cha")
    assert cha.tag == "fieldset" and cha.find("legend").text_content() == "Người cha"  # title next to $ref
    assert cha.xpath(".//input[@name='cha.ho_ten']")
    assert tree.get_element_by_id("f-nguoi_yeu_cau").find("legend").text_content().startswith("Người yêu cầu")


def test_textarea_widget_and_leading_newline_survives():
    html = render_form(BIRTH_SCHEMA, BIRTH_UI, {"ghi_chu": "\nDòng hai"})
    area = doc(html).get_element_by_id("f-ghi_chu")
    assert area.tag == "textarea" and area.get("rows") == "4"
    # Browsers (HTML5) drop one newline right after <textarea>; lxml's parser does not, so look at the markup.
    assert 'rows="4">\n\nDòng hai</textarea>' in html


# ---------------------------------------------------------------- help, required, sources, defaults


def test_required_fields_have_the_attribute_and_a_marker_with_text():
    tree = doc(render_form(BIRTH_SCHEMA, BIRTH_UI))
    assert tree.get_element_by_id("f-tre-ho_ten").get("required") is not None
    label = one(tree, "//label[@for='f-tre-ho_ten']")
    marker = label.find_class("form-required")[0]
    assert marker.xpath("./span[@aria-hidden='true']")[0].text.strip() == "*"
    assert "bắt buộc" in marker.text_content()
    assert one(tree, "//label[@for='f-nguoi_yeu_cau-email']").find_class("form-required") == []
    assert tree.get_element_by_id("f-nguoi_yeu_cau-email").get("required") is None
    assert "là bắt buộc" in tree.find_class("form-required-note")[0].text_content()


def test_description_and_ui_help_are_linked_by_aria_describedby():
    tree = doc(render_form(BIRTH_SCHEMA, BIRTH_UI))
    cccd = tree.get_element_by_id("f-nguoi_yeu_cau-so_dinh_danh")
    assert described_by(tree, cccd) == ["12 chữ số in trên thẻ căn cước"]
    assert "form-help" in tree.get_element_by_id(cccd.get("aria-describedby")).get("class")
    name = tree.get_element_by_id("f-nguoi_yeu_cau-ho_ten")
    assert described_by(tree, name) == ["Viết đúng như trên giấy tờ tùy thân"]
    group = tree.get_element_by_id("f-nguoi_lam_chung")
    assert described_by(tree, group) == ["Chỉ khai khi không có giấy chứng sinh"]


def test_prefill_source_is_noted_by_the_field():
    source = "Cơ sở dữ liệu quốc gia về dân cư, 23/11/2026 08:00"
    tree = doc(
        render_form(BIRTH_SCHEMA, BIRTH_UI, VALID_BIRTH_DATA, prefill_sources={"nguoi_yeu_cau.ngay_sinh": source})
    )
    field = tree.get_element_by_id("f-nguoi_yeu_cau-ngay_sinh")
    assert described_by(tree, field) == [f"Lấy từ {source}"]
    assert field.value == "1990-05-17"


def test_defaults_fill_a_fresh_form_but_not_a_field_the_person_cleared():
    fresh = doc(render_form(BIRTH_SCHEMA, BIRTH_UI))
    assert fresh.get_element_by_id("f-so_ban_sao").value == "1"
    assert fresh.get_element_by_id("f-me-quoc_tich").value == "Việt Nam"
    cleared = doc(render_form(BIRTH_SCHEMA, BIRTH_UI, {"nguoi_yeu_cau": {"ho_ten": "An"}, "me": {"ho_ten": "Bình"}}))
    assert cleared.get_element_by_id("f-so_ban_sao").value == ""
    assert cleared.get_element_by_id("f-me-quoc_tich").value == ""
    assert cleared.get_element_by_id("f-cha-quoc_tich").value == "Việt Nam"  # a group nobody touched


# ---------------------------------------------------------------- files


def test_file_upload_field_accepts_the_declared_type():
    tree = doc(render_form(BIRTH_SCHEMA, BIRTH_UI))
    upload = tree.get_element_by_id("f-giay_chung_sinh")
    assert (upload.get("type"), upload.get("accept"), upload.get("required")) == ("file", "application/pdf", "")
    widget = {"type": "object", "properties": {"anh": {"type": "string", "title": "Ảnh"}}}
    ui = {"anh": {"ui:widget": "file", "ui:options": {"accept": "image/*"}}}
    other = doc(render_form(widget, ui)).get_element_by_id("f-anh")
    assert (other.get("type"), other.get("accept")) == ("file", "image/*")


def test_an_attached_file_is_shown_and_kept_across_a_re_render():
    tree = doc(
        render_form(
            BIRTH_SCHEMA,
            BIRTH_UI,
            {"giay_chung_sinh": PDF_REF},
            {"tre.ho_ten": "Vui lòng nhập Họ, chữ đệm và tên."},
            file_url=lambda ref: "/tep/" + ref.split("/")[0],
        )
    )
    upload = tree.get_element_by_id("f-giay_chung_sinh")
    assert upload.get("required") is None  # a new file is not demanded
    kept = one(tree, "//input[@type='hidden'][@name='giay_chung_sinh']")
    assert kept.get("value") == PDF_REF
    note = tree.get_element_by_id("f-giay_chung_sinh-current")
    assert "giay-chung-sinh.pdf" in note.text_content()
    assert note.xpath(".//a/@href") == ["/tep/AbCdEfGhIjKlMnOpQrStUv"]
    assert "f-giay_chung_sinh-current" in upload.get("aria-describedby").split()
    assert post(tree).getlist("giay_chung_sinh") == [PDF_REF]


# ---------------------------------------------------------------- repeatable groups


def test_repeatable_group_renders_at_least_one_item_with_numbered_legends():
    tree = doc(render_form(BIRTH_SCHEMA, BIRTH_UI))
    group = tree.get_element_by_id("f-nguoi_lam_chung")
    assert "form-group" in group.get("class").split()
    items = group.find_class("form-group-item")
    assert [i.find("legend").text_content() for i in items] == ["Người làm chứng thứ 1"]
    assert tree.get_element_by_id("f-nguoi_lam_chung-0--ho_ten").get("name") == "nguoi_lam_chung[0].ho_ten"
    add = one(tree, "//button[@name='__add__']")
    assert (add.get("type"), add.get("value"), add.get("formnovalidate")) == ("submit", "nguoi_lam_chung", "")
    assert add.text_content() == "Thêm người làm chứng"


def test_item_count_is_data_or_min_items_and_remove_only_beyond_min_items():
    schema = {
        "type": "object",
        "properties": {
            "con": {
                "type": "array",
                "title": "Các con",
                "minItems": 2,
                "maxItems": 3,
                "items": {
                    "type": "object",
                    "title": "Con",
                    "properties": {"ho_ten": {"type": "string", "title": "Họ tên"}},
                },
            }
        },
    }
    two = doc(render_form(schema))
    assert len(two.find_class("form-group-item")) == 2
    assert two.xpath("//button[@name='__remove__']") == []
    three = doc(render_form(schema, None, {"con": [{"ho_ten": "A"}, {"ho_ten": "B"}, {"ho_ten": "C"}]}))
    assert [i.find("legend").text for i in three.find_class("form-group-item")] == [
        "Con thứ 1",
        "Con thứ 2",
        "Con thứ 3",
    ]
    assert three.xpath("//button[@name='__remove__']/@value") == ["con[2]"]
    assert three.xpath("//button[@name='__add__']") == []  # maxItems reached
    assert three.get_element_by_id("f-con-2--ho_ten").value == "C"


def test_repeatable_scalar_items_are_labelled_by_number():
    schema = {
        "type": "object",
        "properties": {
            "tep": {
                "type": "array",
                "title": "Tệp đính kèm",
                "items": {"type": "string", "title": "Tệp", "contentMediaType": "application/pdf"},
            }
        },
    }
    tree = doc(render_form(schema, None, {"tep": ["abcdefghijklmnopqrstu/a.pdf", "abcdefghijklmnopqrstu/b.pdf"]}))
    assert tree.get_element_by_id("f-tep-1-").get("type") == "file"
    assert one(tree, "//label[@for='f-tep-1-']").text_content() == "Tệp thứ 2"
    assert tree.xpath("//input[@type='hidden'][@name='tep[1]']/@value") == ["abcdefghijklmnopqrstu/b.pdf"]


def test_enter_key_submits_instead_of_adding_an_item():
    tree = doc(render_form(BIRTH_SCHEMA, BIRTH_UI))
    first = tree.xpath("//button[@type='submit']")[0]
    assert first.get("name") is None and first.get("hidden") is not None


# ---------------------------------------------------------------- errors


def test_error_is_linked_announced_and_keeps_what_was_typed():
    errors = {
        "nguoi_yeu_cau.so_dinh_danh": "Số định danh cá nhân phải gồm đúng 12 chữ số.",
        "tre.gioi_tinh": "Vui lòng chọn Giới tính.",
        "tre.can_nang": "Cân nặng: phải là số.",
    }
    data = {"nguoi_yeu_cau": {"so_dinh_danh": "0010900"}, "tre": {"can_nang": "ba cân"}}
    tree = doc(render_form(BIRTH_SCHEMA, BIRTH_UI, data, errors))
    for path, element_id in (
        ("nguoi_yeu_cau.so_dinh_danh", "f-nguoi_yeu_cau-so_dinh_danh"),
        ("tre.gioi_tinh", "f-tre-gioi_tinh"),
        ("tre.can_nang", "f-tre-can_nang"),
    ):
        field = tree.get_element_by_id(element_id)
        assert field.get("aria-invalid") == "true"
        message = tree.get_element_by_id(f"{element_id}-error")
        assert message.get("role") == "alert" and "form-error" in message.get("class")
        assert message.text_content() == errors[path]
        assert errors[path] in described_by(tree, field)
    assert tree.get_element_by_id("f-nguoi_yeu_cau-so_dinh_danh").value == "0010900"
    weight = tree.get_element_by_id("f-tre-can_nang")
    assert (weight.get("type"), weight.value) == ("text", "ba cân")  # a number input would blank it
    assert tree.get_element_by_id("f-tre-ho_ten").get("aria-invalid") is None
    assert len(tree.find_class("form-error")) == 3


def test_invalid_date_is_kept_in_a_text_box():
    tree = doc(render_form(SMALL, SMALL_UI, {"ngay": "31/02/2026"}, {"ngay": "Ngày: Ngày không hợp lệ."}))
    field = tree.get_element_by_id("f-ngay")
    assert (field.get("type"), field.value) == ("text", "31/02/2026")


def test_errors_on_radio_and_checkbox_groups_mark_every_option():
    tree = doc(
        render_form(
            BIRTH_SCHEMA,
            BIRTH_UI,
            None,
            {"nhan_ket_qua": "Chọn một hình thức.", "giay_to_kem_theo[1]": "Không hợp lệ."},
        )
    )
    for group_id in ("f-nhan_ket_qua-group", "f-giay_to_kem_theo-group"):
        group = tree.get_element_by_id(group_id)
        assert all(i.get("aria-invalid") == "true" for i in group.xpath(".//input"))
        assert described_by(tree, group)[0] in ("Chọn một hình thức.", "Không hợp lệ.")


def test_errors_without_a_field_on_the_page_are_shown_at_the_top():
    tree = doc(
        render_form(
            SMALL, SMALL_UI, {}, {"": "Tờ khai: có trường không thuộc biểu mẫu (x).", "an": "Ẩn: không hợp lệ."}
        )
    )
    summary = tree.find_class("form-error-summary")[0]
    assert summary.get("role") == "alert"
    assert [p.text_content() for p in summary.find_class("form-error")] == [
        "Tờ khai: có trường không thuộc biểu mẫu (x).",
        "Ẩn: không hợp lệ.",
    ]
    assert tree.index(summary) == 0


def test_error_on_a_required_group_is_shown_in_its_fieldset():
    tree = doc(render_form(BIRTH_SCHEMA, BIRTH_UI, {}, {"tre": "Vui lòng nhập Người được khai sinh."}))
    fieldset = tree.get_element_by_id("f-tre")
    assert described_by(tree, fieldset) == ["Vui lòng nhập Người được khai sinh."]
    assert fieldset.xpath("./p[@role='alert']")


# ---------------------------------------------------------------- escaping, prefix, read-only


def test_everything_is_escaped():
    evil = "<script>alert('x')</script>"
    schema = {
        "type": "object",
        "title": evil,
        "properties": {
            "a": {"type": "string", "title": evil, "description": evil},
            "b": {"type": "string", "title": "B", "enum": ['x"><script>', "y"], "x-enumNames": [evil, "Y"]},
            "c": {"type": "object", "title": evil, "properties": {"d": {"type": "string", "title": "D"}}},
            "e": {"type": "string", "title": "E", "contentMediaType": "application/pdf"},
        },
    }
    ui = {"a": {"ui:placeholder": evil, "ui:help": evil}}
    data = {"a": f'"{evil}', "b": 'x"><script>', "c": {"d": evil}, "e": f"tok/{evil}.pdf"}
    html = render_form(schema, ui, data, {"a": evil}, prefill_sources={"a": evil})
    assert isinstance(html, Markup)
    assert "<script>" not in html and "&lt;script&gt;" in html
    tree = doc(html)
    assert tree.xpath("//script") == []
    assert tree.get_element_by_id("f-a").value == f'"{evil}'
    assert tree.get_element_by_id("f-c-d").value == evil
    assert tree.get_element_by_id("f-b").value == 'x"><script>'
    assert one(tree, "//label[@for='f-a']").text_content() == evil
    values = render_values(schema, ui, data)
    assert "<script>" not in values and lxml.html.fromstring(f"<div>{values}</div>").xpath("//script") == []


def test_prefix_namespaces_names_ids_and_buttons():
    tree = doc(render_form(BIRTH_SCHEMA, BIRTH_UI, prefix="nhiem_vu."))
    field = tree.get_element_by_id("f-nhiem_vu-tre-ho_ten")
    assert field.get("name") == "nhiem_vu.tre.ho_ten"
    assert tree.xpath("//button[@name='__add__']/@value") == ["nhiem_vu.nguoi_lam_chung"]


def test_readonly_is_a_definition_list_of_labelled_values():
    data = {**VALID_BIRTH_DATA, "nguoi_lam_chung": [{"ho_ten": "Lê Văn Chứng"}]}
    options: dict[str, Any] = {
        "prefill_sources": {"nguoi_yeu_cau.ho_ten": "CSDLQG về dân cư"},
        "file_url": lambda ref: "/tep/" + ref.split("/")[0],
    }
    html = render_form(BIRTH_SCHEMA, BIRTH_UI, data, readonly=True, **options)
    assert html == render_values(BIRTH_SCHEMA, BIRTH_UI, data, **options)
    tree = lxml.html.fromstring(f"<div>{html}</div>")
    assert tree.xpath("//input | //select | //textarea | //button") == []
    top = tree.find("dl")
    pairs = {dt.text_content(): dt.getnext() for dt in top.findall("dt")}
    assert list(pairs)[:4] == ["Người yêu cầu", "Người được khai sinh", "Người cha", "Người mẹ"]
    person = {dt.text_content(): dt.getnext().text_content() for dt in pairs["Người yêu cầu"].find("dl").findall("dt")}
    assert person["Giới tính"] == "Nam"
    assert person["Ngày sinh"] == "17/05/1990"
    assert person["Quan hệ với người được khai sinh"] == "Cha"
    assert "lấy từ CSDLQG về dân cư" in person["Họ, chữ đệm và tên"]
    assert pairs["Giấy tờ nộp kèm"].text_content() == "Giấy chứng nhận kết hôn của cha mẹ"
    assert pairs["Hình thức nhận kết quả"].text_content() == "Qua bưu chính"
    assert pairs["Tôi cam đoan những nội dung khai trên đây là đúng sự thật"].text_content() == "Có"
    assert pairs["Giấy chứng sinh"].xpath(".//a/@href") == ["/tep/AbCdEfGhIjKlMnOpQrStUv"]
    assert pairs["Ghi chú"].text_content() == "Không có"
    assert pairs["Người làm chứng"].xpath(".//li//dd")[0].text_content() == "Lê Văn Chứng"
    weight = {
        dt.text_content(): dt.getnext().text_content() for dt in pairs["Người được khai sinh"].find("dl").findall("dt")
    }["Cân nặng khi sinh (kg)"]
    assert weight == "3,2"


def test_datetime_is_shown_in_vietnam_time():
    schema = {"type": "object", "properties": {"luc": {"type": "string", "format": "date-time", "title": "Lúc"}}}
    tree = doc(render_form(schema, None, {"luc": "2026-11-23T01:30:00Z"}))
    assert tree.get_element_by_id("f-luc").value == "2026-11-23T08:30"
    values = lxml.html.fromstring(f"<div>{render_values(schema, None, {'luc': '2026-11-23T08:30:00+07:00'})}</div>")
    assert values.find(".//dd").text_content() == "08:30 23/11/2026"


def test_a_file_field_offers_the_persons_stored_documents_without_javascript():
    """«Hoặc chọn từ kho giấy tờ của tôi»: radio buttons next to the upload, the upload no longer required by the
    browser (the server decides), the choice kept when the form is shown again, a refused one not offered."""
    schema = {"type": "object", "required": ["tep"],
              "properties": {"tep": {"type": "string", "title": "Giấy tờ", "contentMediaType": "application/pdf"}}}
    offered = {"tep": [("7", "Giấy khai sinh — kết quả điện tử đã xác minh của hồ sơ X")]}
    html = lxml.html.fromstring(str(render_form(schema, None, {}, stored=offered)))
    assert html.xpath("//input[@type='file']/@required") == []
    assert html.xpath("//input[@name='tep.__kho__']/@value") == ["", "7"]
    assert html.xpath("//input[@name='tep.__kho__'][@checked]/@value") == [""]
    assert "Hoặc chọn từ kho giấy tờ của tôi" in html.xpath("//fieldset/legend/text()")
    chosen = lxml.html.fromstring(str(render_form(schema, None, {"tep": {"kho_giay_to": 7}}, stored=offered)))
    assert chosen.xpath("//input[@name='tep.__kho__'][@checked]/@value") == ["7"]
    refused = lxml.html.fromstring(str(render_form(schema, None, {"tep": {"kho_giay_to": 9}}, stored=offered)))
    assert refused.xpath("//input[@name='tep.__kho__'][@checked]/@value") == [""]
    plain = lxml.html.fromstring(str(render_form(schema, None, {})))
    assert len(plain.xpath("//input[@type='file'][@required]")) == 1 and not plain.xpath("//fieldset")
