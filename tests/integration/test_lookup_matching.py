"""How a registry's answer is set against the declaration: names forgiving case and spacing (accents count,
and a name that differs only by them is flagged), dates as dates, years against dates; only declared fields
come out."""

from __future__ import annotations

import unicodedata

from app.dossiers.lookups import checked_result, display, fold, matches

ANSWER = {"ho_ten": "Trần Thị Bình", "ngay_sinh": "1995-08-20", "so_dinh_danh": "001195012346", "nhom_mau": "O",
          "noi_thuong_tru": {"province_code": "01", "province_name": "Thành phố Hà Nội", "ward_code": "00004",
                             "ward_name": "Phường Ba Đình", "detail": "Số 12, phố Kim Mã"}}


def test_names_match_whatever_the_case_and_spacing_but_accents_count():
    assert fold("  TRẦN   thị  Bình ") == "tran thi binh" and fold("Đặng") == "dang"
    assert matches("Trần Thị Bình", "  TRẦN  thị BÌNH ") is True
    # precomposed vs decomposed accents are the same text
    assert matches("Trần Thị Bình", unicodedata.normalize("NFD", "Trần Thị Bình")) is True
    # «Bính» is another name; typed without accents it is neither a match nor a plain mismatch
    assert matches("Trần Thị Bình", "Trần Thị Bính") == "accents"
    assert matches("Trần Thị Bình", "tran  thi BINH") == "accents"
    assert matches("Trần Thị Bình", "Trần Thị Bích") is False
    assert matches("Trần Thị Bình", "") is None and matches(None, "Trần Thị Bình") is False


def test_dates_are_compared_as_dates_and_years_as_years():
    assert matches("1995-08-20", "20/08/1995", "date") is True
    assert matches("1995-08-20", "1995-08-21", "date") is False
    assert matches("1995-08-20", "không rõ", "date") is False
    assert matches("1995-08-20", 1995, "year") is True and matches("1995-08-20", "1996", "year") is False
    assert matches("001195012346", " 001195012346 ", "exact") is True
    assert display("1995-08-20", "date") == "20/08/1995"
    assert display(ANSWER["noi_thuong_tru"]) == "Số 12, phố Kim Mã, Phường Ba Đình, Thành phố Hà Nội"


def test_only_declared_fields_with_a_verdict():
    declaration = {"fields": [
        {"key": "ho_ten", "label": {"vi": "Họ tên", "en": "Full name"}, "compare": "/me/ho_ten"},
        {"key": "ngay_sinh", "label": "Ngày sinh", "compare": "/me/nam_sinh", "match": "year"},
        {"key": "noi_thuong_tru", "label": "Nơi thường trú"}]}
    checked = checked_result(declaration, ANSWER, {"me": {"ho_ten": "trần thị bình", "nam_sinh": 1995}})
    assert [f["key"] for f in checked["fields"]] == ["ho_ten", "ngay_sinh", "noi_thuong_tru"]
    assert [f["match"] for f in checked["fields"]] == [True, True, None] and checked["verdict"] == "match"
    unaccented = checked_result(declaration, ANSWER, {"me": {"ho_ten": "tran thi binh", "nam_sinh": 1995}})
    assert unaccented["verdict"] == "accents" and unaccented["fields"][0]["match"] == "accents"
    assert checked["fields"][0]["labels"] == {"vi": "Họ tên", "en": "Full name"}
    assert "O" not in str(checked) and "nhom_mau" not in str(checked)
    wrong = checked_result(declaration, ANSWER, {"me": {"ho_ten": "Trần Thị Bình", "nam_sinh": 1994}})
    assert wrong["verdict"] == "mismatch" and wrong["fields"][1]["declared"] == "1994"
    assert checked_result(declaration, ANSWER, {})["verdict"] is None  # nothing declared to compare
