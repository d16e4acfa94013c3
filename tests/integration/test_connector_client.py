"""The connector HTTP client against a real HTTP server: retries, backoff, breaker, idempotency, secrets."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from flask import Flask, jsonify, request
from werkzeug.serving import make_server

from connectors.base import CircuitBreaker, CircuitOpen, HttpClient, PermanentError, RetryPolicy, TransientError
from connectors.registry import Operation, Registry


class Script:
    """Answers queued per path; records every request that arrived."""

    def __init__(self) -> None:
        self.answers: dict[str, list[tuple[int, dict, float]]] = {}
        self.seen: list[dict] = []
        self.lock = threading.Lock()


@pytest.fixture()
def server() -> Iterator[tuple[str, Script]]:
    script = Script()
    app = Flask("fake-provider")

    @app.route("/<path:path>", methods=["GET", "POST"])
    def any_path(path: str):
        with script.lock:
            script.seen.append({"path": path, "headers": dict(request.headers), "json": request.get_json(silent=True)})
            queue = script.answers.get(path, [])
            status, body, delay = queue.pop(0) if queue else (200, {"ok": True}, 0.0)
        if delay:
            time.sleep(delay)
        response = jsonify(body)
        response.status_code = status
        if status == 429:
            response.headers["Retry-After"] = "0"
        return response

    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}", script
    srv.shutdown()


def client(base: str, **kwargs) -> HttpClient:
    waits: list[float] = []
    c = HttpClient("population", base, token="s3cret-token", timeout=0.5,
                   retry=kwargs.pop("retry", RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05)),
                   sleep=waits.append, **kwargs)
    c.waits = waits  # type: ignore[attr-defined]
    return c


def test_5xx_then_success_is_retried_with_backoff(server):
    base, script = server
    script.answers["x"] = [(503, {"message": "bận"}, 0), (502, {}, 0)]
    c = client(base)
    assert c.request("POST", "/x", json={"a": 1}, idempotency_key="dossier-7-task-3") == {"ok": True}
    assert len(script.seen) == 3
    assert {s["headers"]["Idempotency-Key"] for s in script.seen} == {"dossier-7-task-3"}
    assert all(s["headers"]["Authorization"] == "Bearer s3cret-token" for s in script.seen)
    assert len(c.waits) == 2 and all(0 <= w <= 0.05 for w in c.waits)


def test_timeouts_exhaust_retries_as_transient(server):
    base, script = server
    script.answers["slow"] = [(200, {}, 1.0)] * 3
    c = client(base)
    with pytest.raises(TransientError) as info:
        c.request("GET", "/slow")
    assert info.value.code == "timeout" and len(script.seen) == 3


def test_4xx_is_permanent_and_not_retried(server):
    base, script = server
    script.answers["tra-cuu"] = [(404, {"error_code": "khong_tim_thay", "message": "Không tìm thấy công dân."}, 0)]
    with pytest.raises(PermanentError) as info:
        client(base).request("POST", "/tra-cuu", json={})
    assert info.value.code == "khong_tim_thay" and info.value.message == "Không tìm thấy công dân."
    assert len(script.seen) == 1


def test_429_honours_retry_after(server):
    base, script = server
    script.answers["busy"] = [(429, {}, 0)]
    c = client(base)
    assert c.request("GET", "/busy") == {"ok": True}
    assert c.waits == [0.0]


def test_breaker_opens_then_lets_one_trial_through(server):
    base, script = server
    now = [0.0]
    breaker = CircuitBreaker(threshold=2, reset_after=10, clock=lambda: now[0])
    c = client(base, breaker=breaker, retry=RetryPolicy(attempts=1))
    script.answers["down"] = [(500, {}, 0)] * 2
    for _ in range(2):
        with pytest.raises(TransientError):
            c.request("GET", "/down")
    assert breaker.state == "open"
    calls = len(script.seen)
    with pytest.raises(CircuitOpen):
        c.request("GET", "/down")
    assert len(script.seen) == calls  # nothing was sent while open
    now[0] = 11
    assert c.request("GET", "/down") == {"ok": True}  # half-open trial succeeds
    assert breaker.state == "closed"


def test_token_never_in_repr_or_logs(server, caplog):
    base, script = server
    script.answers["down"] = [(500, {}, 0)] * 3
    c = client(base)
    with pytest.raises(TransientError):
        c.request("GET", "/down")
    assert "s3cret-token" not in repr(c)
    assert "s3cret-token" not in caplog.text


def test_registry_validates_params_and_results():
    registry = Registry()
    registry.register(Operation("demo.echo", "echo", {"type": "object", "required": ["n"],
                                                      "properties": {"n": {"type": "integer"}}},
                                {"type": "object", "required": ["n"]}, lambda n: {"n": n} if n >= 0 else {}))
    assert registry.call("demo.echo", {"n": 2}) == {"n": 2}
    with pytest.raises(PermanentError) as info:
        registry.call("demo.echo", {"n": "hai"})
    assert info.value.code == "invalid_params"
    with pytest.raises(PermanentError) as info:
        registry.call("demo.echo", {"n": -1})
    assert info.value.code == "invalid_result"
    with pytest.raises(PermanentError):
        registry.call("demo.nothing", {})
