"""Script tasks and pre/post scripts, run in the sandbox process (app.engine.script_language), from the engine step.

Where scripts run: inside the engine step that reaches them, like gateway conditions, not in a background job like
service tasks. A service task waits for a remote system that may be slow or down, so it is retried by a job; a
script is pure computation over the task data, bounded to SCRIPT_CPU_SECONDS of CPU (SCRIPT_WALL_SECONDS of wall
clock) and costs a couple of milliseconds (bench/script_sandbox.py), and what it assigns is read by the conditions
that follow in the same step. Pre- and post-scripts run when SpiffWorkflow readies or completes a user task, which
only the step itself can do. So the step calls the sandbox and waits; a script that fails, loops or allocates
without bound ends that step with an engine error (the incident operators see and retry, app.dossiers
.workflow_incidents), while the web or worker process that ran the step is untouched and goes on serving.

The sandbox process is started on first use, one per concurrent caller at most (`_Pool`), and kept warm: each
script then costs one fork of that small process instead of an interpreter start (measured in
bench/script_sandbox.py). It is started with `python -I` and an empty environment, so it holds nothing of the host:
no settings, no secrets, no open database connection.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import current_app, has_app_context
from flask_babel import gettext

from app.engine import script_language
from app.engine.script_language import Issue, check

WORKER = script_language.__file__


@dataclass(frozen=True)
class Limits:
    cpu_seconds: float = 1.0
    wall_seconds: float = 3.0
    memory_mb: int = 256
    output_bytes: int = 256 * 1024

    @classmethod
    def configured(cls) -> Limits:
        """The app's SCRIPT_* settings (app.config), or the defaults outside an app."""
        if not has_app_context():
            return cls()
        config = current_app.config
        return cls(cpu_seconds=float(config.get("SCRIPT_CPU_SECONDS", cls.cpu_seconds)),
                   wall_seconds=float(config.get("SCRIPT_WALL_SECONDS", cls.wall_seconds)),
                   memory_mb=int(config.get("SCRIPT_MEMORY_MB", cls.memory_mb)),
                   output_bytes=int(config.get("SCRIPT_OUTPUT_BYTES", cls.output_bytes)))


class ScriptError(Exception):
    """A script refused or failed; `code` is stable, `message` Vietnamese (for the officer and the operator),
    `line` the script's line, `detail` the sandbox's own text (for the operator)."""

    def __init__(self, code: str, message: str, line: int | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.line = line
        self.detail = detail


@dataclass(frozen=True)
class ScriptResult:
    updates: dict[str, Any]
    deletions: list[str]


# ---------------------------------------------------------------- messages


def issue_message(issue: Issue) -> str:
    """What is wrong with a script, in Vietnamese, for the checker and for an incident."""
    subject = issue.subject
    if issue.kind == "syntax":
        return gettext("sai cú pháp Python (%(detail)s)", detail=issue.detail)
    if issue.kind == "too_long":
        return gettext("kịch bản dài quá %(limit)s ký tự", limit=subject)
    if issue.kind == "import":
        return gettext("không được nạp thư viện (import %(name)s): kịch bản chỉ tính toán trên dữ liệu hồ sơ",
                       name=subject)
    if issue.kind == "underscore":
        return gettext("không được dùng tên hoặc thuộc tính bắt đầu bằng «_» («%(name)s»)", name=subject)
    if issue.kind in ("restricted", "attribute", "item", "write"):
        return gettext("không được truy cập «%(name)s»; kịch bản chỉ đọc/ghi trường của dữ liệu và dùng các "
                       "phương thức được phép của chuỗi, danh sách, từ điển, tập hợp", name=subject)
    if issue.kind == "builtin":
        return gettext("hàm «%(name)s» không được phép; chỉ được dùng: %(names)s", name=subject,
                       names=", ".join(script_language.FUNCTION_NAMES))
    if issue.kind == "print":
        return gettext("không được dùng print(): kịch bản không in ra gì, hãy gán kết quả vào một biến")
    if issue.kind == "reserved":
        return gettext("không được gán «%(name)s»: tên này dành cho toàn bộ dữ liệu hồ sơ", name=subject)
    if issue.kind == "statement":
        return gettext("không được dùng câu lệnh %(name)s trong kịch bản", name=subject)
    return gettext("cấu trúc không được phép trong kịch bản (%(detail)s)", detail=issue.detail)


def _at(line: int | None) -> str:
    return gettext(" (dòng %(line)s của kịch bản)", line=line) if line else ""


def _error(answer: Mapping[str, Any], limits: Limits) -> ScriptError:
    code = str(answer.get("code") or "script_failed")
    line = answer.get("line") if isinstance(answer.get("line"), int) else None
    detail = str(answer.get("detail") or "")[:2000]
    subject = str(answer.get("subject") or "")
    kind = str(answer.get("kind") or "")
    if code == "script_cpu_limit":
        message = gettext("Kịch bản chạy quá %(seconds)s giây CPU (có thể là vòng lặp không dừng); hệ thống đã dừng "
                          "nó. Người thiết kế cần sửa kịch bản.", seconds=format(limits.cpu_seconds, "g"))
    elif code == "script_timeout":
        message = gettext("Kịch bản chạy quá %(seconds)s giây; hệ thống đã dừng nó. Người thiết kế cần sửa kịch bản.",
                          seconds=format(limits.wall_seconds, "g"))
    elif code == "script_memory_limit":
        message = gettext("Kịch bản dùng quá %(mb)s MB bộ nhớ; hệ thống đã dừng nó. Người thiết kế cần sửa kịch bản.",
                          mb=limits.memory_mb)
    elif code == "script_output_too_large":
        message = gettext("Kịch bản tạo ra dữ liệu lớn quá %(kb)s KB; kết quả không được lưu. Người thiết kế cần sửa "
                          "kịch bản.", kb=limits.output_bytes // 1024)
    elif code in ("script_invalid", "script_forbidden"):
        code = "script_forbidden" if code == "script_forbidden" else code
        message = gettext("Kịch bản bị từ chối%(at)s: %(reason)s.", at=_at(line),
                          reason=issue_message(Issue(line, kind, subject, detail)))
    elif code == "script_unknown_name":
        message = gettext("Kịch bản dùng biến «%(name)s» chưa có trong dữ liệu hồ sơ%(at)s.", name=subject,
                          at=_at(line))
    elif code == "script_result_invalid":
        message = gettext("Biến «%(name)s» mà kịch bản để lại có kiểu %(kind)s, không lưu được vào dữ liệu hồ sơ "
                          "(chỉ lưu được số, chuỗi, đúng/sai, None, danh sách và từ điển có khóa là chuỗi); hãy đổi "
                          "kiểu hoặc xóa biến bằng del.", name=subject, kind=kind)
    elif code == "script_failed":
        message = gettext("Kịch bản gặp lỗi%(at)s: %(kind)s: %(detail)s.", at=_at(line), kind=kind, detail=detail)
    else:
        code = "script_crashed" if code != "script_sandbox_unavailable" else code
        message = gettext("Không chạy được kịch bản trong môi trường cách ly; lỗi đã được ghi lại để người vận hành "
                          "xử lý.")
    return ScriptError(code, message, line, detail or code)


# ---------------------------------------------------------------- the warm sandbox processes


class _Sandbox:
    """One warm sandbox process (started by this module, ended by it)."""

    def __init__(self) -> None:
        self.owner = os.getpid()
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter on our own file
            [sys.executable, "-I", WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}, cwd="/", close_fds=True)

    def ask(self, request: bytes, timeout: float) -> dict[str, Any]:
        """Send one request and read its answer; OSError/TimeoutError when the process is unusable."""
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None
        stdin.write(struct.pack(">I", len(request)) + request)
        stdin.flush()
        deadline = time.monotonic() + timeout
        fd = stdout.fileno()
        (length,) = struct.unpack(">I", _read_exactly(fd, 4, deadline))
        result: dict[str, Any] = json.loads(_read_exactly(fd, length, deadline))
        return result

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                if self.process.stdin is not None:
                    self.process.stdin.close()
                self.process.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()


def _read_exactly(fd: int, size: int, deadline: float) -> bytes:
    """`size` bytes from a pipe; TimeoutError at `deadline`, OSError when the pipe ends first."""
    chunks: list[bytes] = []
    while size > 0:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise TimeoutError("sandbox process did not answer")
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            raise OSError("sandbox process ended")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


class _Pool:
    """Warm sandbox processes of this host process: one per concurrent caller, KEEP of them kept idle."""

    KEEP = 2

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[_Sandbox] = []

    def forget(self) -> None:
        """In a forked host: the parent's sandboxes (and the lock, which another thread may have held) are not ours."""
        self._lock = threading.Lock()
        self._idle = []

    def take(self) -> _Sandbox:
        with self._lock:
            while self._idle:
                sandbox = self._idle.pop()
                if sandbox.owner == os.getpid() and sandbox.process.poll() is None:
                    return sandbox
        return _Sandbox()

    def give(self, sandbox: _Sandbox) -> None:
        with self._lock:
            if sandbox.owner == os.getpid() and len(self._idle) < self.KEEP:
                self._idle.append(sandbox)
                return
        sandbox.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for sandbox in idle:
            if sandbox.owner == os.getpid():
                sandbox.close()


_POOL = _Pool()
atexit.register(_POOL.close)
# A forked host (a server preloading the app) starts its own sandboxes: the pipes belong to the parent.
os.register_at_fork(after_in_child=_POOL.forget)


def run_script(source: str, data: Mapping[str, Any], today: str, limits: Limits | None = None) -> ScriptResult:
    """Run a script over task data in the sandbox: the names it changed, and those it deleted; ScriptError if it was
    refused, failed or ran out of a limit. Only JSON values of `data` are handed to the script."""
    limits = limits or Limits.configured()
    plain = {}
    for name, value in data.items():
        try:
            plain[name] = json.loads(json.dumps(value))
        except (TypeError, ValueError):
            continue  # not data a script can read (the engine's own objects)
    request = json.dumps({"source": source, "data": plain, "today": today, "limits": {
        "cpu_seconds": limits.cpu_seconds, "wall_seconds": limits.wall_seconds, "memory_mb": limits.memory_mb,
        "output_bytes": limits.output_bytes}}).encode()
    sandbox = None
    try:
        sandbox = _POOL.take()
        answer = sandbox.ask(request, limits.wall_seconds + 5)
    except (OSError, TimeoutError, ValueError) as exc:
        if sandbox is not None:
            sandbox.process.kill()
            sandbox.process.wait()
        raise _error({"code": "script_sandbox_unavailable", "detail": f"{type(exc).__name__}: {exc}"}, limits) from exc
    _POOL.give(sandbox)
    if not answer.get("ok"):
        raise _error(answer, limits)
    return ScriptResult(updates=dict(answer.get("updates") or {}), deletions=list(answer.get("deletions") or []))


def script_problems(source: str) -> list[tuple[int | None, str, str]]:
    """Upload check of one script: (line in the script, code, Vietnamese reason) for each refusal."""
    _, issues = check(source)
    return [(issue.line, "script_syntax" if issue.kind == "syntax" else "script_construct_forbidden",
             issue_message(issue)) for issue in issues]
