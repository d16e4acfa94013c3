"""The dossier core's clock and stall rule: the platform's one clock (app.clock), under the core's own name so
that every module of app.dossiers reads time from one place inside its layers. Nothing is defined here."""

from __future__ import annotations

from app.clock import delays_setting, is_stalled, local_tz, now_utc, retry_delays, stalled_since

__all__ = ["delays_setting", "is_stalled", "local_tz", "now_utc", "retry_delays", "stalled_since"]
