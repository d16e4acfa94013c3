"""Conformance: every BPMN file of the OMG MIWG test suite gets a clear verdict, and none crashes.

The corpus lives in the shared folder next to the repository (../shared/conformance/miwg): reference
models plus exports and round-trips by five modelling tools. A table of file → verdict → reason is
written to /tmp/conformance-summary.txt for people to read; it is not an artefact of the repository.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from app.engine.analysis import VERDICTS, BpmnAnalysis, analyze_bpmn
from tests.conformance import after_conversion, corpus_dir, count

# ../shared/conformance/miwg beside the repository or any worktree of it (tests/conformance.py finds it).
MIWG = corpus_dir() or Path(__file__).resolve().parents[3] / "shared" / "conformance" / "miwg"
SUMMARY = Path("/tmp/conformance-summary.txt")
# What the engine or lxml would say in its own words: English messages, exception and object reprs.
LIBRARY_TEXT = re.compile(
    r"0x[0-9a-f]{4,}|<Element|Traceback|[A-Za-z]+(Error|Exception)\(|unexpected keyword|raise_validation|"
    r"Chi tiết|SubWorkflow|has no implementation|is missing from"
)

FILES = sorted(MIWG.rglob("*.bpmn")) if MIWG.is_dir() else []
pytestmark = pytest.mark.skipif(not FILES, reason=f"conformance corpus not found at {MIWG}")


def _analyze(path: Path) -> BpmnAnalysis:
    return analyze_bpmn({path.name: path.read_bytes()})


def _id(path: Path) -> str:
    return str(path.relative_to(MIWG))


@pytest.mark.parametrize("path", FILES, ids=[_id(p) for p in FILES])
def test_every_model_gets_a_clear_verdict(path: Path) -> None:
    analysis = _analyze(path)
    assert analysis.verdict in VERDICTS
    assert analysis.reason.strip()
    for problem in analysis.problems:
        assert problem.file == path.name
        assert problem.code
        assert problem.message.strip()
        assert problem.severity in ("error", "warning")
        assert problem.line is None or problem.line >= 1
        assert not LIBRARY_TEXT.search(problem.message), problem.message
    assert not LIBRARY_TEXT.search(analysis.reason), analysis.reason
    if analysis.verdict == "deployable":
        assert analysis.process_id in analysis.executable_process_ids
        assert not [p for p in analysis.problems if p.severity == "error"]
    else:
        assert [p for p in analysis.problems if p.severity == "error"]


@pytest.mark.parametrize(
    ("relative", "verdict", "code"),
    [
        # isExecutable="false" on the only process: a descriptive model.
        ("reference/A.1.0.bpmn", "not_executable", "no_executable_process"),
        # Bizagi adds a second process with no isExecutable at all; still descriptive.
        ("bizagi-2.8.0.8/A.1.0-roundtrip.bpmn", "not_executable", "no_executable_process"),
        # Message start event of the executable pool: nothing would ever start it.
        ("bpmn-io-18.6.1/C.2.0-export.bpmn", "not_executable", "message_wait_unsupported"),
        # A task with two outgoing flows (implicit parallel split), unsupported by the engine.
        ("bpmn-io-18.6.1/A.2.1-export.bpmn", "not_executable", "implicit_split_unsupported"),
        # The process and a globalTask share one id: the round-trip broke the file.
        ("signavio-19.9.0/B.1.0-roundtrip.bpmn", "invalid", "duplicate_id"),
        # Conditions written in FEEL.
        ("reference/C.9.0.bpmn", "not_executable", "expression_syntax"),
    ],
)
def test_specific_verdicts(relative: str, verdict: str, code: str) -> None:
    analysis = _analyze(MIWG / relative)
    assert analysis.verdict == verdict, analysis.reason
    assert code in [p.code for p in analysis.problems]


def test_plain_executable_model_is_deployable() -> None:
    analysis = _analyze(MIWG / "bpmn-io-18.6.1/A.4.0-export.bpmn")
    assert analysis.verdict == "deployable", analysis.reason
    assert analysis.process_id == "Process_0elb8rq"
    assert [t.title for t in analysis.user_tasks] == ["Task 1", "Task 2"]


# The corpus by tool and verdict, as the README's table shows it (python -m tests.conformance prints it). A change of
# the checker that moves a file from one verdict to another fails here: update this and the README together.
EXPECTED_COUNTS = {
    "reference": {"deployable": 0, "not_executable": 21, "invalid": 0},
    "bpmn-io-18.6.1": {"deployable": 2, "not_executable": 40, "invalid": 1},
    "signavio-19.9.0": {"deployable": 0, "not_executable": 46, "invalid": 4},
    "camunda-eclipse-3.0.0": {"deployable": 0, "not_executable": 22, "invalid": 0},
    "bizagi-2.8.0.8": {"deployable": 0, "not_executable": 7, "invalid": 0},
}


def test_summary_and_counts() -> None:
    counts = count(MIWG)
    rows = counts.files
    lines = [f"{_id(p)}\t{a.verdict}\t{a.reason}" for p, a in rows]
    lines += ["", counts.table()]
    SUMMARY.write_text("\n".join(lines) + "\n", encoding="utf-8")

    assert len(rows) == len(FILES) == 143
    assert {tool: {v: n[v] for v in VERDICTS} for tool, n in counts.by_tool.items()} == EXPECTED_COUNTS
    assert dict(counts.by_verdict) == {"deployable": 2, "not_executable": 136, "invalid": 5}
    # No file made the checker itself fail (analyze_bpmn's last resort), and every verdict has its reason.
    assert not [p for p, a in rows if any(problem.code == "analysis_failed" for problem in a.problems)]
    # The MIWG reference models are valid BPMN by construction: never "invalid".
    assert all(a.verdict != "invalid" for p, a in rows if p.parent.name == "reference")


def test_table_for_the_readme() -> None:
    table = count(MIWG).table().splitlines()
    assert table[0] == "| tool | files | deployable | not executable | invalid |"
    assert table[-1] == "| **all** | **143** | **2** | **136** | **5** |"


def test_other_engines_extensions_are_reported_in_every_file_that_has_them() -> None:
    """Every file whose running (or, if none runs, any) process carries camunda:/zeebe: extensions other than
    bookkeeping gets at least one foreign_ problem; the Camunda invoice example gets one per extension."""
    with_foreign = {_id(p) for p, a in count(MIWG).files if any(x.code.startswith("foreign_") for x in a.problems)}
    assert len(with_foreign) == 28
    assert "bpmn-io-18.6.1/C.9.1-export.bpmn" not in with_foreign  # only the zeebe:userTask marker
    analysis = _analyze(MIWG / "camunda-eclipse-3.0.0/C.1.0-roundtrip.bpmn")
    found = Counter((p.code, p.severity) for p in analysis.problems if p.code.startswith("foreign_"))
    assert found == Counter({("foreign_form", "error"): 4, ("foreign_form", "warning"): 1,
                             ("foreign_assignee", "warning"): 3, ("foreign_candidate_groups", "warning"): 1,
                             ("foreign_implementation", "error"): 1})


def test_the_studio_conversion_on_the_corpus() -> None:
    """Alone (no forms, no manifest) a file can only be made executable: 61 descriptive models can; 9 of them then
    deploy as diagrams, and 4 show the errors of the process that had not been checked while it could not run."""
    moved = after_conversion(count(MIWG))
    assert moved == Counter({("not_executable", "not_executable"): 47, ("not_executable", "deployable"): 9,
                             ("not_executable", "invalid"): 4, ("invalid", "invalid"): 1})
