"""Hardened XML parsing for designer-supplied BPMN and DMN files.

Diagrams come from uploads, so they are hostile input. lxml's defaults have refused external
entities and entity bombs in recent releases, but those are defaults of the day: the protection is
pinned here (no entity expansion, no network, no DTD loading, libxml2's size limits kept) and any
DOCTYPE is refused outright, because a BPMN or DMN document never needs one.
"""

from __future__ import annotations

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
        f"Tệp «{filename}» có khai báo DOCTYPE hoặc thực thể (ENTITY). Sơ đồ BPMN/DMN không cần khai báo "
        "này và hệ thống từ chối nó để tránh tấn công qua thực thể XML.",
        line,
    )


def parse_xml(data: bytes, filename: str, max_bytes: int = DEFAULT_MAX_BYTES) -> etree._Element:
    """Parse `data` safely and return the root element, or raise XmlError.

    Elements keep `sourceline`, so every later check can point the designer at a line.
    """
    if len(data) > max_bytes:
        raise XmlError(
            filename,
            "xml_too_large",
            f"Tệp «{filename}» quá lớn ({_number(len(data))} byte); giới hạn là {_number(max_bytes)} byte.",
        )
    if not data.strip():
        raise XmlError(filename, "xml_empty", f"Tệp «{filename}» rỗng, không có nội dung XML.")
    parser = _parser()
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        # A DOCTYPE often breaks parsing on its own (entities left unexpanded); name the real cause.
        doctype_line = _doctype_line(data)
        if doctype_line is not None:
            raise _doctype_error(filename, doctype_line) from exc
        line = exc.lineno if exc.lineno else None
        detail = exc.msg or str(exc)
        where = f" ở dòng {line}" if line else ""
        raise XmlError(
            filename, "xml_malformed", f"Tệp «{filename}» không phải XML hợp lệ{where}: {detail}", line
        ) from exc
    if root is None:  # lxml returns None for some recoverable documents without a root
        raise XmlError(filename, "xml_empty", f"Tệp «{filename}» không có phần tử gốc XML.")
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise _doctype_error(filename, _doctype_line(data))
    return root
