"""The script sandbox: the restricted language, and the separate process that bounds what a script may cost.

Every call below goes through the real warm sandbox process and a forked child (app.engine.scripts); nothing is
imitated. A refused or runaway script must end as a ScriptError with a stable code and a Vietnamese message, and
the host (this test process) must be untouched: its memory, its files, its ability to run the next script.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from app.engine.script_language import assigned_names, check
from app.engine.scripts import Limits, ScriptError, run_script, script_problems

TODAY = "2026-12-01"
DATA = {"so_ban_sao": 3, "nguoi_yeu_cau": {"ho_ten": "Nguyễn Văn An", "tuoi": 34}, "giay_to": ["CCCD", "GKS"]}
FAST = Limits(cpu_seconds=0.5, wall_seconds=3, memory_mb=128, output_bytes=64 * 1024)


def _run(source: str, data: dict[str, object] | None = None, limits: Limits = FAST) -> dict[str, object]:
    result = run_script(source, DATA if data is None else data, TODAY, limits)
    return {**result.updates, **{f"-{name}": None for name in result.deletions}}


def _refused(source: str, limits: Limits = FAST) -> ScriptError:
    with pytest.raises(ScriptError) as info:
        run_script(source, DATA, TODAY, limits)
    assert info.value.message and info.value.message[0].isupper()
    return info.value


def test_an_allowed_script_computes_over_task_data_and_its_assignments_become_task_data() -> None:
    # Every name bound at the top level is data afterwards, a loop's variable too; a function is not.
    script = """
tong = 0
for loai in giay_to:
    tong += len(loai)
ten = nguoi_yeu_cau.ho_ten.upper()
le_phi = so_ban_sao * 8000 if 'so_ban_sao' in du_lieu else 0
nguoi_yeu_cau['da_kiem_tra'] = True
def nhan_doi(x):
    return x * 2
gap_doi = nhan_doi(so_ban_sao)
ngay = today()
cap = sorted([(k, v) for k, v in {'b': 2, 'a': 1}.items()])
"""
    assert _run(script) == {
        "tong": 7, "loai": "GKS", "ten": "NGUYỄN VĂN AN", "le_phi": 24000, "gap_doi": 6, "ngay": TODAY,
        "nguoi_yeu_cau": {"ho_ten": "Nguyễn Văn An", "tuoi": 34, "da_kiem_tra": True},
        "cap": [["a", 1], ["b", 2]],
    }


def test_only_changed_names_come_back_and_deleted_ones_are_deleted() -> None:
    assert _run("so_ban_sao = 3\nx = 1\ndel giay_to") == {"x": 1, "-giay_to": None}


@pytest.mark.parametrize(("script", "subject"), [
    ("import os", "os"),
    ("from os import path", "os"),
    ("__import__('os').system('id')", "__import__"),
    ("x = ().__class__.__bases__[0].__subclasses__()", "__class__"),
    ("x = open('/etc/passwd').read()", "open"),
    ("x = getattr((), '__class__')", "getattr"),
    ("x = eval('1')", "eval"),
    ("x = type(1)", "type"),
    ("g = (i for i in giay_to)\nx = g.gi_frame.f_back.f_globals", "gi_frame"),
    ("print(so_ban_sao)", "print"),
    ("class A:\n    pass", "class"),
    ("du_lieu = {}", "du_lieu"),
])
def test_escape_attempts_are_refused_when_compiled(script: str, subject: str) -> None:
    error = _refused(script)
    assert error.code == "script_invalid"
    assert subject in error.message
    assert error.line is not None


@pytest.mark.parametrize("script", [
    # str.format reads attributes of its arguments: the method itself is not offered
    "x = '{0.__class__.__mro__}'.format(so_ban_sao)",
    "x = '{a.__class__}'.format_map({'a': 1})",
    # attributes of anything but plain data are not readable, whatever their name
    "def f():\n    pass\nx = f.func_globals",
    "x = so_ban_sao.real",
    "x = nguoi_yeu_cau.tuoi.bit_length()",
    "x = giay_to.copy.x",
    "x = len.x",
    # item reads and writes only on plain containers
    "def f():\n    pass\nf['x'] = 1",
    "x = len['a']",
])
def test_attribute_tricks_at_run_time_are_refused(script: str) -> None:
    error = _refused(script)
    assert error.code in ("script_forbidden", "script_invalid"), error
    assert "không được" in error.message


def test_format_string_attribute_access_never_reaches_the_attribute() -> None:
    error = _refused("x = '{0.__class__}'.format(1)")
    assert error.code == "script_forbidden" and "str.format" in error.message
    # %-formatting and f-strings only format values; f-string fields are compiled, so guarded, expressions
    assert _run("x = '%s-%d' % ('a', 2)\ny = f'{so_ban_sao:>4}'") == {"x": "a-2", "y": "   3"}
    assert _refused("x = f'{so_ban_sao.__class__}'").code == "script_invalid"


def test_the_script_cannot_touch_the_host(tmp_path: Path) -> None:
    target = tmp_path / "pwned"
    for script in (f"open({str(target)!r}, 'w')", f"__import__('pathlib').Path({str(target)!r}).touch()"):
        _refused(script)
    assert not target.exists()
    # The child's data is a copy: nothing the script does changes the caller's dict.
    data = {"a": [1]}
    assert _run("a.append(2)", data) == {"a": [1, 2]}
    assert data == {"a": [1]}


def test_an_endless_loop_is_stopped_by_the_cpu_limit_and_the_next_script_runs() -> None:
    error = _refused("while True:\n    pass")
    assert error.code == "script_cpu_limit"
    assert "0.5 giây CPU" in error.message and "vòng lặp" in error.message
    assert _run("x = 1") == {"x": 1}


def test_the_wall_clock_limit_stops_a_script_the_cpu_limit_has_not() -> None:
    error = _refused("while True:\n    pass", Limits(cpu_seconds=30, wall_seconds=0.5, memory_mb=128))
    assert error.code == "script_timeout"
    assert "0.5 giây" in error.message


@pytest.mark.parametrize("script", [
    "x = 'a' * (2 * 1024 ** 3)",  # 2 GB at once
    "x = [0] * (2 * 1024 ** 3 // 8)",
    "x = []\nwhile True:\n    x.append('a' * 1000000)",  # growing until it hits the limit
])
def test_a_huge_allocation_is_stopped_by_the_memory_limit(script: str) -> None:
    error = _refused(script, Limits(cpu_seconds=5, wall_seconds=10, memory_mb=128))
    assert error.code == "script_memory_limit"
    assert "128 MB" in error.message
    assert _run("x = 2") == {"x": 2}


def test_huge_output_is_refused() -> None:
    error = _refused("x = 'a' * 100000")
    assert error.code == "script_output_too_large"
    assert "64 KB" in error.message


def test_values_task_data_cannot_hold_are_refused_by_name() -> None:
    error = _refused("ds = set(giay_to)")
    assert error.code == "script_result_invalid" and "«ds»" in error.message and "set" in error.message
    assert _run("ds = list(set(['a']))\ncap = (1, 2)") == {"ds": ["a"], "cap": [1, 2]}


def test_run_time_errors_name_their_line() -> None:
    error = _refused("a = 1\nb = a / 0")
    assert error.code == "script_failed" and error.line == 2 and "ZeroDivisionError" in error.message
    missing = _refused("x = khong_co + 1")
    assert missing.code == "script_unknown_name" and "«khong_co»" in missing.message


def test_checker_reports_each_refusal_with_its_line() -> None:
    problems = script_problems("a = 1\nimport os\nb = a.__class__\nc = (")
    assert [line for line, _, _ in problems] == [4]  # a syntax error stops the check there
    problems = script_problems("a = 1\nimport os\nb = a.__class__\nprint(b)")
    assert [(line, code) for line, code, _ in problems] == [
        (2, "script_construct_forbidden"), (3, "script_construct_forbidden"), (4, "script_construct_forbidden")]
    assert "import os" in problems[0][2] and "«__class__»" in problems[1][2] and "print()" in problems[2][2]
    assert script_problems("    a = 1\n    b = a + 1\n") == []  # indented as modelling tools write it
    assert check("x = 1")[1] == []


def test_assigned_names_are_what_the_checker_counts_as_defined() -> None:
    assert assigned_names("a = 1\nfor i in x:\n    b, c = i\ndef f():\n    global g\n    g = 1\n    h = 2\n"
                          "[k for k in x]\n_p = 1") == {"a", "i", "b", "c", "g"}


def test_the_sandbox_process_holds_none_of_the_host_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.engine import scripts

    monkeypatch.setenv("DATABASE_URL", "postgresql://motcua:secret@db/motcua")
    scripts._POOL.close()  # started afresh, while the host's environment holds a secret
    assert _run("x = 1") == {"x": 1}
    [sandbox] = scripts._POOL._idle
    environment = Path(f"/proc/{sandbox.process.pid}/environ").read_bytes()
    assert b"secret" not in environment and b"DATABASE_URL" not in environment
    # None of the host's files or sockets: its pipes to the host and to its next child, and /dev/null.
    held = {os.readlink(p) for p in Path(f"/proc/{sandbox.process.pid}/fd").iterdir()}
    assert all(target.startswith("pipe:") or target == "/dev/null" for target in held), held


PROBE = r"""
import importlib.util, json, os, sys
spec = importlib.util.spec_from_file_location("probe_language", sys.argv[1])
language = sys.modules["probe_language"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(language)
filtered = language.use_syscall_filter()
read_fd, write_fd = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(read_fd)
    language._limit_child({"cpu_seconds": 1, "memory_mb": 64}, write_fd)
    seen = {"uid": os.getuid(), "filtered": filtered}
    for name, attempt in (("file", lambda: open("/etc/hostname").read()),
                          ("socket", lambda: __import__("socket").create_connection(("127.0.0.1", 6379))),
                          ("fork", os.fork),
                          ("signal", lambda: os.kill(os.getppid(), 0)),
                          ("write", lambda: open("/tmp/probe-written", "w"))):
        try:
            attempt()
            seen[name] = "allowed"
        except Exception as exc:
            seen[name] = type(exc).__name__
    os.write(write_fd, json.dumps(seen).encode())
    os._exit(0)
os.close(write_fd)
print(os.read(read_fd, 4096).decode())
os.waitpid(pid, 0)
"""


def test_a_script_that_escaped_the_language_would_still_reach_nothing() -> None:
    """The process layer on its own (as if the language's guards were broken): no file, socket or process."""
    import subprocess
    import sys

    from app.engine import script_language

    out = subprocess.run([sys.executable, "-I", "-c", PROBE, script_language.__file__], capture_output=True,
                         check=True, timeout=30).stdout
    seen = json.loads(out)
    assert "allowed" not in seen.values(), seen
    assert seen["filtered"] is True  # libseccomp is there: every system call outside the list fails too
    if os.getuid() == 0:
        assert seen["uid"] == script_language.NOBODY


PRE_POST = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="D" targetNamespace="x">
  <bpmn:process id="thu_tuc" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="t" name="Thẩm định">
      <bpmn:extensionElements>
        <spiffworkflow:preScript>goi_y = so_ban_sao * 2</spiffworkflow:preScript>
        <spiffworkflow:postScript>duyet = y_kien == 'dong_y' and goi_y == 6</spiffworkflow:postScript>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:exclusiveGateway id="g" default="f4"><bpmn:incoming>f2</bpmn:incoming></bpmn:exclusiveGateway>
    <bpmn:endEvent id="ok"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="ko"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="t"/>
    <bpmn:sequenceFlow id="f2" sourceRef="t" targetRef="g"/>
    <bpmn:sequenceFlow id="f3" sourceRef="g" targetRef="ok"><bpmn:conditionExpression>duyet</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f4" sourceRef="g" targetRef="ko"/>
  </bpmn:process>
</bpmn:definitions>
"""


def test_pre_and_post_scripts_run_in_the_sandbox_when_the_task_opens_and_completes() -> None:
    from app.engine.analysis import analyze_bpmn
    from app.engine.runtime import SpecBundle, WorkflowRun, get_bundle

    files = {"p.bpmn": PRE_POST.encode()}
    assert analyze_bpmn(files).verdict == "deployable"  # `duyet` is defined by the post-script
    bundle: SpecBundle = get_bundle("pre-post-test", files, "thu_tuc")
    run, step = WorkflowRun.start(bundle, {"so_ban_sao": 3})
    [task] = step.ready
    assert run.task_data(task.id)["goi_y"] == 6
    done = WorkflowRun.load(run.document(), bundle).complete(task.id, {"y_kien": "dong_y"})
    assert done.completed and [end.spec_name for end in done.end_events] == ["ok"]
