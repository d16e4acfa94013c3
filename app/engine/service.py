"""Service tasks that wait for a background job instead of calling out inside the engine step.

SpiffWorkflow's service task calls the script engine's `call_service` and completes at once, so the
call would run inside whatever web request moved the workflow. Here the task evaluates its parameters
(so a designer's bad expression fails the step that reached it, like a bad condition), keeps them on
the task, and stops in STARTED. A job then makes the call and hands the result back with
`WorkflowRun.finish_service`, or reports the failure with `WorkflowRun.fail_service`, which throws a
BPMN error that an error boundary event on the task can catch.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.parser.event_parsers import EventBasedGatewayParser as _EventBasedGatewayParser
from SpiffWorkflow.bpmn.parser.util import full_tag as _full_tag
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser as _SpiffBpmnParser
from SpiffWorkflow.spiff.parser.task_spec import ServiceTaskParser as _ServiceTaskParser
from SpiffWorkflow.spiff.parser.task_spec import SpiffTaskParser as _SpiffTaskParser
from SpiffWorkflow.spiff.specs.defaults import ServiceTask as _SpiffServiceTask

from app.engine.multi import MotcuaParallelMultiInstance, MotcuaSequentialMultiInstance
from app.engine.timers import MotcuaEventBasedGateway

PARAMS_KEY = "motcua_service_params"


class DeferredServiceTask(_SpiffServiceTask):
    """A service task whose call is made later, by a job, with the parameters evaluated now."""

    def _execute(self, task: Any) -> None:
        task.internal_data[PARAMS_KEY] = {
            name: task.workflow.script_engine.evaluate(task, param["value"])
            for name, param in (self.operation_params or {}).items()
        }
        return None  # STARTED: the workflow waits here until the job reports back


def _with_platform_loops(parser_class: Any) -> Any:
    """The task parser making the platform's multi-instance specs (app.engine.multi) for a looped task."""
    if not (isinstance(parser_class, type) and issubclass(parser_class, _SpiffTaskParser)):
        return parser_class
    return type(parser_class.__name__, (parser_class,), {
        "PARALLEL_MI_CLASS": MotcuaParallelMultiInstance,
        "SEQUENTIAL_MI_CLASS": MotcuaSequentialMultiInstance,
    })


class MotcuaBpmnParser(_SpiffBpmnParser):
    """SpiffBpmnParser whose service tasks are DeferredServiceTask, whose event-based gateways honour each of
    their timers (app.engine.timers), and whose multi-instance tasks keep every instance's data (app.engine.multi)."""

    OVERRIDE_PARSER_CLASSES = {
        tag: (_with_platform_loops(parser), spec) for tag, (parser, spec) in {
            **_SpiffBpmnParser.OVERRIDE_PARSER_CLASSES,
            _full_tag("serviceTask"): (_ServiceTaskParser, DeferredServiceTask),
            _full_tag("eventBasedGateway"): (_EventBasedGatewayParser, MotcuaEventBasedGateway),
        }.items()
    }
