"""Which completions are returns: a way on that loops back in the diagram, not any step done before."""

from __future__ import annotations

from pathlib import Path

from app.engine.flows import flow_labels, returns_to

BPMN = Path(__file__).resolve().parents[2] / "bpmn"


def _files(slug: str) -> dict[str, bytes]:
    return {"process.bpmn": (BPMN / slug / "process.bpmn").read_bytes()}


def test_khai_sinh_the_leaders_refusal_goes_back_the_examination_goes_on():
    files = _files("khai-sinh")
    assert returns_to("test-khai-sinh", lambda: files, "Task_KyGiayKhaiSinh", "Task_ThamDinh")
    assert flow_labels("test-khai-sinh", lambda: files, "Task_KyGiayKhaiSinh", "Task_ThamDinh") == ["Trả lại"]
    # Examined again after the return: the leader's review comes next, even though it was done before.
    assert not returns_to("test-khai-sinh", lambda: files, "Task_ThamDinh", "Task_KyGiayKhaiSinh")
    assert not returns_to("test-khai-sinh", lambda: files, "Task_KyGiayKhaiSinh", "Task_TraKetQua")
    assert not returns_to("test-khai-sinh", lambda: files, "Task_TiepNhan", "Task_ThamDinh")
    # Not reached from it at all (another task lies between): not a return either.
    assert not returns_to("test-khai-sinh", lambda: files, "Task_TraKetQua", "Task_TiepNhan")


def test_thuong_tru_supplement_and_disagreement_go_back_a_second_request_goes_on():
    files = _files("thuong-tru")
    assert returns_to("test-thuong-tru", lambda: files, "Task_BoSung", "Task_ThamDinh")
    assert returns_to("test-thuong-tru", lambda: files, "Task_PheDuyet", "Task_ThamDinh")
    # Asking for a supplement (even a second time) and sending on for approval are forward steps.
    assert not returns_to("test-thuong-tru", lambda: files, "Task_ThamDinh", "Task_BoSung")
    assert not returns_to("test-thuong-tru", lambda: files, "Task_ThamDinh", "Task_PheDuyet")


_HEAD = ('<?xml version="1.0" encoding="UTF-8"?>\n<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/'
         '20100524/MODEL" id="d" targetNamespace="x"><bpmn:process id="p" isExecutable="true">')
_TAIL = "</bpmn:process></bpmn:definitions>"
# start → merge → a → choice; the choice goes on to b («Tiếp») or back to a itself («Làm lại»); b's timer (a
# boundary event) leads back to a as well. The same diagram with its flows listed in two orders.
_FLOWS = [
    '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="merge"/>',
    '<bpmn:sequenceFlow id="f2" sourceRef="merge" targetRef="a"/>',
    '<bpmn:sequenceFlow id="f3" sourceRef="a" targetRef="choice"/>',
    '<bpmn:sequenceFlow id="f4" name="Tiếp" sourceRef="choice" targetRef="b"/>',
    '<bpmn:sequenceFlow id="f5" name="Làm lại" sourceRef="choice" targetRef="merge"/>',
    '<bpmn:sequenceFlow id="f6" sourceRef="b" targetRef="end"/>',
    '<bpmn:sequenceFlow id="f7" sourceRef="late" targetRef="merge"/>',
]
_NODES = ('<bpmn:startEvent id="start"/><bpmn:exclusiveGateway id="merge"/><bpmn:userTask id="a"/>'
          '<bpmn:exclusiveGateway id="choice"/><bpmn:userTask id="b"/><bpmn:endEvent id="end"/>'
          '<bpmn:boundaryEvent id="late" attachedToRef="b"><bpmn:timerEventDefinition/></bpmn:boundaryEvent>')


def test_a_loop_back_to_the_same_step_is_a_return_whatever_order_the_flows_are_listed_in():
    for key, flows in (("order-1", _FLOWS), ("order-2", _FLOWS[::-1])):
        files = {"p.bpmn": _HEAD + _NODES + "".join(flows) + _TAIL}
        assert returns_to(key, lambda files=files: files, "a", "a")
        assert flow_labels(key, lambda files=files: files, "a", "a") == ["Làm lại"]
        assert not returns_to(key, lambda files=files: files, "a", "b")
