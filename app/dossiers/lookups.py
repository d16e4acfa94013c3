"""Registry look-up results as the officer sees them: only what the procedure declares it needs, labelled,
each set against what the applicant declared, with a verdict.

The manifest's `lookup_results` maps a service task's result variable to the fields to show:

    "lookup_results": {"tra_cuu_me": {"fields": [
        {"key": "ho_ten", "label": {"vi": "Họ, chữ đệm và tên", "en": "Full name"}, "compare": "/me/ho_ten"},
        {"key": "ngay_sinh", "label": "Ngày sinh", "compare": "/me/nam_sinh", "match": "year"}]}}

`compare` is a JSON pointer into the task's data (the start form and the earlier steps' forms); `match` says
how: `text` (default: case, spacing and Unicode normal form do not count; accents do, since «Bình» and «Bính» are
two names, but a value that differs only by its accents is reported as "accents", for the officer to look at),
`exact`, `date` (both read as dates) or `year` (the years of both). Nothing else the registry answered is shown.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from flask_babel import gettext

from app.eforms.schema import resolve_pointer

_DMY = re.compile(r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})\s*$")
_YEAR = re.compile(r"^\s*(\d{4})\s*$")
# An address object from a registry, most specific part first.
_ADDRESS_PARTS = ("detail", "ward_name", "district_name", "province_name")


def fold(text: str) -> str:
    """Case, accents (đ included) and spacing removed: «  Trần  thị BÌNH » → «tran thi binh»."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.split()).casefold()


def as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        pass
    found = _DMY.match(value)
    if found:
        try:
            return date(int(found[3]), int(found[2]), int(found[1]))
        except ValueError:
            return None
    return None


def as_year(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _YEAR.match(value):
        return int(value)
    day = as_date(value)
    return day.year if day else None


def _blank(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def display(value: Any, kind: str = "text") -> str:
    """A registry or form value in words: dates as dd/mm/yyyy, addresses as one line."""
    if _blank(value):
        return ""
    if kind in ("date", "year") and not isinstance(value, int | bool):
        day = as_date(value)
        if day is not None:
            return day.strftime("%d/%m/%Y")
    if isinstance(value, bool):
        return gettext("Có") if value else gettext("Không")
    if isinstance(value, Mapping):
        if any(part in value for part in _ADDRESS_PARTS):
            return ", ".join(str(value[p]) for p in _ADDRESS_PARTS if not _blank(value.get(p)))
        return ", ".join(display(v) for k, v in value.items()
                         if not str(k).endswith("_code") and not _blank(v) and not isinstance(v, Mapping | list))
    if isinstance(value, list):
        return ", ".join(display(v) for v in value if not _blank(v))
    return str(value)


def same_text(a: str, b: str) -> bool:
    """Equal as written, whatever the case, the spacing or the Unicode form (precomposed or not) of the accents."""
    def norm(text: str) -> str:
        return " ".join(unicodedata.normalize("NFC", text).split()).casefold()
    return norm(a) == norm(b)


def matches(found: Any, declared: Any, kind: str = "text") -> bool | str | None:
    """Whether the registry's value agrees with the declared one: True, False, "accents" (a text that agrees only
    once its accents are dropped: typed without them, or a different name) or None when nothing was declared."""
    if _blank(declared):
        return None
    if _blank(found):
        return False
    if kind == "date":
        found_day, declared_day = as_date(found), as_date(declared)
        return found_day is not None and found_day == declared_day
    if kind == "year":
        found_year, declared_year = as_year(found), as_year(declared)
        return found_year is not None and found_year == declared_year
    if kind == "exact":
        return display(found).strip() == display(declared).strip()
    found_text, declared_text = display(found), display(declared)
    if same_text(found_text, declared_text):
        return True
    return "accents" if fold(found_text) == fold(declared_text) else False


def labels_of(label: Any, key: str) -> dict[str, str]:
    """{"vi": …, "en": …} from a label given as one Vietnamese string or per language."""
    if isinstance(label, str):
        return {"vi": label}
    if isinstance(label, Mapping):
        out = {str(k): str(v) for k, v in label.items() if isinstance(v, str) and v}
        if out:
            return out if "vi" in out else {"vi": next(iter(out.values())), **out}
    return {"vi": key}


def checked_result(declaration: Mapping[str, Any], result: Mapping[str, Any],
                   data: Mapping[str, Any]) -> dict[str, Any]:
    """The declared fields of one look-up's result, each with what the applicant declared and whether they
    match, and the verdict: "mismatch" when one compared field disagrees, "accents" when some agree only without
    their accents, "match" when every compared field agrees."""
    fields = []
    for spec in declaration.get("fields") or []:
        if not isinstance(spec, Mapping) or not isinstance(spec.get("key"), str):
            continue
        kind = str(spec.get("match") or "text")
        found = resolve_pointer(result, "/" + spec["key"].replace(".", "/"))
        pointer = spec.get("compare")
        declared = resolve_pointer(data, pointer) if isinstance(pointer, str) else None
        fields.append({"key": spec["key"], "labels": labels_of(spec.get("label"), spec["key"]),
                       "value": display(found, kind), "declared": display(declared, kind) or None,
                       "compared": isinstance(pointer, str),
                       "match": matches(found, declared, kind) if isinstance(pointer, str) else None})
    verdicts = [f["match"] for f in fields if f["match"] is not None]
    verdict = (None if not verdicts else "mismatch" if False in verdicts
               else "accents" if "accents" in verdicts else "match")
    return {"fields": fields, "verdict": verdict}
