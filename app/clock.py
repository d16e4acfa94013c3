"""The platform's one clock, and the one rule for work that has waited too long.

Every timestamp the platform writes comes from `now_utc()` (the models' column defaults too), every local date
from `local_tz()` / `local_today()`; no other module reads the system clock (tests/integration/
test_core_structure.py checks the sources). Work that should have moved on by itself — a service call whose job
was lost, a refund not carried out, a portal update still owed — counts as stalled once it has waited
SERVICE_CALL_STALL seconds: `stalled_since()` is that cut-off, `is_stalled(since)` the test against it.

It sits below every other module of the application (it imports none of them); app.dossiers.clock re-exports it
for the dossier core.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context

DEFAULT_STALL_SECONDS = 900.0
DEFAULT_SERVICE_CALL_DELAYS = "10,60,300"  # seconds between attempts at an outside system (SERVICE_CALL_DELAYS)
DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"


def now_utc() -> datetime:
    """Now, timezone-aware in UTC."""
    return datetime.now(UTC)


def local_tz() -> ZoneInfo:
    """The platform's time zone (TIMEZONE): dates, deadlines and codes are counted in it (Vietnam's outside an
    application, e.g. for a check made by a script)."""
    name = current_app.config.get("TIMEZONE", DEFAULT_TIMEZONE) if has_app_context() else DEFAULT_TIMEZONE
    return ZoneInfo(name)


def local_today() -> date:
    """Today's date in the platform's time zone."""
    return now_utc().astimezone(local_tz()).date()


def stalled_since() -> datetime:
    """Work last touched before this moment and still not done waits for a person (SERVICE_CALL_STALL)."""
    return now_utc() - timedelta(seconds=float(current_app.config.get("SERVICE_CALL_STALL", DEFAULT_STALL_SECONDS)))


def is_stalled(since: datetime | None) -> bool:
    """Whether work last touched at `since` has waited past the cut-off (unknown: not stalled)."""
    return since is not None and since < stalled_since()


def delays_setting(name: str, default: str = "") -> list[float]:
    """A setting listing pauses in seconds, comma-separated (empty: none)."""
    return [float(x) for x in str(current_app.config.get(name, default)).split(",") if x.strip()]


def retry_delays() -> list[float]:
    """The pauses (seconds) between attempts at an outside system, SERVICE_CALL_DELAYS; then the last repeats
    where the caller retries forever (the portal outbox)."""
    return delays_setting("SERVICE_CALL_DELAYS", DEFAULT_SERVICE_CALL_DELAYS)
