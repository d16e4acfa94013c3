"""Fault injection and the request log, written once and applied to every national service.

Test hooks (never part of a real service; unauthenticated on purpose, so the sandbox must only ever
listen on a test host; paths under ``/_`` are neither logged nor faulted):

- ``POST /_faults`` ``{"path_prefix": "/", "mode": "error", "status": 503, "delay_ms": 0, "count": 1}``
  queues a failure for the next ``count`` requests whose path starts with ``path_prefix``: ``error``
  answers ``status``; ``timeout`` waits ``delay_ms`` then answers 504; ``latency`` waits then serves
  the request; ``busy`` answers the service's own in-band "system busy" reply where it has one (the
  national portal: HTTP 200, ``HE_THONG_BAN``) and ``status`` elsewhere. ``GET`` lists, ``DELETE`` clears.
- ``GET /_log`` lists the requests received (method, path, time), so a test can count retries;
  ``DELETE /_log`` forgets them.

:class:`Queue` also holds the payment platform's callback faults.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Generic, Protocol, TypeVar

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue

from sandbox.common import Refused, Service, attach_state, error, is_int, json_object, stamp, state

__all__ = ["FAULT_MODES", "Fault", "Queue", "bp", "check_ints", "in_band_busy", "queue_routes"]

FAULT_MODES: Final = ("error", "timeout", "latency", "busy")
HOOK_PREFIX: Final = "/_"
_BUSY: dict[str, Callable[[], ResponseReturnValue]] = {}  # blueprint name → its in-band busy reply

bp = Blueprint("faults", __name__)


class Counted(Protocol):
    count: int


F = TypeVar("F", bound=Counted)


class Queue(Service, Generic[F]):
    """Queued faults, each good for ``count`` uses; two threads never share one use."""

    def __init__(self) -> None:
        super().__init__()
        self.items: list[F] = []

    def take(self, matches: Callable[[F], bool]) -> F | None:
        """Consume one use of the first queued fault that ``matches``: a copy with ``count`` 1."""
        with self.lock:
            for item in self.items:
                if matches(item):
                    item.count -= 1
                    if item.count <= 0:
                        self.items.remove(item)
                    return dataclasses.replace(item, count=1)  # type: ignore[type-var]
        return None

    def holds(self, item: F) -> bool:
        """Whether this very fault is still queued (caller holds the lock)."""
        return any(queued is item for queued in self.items)

    def dump(self) -> dict[str, Any]:
        return {"faults": [dataclasses.asdict(item) for item in self.items]}  # type: ignore[call-overload]

    def clear(self) -> None:
        self.items.clear()


def queue_routes(blueprint: Blueprint, rule: str, name: str, parse: Callable[[dict[str, Any]], F]) -> None:
    """``POST rule`` queues ``parse(body)`` (201, the queue), ``GET`` lists, ``DELETE`` clears."""
    attach_state(blueprint, name, lambda app: Queue(), hook=rule)

    @blueprint.post(rule, endpoint=f"{name}_add")
    def add() -> tuple[Response, int]:
        item = parse(json_object())
        queue = state(name, Queue)
        with queue.lock:
            queue.items.append(item)
            return jsonify(queue.dump()), 201


def check_ints(values: dict[str, Any], lows: dict[str, int]) -> None:
    for key, low in lows.items():
        if not is_int(values[key]) or values[key] < low:
            raise Refused(422, "du_lieu_khong_hop_le", f"“{key}” phải là số nguyên không nhỏ hơn {low}.")


# ------------------------------------------------------------------ request faults


@dataclass
class Fault:
    """``count`` more requests whose path starts with ``path_prefix`` fail in ``mode``."""

    path_prefix: str
    mode: str
    status: int
    delay_ms: int
    count: int


def parse_fault(body: dict[str, Any]) -> Fault:
    mode = body.get("mode", "error")
    values = {"path_prefix": body.get("path_prefix", "/"), "mode": mode,
              "status": body.get("status", 504 if mode == "timeout" else 503),
              "delay_ms": body.get("delay_ms", 0), "count": body.get("count", 1)}
    if not isinstance(values["path_prefix"], str) or not values["path_prefix"].startswith("/"):
        raise Refused(422, "du_lieu_khong_hop_le", "“path_prefix” phải là một đường dẫn bắt đầu bằng “/”.")
    if mode not in FAULT_MODES:
        raise Refused(422, "du_lieu_khong_hop_le", f"“mode” phải là một trong: {', '.join(FAULT_MODES)}.")
    check_ints(values, {"status": 100, "delay_ms": 0, "count": 1})
    if values["status"] > 599:
        raise Refused(422, "du_lieu_khong_hop_le", "“status” phải là mã trạng thái HTTP (100–599).")
    return Fault(**values)


def in_band_busy(blueprint: Blueprint, reply: Callable[[], ResponseReturnValue]) -> None:
    """What a ``busy`` fault answers on ``blueprint``'s routes instead of an HTTP error."""
    _BUSY[blueprint.name] = reply


queue_routes(bp, "/_faults", "faults", parse_fault)


class RequestLog(Service):
    def __init__(self) -> None:
        super().__init__()
        self.requests: list[dict[str, Any]] = []

    def dump(self) -> dict[str, Any]:
        return {"requests": list(self.requests)}

    def clear(self) -> None:
        self.requests.clear()


attach_state(bp, "log", lambda app: RequestLog(), hook="/_log")


@bp.before_app_request
def log_and_fault() -> ResponseReturnValue | None:
    """Every request outside the hooks, to any service: logged, then failed if a fault is queued for it."""
    path = request.path
    if path.startswith(HOOK_PREFIX):
        return None
    log = state("log", RequestLog)
    now = time.time()
    with log.lock:
        log.requests.append({"method": request.method, "path": path, "time": now, "at": stamp(now)})
    fault = state("faults", Queue).take(lambda f: path.startswith(f.path_prefix))
    if fault is None:
        return None
    if fault.mode in ("latency", "timeout"):
        time.sleep(fault.delay_ms / 1000)
    if fault.mode == "latency":
        return None
    if fault.mode == "timeout":
        return error(504, "het_thoi_gian", "Hệ thống không phản hồi trong thời gian cho phép (mô phỏng).")
    if fault.mode == "busy" and request.blueprint in _BUSY:
        return _BUSY[request.blueprint]()
    return error(fault.status, "loi_he_thong", "Hệ thống đang gặp sự cố, vui lòng thử lại sau (mô phỏng).")
