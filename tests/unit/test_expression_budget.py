"""The expression evaluator's hard budget: value sizes tracked without re-walking, steps and wall clock.

Each attack must stop with `expression_too_costly`; the alarm turns a hang into a failure instead of a
test run that never ends (it is a guard, not a timing assertion).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.engine import expressions
from app.engine.expressions import ExpressionError, check_expression, evaluate
from tests.hang import hang_guard as guard

GUARD_SECONDS = 30

# The exact expressions of the assessment.
ATTACKS = ["[[[0]*10000]*10000]*10000", "len(str([[0]*10000]*10000))"]


@pytest.fixture(autouse=True)
def hang_guard() -> Iterator[None]:
    with guard(GUARD_SECONDS, "expression evaluation did not stop"):
        yield


def _costly(expression: str, data: dict[str, object] | None = None) -> ExpressionError:
    with pytest.raises(ExpressionError) as info:
        evaluate(expression, data or {})
    assert info.value.code == "expression_too_costly", info.value.message
    assert info.value.message
    return info.value


@pytest.mark.parametrize("expression", ATTACKS)
def test_the_assessment_attacks_are_refused_at_upload(expression: str) -> None:
    with pytest.raises(ExpressionError) as info:
        check_expression(expression)
    assert info.value.code == "expression_too_costly"


@pytest.mark.parametrize("expression", ATTACKS)
def test_the_assessment_attacks_stop_at_run_time(expression: str) -> None:
    _costly(expression)


@pytest.mark.parametrize(
    ("expression", "data"),
    [
        # The same shapes, with the counts and seeds taken from the data so no static check can see them.
        ("[x * n] * n", {"x": [0], "n": 10_000}),
        ("len(str([x * n] * n))", {"x": [0], "n": 10_000}),
        ("len(str([y] * n))", {"y": [0] * 10_000, "n": 10_000}),
        ("len(str([y, y, y, y, y, y, y, y, y, y, y, y]))", {"y": [0] * 9_999}),
        ("len(f'{y}{y}{y}{y}{y}{y}{y}{y}{y}{y}{y}{y}')", {"y": [0] * 9_999}),
        ("len(str(y + y + y + y + y + y + y + y + y + y + y + y))", {"y": [[0] * 9_999]}),
        ("len([str(y) for v in items])", {"y": [0] * 9_999, "items": list(range(1000))}),
        ("len(sorted([y for v in items]))", {"y": [0] * 9_999, "items": list(range(1000))}),
        ("round(x, n)", {"x": 1, "n": -10**7}),
        ("len(str([d.values()] * n))", {"d": {"a": [0] * 50_000}, "n": 30_000}),
    ],
)
def test_values_built_from_data_are_bounded_without_re_walking(expression: str, data: dict[str, object]) -> None:
    check_expression(expression)
    _costly(expression, data)


def test_a_long_evaluation_runs_out_of_steps() -> None:
    body = ", ".join(["v"] * 200)
    expression = f"len([({body}) for v in items])"
    check_expression(expression)
    error = _costly(expression, {"items": list(range(1000))})
    assert "quá lâu" in error.message or "quá nhiều" in error.message


def test_the_wall_clock_is_checked_while_evaluating(monkeypatch: pytest.MonkeyPatch) -> None:
    assert evaluate("a + 1", {"a": 1}) == 2
    monkeypatch.setattr(expressions, "MAX_SECONDS", 0.0)
    _costly("a + 1", {"a": 1})


@pytest.mark.parametrize(
    "expression",
    [
        "[0] * 200000",
        "'a' * (10**5 + 1)",
        "[[0] * 1000] * 1000",
        "(['ab'] * 100) * 1000",
        "9**9**9",
        "round(1, -10**7)",
    ],
)
def test_literal_costs_beyond_the_bound_are_refused_at_upload(expression: str) -> None:
    with pytest.raises(ExpressionError) as info:
        check_expression(expression)
    assert info.value.code == "expression_too_costly"


@pytest.mark.parametrize("expression", ["[[0] * n] * m", "[[x] * n] * 3", "('-' * n) * m", "[(['a'] * n) * 2]"])
def test_nested_repetition_over_data_is_refused_at_upload(expression: str) -> None:
    with pytest.raises(ExpressionError) as info:
        check_expression(expression)
    assert info.value.code == "expression_too_costly"
    assert "lồng nhau" in info.value.message


@pytest.mark.parametrize(
    ("expression", "data", "expected"),
    [
        ("'-' * n", {"n": 3}, "---"),
        ("[[0] * 2] * 3", {}, [[0, 0]] * 3),
        ("len(str(x))", {"x": list(range(100))}, len(str(list(range(100))))),
        ("f'{a}-{b}'", {"a": 1, "b": [2]}, "1-[2]"),
        ("round(2.675, 2)", {}, round(2.675, 2)),
        ("sorted(ds)[0]", {"ds": [3, 1, 2]}, 1),
    ],
)
def test_ordinary_expressions_still_work(expression: str, data: dict[str, object], expected: object) -> None:
    check_expression(expression)
    assert evaluate(expression, data) == expected


def test_reading_large_data_is_not_a_cost() -> None:
    """The dossier's own data may be large; reading it builds nothing and is never refused."""
    big = {f"truong_{i}": "x" * 50 for i in range(20_000)}
    data = {"ho_so": big, "ds": list(range(300_000))}
    assert evaluate("'truong_5' in du_lieu.ho_so and len(ds) > 10", {"du_lieu": data, **data}) is True
    assert evaluate("ho_so.get('truong_7') == 'x' * 50", data) is True
    assert evaluate("max(ds) if ds else 0", data) == 299_999
