"""What a designer fills in for search (procedure.json `description` and `synonyms`): the schema's limits, the
"did you mean" of a misspelled field, and the checker's warnings about everyday names that could never help."""

from __future__ import annotations

import json

from app.procedures.package import check_manifest, check_package, load_directory
from tests.conftest import ROOT
from tests.unit.test_manifest_messages import MINIMAL


def _report(app, **changes):
    pkg = load_directory(ROOT / "bpmn" / "khai-sinh")
    manifest = json.loads(pkg.manifest or b"{}")
    manifest.update(changes)
    pkg.manifest = json.dumps(manifest, ensure_ascii=False).encode()
    with app.test_request_context():
        return check_package(pkg)


def test_the_shipped_procedures_fill_both_fields_without_a_warning(app) -> None:
    for folder in sorted((ROOT / "bpmn").iterdir()):
        manifest = json.loads((folder / "procedure.json").read_text("utf-8"))
        assert len(manifest["description"]) >= 40 and len(manifest["synonyms"]) >= 8, folder.name
        with app.test_request_context():
            report = check_package(load_directory(folder))
        assert report.ok and not [p for p in report.problems if p.code.startswith("synonym")], folder.name


def test_the_schema_bounds_both_fields_and_names_a_misspelled_one(app) -> None:
    with app.test_request_context():
        assert check_manifest({**MINIMAL, "description": "Làm giấy khai sinh cho con.",
                               "synonyms": ["giấy khai sinh"]}) == []
        (problem,) = check_manifest({**MINIMAL, "synonym": ["giấy khai sinh"]})
        assert problem.pointer == "/synonym" and "«synonyms»" in problem.message
        (problem,) = check_manifest({**MINIMAL, "synonyms": "giấy khai sinh"})
        assert problem.pointer == "/synonyms" and problem.code == "manifest_type"
        (problem,) = check_manifest({**MINIMAL, "synonyms": ["a", "giấy khai sinh"]})
        assert problem.pointer == "/synonyms/0"
        (problem,) = check_manifest({**MINIMAL, "synonyms": ["khai sinh", "khai sinh"]})
        assert problem.code == "manifest_uniqueItems"


def test_an_everyday_name_of_question_words_only_or_given_twice_is_a_warning_not_an_error(app) -> None:
    report = _report(app, synonyms=["cần làm gì ở đâu", "Đăng ký khai sinh", "giấy khai sinh", "GIAY KHAI SINH"])
    found = [(p.code, p.pointer, p.severity) for p in report.problems if p.code.startswith("synonym")]
    assert found == [("synonym_only_question_words", "/synonyms/0", "warning"),
                     ("synonym_repeated", "/synonyms/1", "warning"),  # the name itself
                     ("synonym_repeated", "/synonyms/3", "warning")]  # accents and case aside
    assert report.ok  # still deployable
    assert "«cần làm gì ở đâu»" in next(p.message for p in report.problems if p.pointer == "/synonyms/0")
