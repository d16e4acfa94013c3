"""Drive N khai sinh dossiers through their whole lifecycle over HTTP against PostgreSQL.

Prints lifecycles per second, median and p95 latency per request type, and the bare-engine floor:
the same BPMN run in memory by SpiffWorkflow, serialized and reloaded at every step.

    .venv/bin/python -m bench.lifecycle --dossiers 200 [--threads 4]

It creates (and drops) a throwaway PostgreSQL database, like the tests; nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import (  # noqa: E402
    LiveServer,
    _create_database,
    _drop_database,
    make_app,
    prepare_database,
)
from tests.samples import requests_uploader, start_data, task_data, with_uploads  # noqa: E402

SLUG, CODE = "khai-sinh", "1.001193"
# Officer who takes each role of the khai sinh lanes (seeded demo users).
OFFICERS = {"tiep_nhan": "tiepnhan", "chuyen_vien": "hotich", "lanh_dao_ky": "chutich", "tra_ket_qua": "traketqua"}


def bare_engine_floor(rounds: int) -> float:
    """Milliseconds per lifecycle: parse once, then run with serialize+reload at every step."""
    from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer  # noqa: TID251
    from SpiffWorkflow.bpmn.workflow import BpmnWorkflow  # noqa: TID251
    from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG  # noqa: TID251
    from SpiffWorkflow.spiff.serializer.task_spec import ServiceTaskConverter  # noqa: TID251
    from SpiffWorkflow.util.task import TaskState  # noqa: TID251

    from app.engine.environment import SafeScriptEngine
    from app.engine.service import DeferredServiceTask, MotcuaBpmnParser

    engine = SafeScriptEngine()
    parser = MotcuaBpmnParser()
    parser.add_bpmn_file(str(ROOT / "bpmn" / SLUG / "process.bpmn"))
    process_id = next(iter(parser.get_process_ids()))
    spec, subs = parser.get_spec(process_id), parser.get_subprocess_specs(process_id)
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(
        {**SPIFF_CONFIG, DeferredServiceTask: ServiceTaskConverter}))
    start = time.perf_counter()
    for _ in range(rounds):
        wf = BpmnWorkflow(spec, subs, script_engine=engine)
        wf.task_tree.data.update(start_data(SLUG, files_as="x/gcs.pdf"))
        wf.do_engine_steps()
        doc = serializer.serialize_json(wf)
        while True:
            wf = serializer.deserialize_json(doc)
            wf.script_engine = engine
            ready = wf.get_tasks(state=TaskState.READY, manual=True)
            if not ready:
                break
            task = ready[0]
            form = task.task_spec.extensions.get("properties", {}).get("formJsonSchemaFilename", "")
            task.data.update(task_data(SLUG, form))
            task.run()
            wf.do_engine_steps()
            doc = serializer.serialize_json(wf)
        assert wf.is_completed()
    return (time.perf_counter() - start) * 1000 / rounds


class Timings:
    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.lock = threading.Lock()

    def call(self, kind: str, method: str, url: str, **kwargs: Any) -> requests.Response:
        start = time.perf_counter()
        response = requests.request(method, url, timeout=30, **kwargs)
        elapsed = (time.perf_counter() - start) * 1000
        with self.lock:
            self.samples[kind].append(elapsed)
        if response.status_code >= 400:
            raise RuntimeError(f"{kind}: {response.status_code} {response.text[:300]}")
        return response


def lifecycle(base: str, tokens: dict[str, dict[str, str]], timings: Timings) -> None:
    created = timings.call("submit", "POST", f"{base}/api/v1/procedures/{CODE}/dossiers",
                           json=with_uploads(requests_uploader(base), tokens["congdan"], start_data(SLUG)),
                           headers=tokens["congdan"]).json()
    code = created["code"]
    while True:
        dossier = timings.call("get_dossier", "GET", f"{base}/api/v1/dossiers/{code}",
                               headers=tokens["congdan"]).json()
        if not dossier["tasks"]:
            break
        task = dossier["tasks"][0]
        headers = tokens[OFFICERS[task["role"]]]
        timings.call("claim", "POST", f"{base}/api/v1/tasks/{task['id']}/claim", headers=headers)
        timings.call("complete", "POST", f"{base}/api/v1/tasks/{task['id']}/complete",
                     json=task_data(SLUG, task["form"]), headers=headers)
    if dossier["status"] != 10:
        raise RuntimeError(f"dossier {code} ended with status {dossier['status']}")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dossiers", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--floor-rounds", type=int, default=300)
    args = parser.parse_args()

    url = _create_database("motcua_bench")
    try:
        app = make_app(url, Path(tempfile.mkdtemp()), JOB_DISPATCH="auto", WTF_CSRF_ENABLED=True)
        prepare_database(app)
        server = LiveServer(app).start()
        from app.accounts import issue_token
        from app.extensions import db
        from tests.conftest import user

        with app.app_context():
            tokens = {name: {"Authorization": f"Bearer {issue_token(user(name), 1)}"}
                      for name in ["congdan", *OFFICERS.values()]}
            db.session.commit()
        timings = Timings()
        lifecycle(server.url, tokens, timings)  # warm-up: spec cache, connections
        timings.samples.clear()
        start = time.perf_counter()
        with ThreadPoolExecutor(args.threads) as pool:
            list(pool.map(lambda _: lifecycle(server.url, tokens, timings), range(args.dossiers)))
        wall = time.perf_counter() - start
        server.stop()
        floor = bare_engine_floor(args.floor_rounds)
    finally:
        _drop_database(url)

    requests_total = sum(len(v) for v in timings.samples.values())
    print(f"dossiers: {args.dossiers}, threads: {args.threads}, wall: {wall:.2f} s")
    print(f"lifecycles/s: {args.dossiers / wall:.1f}   requests/s: {requests_total / wall:.1f}")
    print(f"per lifecycle: {wall * 1000 / args.dossiers:.1f} ms wall")
    print(f"{'request':<12} {'n':>6} {'median ms':>10} {'p95 ms':>8}")
    for kind, values in sorted(timings.samples.items()):
        print(f"{kind:<12} {len(values):>6} {statistics.median(values):>10.2f} {pct(values, 0.95):>8.2f}")
    print(f"bare-engine floor (serialize+reload every step): {floor:.2f} ms per lifecycle")


if __name__ == "__main__":
    main()
