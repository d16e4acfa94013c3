"""Operations by id (`population.lookup_citizen`), each with JSON Schemas for its parameters and result.

A BPMN service task names an operation id; the job that runs it calls `registry.call(...)`, which checks
the parameters before anything leaves the building and the result before anyone relies on it.

Besides the providers' operations, the platform carries out some operations itself across several requests
(`payment.collect`: start a payment, wait for the payer). They are declared once, in PLATFORM_OPERATIONS
(so a procedure can be checked against them anywhere), and a registry learns the code that carries one out
explicitly, with `registry.add_operation(id, func)` (create_app does, through app.subscriptions).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator

from connectors.base import PermanentError

# Told of every provider operation called through a registry: (operation id, seconds, the error or None: a
# ConnectorError, or anything else the connector raised). The platform counts them for its metrics
# (app.monitoring); an observer must not raise.
Observer = Callable[[str, float, Exception | None], None]
OBSERVERS: list[Observer] = []


@dataclass(frozen=True)
class Operation:
    id: str  # provider.operation
    summary: str
    params_schema: Mapping[str, Any]
    result_schema: Mapping[str, Any]
    func: Callable[..., Any]
    platform: bool = False  # carried out by the platform: func(call, commit) may answer AWAIT


# A platform operation's answer meaning "started; the result comes later" (the service task keeps waiting).
AWAIT: Any = object()


@dataclass(frozen=True)
class PlatformOperation:
    """An operation the platform carries out itself: declared here, its code bound with `add_operation`."""

    id: str
    summary: str
    params_schema: Mapping[str, Any]


PLATFORM_OPERATIONS: Mapping[str, PlatformOperation] = {op.id: op for op in (
    PlatformOperation(
        "payment.collect", "Thu phí, lệ phí trực tuyến qua Nền tảng thanh toán (chờ tới khi thanh toán xong)",
        # The amount is the dossier's fee (procedure.json); so_tien, if given, must be that very fee.
        {"type": "object", "required": [],
         "properties": {"so_tien": {"type": "integer"}, "noi_dung": {"type": "string"}},
         "additionalProperties": False}),
)}


class Registry:
    def __init__(self) -> None:
        self._operations: dict[str, Operation] = {}
        # The connector objects by provider, for what is not an operation (e.g. verifying a payment callback).
        self.connectors: dict[str, Any] = {}

    def breakers(self) -> dict[str, Any]:
        """Each HTTP provider's circuit breaker (connectors.base.CircuitBreaker), by provider."""
        found = {}
        for provider, connector in sorted(self.connectors.items()):
            breaker = getattr(getattr(connector, "client", None), "breaker", None)
            if breaker is not None:
                found[provider] = breaker
        return found

    def register(self, operation: Operation) -> None:
        if operation.id in self._operations:
            raise ValueError(f"operation {operation.id} registered twice")
        Draft202012Validator.check_schema(operation.params_schema)
        Draft202012Validator.check_schema(operation.result_schema)
        self._operations[operation.id] = operation

    def add_operation(self, operation_id: str, func: Callable[..., Any]) -> None:
        """Bind a platform operation declared in PLATFORM_OPERATIONS to the code that carries it out."""
        try:
            declared = PLATFORM_OPERATIONS[operation_id]
        except KeyError:
            raise ValueError(f"operation {operation_id} is not declared in PLATFORM_OPERATIONS") from None
        self.register(Operation(declared.id, declared.summary, declared.params_schema, {}, func, platform=True))

    def get(self, operation_id: str) -> Operation:
        try:
            return self._operations[operation_id]
        except KeyError:
            raise PermanentError(operation_id.split(".")[0], "unknown_operation",
                                 f"Không có thao tác «{operation_id}».") from None

    def ids(self) -> list[str]:
        return sorted(self._operations)

    def call(self, operation_id: str, params: Mapping[str, Any]) -> Any:
        """The one place a provider's operation is called: checked, timed and reported to the observers."""
        op = self.get(operation_id)
        provider = operation_id.split(".")[0]
        if op.platform:
            raise PermanentError(provider, "platform_operation",
                                 f"Thao tác «{operation_id}» do hệ thống tự thực hiện cho một bước dịch vụ.")
        if not OBSERVERS:
            return self._call(op, provider, params)
        started = time.perf_counter()
        error: Exception | None = None
        try:
            return self._call(op, provider, params)
        except Exception as exc:
            error = exc
            raise
        finally:
            elapsed = time.perf_counter() - started
            for observer in OBSERVERS:
                try:
                    observer(operation_id, elapsed, error)
                except Exception:  # a count lost; never the call's own outcome
                    logging.getLogger(__name__).exception("connector observer failed")

    def _call(self, op: Operation, provider: str, params: Mapping[str, Any]) -> Any:
        errors = sorted(Draft202012Validator(op.params_schema).iter_errors(params), key=lambda e: list(e.path))
        if errors:
            where = "/".join(str(p) for p in errors[0].path) or "tham số"
            raise PermanentError(provider, "invalid_params", f"Tham số không hợp lệ ({where}): {errors[0].message}")
        result = op.func(**params)
        problems = list(Draft202012Validator(op.result_schema).iter_errors(result))
        if problems:
            raise PermanentError(provider, "invalid_result",
                                 f"Kết quả trả về không đúng đặc tả: {problems[0].message}")
        return result
