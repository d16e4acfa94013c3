"""The designer's guide in the studio: linked from the studio's pages, rendered from docs/designer-guide.md with
working anchors, the example's files as escaped code, and only for designers."""

from __future__ import annotations

import re
from urllib.parse import unquote

import lxml.html

from tests.conftest import ROOT, login

GUIDE = ROOT / "docs" / "designer-guide.md"


def test_the_studio_links_to_the_guide(client):
    login(client, "thietke")
    for path in ("/thiet-ke/", "/thiet-ke/tai-len"):
        page = lxml.html.fromstring(client.get(path).data)
        [link] = page.get_element_by_id("guide-link").xpath("self::a")
        assert link.get("href") == "/thiet-ke/huong-dan", path


def test_the_guide_page_renders_the_repository_s_guide(client):
    login(client, "thietke")
    response = client.get("/thiet-ke/huong-dan")
    assert response.status_code == 200
    page = lxml.html.fromstring(response.data)
    [article] = page.xpath("//main//article[@class='guide']")
    assert article.get("lang") == "en"
    ids = set(article.xpath(".//*[self::h1 or self::h2 or self::h3]/@id"))
    # Every link of the table of contents (and every other link inside the guide) lands on a heading (browsers
    # match a percent-encoded fragment, as links are written, to the id it decodes to).
    targets = [unquote(href[1:]) for href in article.xpath(".//a/@href") if href.startswith("#")]
    assert targets and set(targets) <= ids, sorted(set(targets) - ids)
    # The worked example's files are shown as code, escaped (the BPMN is text, not markup of the page).
    source = GUIDE.read_text(encoding="utf-8")
    fences = re.findall(r"^ *```", source, re.MULTILINE)  # a fence may be indented in a list item
    blocks = article.xpath(".//pre[@tabindex='0']/code")
    assert len(blocks) == len(fences) // 2
    assert any(b.text_content().startswith('<?xml version="1.0"') for b in blocks)
    assert not article.xpath(".//*[local-name()='definitions' or local-name()='process']")
    # Tables scroll inside themselves; on phones each cell says which column it is.
    tables = article.xpath(".//div[@class='guide-table'][@tabindex='0']/table")
    assert len(tables) == len(article.xpath(".//table")) > 10
    cell = article.xpath(".//table//td[@data-label]")[0]
    assert cell.get("data-label")


def test_only_designers_read_it_in_the_studio(client):
    assert client.get("/thiet-ke/huong-dan").status_code == 302  # to the login page
    login(client, "tiepnhan")
    assert client.get("/thiet-ke/huong-dan").status_code == 403
