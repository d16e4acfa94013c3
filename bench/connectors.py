"""Connector-heavy lifecycles over HTTP: registry look-ups, online payment, the national-portal outbox.

Half the dossiers are khai sinh with both parents' IDs (two population look-ups before reception), half
are thường trú submitted online (the fee is paid on the demo platform's hosted page; its server callback
settles it). Every status change and step goes to the demo national portal. Production layout: the web
server in this process, rq workers as separate processes on Redis (database 3, emptied first), the demo
national services on a free port, a throwaway PostgreSQL database.

    .venv/bin/python -m bench.connectors --dossiers 40 [--threads 4] [--workers 2]

Prints lifecycles per second, latency per request type, the time from submission until reception could
start (the background work), and checks that the portal got every version of every dossier in order and
that nobody was charged twice. Nothing is asserted; numbers go in the README.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.lifecycle import pct  # noqa: E402
from tests.conftest import LiveServer, _create_database, _drop_database, make_app, prepare_database  # noqa: E402
from tests.samples import MOTHER_ID, requests_uploader, start_data, task_data, with_uploads  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/3"
TOKEN = "bench-sandbox-token"  # noqa: S105 - the demo services' bench token
PROCEDURES = {"khai-sinh": "1.001193", "thuong-tru": "1.004222"}
OFFICERS = {
    "khai-sinh": {"tiep_nhan": "tiepnhan", "chuyen_vien": "hotich", "lanh_dao_ky": "chutich",
                  "tra_ket_qua": "traketqua"},
    "thuong-tru": {"tiep_nhan": "ca.tiepnhan", "chuyen_vien": "ca.cutru", "lanh_dao_ky": "ca.truong",
                   "tra_ket_qua": "ca.tiepnhan"},
}
FATHER = {"ho_ten": "Nguyễn Văn An", "so_dinh_danh": "001090012345", "nam_sinh": 1990, "dan_toc": "Kinh",
          "quoc_tich": "Việt Nam", "noi_cu_tru": "Số 12 ngõ 34 phố Kim Mã, phường Ngọc Hà, thành phố Hà Nội"}


def settings(sandbox: str) -> dict[str, Any]:
    out: dict[str, Any] = {"PAYMENT_SECRET": "bench-payment-secret", "SERVICE_CALL_DELAYS": "1,2,5",
                           "PAYMENT_RECHECK": "30,120", "CONNECTOR_TIMEOUT": 10}
    for provider in ("POPULATION", "BUSINESS", "TAX", "PAYMENT", "SMS", "PORTAL"):
        out[f"{provider}_URL"], out[f"{provider}_TOKEN"] = sandbox, TOKEN
    return out


def wait(check: Any, what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


class Timings:
    """Milliseconds per request kind, from several client threads."""

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


def lifecycle(slug: str, base: str, tokens: dict[str, dict[str, str]], timings: Timings,
              background: list[float]) -> None:
    data = start_data(slug)
    if slug == "khai-sinh":
        data["me"]["so_dinh_danh"] = MOTHER_ID
        data["cha"] = dict(FATHER)
    citizen = tokens["congdan"]
    body = with_uploads(requests_uploader(base), citizen, data)
    started = time.perf_counter()
    code = timings.call("submit", "POST", f"{base}/api/v1/procedures/{PROCEDURES[slug]}/dossiers", json=body,
                        headers=citizen).json()["code"]

    def dossier() -> dict[str, Any]:
        result: dict[str, Any] = timings.call("get_dossier", "GET", f"{base}/api/v1/dossiers/{code}",
                                              headers=citizen).json()
        return result

    if slug == "thuong-tru":
        payment = wait(lambda: next((p for p in dossier()["payments"] if p["pay_url"]), None), "payment link")
        timings.call("pay_on_platform", "POST", payment["pay_url"], data={"hanh_dong": "thanh_toan"},
                     allow_redirects=False)
    current = wait(lambda: (d := dossier())["tasks"] and d, "reception")
    background.append((time.perf_counter() - started) * 1000)
    while current["tasks"]:
        task = current["tasks"][0]
        headers = tokens[OFFICERS[slug][task["role"]]]
        timings.call("claim", "POST", f"{base}/api/v1/tasks/{task['id']}/claim", headers=headers)
        timings.call("complete", "POST", f"{base}/api/v1/tasks/{task['id']}/complete",
                     json=task_data(slug, task["form"]), headers=headers)
        current = dossier()
    if current["status"] != 10:
        raise RuntimeError(f"dossier {code} ended with status {current['status']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dossiers", type=int, default=40)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    from redis import Redis

    from sandbox import create_sandbox_app

    Redis.from_url(REDIS_URL).flushdb()
    sandbox_app = create_sandbox_app(2026, {"SANDBOX_TOKEN": TOKEN, "PAYMENT_SECRET": "bench-payment-secret"})
    sandbox_server = make_server("127.0.0.1", 0, sandbox_app, threaded=True)
    threading.Thread(target=sandbox_server.serve_forever, daemon=True).start()
    sandbox = f"http://127.0.0.1:{sandbox_server.server_port}"

    url = _create_database("motcua_bench_connectors")
    uploads = Path(tempfile.mkdtemp())
    workers: list[subprocess.Popen[bytes]] = []
    try:
        config = {**settings(sandbox), "REDIS_URL": REDIS_URL, "JOB_DISPATCH": "auto", "WTF_CSRF_ENABLED": True}
        app = make_app(url, uploads, **config)
        prepare_database(app)
        server = LiveServer(app)
        app.config["PUBLIC_URL"] = server.url
        server.start()
        env = {**os.environ, **{k: str(v) for k, v in config.items() if k.isupper()},
               "DATABASE_URL": url, "UPLOAD_DIR": str(uploads / "uploads"), "PUBLIC_URL": server.url,
               "SECRET_KEY": "bench"}
        for _ in range(args.workers):
            workers.append(subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "worker"], cwd=ROOT,
                                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        from app.accounts import issue_token
        from app.extensions import db
        from tests.conftest import user

        names = {"congdan", *OFFICERS["khai-sinh"].values(), *OFFICERS["thuong-tru"].values()}
        with app.app_context():
            tokens = {n: {"Authorization": f"Bearer {issue_token(user(n), 1)}"} for n in names}
            db.session.commit()
        timings, background = Timings(), []  # type: ignore[var-annotated]
        for slug in PROCEDURES:  # warm-up: spec cache, connections, the PDF renderer
            lifecycle(slug, server.url, tokens, timings, background)
        timings.samples.clear()
        background.clear()
        requests.delete(f"{sandbox}/_log", timeout=5)
        slugs = [list(PROCEDURES)[i % 2] for i in range(args.dossiers)]
        start = time.perf_counter()
        with ThreadPoolExecutor(args.threads) as pool:
            list(pool.map(lambda s: lifecycle(s, server.url, tokens, timings, background), slugs))
        wall = time.perf_counter() - start

        from sqlalchemy import func, select

        from app.models import PortalOutbox

        def outbox_drained() -> bool:
            with app.app_context():
                unsent = db.session.scalar(select(func.count()).select_from(PortalOutbox)
                                           .where(PortalOutbox.sent_at.is_(None)))
                db.session.remove()
                return unsent == 0

        drain_start = time.perf_counter()
        wait(outbox_drained, "the portal outbox to drain", timeout=120)
        drained_after = time.perf_counter() - drain_start
        portal = requests.get(f"{sandbox}/_portal", timeout=10).json()["dossiers"]
        platform = requests.get(f"{sandbox}/_payment/payments", timeout=10).json()["payments"]
        calls = requests.get(f"{sandbox}/_log", timeout=10).json()["requests"]
        server.stop()
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(10)
        sandbox_server.shutdown()
        _drop_database(url)

    requests_total = sum(len(v) for v in timings.samples.values())
    out_of_order = sum(len(d["out_of_order"]) for d in portal.values())
    gaps = sum(1 for d in portal.values() if d["versions"] != list(range(1, len(d["versions"]) + 1)))
    print(f"dossiers: {args.dossiers} (half khai sinh with 2 look-ups, half thường trú paid online), "
          f"client threads: {args.threads}, rq workers: {args.workers}, wall: {wall:.2f} s")
    print(f"lifecycles/s: {args.dossiers / wall:.2f}   API requests/s: {requests_total / wall:.1f}   "
          f"calls to the national services: {len(calls)}")
    print(f"submission → reception ready (background work): median {statistics.median(background):.0f} ms, "
          f"p95 {pct(background, 0.95):.0f} ms")
    print(f"{'request':<16} {'n':>6} {'median ms':>10} {'p95 ms':>8}")
    for kind, values in sorted(timings.samples.items()):
        print(f"{kind:<16} {len(values):>6} {statistics.median(values):>10.2f} {pct(values, 0.95):>8.2f}")
    print(f"portal: {len(portal)} dossiers, {sum(len(d['versions']) for d in portal.values())} versions, "
          f"{sum(len(d['steps']) for d in portal.values())} steps, out of order: {out_of_order}, "
          f"gaps: {gaps}; outbox drained {drained_after:.1f} s after the last lifecycle")
    print(f"payments: {len(platform)}, charged more than once: {sum(1 for p in platform if p['charges'] > 1)}")


if __name__ == "__main__":
    main()
