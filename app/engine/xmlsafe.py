"""Hardened XML parsing for designer-supplied BPMN and DMN files.

Diagrams come from uploads, so they are hostile input. lxml's defaults have refused external
entities and entity bombs in recent releases, but those are defaults of the day: the protection is
pinned here (no entity expansion, no network, no DTD loading, libxml2's size limits kept) and any
DOCTYPE is refused outright, because a BPMN or DMN document never needs one.
"""

from __future__ import annotations

import re

from flask_babel import gettext, lazy_gettext
from flask_babel.speaklater import LazyString
from lxml import etree

DEFAULT_MAX_BYTES = 5 * 1024 * 1024


class XmlError(Exception):
    """A file that cannot be accepted as XML; `code` is stable, `message` is for the designer."""

    def __init__(self, filename: str, code: str, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.filename = filename
        self.line = line
        self.code = code
        self.message = message


def _parser() -> etree.XMLParser:
    # A fresh parser per call: lxml parsers keep an error log and are not thread-safe.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
    )


def _number(value: int) -> str:
    return f"{value:,}".replace(",", ".")


_DOCTYPE_MARKERS = tuple(
    (marker.encode(encoding), "\n".encode(encoding))
    for marker in ("<!DOCTYPE",)
    for encoding in ("utf-8", "utf-16-le", "utf-16-be")
)


def _doctype_line(data: bytes) -> int | None:
    """Line of a DOCTYPE in the raw bytes (ASCII-compatible or UTF-16), or None if there is none."""
    for marker, newline in _DOCTYPE_MARKERS:
        index = data.find(marker)
        if index >= 0:
            return data.count(newline, 0, index) + 1
    return None


def _doctype_error(filename: str, line: int | None) -> XmlError:
    return XmlError(
        filename,
        "xml_doctype_forbidden",
        gettext("Tệp «%(filename)s» có khai báo DOCTYPE hoặc thực thể (ENTITY). Sơ đồ BPMN/DMN không cần khai báo "
                "này và hệ thống từ chối nó để tránh tấn công qua thực thể XML.",
                filename=filename),
        line,
    )


# libxml2's messages (English, with its own line/column suffix) → what to change, in the designer's words.
# First match wins; groups fill the template.
_SYNTAX: list[tuple[re.Pattern[str], LazyString]] = [(re.compile(pattern), text) for pattern, text in [
    (r"Opening and ending tag mismatch: ([^\s,]+) line (\d+) and ([^\s,]+)",
     lazy_gettext("thẻ đóng «</{3}>» không khớp với thẻ mở «<{1}>» ở dòng {2}; hãy sửa cho hai thẻ cùng tên")),
    (r"Premature end of data in tag ([^\s,]+) line (\d+)",
     lazy_gettext("tệp kết thúc khi thẻ «<{1}>» (mở ở dòng {2}) chưa được đóng; tệp có thể bị cắt cụt, hãy lưu lại "
                  "sơ đồ")),
    (r"Extra content at the end of the document",
     lazy_gettext("có nội dung thừa sau phần tử gốc; một tệp chỉ được có một phần tử gốc")),
    (r"Start tag expected|Document is empty",
     lazy_gettext("tệp không bắt đầu bằng thẻ XML; hãy xuất sơ đồ ở định dạng BPMN 2.0 XML")),
    (r"Namespace prefix ([^\s,]+) on ([^\s,]+) is not defined",
     lazy_gettext("tiền tố không gian tên «{1}» (của thẻ «{2}») chưa được khai báo; hãy thêm xmlns:{1}=\"…\" vào "
                  "phần tử gốc")),
    (r"Excessive depth in document: (\d+)",
     lazy_gettext("các thẻ lồng nhau quá sâu (quá {1} cấp); sơ đồ BPMN không cần lồng sâu như vậy")),
    (r"AttValue: \" or ' expected|attributes construct error|Couldn't find end of Start Tag",
     lazy_gettext("giá trị thuộc tính phải đặt trong dấu nháy, ví dụ id=\"tiep_nhan\"")),
    (r"Attribute ([^\s,]+) redefined", lazy_gettext("thuộc tính «{1}» được khai báo hai lần trong cùng một thẻ; hãy "
                                                    "giữ lại một")),
    (r"EntityRef|Entity '([^']*)' not defined", lazy_gettext("ký tự & phải viết thành &amp;")),
    (r"Unescaped '<' not allowed in attributes values",
     lazy_gettext("ký tự < trong giá trị thuộc tính phải viết thành &lt; (hoặc thiếu dấu nháy đóng)")),
    (r"invalid element name|StartTag", lazy_gettext("tên thẻ không hợp lệ; tên thẻ phải bắt đầu bằng chữ cái")),
    (r"Comment not terminated|Comment", lazy_gettext("chú thích «<!--» chưa được đóng bằng «-->»")),
    (r"CData section not finished", lazy_gettext("đoạn CDATA chưa được đóng bằng «]]>»")),
    (r"Invalid bytes in character encoding|not proper UTF-8|Input is not proper|encoding",
     lazy_gettext("tệp có byte không đúng bảng mã khai báo; hãy lưu tệp ở bảng mã UTF-8")),
    (r"Char 0x|invalid character|PCDATA invalid Char",
     lazy_gettext("tệp có ký tự không hợp lệ trong XML (ký tự điều khiển); hãy xóa ký tự đó")),
]]


def syntax_message(message: str) -> str:
    """libxml2's syntax message in the designer's words; never its own English text."""
    for pattern, template in _SYNTAX:
        found = pattern.search(message)
        if found:
            return str(template).format(None, *(group or "" for group in found.groups()))
    return gettext("cú pháp XML không hợp lệ (thẻ chưa đóng, ký tự đặc biệt chưa thoát hoặc thuộc tính viết sai)")


def parse_xml(data: bytes, filename: str, max_bytes: int = DEFAULT_MAX_BYTES) -> etree._Element:
    """Parse `data` safely and return the root element, or raise XmlError.

    Elements keep `sourceline`, so every later check can point the designer at a line.
    """
    if len(data) > max_bytes:
        raise XmlError(
            filename,
            "xml_too_large",
            gettext("Tệp «%(filename)s» quá lớn (%(number)s byte); giới hạn là %(number2)s byte.",
                    filename=filename, number=_number(len(data)), number2=_number(max_bytes)),
        )
    if not data.strip():
        raise XmlError(filename, "xml_empty", gettext("Tệp «%(filename)s» rỗng, không có nội dung XML.",
                                                      filename=filename))
    parser = _parser()
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        # A DOCTYPE often breaks parsing on its own (entities left unexpanded); name the real cause.
        doctype_line = _doctype_line(data)
        if doctype_line is not None:
            raise _doctype_error(filename, doctype_line) from exc
        line = exc.lineno if exc.lineno else None
        column = exc.position[1] if isinstance(exc.position, tuple) and len(exc.position) > 1 else None
        where = ""
        if line:
            where = gettext(" ở dòng %(line)s", line=line)
            if column:
                where += gettext(", cột %(column)s", column=column)
        raise XmlError(
            filename, "xml_malformed",
            gettext("Tệp «%(filename)s» không phải XML hợp lệ%(where)s: %(syntax_message)s.",
                    filename=filename, where=where, syntax_message=syntax_message(exc.msg or str(exc))), line,
        ) from exc
    if root is None:  # lxml returns None for some recoverable documents without a root
        raise XmlError(filename, "xml_empty", gettext("Tệp «%(filename)s» không có phần tử gốc XML.",
                                                      filename=filename))
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise _doctype_error(filename, _doctype_line(data))
    return root
