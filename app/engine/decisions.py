"""DMN decision tables evaluated outside a workflow: a procedure's fee table, read at submission.

A business-rule task runs its decision inside the workflow (SpiffWorkflow's BusinessRuleTask). A fee, though, is
computed once, when the dossier is submitted and before any workflow exists, from the start form and the channel
(app/dossiers/fees.py): the manifest's `fee.decision` names a decision of the package's `.dmn` files, and this
module evaluates it over that data with the platform's own safe evaluator (the same script engine the workflows
run with), never with plain `eval`. Each deployed version's decisions are parsed once per process.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flask_babel import gettext

from app.engine.analysis import build_parser_for
from app.engine.cache import HashCache
from app.engine.environment import SafeScriptEngine

# A fee decision (manifest `fee.decision`): the output read by default, and the name the channel is given in its data
# (1 in person, 2 online, 3 by post) beside the start form's fields.
DEFAULT_DECISION_OUTPUT = "le_phi"
CHANNEL_NAME = "kenh"


class DecisionError(Exception):
    """A decision that could not give an answer; `code` is stable, `message` Vietnamese, for the person who acts."""

    def __init__(self, code: str, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.detail = detail


class _DecisionScriptEngine(SafeScriptEngine):
    """The platform's safe evaluator, its errors (ExpressionError: a code and a Vietnamese message) left as they
    are: there is no task to attach them to."""

    def evaluate(self, task: Any, expression: str, external_context: Mapping[str, Any] | None = None) -> Any:
        return self.environment.evaluate(expression, task.data, external_context)


_SCRIPT_ENGINE = _DecisionScriptEngine()


class _Named:
    bpmn_name = name = file = "decision"


class _Facts:
    """What SpiffWorkflow's DMN engine reads of a task: its data, its workflow's script engine, and the names its
    error reports read."""

    script_engine = _SCRIPT_ENGINE
    task_spec = spec = _Named()

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = dict(data)
        self.workflow = self.top_workflow = self


def _reason(exc: BaseException) -> str | None:
    """The Vietnamese message of the evaluator's error behind `exc`, if that is the cause."""
    cause: BaseException | None = exc
    for _ in range(10):
        if cause is None:
            return None
        message = getattr(cause, "message", None)
        if isinstance(message, str) and isinstance(getattr(cause, "code", None), str):
            return message
        cause = cause.__cause__ or cause.__context__
    return None


_parsers: HashCache[Any] = HashCache(64)


def _decision_files(files: Mapping[str, str | bytes]) -> dict[str, bytes]:
    return {name: text.encode() if isinstance(text, str) else text for name, text in files.items()
            if name.lower().endswith(".dmn")}


def decide(content_hash: str, files: Mapping[str, str | bytes] | Callable[[], Mapping[str, str | bytes]],
           decision_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """The outputs of the first rule (or the rules, by the table's hit policy) that `data` matches.

    `files` are the version's BPMN/DMN files (a callable: read only when this version's decisions are not parsed
    yet in this process). DecisionError when the decision is missing, fails to evaluate or no rule matches."""
    def build() -> Any:
        source = files() if callable(files) else files
        return build_parser_for(_decision_files(source))

    try:
        parser = _parsers.get_or_build(content_hash, build)
        engine = parser.get_engine(decision_id, None)
    except Exception as exc:
        raise DecisionError("decision_missing", gettext("Không tìm thấy bảng quyết định «%(decision)s» của thủ tục.",
                                                        decision=decision_id), str(exc)) from exc
    try:
        result = engine.result(_Facts(data))
    except Exception as exc:
        cause = _reason(exc)
        raise DecisionError("decision_failed", gettext(
            "Bảng quyết định «%(decision)s» không tính được với dữ liệu này%(reason)s.", decision=decision_id,
            reason=f": {cause.rstrip('.')}" if isinstance(cause, str) else ""), f"{type(exc).__name__}: {exc}") from exc
    if not result:
        raise DecisionError("decision_no_rule", gettext(
            "Không quy tắc nào của bảng quyết định «%(decision)s» khớp với dữ liệu này.", decision=decision_id))
    return dict(result)
