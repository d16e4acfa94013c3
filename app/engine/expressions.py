"""Safe evaluation of the expressions designers write in diagrams.

Gateway conditions, timer values, DMN cells and service-task parameters are designer-supplied code.
SpiffWorkflow's default environment runs them with plain `eval` over task data, which gives anyone
who can deploy a diagram the server. Here they are first checked statically (a small allow-list of
syntax, functions and methods; nothing private; no visible unbounded repetition) and then evaluated
by `simpleeval` under a hard budget, so a condition can read data but can neither reach Python
internals, touch the system, nor exhaust memory or CPU.

The budget of one evaluation:
- every value the expression builds has a size (one unit per scalar or element, one per character),
  known when it is built from the sizes of its parts, so nothing is walked twice; a repetition or a
  concatenation is refused *before* it is built when its size would pass MAX_VALUE_SIZE, and `str()`,
  f-strings and copies of containers are refused when their input is larger than that;
- the sizes of everything built add up to at most MAX_TOTAL_SIZE;
- at most MAX_STEPS nodes are evaluated, and the evaluation stops after MAX_SECONDS of wall clock.
Reading the dossier's own data costs nothing: it exists already, and only what is built from it counts.
"""

from __future__ import annotations

import ast
import datetime as dt
import functools
import operator as op
import time
import types
from collections.abc import Callable, ItemsView, Iterable, KeysView, Mapping, ValuesView
from typing import Any

import simpleeval
from flask_babel import gettext, lazy_gettext

from app.clock import now_utc
from app.engine.timers import WORKING_TIME_FUNCTIONS, WorkingTimeError

MAX_EXPRESSION_LENGTH = 2000
MAX_NESTING = 64
MAX_EXPONENT = 100
MAX_INT_BITS = 8192
MAX_SEQUENCE_LENGTH = 10_000
MAX_COMPREHENSION_ITEMS = 1_000
MAX_VALUE_SIZE = 100_000  # units (scalars, elements, characters) in any one value an expression builds
MAX_TOTAL_SIZE = 1_000_000  # units built by one evaluation, all values together
MAX_STEPS = 100_000  # nodes evaluated, comprehension rounds included
MAX_SECONDS = 1.0  # wall clock of one evaluation
MAX_ROUND_DIGITS = 100  # round(x, -10**7) computes 10**10**7 first

_VIETNAM = dt.timezone(dt.timedelta(hours=7), "Asia/Ho_Chi_Minh")  # no daylight saving since 1975


class ExpressionError(Exception):
    """An expression refused or failed; `code` is stable, `message` is for the designer or officer."""

    def __init__(self, code: str, message: str, expression: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.expression = expression


def _today() -> str:
    """Today's date in Vietnam as YYYY-MM-DD, comparable with dates entered in eForms."""
    return now_utc().astimezone(_VIETNAM).date().isoformat()


def _sum(values: Iterable[Any]) -> Any:
    """sum() of numbers only: summing lists or strings is a quadratic way to build huge values."""
    items = list(values)
    if not all(isinstance(v, int | float) for v in items):
        raise TypeError(gettext("sum() chỉ cộng các số"))
    return sum(items)


def _round(number: Any, ndigits: Any = None) -> Any:
    """round() whose digit count is bounded: rounding an int to -n digits first computes 10**n."""
    if isinstance(ndigits, int) and abs(ndigits) > MAX_ROUND_DIGITS:
        raise simpleeval.NumberTooHigh(f"round() to {ndigits} digits")
    return round(number, ndigits)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": len,
    "min": min,
    "max": max,
    "abs": abs,
    "round": _round,
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
    "sum": _sum,
    "any": any,
    "all": all,
    "sorted": sorted,
    "list": list,
    "dict": dict,
    "set": set,
    "tuple": tuple,
    "today": _today,
}


def _unbound(*_: Any) -> Any:
    raise TypeError("working time is computed for a dossier's workflow only")


# Timer values on the dossier agency's working calendar (app.engine.timers), bound to the data of each evaluation.
FUNCTIONS.update(dict.fromkeys(WORKING_TIME_FUNCTIONS, _unbound))


def _bind_working_time(functions: dict[str, Callable[..., Any]], data: Mapping[str, Any], expression: str) -> None:
    for name, func in WORKING_TIME_FUNCTIONS.items():
        def call(amount: Any, func: Callable[[Mapping[str, Any], Any], str] = func) -> str:
            try:
                return func(data, amount)
            except WorkingTimeError as exc:
                raise ExpressionError(exc.code, exc.message, expression) from exc
        functions[name] = call

# Methods that only read and whose result is no larger than their input.
_STR_METHODS = frozenset({
    "lower", "upper", "strip", "lstrip", "rstrip", "startswith", "endswith", "split", "count", "find",
    "isdigit", "isalpha", "isalnum", "isnumeric", "isdecimal", "isspace", "islower", "isupper",
    "title", "capitalize", "casefold",
})
_DICT_METHODS = frozenset({"get", "keys", "values", "items"})
_SEQUENCE_METHODS = frozenset({"count", "index"})
_ALL_METHODS = _STR_METHODS | _DICT_METHODS | _SEQUENCE_METHODS


def _too_big(a: Any, b: Any) -> bool:
    return isinstance(a, int) and isinstance(b, int) and a.bit_length() + b.bit_length() > MAX_INT_BITS


def _power(a: Any, b: Any) -> Any:
    if isinstance(b, int | float) and abs(b) > MAX_EXPONENT:
        raise simpleeval.NumberTooHigh(f"exponent {b} is above {MAX_EXPONENT}")
    if isinstance(a, int) and isinstance(b, int) and b > 0 and a.bit_length() * b > MAX_INT_BITS:
        raise simpleeval.NumberTooHigh("result too large")
    return a**b


def _length(value: Any) -> int | None:
    return len(value) if isinstance(value, str | bytes | list | tuple) else None


def _multiply(a: Any, b: Any) -> Any:
    for seq, times in ((a, b), (b, a)):
        length = _length(seq)
        if length is not None and isinstance(times, int) and length * times > MAX_SEQUENCE_LENGTH:
            raise simpleeval.IterableTooLong("sequence too long")
    if _too_big(a, b):
        raise simpleeval.NumberTooHigh("result too large")
    return a * b


def _add(a: Any, b: Any) -> Any:
    la, lb = _length(a), _length(b)
    if la is not None and lb is not None and la + lb > MAX_SEQUENCE_LENGTH:
        raise simpleeval.IterableTooLong("sequence too long")
    return a + b


def _modulo(a: Any, b: Any) -> Any:
    # "%" on a string is printf formatting: "%999999999d" % 1 would build a gigabyte.
    if isinstance(a, str | bytes):
        raise TypeError(gettext("không được định dạng chuỗi bằng toán tử %"))
    return a % b


_OPERATORS: dict[type, Callable[..., Any]] = {
    ast.Add: _add,
    ast.Sub: op.sub,
    ast.Mult: _multiply,
    ast.Div: op.truediv,
    ast.FloorDiv: op.floordiv,
    ast.Mod: _modulo,
    ast.Pow: _power,
    ast.Eq: op.eq,
    ast.NotEq: op.ne,
    ast.Gt: op.gt,
    ast.Lt: op.lt,
    ast.GtE: op.ge,
    ast.LtE: op.le,
    ast.Not: op.not_,
    ast.USub: op.neg,
    ast.UAdd: op.pos,
    ast.In: lambda x, y: op.contains(y, x),
    ast.NotIn: lambda x, y: not op.contains(y, x),
    ast.Is: lambda x, y: x is y,
    ast.IsNot: lambda x, y: x is not y,
}

_ALLOWED_NODES: tuple[type, ...] = (
    ast.Expression, ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.IfExp, ast.Compare, ast.Call, ast.keyword,
    ast.Constant, ast.Name, ast.Attribute, ast.Subscript, ast.Slice, ast.List, ast.Tuple, ast.Dict, ast.Set,
    ast.ListComp, ast.DictComp, ast.GeneratorExp, ast.comprehension, ast.JoinedStr, ast.FormattedValue,
    ast.expr_context, ast.And, ast.Or, *_OPERATORS,
)

_SYNTAX_NAMES = {
    "Lambda": lazy_gettext("hàm vô danh (lambda)"),
    "NamedExpr": lazy_gettext("phép gán trong biểu thức (:=)"),
    "Starred": lazy_gettext("toán tử giải nén (*)"),
    "SetComp": lazy_gettext("tập hợp dạng bao hàm"),
    "Await": "await",
    "Yield": "yield",
    "YieldFrom": "yield from",
    "BitAnd": lazy_gettext("toán tử &"),
    "BitOr": lazy_gettext("toán tử |"),
    "BitXor": lazy_gettext("toán tử ^"),
    "Invert": lazy_gettext("toán tử ~"),
    "LShift": lazy_gettext("toán tử <<"),
    "RShift": lazy_gettext("toán tử >>"),
    "MatMult": lazy_gettext("toán tử @"),
}


def _short(expression: str) -> str:
    return expression if len(expression) <= 120 else expression[:117] + "…"


def _names_list() -> str:
    return ", ".join(sorted(FUNCTIONS))


def _depth_exceeds(tree: ast.AST, limit: int) -> bool:
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return False


def _priority(node: ast.AST) -> int:
    if isinstance(node, ast.Lambda | ast.NamedExpr | ast.Name | ast.Attribute):
        return 0
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return 1
    return 2


def _check_node(node: ast.AST, expression: str) -> None:
    def fail(code: str, message: str) -> ExpressionError:
        return ExpressionError(code, message, expression)

    if isinstance(node, ast.Lambda):
        raise fail("expression_lambda_forbidden", gettext("Không được dùng hàm vô danh (lambda) trong biểu thức."))
    if isinstance(node, ast.NamedExpr):
        raise fail("expression_assignment_forbidden", gettext("Không được gán giá trị (:=) trong biểu thức."))
    if not isinstance(node, _ALLOWED_NODES):
        kind = type(node).__name__
        label = _SYNTAX_NAMES.get(kind, kind)
        raise fail("expression_syntax_forbidden", gettext("Cú pháp «%(label)s» không được phép dùng trong biểu thức.",
                                                          label=label))
    if isinstance(node, ast.Name) and node.id.startswith("_"):
        raise fail(
            "expression_private_name",
            gettext("Không được dùng tên bắt đầu bằng dấu gạch dưới («%(id)s») trong biểu thức.", id=node.id),
        )
    if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
        raise fail(
            "expression_private_name",
            gettext("Không được truy cập thuộc tính bắt đầu bằng dấu gạch dưới («.%(attr)s») trong biểu thức.",
                    attr=node.attr),
        )
    if isinstance(node, ast.keyword) and (node.arg is None or node.arg.startswith("_")):
        raise fail("expression_syntax_forbidden", gettext("Tham số dạng **… hoặc bắt đầu bằng «_» không được phép."))
    if isinstance(node, ast.comprehension) and node.is_async:
        raise fail("expression_syntax_forbidden", gettext("Không được dùng «async for» trong biểu thức."))
    if isinstance(node, ast.FormattedValue) and node.format_spec is not None:
        raise fail("expression_syntax_forbidden", gettext("Không được dùng định dạng «{giá_trị:…}» trong chuỗi "
                                                          "f-string."))
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Name):
            if func.id not in FUNCTIONS:
                raise fail(
                    "expression_function_forbidden",
                    gettext("Hàm «%(id)s» không được phép dùng trong biểu thức; chỉ được dùng: %(names_list)s.",
                            id=func.id, names_list=_names_list()),
                )
        elif isinstance(func, ast.Attribute):
            if func.attr not in _ALL_METHODS:
                raise fail(
                    "expression_method_forbidden",
                    gettext("Phương thức «.%(attr)s()» không được phép dùng trong biểu thức.", attr=func.attr),
                )
        else:
            raise fail(
                "expression_call_forbidden",
                gettext("Chỉ được gọi hàm bằng tên (ví dụ len(danh_sach)) hoặc các phương thức được phép."),
            )


@functools.lru_cache(maxsize=2048)
def _checked(expression: str) -> ast.expr:
    """Parse and check once per distinct expression; the tree is never mutated, so it can be shared."""
    text = expression.strip()
    if not text:
        raise ExpressionError("expression_empty", gettext("Biểu thức rỗng."), expression)
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(
            "expression_too_long",
            gettext("Biểu thức dài %(length)s ký tự, vượt giới hạn %(MAX_EXPRESSION_LENGTH)s ký tự.",
                    length=len(text), MAX_EXPRESSION_LENGTH=MAX_EXPRESSION_LENGTH),
            expression,
        )
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        where = ""
        if exc.lineno and exc.offset:
            where = gettext(" (dòng %(line)s, cột %(column)s)", line=exc.lineno, column=exc.offset)
        raise ExpressionError(
            "expression_syntax",
            gettext("Biểu thức «%(expression)s» sai cú pháp%(where)s: %(msg)s.",
                    expression=_short(text), where=where, msg=exc.msg),
            expression,
        ) from exc
    except (ValueError, RecursionError, MemoryError) as exc:
        raise ExpressionError("expression_syntax", gettext("Biểu thức «%(expression)s» không đọc được.",
                                                           expression=_short(text)), expression) from exc
    if _depth_exceeds(tree, MAX_NESTING):
        raise ExpressionError("expression_too_complex", gettext("Biểu thức lồng nhau quá sâu."), expression)
    # Report the most telling problem first: a dunder, a lambda or `open(...)` says more than the
    # method called on its result.
    for node in sorted(ast.walk(tree), key=_priority):
        _check_node(node, expression)
    _check_cost(tree.body, expression)
    return tree.body


# ---------------------------------------------------------------- what the upload check can see

_SEQUENCE_BUILDERS = frozenset({"str", "list", "tuple", "sorted"})


def _builds_sequence(node: ast.AST) -> bool:
    """Whether the node, by its syntax alone, gives a string or a list (what `*` repeats)."""
    if isinstance(node, ast.List | ast.Tuple | ast.ListComp | ast.JoinedStr):
        return True
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str | bytes)
    if isinstance(node, ast.Call):
        return isinstance(node.func, ast.Name) and node.func.id in _SEQUENCE_BUILDERS
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _builds_sequence(node.left) or _builds_sequence(node.right)
    return _is_repetition(node)


def _is_repetition(node: ast.AST) -> bool:
    return isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult) and (
        _builds_sequence(node.left) or _builds_sequence(node.right))


def _reads_data(node: ast.AST) -> bool:
    """Whether a value of the data (a name other than a called function) appears under the node."""
    called = {id(n.func) for n in ast.walk(node) if isinstance(n, ast.Call)}
    return any(isinstance(n, ast.Name) and id(n) not in called for n in ast.walk(node))


def _check_cost(body: ast.expr, expression: str) -> None:
    """Refuse what is visibly unbounded: a repetition nested in a repetition whose counts come from the data,
    and any part made of literals alone that the run-time budget would stop (it is evaluated here, under
    that budget, so the check and the run agree)."""
    for node in ast.walk(body):
        if _is_repetition(node) and _reads_data(node) and any(
                _is_repetition(inner) for inner in ast.walk(node) if inner is not node):
            raise ExpressionError(
                "expression_too_costly",
                gettext("Biểu thức «%(expression)s» lặp chuỗi hoặc danh sách lồng nhau với số lần lấy từ dữ liệu: kích "
                        "thước kết quả không có giới hạn. Hãy tính trên dữ liệu thay vì nhân bản nó.",
                        expression=_short(expression)),
                expression,
            )
    pending: list[ast.AST] = [body]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.expr) and not isinstance(node, ast.Constant | ast.Name) and not _reads_data(node):
            try:
                _run(expression, node, {})
            except ExpressionError as exc:
                if exc.code == "expression_too_costly":
                    raise
            continue
        pending.extend(ast.iter_child_nodes(node))


def check_expression(expression: str) -> None:
    """Deploy-time check: raise ExpressionError if the expression may not be used at all."""
    if not isinstance(expression, str):
        raise ExpressionError("expression_empty", gettext("Biểu thức rỗng."), "")
    _checked(expression)


class _OverBudget(simpleeval.IterableTooLong):
    """The evaluation's budget ran out; `message` says which part, in Vietnamese."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


_TOO_BIG = lazy_gettext("tạo ra giá trị quá lớn")
# Nodes whose value is one the evaluation already has (a name, a field, an element, one of two operands):
# nothing is built, so nothing is charged.
_READS = (ast.Name, ast.Attribute, ast.BoolOp, ast.IfExp, ast.FormattedValue, ast.keyword)
# Calls that hand back part of their argument, or a view of it, without copying it.
_READING_METHODS = frozenset({"get", "keys", "values", "items"})
_READING_FUNCTIONS = frozenset({"min", "max", "len", "bool", "any", "all", "abs"})
# Functions that walk their whole argument to build a new value.
_COPYING_FUNCTIONS = frozenset({"str", "list", "tuple", "set", "dict", "sorted"})
_SEQUENCES = (str, bytes, list, tuple)


class _Evaluator(simpleeval.EvalWithCompoundTypes):
    """simpleeval with read-only attribute semantics, allow-listed method calls and a hard budget.

    `a.b` reads key `b` of a dict (the shape of form data); nothing else exposes attributes.

    simpleeval re-walks every intermediate result (to look for forbidden functions inside it), so a value
    made of shared references, such as `[[0]*10000]*10000`, costs its full nested size at each step. Here
    the size of each value is measured once and remembered by identity (the value is kept alive with it,
    so an id is never reused), a repetition is priced before it is built, and the walk for forbidden
    content happens during that single measurement.
    """

    def __init__(self, names: dict[str, Any]) -> None:
        super().__init__(operators=_OPERATORS, functions=dict(FUNCTIONS), names=names)
        self._sizes: dict[int, tuple[Any, int]] = {}
        self._built = 0
        self._steps = 0
        self._deadline = 0.0

    def run(self, expression: str, tree: ast.expr) -> Any:
        self.expr = expression
        # simpleeval counts comprehension items against a module-wide limit; start the count so
        # that this evaluator stops after MAX_COMPREHENSION_ITEMS without changing the global.
        self._max_count = max(0, simpleeval.MAX_COMPREHENSION_LENGTH - MAX_COMPREHENSION_ITEMS)
        self._deadline = time.monotonic() + MAX_SECONDS
        return self._eval(tree)

    # ------------------------------------------------------------ budget

    def _eval(self, node: ast.AST) -> Any:
        self._steps += 1
        if self._steps > MAX_STEPS:
            raise _OverBudget(gettext("cần quá nhiều bước tính (hơn %(MAX_STEPS)s)", MAX_STEPS=MAX_STEPS))
        if time.monotonic() > self._deadline:
            raise _OverBudget(gettext("tính quá lâu (hơn %(MAX_SECONDS)s giây)", MAX_SECONDS=format(MAX_SECONDS, 'g')))
        handler = self.nodes.get(type(node)) if self.nodes else None
        if handler is None:
            raise simpleeval.FeatureNotAvailable(f"{type(node).__name__} is not available")
        result = handler(node)
        if not self._reads(node):
            self._charge(result)
        elif isinstance(result, types.ModuleType):
            raise simpleeval.FeatureNotAvailable("modules are not allowed")
        return result

    @staticmethod
    def _reads(node: ast.AST) -> bool:
        if isinstance(node, _READS):
            return True
        if isinstance(node, ast.Subscript):
            return not isinstance(node.slice, ast.Slice)
        if isinstance(node, ast.Call):
            func = node.func
            return (isinstance(func, ast.Attribute) and func.attr in _READING_METHODS) or (
                isinstance(func, ast.Name) and func.id in _READING_FUNCTIONS)
        return False

    def _charge(self, value: Any) -> None:
        size = self._size(value)
        if size > MAX_VALUE_SIZE:
            raise _OverBudget(gettext("%(TOO_BIG)s (hơn %(MAX_VALUE_SIZE)s phần tử hoặc ký tự)",
                                      TOO_BIG=_TOO_BIG, MAX_VALUE_SIZE=MAX_VALUE_SIZE))
        self._built += size
        if self._built > MAX_TOTAL_SIZE:
            raise _OverBudget(gettext("%(TOO_BIG)s (tổng cộng hơn %(MAX_TOTAL_SIZE)s phần tử hoặc ký tự)",
                                      TOO_BIG=_TOO_BIG, MAX_TOTAL_SIZE=MAX_TOTAL_SIZE))

    def _size(self, value: Any) -> int:
        """Units in `value` (capped at MAX_VALUE_SIZE + 1); each container is measured once."""
        kind = type(value)
        if kind is str or kind is bytes:
            return 1 + len(value)
        if kind is int:
            return 1 + value.bit_length() // 64
        if value is None or kind is bool or kind is float:
            return 1
        known = self._sizes.get(id(value))
        if known is not None and known[0] is value:
            return known[1]
        cap = MAX_VALUE_SIZE + 1
        total = 1
        if isinstance(value, Mapping):
            for key, item in value.items():
                total += self._size(key) + self._size(item)
                if total >= cap:
                    break
        elif isinstance(value, list | tuple | set | frozenset | KeysView | ValuesView | ItemsView):
            for item in value:
                total += self._size(item)
                if total >= cap:
                    break
        elif isinstance(value, types.ModuleType) or (callable(value) and value in simpleeval.DISALLOW_FUNCTIONS):
            raise simpleeval.FeatureNotAvailable("this value is not allowed")
        total = min(total, cap)
        self._sizes[id(value)] = (value, total)
        return total

    def _check_input(self, value: Any) -> None:
        """A value about to be walked whole (stringified, copied): no larger than a value may be."""
        if self._size(value) > MAX_VALUE_SIZE:
            raise _OverBudget(gettext("%(TOO_BIG)s (đầu vào của phép tính hơn %(MAX_VALUE_SIZE)s phần tử hoặc ký tự)",
                                      TOO_BIG=_TOO_BIG, MAX_VALUE_SIZE=MAX_VALUE_SIZE))

    # ------------------------------------------------------------ nodes

    def _eval_binop(self, node: ast.BinOp) -> Any:
        try:
            operator = self.operators[type(node.op)]
        except KeyError as exc:
            raise simpleeval.OperatorNotDefined(node.op, self.expr) from exc
        left, right = self._eval(node.left), self._eval(node.right)
        if isinstance(node.op, ast.Mult):
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, _SEQUENCES) and isinstance(times, int) and times > 1 and (
                        (self._size(seq) - 1) * times + 1 > MAX_VALUE_SIZE):
                    raise _OverBudget(gettext("%(TOO_BIG)s: lặp %(times)s lần một giá trị có %(value)s phần tử",
                                              TOO_BIG=_TOO_BIG, times=times, value=self._size(seq) - 1))
        elif (isinstance(node.op, ast.Add) and isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES)
              and self._size(left) + self._size(right) - 1 > MAX_VALUE_SIZE):
            raise _OverBudget(gettext("%(TOO_BIG)s khi nối hai giá trị", TOO_BIG=_TOO_BIG))
        return operator(left, right)

    def _eval_joinedstr(self, node: ast.JoinedStr) -> str:
        parts: list[str] = []
        length = 0
        for part in node.values:
            value = self._eval(part)
            if not isinstance(value, str):
                self._check_input(value)
                value = str(value)
            length += len(value)
            if length > MAX_VALUE_SIZE:
                raise _OverBudget(gettext("%(TOO_BIG)s (chuỗi dài hơn %(MAX_VALUE_SIZE)s ký tự)",
                                          TOO_BIG=_TOO_BIG, MAX_VALUE_SIZE=MAX_VALUE_SIZE))
            parts.append(value)
        return "".join(parts)

    def _eval_attribute(self, node: ast.Attribute) -> Any:
        base = self._eval(node.value)
        if isinstance(base, Mapping):
            if node.attr in base:
                return base[node.attr]
            raise self._error(
                "expression_unknown_field",
                gettext("Dữ liệu không có trường «%(attr)s» (biểu thức «%(expression)s»).",
                        attr=node.attr, expression=_short(self.expr)),
            )
        raise self._error(
            "expression_attribute_forbidden",
            gettext("Không đọc được «.%(attr)s» trên giá trị kiểu %(kind)s; chỉ đọc được trường của dữ liệu dạng "
                    "đối tượng.",
                    attr=node.attr, kind=type(base).__name__),
        )

    def _error(self, code: str, message: str) -> ExpressionError:
        return ExpressionError(code, message, self.expr)

    def _eval_call(self, node: ast.Call) -> Any:
        func: Callable[..., Any]
        if isinstance(node.func, ast.Attribute):
            base = self._eval(node.func.value)
            name = node.func.attr
            if isinstance(base, str):
                allowed = _STR_METHODS
            elif isinstance(base, Mapping):
                allowed = _DICT_METHODS
            elif isinstance(base, list | tuple):
                allowed = _SEQUENCE_METHODS
            else:
                allowed = frozenset()
            if name not in allowed:
                raise self._error(
                    "expression_method_forbidden",
                    gettext("Phương thức «.%(name)s()» không dùng được trên giá trị kiểu %(kind)s.",
                            name=name, kind=type(base).__name__),
                )
            func = getattr(base, name)
        elif isinstance(node.func, ast.Name) and node.func.id in self.functions:
            func = self.functions[node.func.id]
        else:
            raise self._error("expression_function_forbidden", gettext("Hàm này không được phép dùng trong biểu thức."))
        args = [self._eval(a) for a in node.args]
        kwargs = {k.arg: self._eval(k.value) for k in node.keywords if k.arg is not None}
        if isinstance(node.func, ast.Name) and node.func.id in _COPYING_FUNCTIONS:
            for value in (*args, *kwargs.values()):
                self._check_input(value)
        return func(*args, **kwargs)


def _run(expression: str, tree: ast.expr, data: Mapping[str, Any]) -> Any:
    """Evaluate a parsed, checked tree under the budget, raising only ExpressionError."""
    names: dict[str, Any] = dict(data)
    names.update({"True": True, "False": False, "None": None})
    evaluator = _Evaluator(names)
    if data and "working_" in expression:  # not in the upload check's trial runs (no data, no dossier)
        _bind_working_time(evaluator.functions, data, expression)
    short = _short(expression.strip())
    try:
        return evaluator.run(expression, tree)
    except ExpressionError:
        raise
    except simpleeval.NameNotDefined as exc:
        raise ExpressionError(
            "expression_unknown_name",
            gettext("Biến «%(name)s» chưa có trong dữ liệu hồ sơ khi tính biểu thức «%(expression)s».",
                    name=exc.name, expression=short),
            expression,
        ) from exc
    except _OverBudget as exc:
        raise ExpressionError(
            "expression_too_costly",
            gettext("Biểu thức «%(expression)s» %(message)s; hệ thống dừng tính để bảo vệ máy chủ.",
                    expression=short, message=exc.message),
            expression,
        ) from exc
    except (simpleeval.NumberTooHigh, simpleeval.IterableTooLong, OverflowError, MemoryError) as exc:
        raise ExpressionError(
            "expression_too_costly",
            gettext("Biểu thức «%(expression)s» %(TOO_BIG)s; hệ thống dừng tính để bảo vệ máy chủ.",
                    expression=short, TOO_BIG=_TOO_BIG),
            expression,
        ) from exc
    except RecursionError as exc:
        raise ExpressionError("expression_too_complex",
                              gettext("Biểu thức «%(expression)s» lồng nhau quá sâu.", expression=short),
                              expression) from exc
    except simpleeval.InvalidExpression as exc:
        raise ExpressionError(
            "expression_forbidden", gettext("Biểu thức «%(expression)s» dùng chức năng không được phép: %(exc)s.",
                                            expression=short, exc=exc), expression
        ) from exc
    except ZeroDivisionError as exc:
        raise ExpressionError(
            "expression_division_by_zero", gettext("Biểu thức «%(expression)s» chia cho 0.", expression=short),
            expression
        ) from exc
    except (KeyError, IndexError) as exc:
        raise ExpressionError(
            "expression_unknown_field",
            gettext("Biểu thức «%(expression)s» đọc phần tử không có trong dữ liệu: %(reason)s.", expression=short,
                    reason=exc),
            expression,
        ) from exc
    except (TypeError, ValueError) as exc:
        raise ExpressionError(
            "expression_type_error",
            gettext("Kiểu dữ liệu không phù hợp khi tính biểu thức «%(expression)s»: %(reason)s.", expression=short,
                    reason=exc),
            expression,
        ) from exc
    except Exception as exc:  # any other failure is still the expression's, not the server's
        raise ExpressionError(
            "expression_failed", gettext("Không tính được biểu thức «%(expression)s»: %(reason)s.", expression=short,
                                         reason=exc), expression
        ) from exc


def evaluate(expression: str, data: Mapping[str, Any]) -> Any:
    """Evaluate a checked expression over `data` (task data), raising only ExpressionError."""
    if not isinstance(expression, str):
        raise ExpressionError("expression_empty", gettext("Biểu thức rỗng."), "")
    return _run(expression, _checked(expression), data)
