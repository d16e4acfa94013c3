"""The fee of a dossier, from its procedure's manifest: the ONE computation behind the dossier's fee_amount,
the receipt, the online payment, the national portal and the API.

The manifest's `fee` declares the rules as data (checked at upload, app/procedures/package.py):

    "fee": {"in_person": 20000, "online": 10000,          a fixed fee per dossier, by channel
            "name": "Lệ phí đăng ký cư trú",
            "per": [{"field": "/so_ban_sao",              plus, per unit the applicant asked for (an integer
                     "amount": 8000,                      field of the start form), a price per unit,
                     "online_amount": 8000,               optionally another one online,
                     "tiers": [{"from": 3, "amount": 1000}],  a lower price from the n-th unit on,
                     "cap": 200000,                       at most this much for the item,
                     "name": "Phí cấp bản sao trích lục", "unit": "bản"}]}

Nothing here evaluates text: a rule is numbers and a JSON pointer, so a procedure package cannot run code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext

from app.eforms.schema import resolve_pointer
from app.formats import vnd

ONLINE = 2


@dataclass(frozen=True)
class FeeLine:
    name: str
    amount: int  # what this line costs, in đồng
    quantity: int | None = None  # units asked for (None: a fixed fee)
    unit: str = ""
    unit_amount: int | None = None  # price of the first unit


def _rules(manifest: Mapping[str, Any]) -> Mapping[str, Any]:
    fee = manifest.get("fee")
    return fee if isinstance(fee, Mapping) else {}


def base_fee(manifest: Mapping[str, Any], channel: int) -> int:
    fee = _rules(manifest)
    return int(fee.get("online" if channel == ONLINE else "in_person", fee.get("in_person", 0)) or 0)


def _quantity(data: Any, pointer: str) -> int:
    value = resolve_pointer(data, pointer)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return 0  # the start form's schema requires a non-negative integer; anything else asked for nothing
    return value


def unit_price(item: Mapping[str, Any], channel: int, n: int) -> int:
    """Price of the n-th unit (1-based): the item's amount, or the last tier that starts at or before n."""
    price = int(item.get("online_amount", item["amount"]) if channel == ONLINE else item["amount"])
    for tier in sorted(item.get("tiers") or [], key=lambda t: int(t["from"])):
        if n >= int(tier["from"]):
            price = int(tier["amount"])
    return price


def _item_amount(item: Mapping[str, Any], channel: int, quantity: int) -> int:
    tiers = item.get("tiers") or []
    if not tiers:
        total = quantity * unit_price(item, channel, 1)
    else:
        total = sum(unit_price(item, channel, n) for n in range(1, quantity + 1))
    cap = item.get("cap")
    return min(total, int(cap)) if cap is not None else total


def fee_lines(manifest: Mapping[str, Any], channel: int, data: Any) -> list[FeeLine]:
    """Each amount due for a dossier of this procedure with this form data, on this channel (zero lines left out)."""
    fee = _rules(manifest)
    lines = []
    base = base_fee(manifest, channel)
    if base > 0:
        name = fee.get("name") or gettext("Phí, lệ phí: %(procedure)s", procedure=manifest.get("name", ""))
        lines.append(FeeLine(name=str(name), amount=base))
    for item in fee.get("per") or []:
        quantity = _quantity(data, str(item["field"]))
        amount = _item_amount(item, channel, quantity)
        if amount > 0:
            lines.append(FeeLine(name=str(item["name"]), amount=amount, quantity=quantity,
                                 unit=str(item.get("unit") or ""), unit_amount=unit_price(item, channel, 1)))
    return lines


def fee_total(manifest: Mapping[str, Any], channel: int, data: Any) -> int:
    return sum(line.amount for line in fee_lines(manifest, channel, data))


def describe_fee(manifest: Mapping[str, Any], channel: int) -> list[str]:
    """The rules in words, for the procedure's page: «10.000 đ», «8.000 đ/bản (Phí cấp bản sao trích lục)»."""
    fee = _rules(manifest)
    words = []
    base = base_fee(manifest, channel)
    if base > 0:
        words.append(vnd(base))
    for item in fee.get("per") or []:
        unit = str(item.get("unit") or "")
        unit = unit or gettext("đơn vị")
        text = f"{vnd(unit_price(item, channel, 1))}/{unit} ({item['name']})"
        for tier in sorted(item.get("tiers") or [], key=lambda t: int(t["from"])):
            text += ", " + gettext("từ %(unit)s thứ %(n)s: %(amount)s", unit=unit, n=int(tier["from"]),
                                   amount=vnd(int(tier["amount"])))
        if item.get("cap") is not None:
            text += ", " + gettext("tối đa %(amount)s", amount=vnd(int(item["cap"])))
        words.append(text)
    return words
