"""The one clock of the dossier core, and the one rule for work that has waited too long.

Every timestamp the core writes comes from `now_utc()` (the same function the models' column defaults use),
every local date from `local_tz()`. Work that should have moved on by itself — a service call whose job was
lost, a refund not carried out, a portal update still owed — counts as stalled once it has waited
SERVICE_CALL_STALL seconds: `stalled_since()` is that cut-off, `is_stalled(since)` the test against it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app

from app.models.types import utcnow

DEFAULT_STALL_SECONDS = 900.0


def now_utc() -> datetime:
    """Now, timezone-aware in UTC."""
    return utcnow()


def local_tz() -> ZoneInfo:
    """The platform's time zone (TIMEZONE): dates, deadlines and codes are counted in it."""
    return ZoneInfo(current_app.config["TIMEZONE"])


def stalled_since() -> datetime:
    """Work last touched before this moment and still not done waits for a person (SERVICE_CALL_STALL)."""
    return now_utc() - timedelta(seconds=float(current_app.config.get("SERVICE_CALL_STALL", DEFAULT_STALL_SECONDS)))


def is_stalled(since: datetime | None) -> bool:
    """Whether work last touched at `since` has waited past the cut-off (unknown: not stalled)."""
    return since is not None and since < stalled_since()


def retry_delays() -> list[float]:
    """The pauses (seconds) between attempts at an outside system, SERVICE_CALL_DELAYS; then the last repeats
    where the caller retries forever (the portal outbox)."""
    raw = str(current_app.config.get("SERVICE_CALL_DELAYS", "10,60,300"))
    return [float(x) for x in raw.split(",") if x.strip()]
