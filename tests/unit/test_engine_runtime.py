"""The runtime keeps one small document per dossier: the specs live with the deployed version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.engine.runtime import WorkflowRun, get_bundle
from tests.samples import start_data, task_data

ROOT = Path(__file__).resolve().parents[2]


def bundle():
    text = (ROOT / "bpmn" / "khai-sinh" / "process.bpmn").read_text(encoding="utf-8")
    return get_bundle("test-khai-sinh", {"process.bpmn": text}, "dang_ky_khai_sinh")


def test_document_without_specs_reloads_and_runs_to_the_end():
    b = bundle()
    run, step = WorkflowRun.start(b, start_data("khai-sinh", files_as="x/gcs.pdf"))
    doc = run.document()
    assert "spec" not in doc and "subprocess_specs" not in doc
    assert len(json.dumps(doc)) < len(json.dumps(run.document(with_specs=True))) / 2
    titles = []
    while step.ready:
        task = step.ready[0]
        titles.append(task.title)
        run = WorkflowRun.load(json.loads(json.dumps(doc)), b)
        step = run.complete(task.id, task_data("khai-sinh", task.properties["formJsonSchemaFilename"]))
        doc = run.document()
    assert step.completed and titles[-1] == "Trả kết quả"
    assert [e.properties.get("dossierStatus") for e in step.end_events] == ["10"]


def test_specless_document_needs_its_bundle_and_old_documents_still_load():
    b = bundle()
    run, _ = WorkflowRun.start(b, start_data("khai-sinh", files_as="x/gcs.pdf"))
    with pytest.raises(ValueError):
        WorkflowRun.load(run.document())
    assert WorkflowRun.load(run.document(with_specs=True)).ready_user_tasks()
