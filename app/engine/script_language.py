"""The script language of diagrams, and the sandbox process that runs it.

Script tasks and pre/post scripts (`spiffworkflow:preScript`, `postScript`) are designer-supplied Python. They are
compiled with RestrictedPython under a policy stricter than its default (no import, no class, no print, no name or
attribute starting with `_`, no call of a Python built-in outside the whitelist) and run with guards that allow
attribute access only to a whitelist of methods of plain values (text, numbers, lists, dicts, sets), item writes
only into lists and dicts, and the same small set of functions the expression language has.

Nothing here imports the application: this file is also the program of the sandbox process. The platform starts
it as `python -I script_language.py` (a fresh interpreter with an empty environment, none of the host's memory,
open files or database connections) and keeps it warm. For each script it uses a child forked ahead that has closed
every descriptor but its two pipes, dropped its privileges (root → nobody), forbidden itself new descriptors,
processes, file writes and core dumps, and loaded a seccomp filter (libseccomp, through pyseccomp) that fails every
system call but memory, pipe reads and writes, signals, time and exit. The script then arrives, compiled; the child
limits its CPU time and address space, runs it on the task data it was handed and writes back, through a pipe, the
names the script changed: a script that loops, allocates gigabytes or escapes the guards can only kill or corrupt
that one child. The warm process kills a child that runs past the wall-clock limit and reads at most the output
limit from it.

Protocol with the host (stdin/stdout of the warm process): frames of a 4-byte big-endian length and a JSON body.
Request: {"source", "data", "today", "limits": {"cpu_seconds", "wall_seconds", "memory_mb", "output_bytes"}}.
Answer: {"ok": true, "updates": {...}, "deletions": [...]} or {"ok": false, "code", "line", "kind", "subject",
"detail"}; the host (app.engine.scripts) turns the code into a Vietnamese message.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import gc
import json
import marshal
import math
import operator
import os
import re
import select
import signal
import struct
import sys
import textwrap
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from RestrictedPython import RestrictingNodeTransformer
from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence

FILENAME = "<kich-ban>"
DATA_NAME = "du_lieu"  # all the data as one dict, as in expressions (app.engine.environment)
MAX_SOURCE_LENGTH = 20_000
MAX_ROUND_DIGITS = 100

# The functions a script may call: those of the expression language (app.engine.expressions.FUNCTIONS), the
# working-time ones excepted (they read the agency's calendar from the database, which a script never reaches).
FUNCTION_NAMES = ("len", "min", "max", "abs", "round", "int", "float", "str", "bool", "sum", "any", "all", "sorted",
                  "list", "dict", "set", "tuple", "today")

_STR_METHODS = frozenset({
    "lower", "upper", "strip", "lstrip", "rstrip", "startswith", "endswith", "split", "rsplit", "count", "find",
    "rfind", "index", "isdigit", "isalpha", "isalnum", "isnumeric", "isdecimal", "isspace", "islower", "isupper",
    "title", "capitalize", "casefold", "replace", "join", "zfill", "ljust", "rjust", "center", "splitlines",
    "partition", "rpartition", "removeprefix", "removesuffix",
})
_DICT_METHODS = frozenset({"get", "keys", "values", "items", "update", "pop", "setdefault", "copy", "clear"})
_LIST_METHODS = frozenset({"append", "extend", "insert", "pop", "remove", "index", "count", "sort", "reverse", "copy",
                           "clear"})
_TUPLE_METHODS = frozenset({"index", "count"})
_SET_METHODS = frozenset({"add", "discard", "remove", "union", "intersection", "difference", "symmetric_difference",
                          "issubset", "issuperset", "isdisjoint", "copy", "clear", "update"})
METHODS: dict[type, frozenset[str]] = {str: _STR_METHODS, dict: _DICT_METHODS, list: _LIST_METHODS,
                                       tuple: _TUPLE_METHODS, set: _SET_METHODS, frozenset: _SET_METHODS}


# ---------------------------------------------------------------- compile-time check


@dataclass(frozen=True)
class Issue:
    """Why a script may not run: `line` in the script (1-based), `kind` (see `_KINDS`), `subject` (the name or
    construct at fault), `detail` (the compiler's own text)."""

    line: int | None
    kind: str
    subject: str
    detail: str
    position: tuple[int, int] = (0, 0)  # column where its node starts and ends: inner nodes of a chain first


_UNDERSCORE = re.compile(r'"(?P<name>[^"]+)" is an invalid (variable|attribute|argument) name because it starts')
_RESTRICTED = re.compile(r'"(?P<name>[^"]+)" is (a restricted|a reserved|an invalid attribute)')
_STATEMENT = re.compile(r"(?P<name>\w+) statements are not allowed")
_CALLS = re.compile(r"(?P<name>Exec|Eval) calls are not allowed")
_PYTHON_BUILTINS = frozenset(dir(builtins))


class _Policy(RestrictingNodeTransformer):
    """RestrictedPython's policy, with the platform's own refusals; every refusal is recorded as an Issue."""

    def __init__(self, issues: list[Issue], defined: frozenset[str]) -> None:
        self.issues = issues
        self.defined = defined  # functions the script defines itself (they may shadow a built-in's name)
        super().__init__([], [], {})

    def error(self, node: ast.AST, info: str) -> None:
        line, position = getattr(node, "lineno", None), _position(node)
        for pattern, kind in ((_UNDERSCORE, "underscore"), (_RESTRICTED, "restricted"), (_STATEMENT, "statement"),
                              (_CALLS, "builtin")):
            match = pattern.search(info)
            if match:
                self.issues.append(Issue(line, kind, match.group("name").lower() if kind == "builtin"
                                         else match.group("name"), info, position))
                return
        self.issues.append(Issue(line, "other", type(node).__name__, info, position))

    def refuse(self, node: ast.AST, kind: str, subject: str) -> None:
        self.issues.append(Issue(getattr(node, "lineno", None), kind, subject, f"{kind}: {subject}", _position(node)))

    def visit_Import(self, node: ast.Import) -> Any:
        self.refuse(node, "import", ", ".join(alias.name for alias in node.names))
        return node

    def visit_ImportFrom(self, node: ast.ImportFrom) -> Any:
        self.refuse(node, "import", node.module or ".")
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> Any:
        self.refuse(node, "statement", "class")
        return node

    def visit_Name(self, node: ast.Name) -> Any:
        if node.id == "print":
            self.refuse(node, "print", "print")
            return node
        if node.id == DATA_NAME and not isinstance(node.ctx, ast.Load):
            self.refuse(node, "reserved", DATA_NAME)
            return node
        return super().visit_Name(node)

    def visit_Call(self, node: ast.Call) -> Any:
        func = node.func
        if (isinstance(func, ast.Name) and func.id in _PYTHON_BUILTINS and func.id not in FUNCTION_NAMES
                and func.id not in self.defined and not func.id.startswith("_") and func.id != "print"):
            self.refuse(node, "builtin", func.id)
        return super().visit_Call(node)


def _position(node: ast.AST) -> tuple[int, int]:
    return getattr(node, "col_offset", 0) or 0, getattr(node, "end_col_offset", 0) or 0


def prepare(source: str) -> str:
    """The script as it is compiled: modelling tools indent the text inside <bpmn:script>; lines are kept."""
    return textwrap.dedent(source or "")


def check(source: str) -> tuple[Any, list[Issue]]:
    """Compile a script under the policy: (code, []) or (None, issues), issues in line order."""
    text = prepare(source)
    if len(text) > MAX_SOURCE_LENGTH:
        return None, [Issue(None, "too_long", str(MAX_SOURCE_LENGTH), "")]
    try:
        tree = ast.parse(text, FILENAME, "exec")
    except SyntaxError as exc:
        return None, [Issue(exc.lineno, "syntax", (exc.text or "").strip()[:80], exc.msg)]
    except (ValueError, RecursionError, MemoryError) as exc:
        return None, [Issue(None, "syntax", "", str(exc)[:200])]
    defined = frozenset(n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef))
    issues: list[Issue] = []
    try:
        _Policy(issues, defined).visit(tree)
    except RecursionError:
        return None, [Issue(None, "syntax", "", "nested too deeply")]
    if issues:
        return None, sorted(issues, key=lambda i: (i.line or 0, i.position))
    return compile(tree, FILENAME, "exec"), []


def assigned_names(source: str) -> set[str]:
    """Names a script binds at its top level (or declares `global`): the task data it may leave behind, for the
    checker's follow-the-paths analysis of which names are defined. Empty for a script that does not parse."""
    try:
        tree = ast.parse(prepare(source), FILENAME, "exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()
    names: set[str] = set()
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.update(n for g in ast.walk(node) if isinstance(g, ast.Global) for n in g.names)
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        if isinstance(node, ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp | ast.Lambda):
            continue  # their own scope
        pending.extend(ast.iter_child_nodes(node))
    return {name for name in names if not name.startswith("_") and name != DATA_NAME}


def read_names(source: str) -> tuple[frozenset[str], frozenset[str]]:
    """(names a script reads from the task data, names it first tests with `'x' in du_lieu`), for the checker.

    On the safe side: a name the script binds anywhere (an assignment, a loop, a parameter, a function) is not
    counted as read, even where it is read before it is bound. Empty for a script that does not parse."""
    try:
        tree = ast.parse(prepare(source), FILENAME, "exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return frozenset(), frozenset()
    loaded: set[str] = set()
    bound: set[str] = set()
    guarded: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.ExceptHandler):
            bound.add(node.name or "")
        elif (isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.In | ast.NotIn)
              and isinstance(node.left, ast.Constant) and isinstance(node.left.value, str)
              and isinstance(node.comparators[0], ast.Name) and node.comparators[0].id == DATA_NAME):
            guarded.add(node.left.value)
    names = loaded - bound - set(FUNCTION_NAMES) - {DATA_NAME, "print"}
    return frozenset(n for n in names if not n.startswith("_")), frozenset(guarded)


# ---------------------------------------------------------------- run-time guards


class Forbidden(Exception):
    """The script reached for something the guards refuse; `subject` names it."""

    def __init__(self, kind: str, subject: str) -> None:
        super().__init__(f"{kind}: {subject}")
        self.kind = kind
        self.subject = subject


def _getattr(obj: Any, name: str, default: Any = None) -> Any:
    """`a.b`: a field of a dict (as in expressions), else one of the whitelisted methods of a plain value."""
    kind = type(obj)
    if kind is dict and name in obj:
        return obj[name]
    if name.startswith("_") or name not in METHODS.get(kind, ()):
        raise Forbidden("attribute", f"{kind.__name__}.{name}")
    return getattr(obj, name)


_CONTAINERS = (dict, list, tuple, str)


def _getitem(obj: Any, key: Any) -> Any:
    if type(obj) not in _CONTAINERS:
        raise Forbidden("item", type(obj).__name__)
    return obj[key]


def _write(obj: Any) -> Any:
    if type(obj) is not dict and type(obj) is not list:
        raise Forbidden("write", type(obj).__name__)
    return obj


def _getiter(obj: Any) -> Any:
    return iter(obj)


_INPLACE: dict[str, Callable[[Any, Any], Any]] = {
    "+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv,
    "//=": operator.ifloordiv, "%=": operator.imod, "**=": operator.ipow, "<<=": operator.ilshift,
    ">>=": operator.irshift, "&=": operator.iand, "|=": operator.ior, "^=": operator.ixor,
}


def _inplacevar(op: str, x: Any, y: Any) -> Any:
    if op not in _INPLACE:
        raise Forbidden("operator", op)
    return _INPLACE[op](x, y)


def _apply(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return func(*args, **kwargs)


def _sum(values: Iterable[Any]) -> Any:
    items = list(values)
    if not all(isinstance(v, int | float) for v in items):
        raise TypeError("sum() adds numbers only")
    return sum(items)


def _round(number: Any, ndigits: Any = None) -> Any:
    if isinstance(ndigits, int) and abs(ndigits) > MAX_ROUND_DIGITS:
        raise ValueError(f"round() to {ndigits} digits")
    return round(number, ndigits)


def _builtins(today: str) -> dict[str, Any]:
    functions: dict[str, Any] = {
        "len": len, "min": min, "max": max, "abs": abs, "round": _round, "int": int, "float": float, "str": str,
        "bool": bool, "sum": _sum, "any": any, "all": all, "sorted": sorted, "list": list, "dict": dict, "set": set,
        "tuple": tuple, "today": lambda: today,
    }
    assert set(functions) == set(FUNCTION_NAMES)
    return {
        **functions, "True": True, "False": False, "None": None,
        "_getattr_": _getattr, "_getitem_": _getitem, "_write_": _write, "_getiter_": _getiter,
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence, "_unpack_sequence_": guarded_unpack_sequence,
        "_inplacevar_": _inplacevar, "_apply_": _apply,
    }


class BadResult(Exception):
    """A name the script left holds a value task data cannot hold (not JSON)."""

    def __init__(self, name: str, kind: str) -> None:
        super().__init__(f"{name}: {kind}")
        self.name = name
        self.kind = kind


def _json_value(value: Any, name: str, depth: int = 0) -> Any:
    """`value` as task data holds it (tuples become lists); BadResult for anything JSON cannot hold."""
    kind = type(value)
    if value is None or kind is bool or kind is int or kind is str:
        return value
    if kind is float:
        if not math.isfinite(value):
            raise BadResult(name, "float")
        return value
    if depth > 100:
        raise BadResult(name, "depth")
    if kind is list or kind is tuple:
        return [_json_value(item, name, depth + 1) for item in value]
    if kind is dict:
        out = {}
        for key, item in value.items():
            if type(key) is not str:
                raise BadResult(name, f"dict key {type(key).__name__}")
            out[key] = _json_value(item, name, depth + 1)
        return out
    raise BadResult(name, kind.__name__)


def _refusal(issues: list[Issue]) -> dict[str, Any]:
    issue = issues[0]
    return {"ok": False, "code": "script_invalid", "line": issue.line, "kind": issue.kind, "subject": issue.subject,
            "detail": issue.detail}


def execute(source: str, data: dict[str, Any], today: str) -> dict[str, Any]:
    """Compile and run a script over task data, in this process: the answer frame's body."""
    code, issues = check(source)
    return _refusal(issues) if code is None else run_code(code, data, today)


def run_code(code: Any, data: dict[str, Any], today: str) -> dict[str, Any]:
    """Run a script compiled by `check` over task data (in the sandboxed child): the answer frame's body."""
    before = {name: json.dumps(value, sort_keys=True) for name, value in data.items()}
    namespace: dict[str, Any] = {name: value for name, value in data.items() if not name.startswith("__")}
    namespace[DATA_NAME] = dict(data)
    namespace["__builtins__"] = _builtins(today)
    try:
        exec(code, namespace)  # noqa: S102 - compiled under the policy above, run with its guards only
    except Forbidden as exc:
        return {"ok": False, "code": "script_forbidden", "line": _line_of(exc), "kind": exc.kind,
                "subject": exc.subject, "detail": str(exc)}
    except NameError as exc:
        return {"ok": False, "code": "script_unknown_name", "line": _line_of(exc), "kind": "name",
                "subject": getattr(exc, "name", None) or str(exc), "detail": str(exc)[:500]}
    except MemoryError:
        raise
    except RecursionError as exc:
        return {"ok": False, "code": "script_failed", "line": _line_of(exc), "kind": "RecursionError",
                "subject": "", "detail": "maximum recursion depth exceeded"}
    except Exception as exc:
        return {"ok": False, "code": "script_failed", "line": _line_of(exc), "kind": type(exc).__name__,
                "subject": "", "detail": str(exc)[:500]}
    updates: dict[str, Any] = {}
    for name, value in namespace.items():
        if name.startswith("_") or name == DATA_NAME or callable(value) and type(value).__name__ == "function":
            continue
        try:
            plain = _json_value(value, name)
        except BadResult as exc:
            return {"ok": False, "code": "script_result_invalid", "line": None, "kind": exc.kind,
                    "subject": exc.name, "detail": str(exc)}
        if name not in before or json.dumps(plain, sort_keys=True) != before[name]:
            updates[name] = plain
    deletions = [name for name in data if name not in namespace and not name.startswith("__")]
    return {"ok": True, "updates": updates, "deletions": deletions}


def _line_of(exc: BaseException) -> int | None:
    """The script's line where `exc` was raised (its innermost frame in the script)."""
    line = None
    trace = exc.__traceback__
    while trace is not None:
        if trace.tb_frame.f_code.co_filename == FILENAME:
            line = trace.tb_lineno
        trace = trace.tb_next
    return line


# ---------------------------------------------------------------- the sandbox process

NOBODY = 65534
_MEMORY_ANSWER = json.dumps({"ok": False, "code": "script_memory_limit"}).encode()


def _address_space() -> int:
    """This process's virtual size in bytes (a forked child starts with the same)."""
    with open("/proc/self/statm") as statm:  # noqa: PTH123
        return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


# The system calls a confined child may make: memory, reading and writing its two pipes, signals, time, exiting,
# and its own limits. Any other (open, socket, connect, kill, ptrace, execve, fork, …) fails with EPERM.
_ALLOWED_SYSCALLS = ("read", "write", "mmap", "munmap", "mremap", "brk", "madvise", "exit", "exit_group",
                     "rt_sigreturn", "rt_sigprocmask", "futex", "clock_gettime", "getrandom", "sigaltstack",
                     "setitimer", "getpid", "getuid", "geteuid", "getgid", "getegid")
_syscall_filter: Any = None  # built by `use_syscall_filter` in the sandbox process, loaded by each child


def use_syscall_filter() -> bool:
    """Build the seccomp filter every child of this process loads (`_confine`): defence in depth should the language
    ever be escaped, as the limits are. False where libseccomp (pyseccomp) is not available: the other walls stand.
    Called in the sandbox process only (finding the library runs ldconfig)."""
    global _syscall_filter
    try:
        import errno

        import pyseccomp
    except (ImportError, OSError, RuntimeError):
        return False
    built = pyseccomp.SyscallFilter(pyseccomp.ERRNO(errno.EPERM))
    for name in _ALLOWED_SYSCALLS:
        built.add_rule(pyseccomp.ALLOW, name)
    # Its own limits only (`_bound`, after the script arrives): prlimit64 on pid 0, never on another process.
    built.add_rule(pyseccomp.ALLOW, "prlimit64", pyseccomp.Arg(0, pyseccomp.EQ, 0))
    _syscall_filter = built
    return True


def _confine(keep: tuple[int, ...]) -> None:
    """In a forked child, before any script arrives: every descriptor but `keep` closed, no privileges, no new file,
    socket, process, file write or core dump possible, and (with `use_syscall_filter`) no system call beyond
    `_ALLOWED_SYSCALLS`."""
    import resource

    gc.disable()  # a collection would walk, so copy, every page the child shares with its parent
    low = 0
    for fd in sorted(keep):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 65536)
    os.chdir("/")
    if os.getuid() == 0:  # the platform may run as root in a container: the script never does
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    # No new file descriptor at all (no file, no socket: Redis or PostgreSQL on the loopback stay out of reach);
    # the pipes, open already, stay usable.
    resource.setrlimit(resource.RLIMIT_NOFILE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    if _syscall_filter is not None:
        _syscall_filter.load()


def _bound(limits: dict[str, Any], size: int) -> None:
    """In the child, when its script has arrived: its CPU time and address space (`size`: what it started with)."""
    import resource

    cpu = float(limits["cpu_seconds"])
    # A CPU timer for fractions of a second (SIGPROF ends the process), the kernel's limit behind it.
    signal.setitimer(signal.ITIMER_PROF, cpu)
    whole = max(1, math.ceil(cpu)) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (whole, whole + 1))
    memory = size + int(limits["memory_mb"]) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))


def _limit_child(limits: dict[str, Any], result_fd: int, size: int | None = None) -> None:
    """Everything a child is bounded by, at once (`_confine` then `_bound`)."""
    size = _address_space() if size is None else size
    _confine((result_fd,))
    _bound(limits, size)


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks: list[bytes] = []
    while size > 0:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _child(request_fd: int, result_fd: int, size: int) -> None:
    """A spare child: confined at once, then it waits for its one script (JSON request and marshalled code), runs
    it within its bounds and writes the answer. It never returns."""
    try:
        _confine((request_fd, result_fd))
        head = _read_exactly(request_fd, 8)
        if head is None:  # the sandbox process ended without a script for it
            os._exit(0)
        request_length, code_length = struct.unpack(">II", head)
        request = json.loads(_read_exactly(request_fd, request_length) or b"null")
        code = marshal.loads(_read_exactly(request_fd, code_length) or b"")  # noqa: S302 - from our parent
        limits = request["limits"]
        _bound(limits, size)
        answer = run_code(code, request["data"], request["today"])
        body = json.dumps(answer, ensure_ascii=False).encode()
        if len(body) > int(limits["output_bytes"]):
            body = json.dumps({"ok": False, "code": "script_output_too_large", "detail": str(len(body))}).encode()
    except MemoryError:
        body = _MEMORY_ANSWER
    except BaseException as exc:  # noqa: BLE001 - whatever happened is reported, the child ends here
        body = json.dumps({"ok": False, "code": "script_crashed", "detail": f"{type(exc).__name__}: {exc}"[:500]}
                          ).encode()
    view = memoryview(body)
    while view:
        written = os.write(result_fd, view)
        view = view[written:]
    os._exit(0)


@dataclass
class _Spare:
    """A forked child waiting for a script: its pid, where its script goes and where its answer comes from."""

    pid: int
    request_fd: int
    result_fd: int


def _fork() -> _Spare:
    size = _address_space()
    request_read, request_write = os.pipe()
    result_read, result_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(request_write)
        os.close(result_read)
        _child(request_read, result_write, size)
    os.close(request_read)
    os.close(result_write)
    return _Spare(pid, request_write, result_read)


_spare: _Spare | None = None  # forked ahead, between scripts, by the sandbox process (`serve`)
_finished: list[int] = []  # children whose answer was read, to end and reap (`tidy`)


def tidy(prefork: bool = False) -> None:
    """Between two scripts: end and reap the children that answered; with `prefork`, fork the next one ahead, so
    that a script's own wait includes neither a fork nor the child's confinement."""
    global _spare
    while _finished:
        pid = _finished.pop()
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)  # it has answered: whatever it might still do is cut short
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    if prefork and _spare is None:
        _spare = _fork()


_COMPILED: dict[str, tuple[Any, list[Issue]]] = {}
_COMPILED_KEPT = 256


def _compiled(source: str) -> tuple[Any, list[Issue]]:
    """`check(source)`, remembered: a procedure's few scripts are compiled once per sandbox process and handed to the
    child compiled (compiling in the child costs it copies of every page the compiler touches). Compiling runs
    nothing of the script, and its size is bounded by MAX_SOURCE_LENGTH."""
    known = _COMPILED.get(source)
    if known is None:
        if len(_COMPILED) >= _COMPILED_KEPT:
            _COMPILED.clear()
        known = _COMPILED[source] = check(source)
    return known


def run_in_child(request: dict[str, Any]) -> dict[str, Any]:
    """Run one script in a child of this process (the spare forked ahead, else one forked now) and wait for its
    answer, at most the wall-clock limit (then it is killed). The child is reaped by the next `tidy()`, unless its
    exit status is needed to tell what ended it."""
    global _spare
    limits = request["limits"]
    limit = int(limits["output_bytes"]) + 4096
    code, issues = _compiled(request["source"])
    if code is None:
        return _refusal(issues)
    body = json.dumps({"data": request["data"], "today": request["today"], "limits": limits}).encode()
    compiled = marshal.dumps(code)
    for attempt in (1, 2):
        child, _spare = _spare or _fork(), None
        try:
            os.write(child.request_fd, struct.pack(">II", len(body), len(compiled)))
            view = memoryview(body + compiled)
            while view:
                view = view[os.write(child.request_fd, view):]
            break
        except BrokenPipeError:  # the spare died while it waited (killed from outside): another one
            os.close(child.result_fd)
            _finished.append(child.pid)
            if attempt == 2:
                raise
        finally:
            os.close(child.request_fd)
    pid, read_fd = child.pid, child.result_fd
    deadline = time.monotonic() + float(limits["wall_seconds"])
    chunks: list[bytes] = []
    size = 0
    timed_out = too_large = False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            ready, _, _ = select.select([read_fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(read_fd, 65536)
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                too_large = True
                break
            chunks.append(chunk)
    finally:
        os.close(read_fd)
    if timed_out or too_large:
        _finished.append(pid)
        return {"ok": False, "code": "script_timeout" if timed_out else "script_output_too_large"}
    try:
        answer: dict[str, Any] = json.loads(b"".join(chunks))
    except ValueError:  # no answer, or a cut one: the child was ended, by a limit or otherwise
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) in (signal.SIGPROF, signal.SIGXCPU, signal.SIGKILL):
            return {"ok": False, "code": "script_cpu_limit"}
        return {"ok": False, "code": "script_crashed", "detail": f"status {status}"}
    _finished.append(pid)
    return answer


def _read_frame(stream: Any) -> bytes | None:
    head = stream.read(4)
    if len(head) < 4:
        return None
    (length,) = struct.unpack(">I", head)
    body: bytes = stream.read(length)
    return body if len(body) == length else None


def write_frame(stream: Any, body: bytes) -> None:
    stream.write(struct.pack(">I", len(body)) + body)
    stream.flush()


def serve() -> None:
    """The warm sandbox process: one request, one child, one answer, until the host closes the pipe. Between two
    requests it reaps the last child and forks the next one."""
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the host's Ctrl-C is for the host; it closes the pipe
    use_syscall_filter()
    gc.freeze()  # what is loaded now is never collected: the children do not copy its pages for the collector
    tidy(prefork=True)
    while True:
        frame = _read_frame(source)
        if frame is None:
            break
        try:
            answer = run_in_child(json.loads(frame))
        except Exception as exc:  # noqa: BLE001 - a bad request is answered, the process goes on
            answer = {"ok": False, "code": "script_crashed", "detail": f"{type(exc).__name__}: {exc}"[:500]}
        write_frame(sink, json.dumps(answer, ensure_ascii=False).encode())
        tidy(prefork=True)
    if _spare is not None:  # its request pipe closes: it reads the end and exits
        os.close(_spare.request_fd)
        os.close(_spare.result_fd)
        os.waitpid(_spare.pid, 0)
    tidy()


if __name__ == "__main__":
    serve()
