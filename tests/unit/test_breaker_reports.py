"""What a circuit breaker tells the platform (connectors.base.BREAKER_LISTENERS, read by app.monitoring): every
failure and the recovery that closes it, never a plain success; and how an observation published earlier reads now."""

from __future__ import annotations

from typing import Any

import pytest

from app.monitoring import _as_of_now
from connectors import base
from connectors.base import CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def told(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(base, "BREAKER_LISTENERS", [lambda breaker: seen.append(breaker.snapshot())])
    return seen


def test_failures_and_the_recovery_are_told_plain_successes_are_not(told):
    clock = Clock()
    breaker = CircuitBreaker(threshold=2, reset_after=30, clock=clock)
    breaker.record_success()
    assert told == []
    breaker.record_failure()
    assert told[-1]["state"] == "closed" and told[-1]["failures"] == 1
    breaker.record_failure()
    assert told[-1] == {"state": "open", "failures": 2, "retry_in": 30.0, "changed_at": breaker.changed_at}
    clock.now += 10
    assert breaker.snapshot()["retry_in"] == 20.0
    clock.now += 25
    assert breaker.snapshot()["state"] == "half_open"
    breaker.record_success()
    assert told[-1]["state"] == "closed" and told[-1]["failures"] == 0
    count = len(told)
    breaker.record_success()
    assert len(told) == count


def test_a_listener_that_fails_never_changes_the_call(monkeypatch):
    def broken(breaker: CircuitBreaker) -> None:
        raise RuntimeError("Redis away")

    monkeypatch.setattr(base, "BREAKER_LISTENERS", [broken])
    breaker = CircuitBreaker(threshold=1)
    breaker.record_failure()
    assert breaker.state == "open"


def test_a_published_open_breaker_reads_half_open_once_its_pause_is_over():
    entry = {"state": "open", "failures": 5, "retry_in": 30.0, "at": 1000.0}
    assert _as_of_now(entry, 1010.0) == "open"
    assert _as_of_now(entry, 1030.0) == "half_open"
    assert _as_of_now({**entry, "state": "closed"}, 2000.0) == "closed"
