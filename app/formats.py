"""How dates, times and amounts read, everywhere people read them: pages, receipts, emails, SMS, history notes.

One format each, so the same moment never appears two ways: `HH:MM dd/mm/yyyy` for a time, `dd/mm/yyyy` for
a day, `24.000 đ` for an amount. Machine interfaces (the JSON API, the national portal) keep ISO 8601.
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo

from babel.numbers import format_decimal

DATETIME_FORMAT = "%H:%M %d/%m/%Y"
DATE_FORMAT = "%d/%m/%Y"


def local_datetime(value: datetime | str | None, tz: tzinfo) -> str:
    """`15:36 16/11/2026` in the platform's zone; an ISO 8601 string is read first (a naive one is local)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        text = value
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return text
    moment = value.replace(tzinfo=tz) if value.tzinfo is None else value.astimezone(tz)
    return moment.strftime(DATETIME_FORMAT)


def local_date(value: date | datetime | str | None, tz: tzinfo) -> str:
    """`16/11/2026`: the day of a moment in the platform's zone, or a calendar date as it is."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        text = value
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00")) if "T" in text else date.fromisoformat(text)
        except ValueError:
            return text
    if isinstance(value, datetime):
        value = (value.replace(tzinfo=tz) if value.tzinfo is None else value.astimezone(tz)).date()
    return value.strftime(DATE_FORMAT)


def vnd(amount: int | None) -> str:
    """`24.000 đ` (Vietnamese digit grouping)."""
    return f"{format_decimal(amount or 0, locale='vi_VN')} đ"
