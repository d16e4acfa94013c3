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

                                                          and/or a DMN decision table of the package,
            "decision": {"id": "bang_phi", "output": "le_phi",   evaluated over the start form and the channel
                         "name": "Lệ phí theo bảng"}}            (`kenh`), whose output is one more line

Nothing here evaluates text: a rule is numbers and a JSON pointer; a decision table is evaluated by the engine's
safe evaluator (app.engine.decisions), the same one the workflows' conditions use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext

from app.eforms.schema import resolve_pointer
from app.engine.decisions import CHANNEL_NAME, DEFAULT_DECISION_OUTPUT, DecisionError, decide
from app.formats import vnd
from app.models import ProcedureVersion

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


# Evaluates a decision of the procedure's version over some data: (decision id, data) → its outputs.
Decider = Callable[[str, Mapping[str, Any]], Mapping[str, Any]]


def decider(version: ProcedureVersion) -> Decider:
    """The decisions of a deployed version (its .dmn files, parsed once per process)."""
    return lambda decision_id, data: decide(version.content_hash, lambda: version.bpmn_files or {}, decision_id,
                                            data)


def decision_amount(manifest: Mapping[str, Any], channel: int, data: Any, decide_with: Decider | None) -> int | None:
    """The fee line the manifest's `fee.decision` gives for this start form and channel (None: no decision).
    DecisionError when the table gives no usable amount (no rule matches, the output is not a whole number ≥ 0)."""
    rule = _rules(manifest).get("decision")
    if not isinstance(rule, Mapping):
        return None
    if decide_with is None:
        raise DecisionError("decision_unavailable", gettext("Không tính được lệ phí theo bảng quyết định."))
    facts = {**(data if isinstance(data, Mapping) else {}), CHANNEL_NAME: channel}
    output = str(rule.get("output") or DEFAULT_DECISION_OUTPUT)
    value = decide_with(str(rule["id"]), facts).get(output)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DecisionError("decision_fee_invalid", gettext(
            "Bảng quyết định «%(decision)s» cho lệ phí «%(value)s» ở cột «%(output)s»: lệ phí phải là số đồng nguyên "
            "không âm.", decision=rule["id"], value=str(value)[:40], output=output))
    return value


def fee_lines(manifest: Mapping[str, Any], channel: int, data: Any, decide_with: Decider | None = None
              ) -> list[FeeLine]:
    """Each amount due for a dossier of this procedure with this form data, on this channel (zero lines left out).
    `decide_with` evaluates the manifest's fee decision, if it has one (`decider(version)`); DecisionError when it
    gives no usable amount."""
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
    decided = decision_amount(manifest, channel, data, decide_with)
    if decided:
        rule = fee["decision"]
        name = rule.get("name") or fee.get("name") or gettext("Phí, lệ phí: %(procedure)s",
                                                              procedure=manifest.get("name", ""))
        lines.append(FeeLine(name=str(name), amount=decided))
    return lines


def fee_total(manifest: Mapping[str, Any], channel: int, data: Any, decide_with: Decider | None = None) -> int:
    return sum(line.amount for line in fee_lines(manifest, channel, data, decide_with))


def shown_fee_lines(version: ProcedureVersion, channel: int, data: Any, amount: int) -> list[FeeLine]:
    """The lines of a dossier's fee for display, adding up to the `amount` it was charged at submission; a decision
    that no longer answers (it did then) shows the amount as one line rather than failing the page."""
    manifest = version.manifest
    try:
        lines = fee_lines(manifest, channel, data, decider(version))
    except DecisionError:
        lines = []
    if sum(line.amount for line in lines) != amount:
        fee = _rules(manifest)
        name = fee.get("name") or gettext("Phí, lệ phí: %(procedure)s", procedure=manifest.get("name", ""))
        return [FeeLine(name=str(name), amount=amount)] if amount > 0 else []
    return lines


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
    rule = fee.get("decision")
    if isinstance(rule, Mapping):
        words.append(gettext("%(name)s: theo bảng quyết định của thủ tục, tính khi nộp hồ sơ",
                             name=rule.get("name") or fee.get("name") or gettext("Phí, lệ phí")))
    return words
