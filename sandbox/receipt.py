"""Sandbox: the e-receipt (biên lai điện tử) the payment platform issues once a fee is paid, as a PDF.

The HTML template is rendered with autoescaping and printed by WeasyPrint; a QR code (segno, SVG)
encodes the receipt lookup URL so anyone holding the paper can check it online. The dossier code,
the receipt number and the title are also written into the PDF's metadata (title, subject,
keywords), which a program can read without extracting text from compressed page streams.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

import segno
from jinja2 import Environment, select_autoescape

__all__ = ["RECEIPT_TITLE", "amount_in_words", "format_vnd", "receipt_html", "render_receipt_pdf"]

RECEIPT_TITLE: Final = "Biên lai điện tử"

_DIGITS: Final = ("không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín")
_SCALES: Final = ("", "nghìn", "triệu", "tỷ")


def format_vnd(amount: int) -> str:
    """10000 → "10.000 đ" (Vietnamese thousands separator)."""
    return f"{amount:,}".replace(",", ".") + " đ"


def _three_digits(n: int, full: bool) -> list[str]:
    """Words for 0 < n < 1000; ``full`` spells the hundreds even when zero ("không trăm linh năm")."""
    hundreds, tens, units = n // 100, n // 10 % 10, n % 10
    words: list[str] = []
    if hundreds or full:
        words += [_DIGITS[hundreds], "trăm"]
    if tens == 0:
        if units and words:
            words.append("linh")
    elif tens == 1:
        words.append("mười")
    else:
        words += [_DIGITS[tens], "mươi"]
    if units:
        if units == 1 and tens >= 2:
            words.append("mốt")
        elif units == 5 and tens >= 1:
            words.append("lăm")
        elif units == 4 and tens >= 2:
            words.append("tư")
        else:
            words.append(_DIGITS[units])
    return words


def amount_in_words(amount: int) -> str:
    """The amount spelled out as on Vietnamese receipts: 125000 → "Một trăm hai mươi lăm nghìn đồng"."""
    if amount < 0:
        raise ValueError("amount must not be negative")
    if amount == 0:
        return "Không đồng"
    groups: list[int] = []
    rest = amount
    while rest:
        groups.append(rest % 1000)
        rest //= 1000
    words: list[str] = []
    for index in range(len(groups) - 1, -1, -1):
        group = groups[index]
        if group == 0:
            # "tỷ" repeats every nine digits: 1 000 000 000 000 = "một nghìn tỷ".
            if index and index % 3 == 0 and words and words[-1] != "tỷ":
                words.append("tỷ")
            continue
        words += _three_digits(group, full=bool(words))
        scale = _SCALES[index % 3] if index % 3 else ("tỷ" * bool(index))
        if scale:
            words.append(scale)
    text = " ".join(words) + " đồng"
    return text[0].upper() + text[1:]


_TEMPLATE: Final = """<!doctype html>
<html lang="vi">
<head>
<meta charset="utf-8">
<title>{{ title }} {{ r.so_bien_lai }}</title>
<meta name="description" content="Biên lai thu phí, lệ phí hồ sơ {{ r.ma_ho_so }}">
<meta name="keywords" content="{{ r.ma_ho_so }}, {{ r.so_bien_lai }}, {{ r.ma_giao_dich }}">
<meta name="author" content="Nền tảng thanh toán (môi trường thử nghiệm)">
<style>
  @page { size: A5 landscape; margin: 12mm; }
  body { font-family: "DejaVu Sans", "Liberation Sans", sans-serif; font-size: 10pt; color: #111; }
  header { display: flex; justify-content: space-between; border-bottom: 1px solid #999; padding-bottom: 4mm; }
  h1 { font-size: 15pt; text-transform: uppercase; margin: 4mm 0 1mm; text-align: center; }
  .sub { text-align: center; margin: 0 0 4mm; }
  table { border-collapse: collapse; width: 100%; }
  th { text-align: left; font-weight: normal; color: #444; width: 38%; padding: 1.2mm 0; vertical-align: top; }
  td { font-weight: bold; padding: 1.2mm 0; }
  .main { display: flex; gap: 6mm; }
  .main table { flex: 1; }
  .qr { width: 34mm; text-align: center; font-size: 7pt; color: #444; }
  .qr img { width: 34mm; height: 34mm; }
  .note { margin-top: 4mm; font-size: 8pt; color: #444; }
</style>
</head>
<body>
<header>
  <div>NỀN TẢNG THANH TOÁN<br>(môi trường thử nghiệm)</div>
  <div>Ký hiệu: BL/26E<br>Số: <strong>{{ r.so_bien_lai }}</strong></div>
</header>
<h1>{{ title }}</h1>
<p class="sub">Thu phí, lệ phí — ngày {{ paid_at.strftime("%d") }} tháng {{ paid_at.strftime("%m") }}
năm {{ paid_at.strftime("%Y") }}</p>
<div class="main">
<table>
  <tr><th>Mã hồ sơ (người nộp):</th><td>{{ r.ma_ho_so }}</td></tr>
  <tr><th>Nội dung thu:</th><td>{{ r.noi_dung }}</td></tr>
  <tr><th>Số tiền:</th><td>{{ amount }}</td></tr>
  <tr><th>Bằng chữ:</th><td>{{ words }}</td></tr>
  <tr><th>Thời gian thanh toán:</th><td>{{ paid_at.strftime("%H:%M:%S %d/%m/%Y") }}</td></tr>
  <tr><th>Mã giao dịch:</th><td>{{ r.ma_giao_dich }}</td></tr>
  <tr><th>Mã thanh toán:</th><td>{{ r.ma_thanh_toan }}</td></tr>
</table>
<div class="qr"><img src="{{ qr }}" alt="Mã QR tra cứu biên lai"><br>Quét mã để tra cứu biên lai</div>
</div>
<p class="note">Tra cứu biên lai tại: {{ r.url_tra_cuu }}<br>
Biên lai điện tử có giá trị như biên lai giấy.
Đây là chứng từ của môi trường thử nghiệm, không có giá trị thanh toán.</p>
</body>
</html>
"""

_ENV: Final = Environment(autoescape=select_autoescape(default_for_string=True, default=True))


def receipt_html(receipt: Mapping[str, Any]) -> str:
    """The receipt as HTML. ``receipt`` needs: so_bien_lai, ma_ho_so, noi_dung, so_tien (int),
    thoi_gian_thanh_toan (aware datetime, local time), ma_giao_dich, ma_thanh_toan, url_tra_cuu."""
    paid_at: datetime = receipt["thoi_gian_thanh_toan"]
    qr = segno.make(str(receipt["url_tra_cuu"]), error="m").svg_data_uri(scale=4, border=2)
    return _ENV.from_string(_TEMPLATE).render(
        r=receipt, title=RECEIPT_TITLE, paid_at=paid_at, amount=format_vnd(int(receipt["so_tien"])),
        words=amount_in_words(int(receipt["so_tien"])), qr=qr)


def render_receipt_pdf(receipt: Mapping[str, Any]) -> bytes:
    """The receipt printed to PDF by WeasyPrint (about a third of a second: cache the result)."""
    from weasyprint import HTML  # imported late: pango loads once, only when a receipt is printed

    pdf = HTML(string=receipt_html(receipt)).write_pdf()
    assert isinstance(pdf, bytes)
    return pdf
