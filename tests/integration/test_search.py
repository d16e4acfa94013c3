"""Finding a procedure from a plain question, through the real app: the catalogue page and
GET /api/v1/procedures/search rank the same answers and say why each matched; what the catalogue hides (retired,
started by a schedule) is never an answer; a procedure published for several agencies is one answer naming them.
The ranking's quality is measured in tests/unit/test_search_quality.py."""

from __future__ import annotations

import lxml.html
from sqlalchemy import select

from app.extensions import db
from app.models import Agency, Procedure, ProcedurePublication
from app.procedures import versions
from app.procedures.search import fold_word
from tests.integration.test_periodic import deploy_review

QUESTION = "con tôi mới sinh cần làm giấy tờ gì?"


def answers(client, q: str) -> list[lxml.html.HtmlElement]:
    response = client.get("/", query_string={"q": q})
    assert response.status_code == 200
    return lxml.html.fromstring(response.data).xpath("//ol[@id='answers']/li")


def codes(client, q: str) -> list[str]:
    body = client.get("/api/v1/procedures/search", query_string={"q": q}).get_json()
    return [item["procedure"]["code"] for item in body["items"]]


def test_the_catalogue_answers_a_question_best_first_and_explains_the_best_three(client):
    found = answers(client, QUESTION)
    # Among the shipped procedures: the bundle for newborns (khai sinh + thường trú + health insurance), then khai sinh
    assert [li.xpath("string(.//h3/a/@href)") for li in found[:2]] == ["/thu-tuc/2.002450", "/thu-tuc/1.001193"]
    explained = [li for li in found if li.xpath(".//dl[@class='matches']")]
    assert len(explained) == min(3, len(found))
    why = found[0].xpath("string(.//p[@class='why'])")
    assert why.startswith("Tìm thấy") and "«con mới sinh» trong cách gọi thường dùng" in why
    marked = found[0].xpath(".//dl[@class='matches']//mark/text()")
    assert "con mới sinh" in marked and not {"tôi", "cần", "làm", "gì"} & {w.lower() for w in marked}
    labels = found[0].xpath(".//dl[@class='matches']/dt/text()")
    assert labels[:2] == ["Tên thủ tục", "Cách gọi thường dùng"]


def test_a_question_without_accents_and_with_a_typo_finds_the_same_and_says_how_it_was_read(client):
    page = client.get("/", query_string={"q": "dang ky thuong truu cho vo"}).get_data(as_text=True)
    tree = lxml.html.fromstring(page)
    assert tree.xpath("string(//ol[@id='answers']/li[1]//h3/a)") == "Đăng ký thường trú"
    assert "«truu» là «trú»" in tree.xpath("string(//p[@id='corrections'])")
    assert "Không tìm thấy thủ tục" in client.get("/?q=xyzxyz").get_data(as_text=True)


def test_the_api_ranks_the_same_answers_with_their_explanation_and_highlights(client):
    body = client.get("/api/v1/procedures/search", query_string={"q": "nhập khẩu cho vợ", "limit": 2}).get_json()
    assert body["q"] == "nhập khẩu cho vợ" and body["corrections"] == []
    first = body["items"][0]
    assert len(body["items"]) <= 2 and first["rank"] == 1 and first["procedure"]["code"] == "1.004222"
    assert first["explanation"].startswith("Tìm thấy")
    synonyms = next(m for m in first["matches"] if m["field"] == "synonyms")
    assert synonyms["label"] == "Cách gọi thường dùng" and any("nhập khẩu" in w for w in synonyms["words"])
    for text in synonyms["texts"]:
        for h in text["highlights"]:  # every highlighted run is made of the question's words
            assert {fold_word(w) for w in text["text"][h["start"]:h["end"]].split()} <= {"nhap", "khau", "vo"}
    page = answers(client, "nhập khẩu cho vợ")
    assert [li.xpath("string(.//h3/a/@href)").rsplit("/", 1)[1] for li in page] == codes(client, "nhập khẩu cho vợ")


def test_a_code_finds_its_procedure_and_a_bad_query_is_refused(client):
    body = client.get("/api/v1/procedures/search?q=1.00422").get_json()
    assert [i["procedure"]["code"] for i in body["items"]] == ["1.004222"]
    assert body["items"][0]["matches"][0]["field"] == "code"
    assert client.get("/api/v1/procedures/search").status_code == 422
    assert client.get("/api/v1/procedures/search?q=khai+sinh&limit=0").status_code == 422
    assert codes(client, "cần làm gì ở đâu") == []  # nothing but question words


def test_what_the_catalogue_hides_is_never_an_answer_and_several_agencies_make_one_answer(client, db_session):
    deploy_review("9.000009")  # started by a schedule, with khai sinh's words (its manifest is khai sinh's)
    db_session.flush()
    assert "9.000009" not in codes(client, "khai sinh") and "1.001193" in codes(client, "khai sinh")

    other = db_session.scalar(select(Agency).where(Agency.code != "000.00.01.H26").order_by(Agency.code))
    khai_sinh = db_session.scalar(select(Procedure).where(Procedure.code == "1.001193"))
    db_session.add(ProcedurePublication(procedure_id=khai_sinh.id, agency_id=other.id))
    db_session.flush()
    db_session.expire(khai_sinh)
    body = client.get("/api/v1/procedures/search?q=giay+khai+sinh").get_json()
    found = [i for i in body["items"] if i["procedure"]["code"] == "1.001193"]
    assert len(found) == 1 and other.code in [a["code"] for a in found[0]["procedure"]["agencies"]]
    assert other.name in answers(client, "giấy khai sinh")[0].xpath("string(.//p[@class='muted'])")

    thuong_tru = db_session.scalar(select(Procedure).where(Procedure.code == "1.004222"))
    for version in list(db_session.scalars(select(type(thuong_tru.current_version)).where(
            type(thuong_tru.current_version).procedure_id == thuong_tru.id))):
        versions.retire(version, by="tests")
    db_session.flush()
    assert "1.004222" not in codes(client, "đăng ký thường trú")
    assert "1.004222" not in [li.xpath("string(.//h3/a/@href)").rsplit("/", 1)[1]
                              for li in answers(client, "đăng ký thường trú")]


def test_the_embedded_database_answers_the_same(sqlite_app):
    client = sqlite_app.test_client()
    assert codes(client, QUESTION)[:2] == ["2.002450", "1.001193"]
    assert codes(client, "nhap ho khau cho chong")[0] == "1.004222"
    page = lxml.html.fromstring(client.get("/", query_string={"q": "phản ánh cán bộ làm chậm"}).data)
    assert page.xpath("string(//ol[@id='answers']/li[1]//h3/a/@href)") == "/thu-tuc/9.000165"
    db.session.remove()
