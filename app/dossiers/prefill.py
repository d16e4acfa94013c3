"""Prefill a start eForm from the national population database, and log every look-up.

The manifest maps form fields (JSON pointers) to registry fields: `"/nguoi_yeu_cau/ho_ten":
"population:ho_ten"`, with an optional named transform (`|address`, `|sex`). A registry that is down or
slow leaves the form empty but usable, with a notice; submitted values are validated like any others.
Every look-up is logged (RegistryLookup) in the caller's transaction: the web view commits it.
The form's own defaults stay: prefilled values are laid over them, never instead of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask_babel import gettext, lazy_gettext

from app.dossiers import events
from app.dossiers.clock import local_tz, now_utc
from app.eforms.schema import form_defaults, pointer_to_path, resolve_pointer
from app.extensions import db
from app.formats import DATETIME_FORMAT
from app.models import RegistryLookup, User
from connectors.base import ConnectorError, PermanentError
from connectors.registry import Registry

SOURCES = {"population": lazy_gettext("Cơ sở dữ liệu quốc gia về dân cư")}


def _address(value: Any) -> Any:
    if not isinstance(value, Mapping):
        return value
    parts = [value.get("detail"), value.get("ward_name"), value.get("province_name")]
    return ", ".join(str(p) for p in parts if p)


def _sex(value: Any) -> Any:
    return {"Nam": "nam", "Nữ": "nu"}.get(str(value), value)


TRANSFORMS: dict[str, Callable[[Any], Any]] = {"address": _address, "sex": _sex}


@dataclass
class Prefill:
    data: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # field path → "source, time"
    notice: str | None = None


def source_label(provider: str, at: datetime) -> str:
    """How a prefilled field names where its value came from: «Cơ sở dữ liệu quốc gia về dân cư, 01/12/2026 08:06»."""
    return f"{SOURCES.get(provider, provider)}, {at.astimezone(local_tz()).strftime(DATETIME_FORMAT)}"


def declared_sources(manifest: Mapping[str, Any], at: datetime) -> dict[str, str]:
    """{field path: source} for every field the manifest prefills: the notes a citizen whom the registry knows sees
    on the start form (the form preview shows them over its sample data)."""
    mapping = manifest.get("prefill")
    if not isinstance(mapping, Mapping):
        return {}
    return {pointer_to_path(pointer): source_label(str(source).partition(":")[0], at)
            for pointer, source in mapping.items() if isinstance(pointer, str) and pointer.startswith("/")}


def _set(data: dict[str, Any], pointer: str, value: Any) -> None:
    parts = pointer.lstrip("/").split("/")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def with_defaults(schema: Mapping[str, Any], data: Mapping[str, Any],
                  ui: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The form's defaults with `data` laid over them (a group merged field by field)."""

    def merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
        for key, value in over.items():
            if isinstance(value, Mapping) and isinstance(base.get(key), dict):
                base[key] = merge(base[key], value)
            else:
                base[key] = value
        return base

    return merge(form_defaults(schema, ui), data)


def prefill_for(user: User | None, manifest: Mapping[str, Any], registry: Registry,
                schema: Mapping[str, Any] | None = None, ui: Mapping[str, Any] | None = None) -> Prefill:
    """What a start form shows a logged-in person: its defaults (when `schema` is given), then what the
    population database knows about them."""
    result = _lookup(user, manifest, registry)
    if schema is not None:
        result.data = with_defaults(schema, result.data, ui)
    return result


def _lookup(user: User | None, manifest: Mapping[str, Any], registry: Registry) -> Prefill:
    mapping: Mapping[str, str] = manifest.get("prefill") or {}
    if not mapping or user is None or not user.personal_id or user.date_of_birth is None:
        return Prefill()
    if "population.lookup_citizen" not in registry.ids():
        return Prefill()  # no population database configured here: nothing to prefill from
    params = {"so_dinh_danh": user.personal_id, "ho_ten": user.full_name,
              "ngay_sinh": user.date_of_birth.isoformat()}
    result = Prefill()
    record: dict[str, Any] | None = None
    try:
        record = registry.call("population.lookup_citizen", params)
        outcome = "ok"
    except PermanentError as exc:
        outcome = exc.code
        result.notice = gettext("Không tìm thấy thông tin của bạn trong Cơ sở dữ liệu quốc gia về dân cư; "
                                "vui lòng tự điền tờ khai.")
    except ConnectorError as exc:
        outcome = f"unavailable:{exc.code}"
        result.notice = gettext("Cơ sở dữ liệu quốc gia về dân cư đang tạm gián đoạn nên chưa điền sẵn được; "
                                "vui lòng tự điền tờ khai hoặc thử lại sau.")
    lookup = RegistryLookup(user_id=user.id, operation="population.lookup_citizen", subject=user.personal_id,
                            purpose=f"Điền sẵn tờ khai thủ tục {manifest.get('code', '')}", outcome=outcome[:40])
    db.session.add(lookup)
    events.publish(events.registry_looked_up, lookup=lookup, dossier=None, actor=user)
    if record is None:
        return result
    at = now_utc()
    for pointer, source in mapping.items():
        provider, _, spec = source.partition(":")
        name, _, transform = spec.partition("|")
        value = resolve_pointer(record, "/" + name.replace(".", "/"))
        if transform:
            value = TRANSFORMS[transform](value)
        if value in (None, ""):
            continue
        _set(result.data, pointer, value)
        result.sources[pointer_to_path(pointer)] = source_label(provider, at)
    return result
