"""The script environment the engine runs with: expressions through the safe evaluator, scripts in the sandbox.

SpiffWorkflow's default environment evaluates conditions with `eval` and runs script tasks with
`exec` over task data. This environment evaluates expressions with `expressions.evaluate`, runs
scripts (script tasks, pre/post scripts) in the sandbox process (app.engine.scripts: restricted
language, separate process, CPU/memory/output limits) and applies what they changed to the task data,
and refuses inline service calls, because connector calls belong in background jobs, never inside a
web request. SpiffWorkflow's own environment never runs a diagram's code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_babel import gettext
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException as _WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine.python_engine import PythonScriptEngine as _PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import (
    BasePythonScriptEngineEnvironment as _BaseEnvironment,
)
from SpiffWorkflow.exceptions import SpiffWorkflowException as _SpiffWorkflowException

from app.engine import script_language
from app.engine.expressions import _today as today
from app.engine.expressions import evaluate
from app.engine.scripts import run_script

DATA_NAME = script_language.DATA_NAME


class ServiceCallRefused(Exception):
    """A service task tried to call out from inside the engine step."""

    def __init__(self, operation: str) -> None:
        self.code = "service_call_inline_forbidden"
        self.operation = operation
        self.message = gettext(
            "Tác vụ dịch vụ «%(operation)s» không được gọi trực tiếp trong bước xử lý; các tác vụ dịch vụ "
            "được chạy bởi hàng đợi công việc nền.", operation=operation)
        super().__init__(self.message)


class EngineTaskError(_WorkflowTaskException):
    """WorkflowTaskException carrying the refusal's stable `code` and its Vietnamese `message`.

    SpiffWorkflow's own `__str__` appends ". " and its notes; this one reads as the message itself.
    """

    def __init__(self, err: BaseException, task: Any) -> None:
        self.code = str(getattr(err, "code", "") or "engine_task_failed")
        message = getattr(err, "message", None)
        self.message = message if isinstance(message, str) and message else f"{type(err).__name__}: {err}"
        super().__init__(self.message, task=task, exception=err)

    def __str__(self) -> str:
        notes = [str(n) for n in self.notes if n]
        return self.message + (" (" + "; ".join(notes) + ")" if notes else "")


class SafeScriptEnvironment(_BaseEnvironment):
    """Evaluates expressions safely, runs scripts in the sandbox; refuses inline service calls."""

    def evaluate(
        self, expression: str, context: Mapping[str, Any], external_context: Mapping[str, Any] | None = None
    ) -> Any:
        names = {**(external_context or {}), **context}
        # `du_lieu` is the task data as one dict, so a condition can ask whether an optional part was given:
        # "'cha' in du_lieu" (an undefined name is an error, by design).
        return evaluate(expression, {DATA_NAME: names, **names})

    def execute(
        self, script: str, context: Mapping[str, Any], external_context: Mapping[str, Any] | None = None
    ) -> Any:
        """Run a script in the sandbox over the task data (`context`), then apply the names it changed or deleted;
        a ScriptError (refused, failed, out of a limit) leaves the data as it was."""
        data = {**(external_context or {}), **context}
        result = run_script(script or "", data, today())
        if isinstance(context, dict):
            context.update(result.updates)
            for name in result.deletions:
                context.pop(name, None)
        return True

    def call_service(self, context: Mapping[str, Any], **kwargs: Any) -> Any:
        raise ServiceCallRefused(str(kwargs.get("operation_name") or "?"))


class SafeScriptEngine(_PythonScriptEngine):
    """PythonScriptEngine whose failures surface as WorkflowTaskException with a Vietnamese message.

    The error raised is an EngineTaskError with the original's `code` and `message`; the original
    (ExpressionError, ServiceCallRefused, …) stays chained as `__cause__`.
    """

    def __init__(self, environment: _BaseEnvironment | None = None) -> None:
        super().__init__(environment=environment or SafeScriptEnvironment())

    def evaluate(self, task: Any, expression: str, external_context: Mapping[str, Any] | None = None) -> Any:
        try:
            return self.environment.evaluate(expression, task.data, external_context)
        except _SpiffWorkflowException:
            raise
        except Exception as err:
            raise EngineTaskError(err, task) from err

    def execute(self, task: Any, script: str, external_context: Mapping[str, Any] | None = None) -> Any:
        try:
            return self.environment.execute(script, task.data, external_context or {})
        except _SpiffWorkflowException:
            raise
        except Exception as err:
            raise EngineTaskError(err, task) from err

    def call_service(self, task: Any, **kwargs: Any) -> Any:
        # The base class's handler refers to an undefined name (SpiffWorkflow 3.2.0) and turns every
        # service failure into a NameError; raise the workflow error it meant to raise.
        try:
            return self.environment.call_service(task.data, **kwargs)
        except _SpiffWorkflowException:
            raise
        except Exception as err:
            raise EngineTaskError(err, task) from err

