"""Paginated lists on pages: reading a list's query from the URL, and links to another page of it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import request, url_for
from flask_babel import lazy_gettext
from flask_babel.speaklater import LazyString

from app.dossiers.listings import ListQuery

SORT_LABELS: dict[str, LazyString] = {
    "due": lazy_gettext("Hạn gần nhất trước"),
    "-due": lazy_gettext("Hạn xa nhất trước"),
    "received": lazy_gettext("Nộp sớm nhất trước"),
    "-received": lazy_gettext("Nộp mới nhất trước"),
    "code": lazy_gettext("Mã hồ sơ A–Z"),
    "-code": lazy_gettext("Mã hồ sơ Z–A"),
    "oldest": lazy_gettext("Cũ nhất trước"),
    "newest": lazy_gettext("Mới nhất trước"),
    "name": lazy_gettext("Tên thủ tục A–Z"),
}
DUE_LABELS: dict[str, LazyString] = {
    "overdue": lazy_gettext("Quá hạn"),
    "today": lazy_gettext("Đến hạn hôm nay"),
    "week": lazy_gettext("Đến hạn trong tuần này"),
    "soon": lazy_gettext("Sắp hết hạn (trong 24 giờ)"),
    "in_time": lazy_gettext("Còn trong hạn"),
}
OFFICER_LABELS: dict[str, LazyString] = {
    "me": lazy_gettext("Tôi đang xử lý"),
    "free": lazy_gettext("Chưa ai nhận"),
}


def list_query(sorts: Sequence[str] = ()) -> ListQuery:
    return ListQuery.from_args(request.args, sorts)


def page_url(**changes: Any) -> str:
    """This page's URL with some query parameters changed (None or "" removes one); other filters are kept."""
    args = request.args.to_dict(flat=True)
    for key, value in changes.items():
        if value is None or value == "":
            args.pop(key, None)
        else:
            args[key] = str(value)
    values: dict[str, Any] = {**(request.view_args or {}), **args}
    return url_for(request.endpoint or "portal.catalogue", **values)


def list_helpers() -> dict[str, Any]:
    """Template names the list macros use (registered once, by the inbox blueprint)."""
    from app.dossiers.listings import PAGE_SIZES

    return {"page_url": page_url, "sort_labels": SORT_LABELS, "due_labels": DUE_LABELS,
            "officer_labels": OFFICER_LABELS, "page_sizes": PAGE_SIZES}
