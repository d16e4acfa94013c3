"""Submissions per second over HTTP: gunicorn (2 workers × 4 threads by default) on PostgreSQL, driven by a
separate load process with 1, 4 and 16 clients posting khai sinh dossiers to one agency on one day, the case
where dossier codes contend for one counter row.

    .venv/bin/python -m bench.submissions [--per-client 40] [--clients 1,4,16] [--workers 2 --threads 4]

Jobs go to Redis (rq) and are not run, as with separate workers in production. It creates (and drops) a
throwaway PostgreSQL database; the uploads each submission names are stored beforehand. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import _create_database, _drop_database, make_app, prepare_database  # noqa: E402
from tests.samples import PDF_BYTES, start_data  # noqa: E402

CODE, SLUG = "1.001193", "khai-sinh"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def prepare(url: str, uploads: Path, count: int) -> tuple[str, list[str]]:
    """The database, a citizen's token and `count` stored uploads."""
    from app.accounts import issue_token
    from app.dossiers.attachments import reference, store_upload
    from app.extensions import db
    from tests.conftest import user

    app = make_app(url, uploads, JOB_DISPATCH="record")
    prepare_database(app)
    with app.app_context():
        citizen = user("congdan")
        token = issue_token(citizen, 1)
        refs = [reference(store_upload(PDF_BYTES, "gcs.pdf", "application/pdf", "giay_chung_sinh", citizen))
                for _ in range(count)]
        db.session.commit()
        db.engine.dispose()
    return token, refs


def serve(url: str, uploads: Path, workers: int, threads: int) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": REDIS_URL, "UPLOAD_DIR": str(uploads),
           "SECRET_KEY": "bench", "RATELIMIT_ENABLED": "0"}
    proc = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "-w", str(workers), "--threads",
                             str(threads), "-b", f"127.0.0.1:{port}", "--log-level", "warning", "wsgi:app"],
                            cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            requests.get(f"{base}/api/v1/openapi.json", timeout=10)
            return proc, base
        except requests.RequestException:
            time.sleep(0.1)
    stop(proc)
    raise RuntimeError("gunicorn did not start")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def load(base: str, token: str, refs: list[str], clients: int) -> tuple[float, list[float]]:
    """Each client posts its share of `refs` one after the other; submissions/s and latencies (ms)."""
    headers = {"Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    lock = threading.Lock()
    errors: list[str] = []
    barrier = threading.Barrier(clients)

    def client(mine: list[str]) -> None:
        with requests.Session() as http:
            barrier.wait()
            for ref in mine:
                start = time.perf_counter()
                answer = http.post(f"{base}/api/v1/procedures/{CODE}/dossiers", json=start_data(SLUG, files_as=ref),
                                   headers=headers, timeout=60)
                elapsed = (time.perf_counter() - start) * 1000
                if answer.status_code != 201:
                    errors.append(f"{answer.status_code} {answer.text[:200]}")
                with lock:
                    latencies.append(elapsed)

    shares = [refs[i::clients] for i in range(clients)]
    threads = [threading.Thread(target=client, args=(share,)) for share in shares]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"{len(errors)} submissions failed, e.g. {errors[0]}")
    return len(latencies) / wall, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--per-client", type=int, default=40, help="submissions per client (16 clients: × 16)")
    parser.add_argument("--clients", default="1,4,16")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    levels = [int(c) for c in args.clients.split(",")]
    total = 10 + sum(args.per_client * c for c in levels)

    url = _create_database("motcua_bench")
    uploads = Path(tempfile.mkdtemp())
    proc = None
    try:
        token, refs = prepare(url, uploads, total)
        proc, base = serve(url, uploads, args.workers, args.threads)
        load(base, token, refs[:10], 2)  # warm-up: both workers parse the specs, open connections
        refs = refs[10:]
        print(f"gunicorn {args.workers} workers × {args.threads} threads, separate load process")
        print(f"{'clients':>7} {'n':>5} {'subm/s':>7} {'p50 ms':>7} {'p95 ms':>7}")
        for clients in levels:
            n = args.per_client * clients
            rate, latencies = load(base, token, refs[:n], clients)
            refs = refs[n:]
            print(f"{clients:>7} {n:>5} {rate:>7.1f} {statistics.median(latencies):>7.1f} {pct(latencies, 0.95):>7.1f}")
    finally:
        if proc is not None:
            stop(proc)
        _drop_database(url)


if __name__ == "__main__":
    main()
