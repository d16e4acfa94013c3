"""Upload checks of timer values as modelling tools write them (docs/design/timers.md §3.3, §5.5, §5.7)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.engine.analysis import BpmnAnalysis, analyze_bpmn
from tests.unit.test_engine_analysis import _linear, _timer_process

MIWG = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "miwg"
XPATH = 'language="http://www.w3.org/1999/XPath"'


def _codes(analysis: BpmnAnalysis) -> list[str]:
    return [p.code for p in analysis.problems if p.severity == "error"]


def _catch(inner: str) -> str:
    return _linear('    <bpmn:intermediateCatchEvent id="t" name="Chờ"><bpmn:incoming>f1</bpmn:incoming>'
                   f'<bpmn:outgoing>f2</bpmn:outgoing><bpmn:timerEventDefinition id="tm">{inner}'
                   "</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>")


def _boundary(inner: str, cancel: str) -> str:
    """A user task with a boundary timer whose path ends at once."""
    return _linear('    <bpmn:userTask id="t" name="Thẩm định"><bpmn:incoming>f1</bpmn:incoming>'
                   '<bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>'
                   f'<bpmn:boundaryEvent id="b" name="Nhắc" attachedToRef="t" cancelActivity="{cancel}">'
                   f'<bpmn:outgoing>f3</bpmn:outgoing><bpmn:timerEventDefinition id="tm">{inner}'
                   '</bpmn:timerEventDefinition></bpmn:boundaryEvent>'
                   '<bpmn:endEvent id="end_b"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>'
                   '<bpmn:sequenceFlow id="f3" sourceRef="b" targetRef="end_b"/>')


def test_a_plain_iso_duration_is_accepted_whatever_language_the_tool_wrote() -> None:
    """MIWG C.3.0 writes <timeDuration language="…XPath">PT2H</timeDuration>: no expression, just a value."""
    analysis = analyze_bpmn({"p.bpmn": _catch(f"<bpmn:timeDuration {XPATH}>PT2H</bpmn:timeDuration>").encode()})
    assert analysis.verdict == "deployable", analysis.problems
    # An expression in another language is still refused.
    other = analyze_bpmn({"p.bpmn": _catch(f"<bpmn:timeDuration {XPATH}>concat('PT', 2, 'H')</bpmn:timeDuration>")
                          .encode()})
    assert "expression_language_unsupported" in _codes(other)


@pytest.mark.parametrize("element", ["timeDate", "timeDuration", "timeCycle"])
def test_an_empty_time_is_refused_with_what_to_fill_in(element: str) -> None:
    analysis = analyze_bpmn({"p.bpmn": _catch(f"<bpmn:{element}/>").encode()})
    assert analysis.verdict == "not_executable"
    [problem] = [p for p in analysis.problems if p.code == "timer_unspecified"]
    assert element in problem.message and "Timer" in problem.message and "«Chờ»" in problem.message


@pytest.mark.parametrize("value", ["P1.5M", "P0.5Y", "-PT1H", "XYZT1H"])
def test_durations_the_library_would_misread_or_fail_on_later_are_refused(value: str) -> None:
    analysis = analyze_bpmn({"p.bpmn": _timer_process("timeDuration", f"'{value}'").encode()})
    assert "timer_invalid" in _codes(analysis), analysis.problems


def test_working_time_is_accepted_in_a_time_date_and_refused_in_a_duration() -> None:
    ok = analyze_bpmn({"p.bpmn": _timer_process("timeDate", "working_days(3)").encode()})
    assert ok.verdict == "deployable", ok.problems
    ok = analyze_bpmn({"p.bpmn": _timer_process("timeDate", "working_hours(4)").encode()})
    assert ok.verdict == "deployable", ok.problems
    wrong = analyze_bpmn({"p.bpmn": _timer_process("timeDuration", "working_days(3)").encode()})
    assert "timer_working_time_misplaced" in _codes(wrong)


def test_a_cycle_is_accepted_only_where_it_can_repeat() -> None:
    repeating = analyze_bpmn({"p.bpmn": _boundary("<bpmn:timeCycle>R6/P1D</bpmn:timeCycle>", "false").encode()})
    assert repeating.verdict == "deployable", repeating.problems
    for text in (_boundary("<bpmn:timeCycle>R6/P1D</bpmn:timeCycle>", "true"),
                 _catch("<bpmn:timeCycle>R3/PT1H</bpmn:timeCycle>")):
        analysis = analyze_bpmn({"p.bpmn": text.encode()})
        assert analysis.verdict == "not_executable"
        assert "timer_cycle_unsupported" in _codes(analysis)


def _timer_start(inner: str, *, plain_start_too: bool = False) -> str:
    text = _linear('    <bpmn:userTask id="t" name="Việc"><bpmn:incoming>f1</bpmn:incoming>'
                   '<bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>')
    timed = ('<bpmn:startEvent id="start" name="Hằng tháng"><bpmn:outgoing>f1</bpmn:outgoing>'
             f"<bpmn:timerEventDefinition>{inner}</bpmn:timerEventDefinition></bpmn:startEvent>")
    if plain_start_too:
        timed += '<bpmn:startEvent id="start2"><bpmn:outgoing>f9</bpmn:outgoing></bpmn:startEvent>' \
                 '<bpmn:sequenceFlow id="f9" sourceRef="start2" targetRef="t"/>'
    return text.replace('<bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>', timed)


@pytest.mark.parametrize("inner", [
    "<bpmn:timeCycle>R/2027-01-01T08:00:00+07:00/P1M</bpmn:timeCycle>",
    "<bpmn:timeCycle>R12/P1W</bpmn:timeCycle>",
    "<bpmn:timeCycle>'R/P1M'</bpmn:timeCycle>",
    "<bpmn:timeDate>2099-01-01T08:00:00+07:00</bpmn:timeDate>",
    "<bpmn:timeDuration>P1D</bpmn:timeDuration>",
    "<bpmn:timeCycle>R/2020-01-01T08:00:00+07:00/P1M</bpmn:timeCycle>",  # started in the past, still repeating
])
def test_a_timer_start_event_makes_a_periodic_procedure(inner: str) -> None:
    analysis = analyze_bpmn({"p.bpmn": _timer_start(inner).encode()})
    assert analysis.verdict == "deployable", analysis.problems
    assert analysis.start_timer is not None and analysis.start_timer[0] in inner


@pytest.mark.parametrize(("inner", "code"), [
    ("<bpmn:timeCycle>every month</bpmn:timeCycle>", "timer_start_invalid"),
    ("<bpmn:timeCycle>R3/P1.5M</bpmn:timeCycle>", "timer_start_invalid"),
    ("<bpmn:timeDate>working_days(3)</bpmn:timeDate>", "timer_start_invalid"),  # no dossier to count for
    ("<bpmn:timeDate>2020-01-01T08:00:00+07:00</bpmn:timeDate>", "timer_start_past"),
    ("<bpmn:timeCycle>R3/2020-01-01T08:00:00+07:00/P1M</bpmn:timeCycle>", "timer_start_past"),
])
def test_a_timer_start_event_nobody_could_schedule_is_refused_clearly(inner: str, code: str) -> None:
    analysis = analyze_bpmn({"p.bpmn": _timer_start(inner).encode()})
    assert analysis.verdict != "deployable", analysis.problems
    [problem] = [p for p in analysis.problems if p.code == code]
    assert "«Hằng tháng»" in problem.message
    assert ("R/2027-01-01T08:00:00+07:00/P1M" in problem.message if code == "timer_start_invalid"
            else "tương lai" in problem.message)
    assert analysis.start_timer is None


def test_a_timer_start_beside_a_plain_start_is_refused() -> None:
    """A citizen procedure keeps its none start event; a periodic one has only its timer start."""
    analysis = analyze_bpmn({"p.bpmn": _timer_start("<bpmn:timeCycle>R/P1M</bpmn:timeCycle>",
                                                    plain_start_too=True).encode()})
    assert "timer_start_mixed" in _codes(analysis)


@pytest.mark.skipif(not MIWG.is_dir(), reason="conformance corpus not found")
def test_miwg_c30_is_no_longer_refused_for_its_timer() -> None:
    analysis = analyze_bpmn({"C.3.0.bpmn": (MIWG / "reference" / "C.3.0.bpmn").read_bytes()})
    timers = [p for p in analysis.problems if p.code == "expression_language_unsupported" and "PT2H" in p.message]
    assert timers == []
