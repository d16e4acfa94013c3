"""What every connector shares: typed errors, a circuit breaker and an HTTP client that retries well.

Transient failures (timeouts, connection errors, 5xx, 429, an open circuit) may succeed if tried again
later; permanent ones (4xx: bad input, not found, refused) will not, and must not be retried. Callers
(the service-task jobs) decide what to do by the type alone.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

log = logging.getLogger(__name__)


class ConnectorError(Exception):
    """A call to a national system failed; `message` is Vietnamese and safe to show an operator."""

    transient = False

    def __init__(self, provider: str, code: str, message: str, *, status: int | None = None) -> None:
        super().__init__(f"{provider}: {code}: {message}")
        self.provider = provider
        self.code = code
        self.message = message
        self.status = status


class TransientError(ConnectorError):
    transient = True


class PermanentError(ConnectorError):
    transient = False


class CircuitOpen(TransientError):
    pass


# Told of every breaker's failures and of the success that closes one again (never of a plain success): the
# platform publishes what one process saw to the others (app.monitoring). A listener must not raise.
BREAKER_LISTENERS: list[Callable[[CircuitBreaker], None]] = []


class CircuitBreaker:
    """Stop calling a provider that keeps failing; let one trial call through after a pause.

    closed → (threshold consecutive failures) → open → (reset_after seconds) → half-open: one call decides.
    """

    def __init__(self, threshold: int = 5, reset_after: float = 30.0, clock: Callable[[], float] = time.monotonic):
        self.threshold = threshold
        self.reset_after = reset_after
        self.clock = clock
        self.failures = 0
        self.opened_at: float | None = None
        self.trial_running = False
        self.lock = threading.Lock()
        self.name = ""  # the provider (set by its HttpClient)
        self.changed_at: float | None = None  # wall-clock time of the last failure or recovery

    def snapshot(self) -> dict[str, Any]:
        """State, consecutive failures, seconds until a trial call is let through (0 unless open)."""
        with self.lock:
            state = self._state()
            remaining = self.reset_after - (self.clock() - self.opened_at) if state == "open" and self.opened_at else 0
            return {"state": state, "failures": self.failures, "retry_in": round(max(0.0, remaining), 1),
                    "changed_at": self.changed_at}

    def _tell(self) -> None:
        for listener in BREAKER_LISTENERS:
            try:
                listener(self)
            except Exception:  # the call's own outcome matters more than its report
                log.exception("circuit breaker listener failed")

    @property
    def state(self) -> str:
        with self.lock:
            return self._state()

    def _state(self) -> str:
        if self.opened_at is None:
            return "closed"
        if self.clock() - self.opened_at >= self.reset_after:
            return "half_open"
        return "open"

    def before_call(self, provider: str) -> None:
        with self.lock:
            state = self._state()
            if state == "open" or (state == "half_open" and self.trial_running):
                raise CircuitOpen(provider, "circuit_open",
                                  "Hệ thống đang tạm ngừng gọi dịch vụ này do lỗi liên tiếp; sẽ thử lại sau.")
            if state == "half_open":
                self.trial_running = True

    def record_success(self) -> None:
        with self.lock:
            recovered = self.failures > 0 or self.opened_at is not None
            self.failures = 0
            self.opened_at = None
            self.trial_running = False
            if recovered:
                self.changed_at = time.time()
        if recovered:
            self._tell()

    def record_failure(self) -> None:
        with self.lock:
            self.failures += 1
            self.trial_running = False
            if self.failures >= self.threshold or self.opened_at is not None:
                self.opened_at = self.clock()
            self.changed_at = time.time()
        self._tell()


@dataclass
class RetryPolicy:
    attempts: int = 3  # total tries, the first included
    base_delay: float = 0.2  # seconds; the n-th retry waits up to base * 2**(n-1) (full jitter)
    max_delay: float = 5.0

    def delay(self, retry: int, rng: random.Random) -> float:
        return rng.uniform(0, min(self.max_delay, self.base_delay * (2 ** (retry - 1))))


@dataclass
class HttpClient:
    """JSON over HTTP to one provider: timeouts, retries with backoff and jitter, a breaker, idempotency keys.

    The token is sent as a bearer header and never appears in logs or in repr().
    """

    provider: str
    base_url: str
    token: str = field(default="", repr=False)
    timeout: float = 5.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)
    session: requests.Session = field(default_factory=requests.Session, repr=False)
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        self.breaker.name = self.breaker.name or self.provider

    def request(self, method: str, path: str, *, json: Any = None, idempotency_key: str | None = None,
                headers: Mapping[str, str] | None = None, raw: bool = False) -> Any:
        """The decoded JSON body of a 2xx answer (its bytes if ``raw``, e.g. a PDF), or a ConnectorError."""
        all_headers = {"Accept": "*/*" if raw else "application/json", **(headers or {})}
        if self.token:
            all_headers["Authorization"] = f"Bearer {self.token}"
        if idempotency_key:
            all_headers["Idempotency-Key"] = idempotency_key
        url = self.base_url.rstrip("/") + path
        last: ConnectorError | None = None
        for attempt in range(1, self.retry.attempts + 1):
            self.breaker.before_call(self.provider)
            try:
                response = self.session.request(method, url, json=json, headers=all_headers, timeout=self.timeout)
            except requests.Timeout:
                last = TransientError(self.provider, "timeout", f"Quá thời gian chờ ({self.timeout:g} giây).")
            except requests.ConnectionError:
                last = TransientError(self.provider, "unreachable", "Không kết nối được tới hệ thống.")
            else:
                if 200 <= response.status_code < 300:
                    self.breaker.record_success()
                    if raw:
                        return response.content
                    return response.json() if response.content else None
                last = self._error(response)
                if not last.transient:
                    # The provider answered: it is up, the request itself is wrong.
                    self.breaker.record_success()
                    raise last
            self.breaker.record_failure()
            log.warning("%s %s %s failed (attempt %d/%d): %s", self.provider, method, path, attempt,
                        self.retry.attempts, last.code)
            if attempt < self.retry.attempts:
                self.sleep(self._wait(attempt, last))
        assert last is not None
        raise last

    def _wait(self, attempt: int, error: ConnectorError) -> float:
        retry_after = getattr(error, "retry_after", None)
        if isinstance(retry_after, float):
            return min(retry_after, self.retry.max_delay)
        return self.retry.delay(attempt, self.rng)

    def _error(self, response: requests.Response) -> ConnectorError:
        try:
            body = response.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        code = str(body.get("error_code") or body.get("code") or f"http_{response.status_code}")
        message = str(body.get("message") or f"Hệ thống trả lỗi HTTP {response.status_code}.")
        status = response.status_code
        if status == 429 or status >= 500:
            error = TransientError(self.provider, code, message, status=status)
            header = response.headers.get("Retry-After", "")
            if header.isdigit():
                error.retry_after = float(header)  # type: ignore[attr-defined]
            return error
        return PermanentError(self.provider, code, message, status=status)
