"""Support for the timer tests: a clock tests can move, and khai sinh deployed with a diagram of the test's own.

The platform's one clock is app.clock.now_utc, which reads `datetime.now` through app.clock's module global; the
SpiffWorkflow timer module reads the same clock (app.engine.timers). `MovedClock` replaces that global with a
`datetime` whose now() is the real one plus a shift, so a test moves the time of the whole platform.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import app.clock as platform_clock

ROOT = Path(__file__).resolve().parent.parent
_REAL = platform_clock.datetime


class MovedClock:
    def __init__(self) -> None:
        self.shift = timedelta(0)
        clock = self

        class _Moved(_REAL):  # type: ignore[misc, valid-type]
            @classmethod
            def now(cls, tz: Any = None) -> Any:
                return _REAL.now(tz) + clock.shift

        self.datetime = _Moved

    def now(self) -> datetime:
        return _REAL.now(platform_clock.UTC) + self.shift

    def advance(self, **delta: float) -> datetime:
        self.shift += timedelta(**delta)
        return self.now()

    def set(self, instant: datetime) -> datetime:
        self.shift = instant - _REAL.now(platform_clock.UTC)
        return self.now()


LANES = {"mot_cua": "Bộ phận một cửa", "ho_tich": "Công chức hộ tịch", "lanh_dao": "Lãnh đạo UBND",
         "tra": "Trả kết quả"}
FORMS = {"mot_cua": "tiep-nhan", "ho_tich": "tham-dinh", "lanh_dao": "ky-duyet", "tra": "tra-ket-qua"}


def user_task(task_id: str, name: str, lane: str, *, status: int | None = None, extra: str = "",
              receives: bool = False) -> str:
    """A user task of khai sinh's forms for that lane."""
    props = [f'<spiffworkflow:property name="formJsonSchemaFilename" value="{FORMS[lane]}.schema.json"/>',
             f'<spiffworkflow:property name="formUiSchemaFilename" value="{FORMS[lane]}.ui.json"/>']
    if status is not None:
        props.append(f'<spiffworkflow:property name="dossierStatus" value="{status}"/>')
    if receives:
        props.append('<spiffworkflow:property name="receivesDossier" value="true"/>')
    return (f'<bpmn:userTask id="{task_id}" name="{name}"><bpmn:extensionElements><spiffworkflow:properties>'
            f'{"".join(props)}</spiffworkflow:properties></bpmn:extensionElements>{extra}</bpmn:userTask>')


def diagram(body: str, lanes: dict[str, list[str]], flows: list[tuple[str, str, str]]) -> str:
    """A khai sinh process (`dang_ky_khai_sinh`) made of `body` (its nodes), its lanes (lane key → node ids)
    and its sequence flows (id, source, target); incoming/outgoing are left to the parser's flow references."""
    lane_xml = "".join(
        f'<bpmn:lane id="Lane_{key}" name="{LANES[key]}">'
        + "".join(f"<bpmn:flowNodeRef>{node}</bpmn:flowNodeRef>" for node in nodes) + "</bpmn:lane>"
        for key, nodes in lanes.items())
    flow_xml = "".join(f'<bpmn:sequenceFlow id="{fid}" sourceRef="{src}" targetRef="{dst}"/>'
                       for fid, src, dst in flows)
    return (
        "<?xml version='1.0' encoding='UTF-8'?>"
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="Definitions_Timers" '
        'targetNamespace="http://bpmn.io/schema/bpmn">'
        '<bpmn:process id="dang_ky_khai_sinh" name="Đăng ký khai sinh" isExecutable="true">'
        f'<bpmn:laneSet id="LaneSet_1">{lane_xml}</bpmn:laneSet>{body}{flow_xml}'
        "</bpmn:process></bpmn:definitions>")


def deploy_khai_sinh(bpmn: str) -> Any:
    """Khai sinh (1.001193) deployed again with this diagram, in the caller's transaction; the new version."""
    from app.procedures.deploy import DeployRefused, deploy
    from app.procedures.package import load_directory

    pkg = load_directory(ROOT / "bpmn" / "khai-sinh")
    name = next(n for n in pkg.bpmn if n.endswith("process.bpmn"))
    pkg.bpmn[name] = bpmn.encode()
    manifest = json.loads(pkg.manifest or b"{}")
    manifest.pop("lookup_results", None)  # the test diagrams have no look-up service tasks
    pkg.manifest = json.dumps(manifest, ensure_ascii=False).encode()
    try:
        return deploy(pkg, deployed_by="tests").version
    except DeployRefused as exc:
        raise AssertionError([(p.code, p.message)
                              for p in exc.report.problems]) from exc


def timer(kind: str, value: str) -> str:
    """A timerEventDefinition: kind is timeDate, timeDuration or timeCycle."""
    return (f'<bpmn:timerEventDefinition><bpmn:{kind} xsi:type="bpmn:tFormalExpression">{value}</bpmn:{kind}>'
            "</bpmn:timerEventDefinition>")
