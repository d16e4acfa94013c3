"""Each problem of a manifest names its own field, once."""

from __future__ import annotations

from app.procedures.package import check_manifest


def test_each_missing_required_field_is_named_once() -> None:
    problems = [p for p in check_manifest({"code": "1.000001"}) if p.code == "manifest_required"]
    pointers = [p.pointer for p in problems]
    assert len(problems) > 1
    assert len(set(pointers)) == len(pointers), pointers
    for problem in problems:
        assert f"«{problem.pointer.rsplit('/', 1)[-1]}»" in problem.message
