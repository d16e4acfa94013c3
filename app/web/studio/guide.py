"""The designer's guide (docs/designer-guide.md), served by the studio as HTML.

The guide is written in Markdown in the repository, where it is read and reviewed with the code, and its worked
example is tested (tests/procedures/test_guide_example.py). Here it is rendered once per process with markdown-it-py
(CommonMark plus tables; raw HTML in the file is not passed through), with what the page needs to read well on a
phone and with a keyboard: headings get GitHub's anchors (the guide's table of contents links to them), code blocks
and tables scroll inside themselves and can take the keyboard focus to do so, and each table cell carries its
column's name for the phone layout (app/static/motcua.css shows tables as one card per row).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any, cast

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markupsafe import Markup

GUIDE = Path(__file__).resolve().parents[3] / "docs" / "designer-guide.md"


def anchor(text: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped (letters of any script kept), spaces → hyphens."""
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def _plain(token: Token) -> str:
    """The text of an inline token (code spans and emphasis reduced to their text)."""
    return "".join(child.content for child in token.children or [] if child.type in ("text", "code_inline"))


def _decorate(tokens: list[Token]) -> None:
    """Anchors on headings; on body cells, their column's heading (`data-label`)."""
    headers: list[str] = []
    column = 0
    for index, token in enumerate(tokens):
        if token.type == "heading_open":
            token.attrSet("id", anchor(_plain(tokens[index + 1])))
        elif token.type == "thead_open":
            headers = []
        elif token.type == "th_open":
            headers.append(_plain(tokens[index + 1]))
        elif token.type == "tr_open":
            column = 0
        elif token.type == "td_open":
            if column < len(headers) and headers[column]:
                token.attrSet("data-label", headers[column])
            column += 1


def _constant(html: str) -> Any:
    """A render rule that always writes `html` (a wide table scrolls in its own box, which takes the focus)."""
    return lambda *_: html


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    rules = cast(RendererHTML, md.renderer).rules
    fence = rules["fence"]
    code_block = rules["code_block"]

    def scrolling(rule: Any) -> Any:
        def render(tokens: list[Token], idx: int, options: Any, env: Any) -> str:
            # A long line scrolls inside the block; tabindex lets a keyboard user scroll it.
            return str(rule(tokens, idx, options, env)).replace("<pre>", '<pre tabindex="0">', 1)
        return render

    rules["fence"] = scrolling(fence)
    rules["code_block"] = scrolling(code_block)
    rules["table_open"] = _constant('<div class="guide-table" tabindex="0"><table>\n')
    rules["table_close"] = _constant("</table></div>\n")
    return md


@cache
def guide_html() -> Markup | None:
    """The guide as HTML (None when the file is not there, e.g. an installation without the docs)."""
    if not GUIDE.is_file():
        return None
    md = _parser()
    tokens = md.parse(GUIDE.read_text(encoding="utf-8"))
    _decorate(tokens)
    return Markup(md.renderer.render(tokens, md.options, {}))  # noqa: S704 - raw HTML is off: markdown-it escapes it
