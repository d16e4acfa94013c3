"""SIGTERM (a deploy's rolling restart) loses no work: a `flask worker` finishes the job it is running and leaves
the queued ones in Redis for the next worker; the embedded job thread runs the jobs already queued before its
process exits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue

from tests.conftest import REDIS_URL, ROOT
from tests.hang import hang_guard


def slow_job(marker_dir: str, name: str, seconds: float) -> str:
    """A job that takes a while and leaves a mark when it starts and when it ends."""
    Path(marker_dir, f"{name}.started").write_text("")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:  # however the signal interrupts a sleep, the job runs its full time
        time.sleep(0.05)
    Path(marker_dir, f"{name}.done").write_text("")
    return name


def _wait_for(path: Path, seconds: int, what: str) -> None:
    with hang_guard(seconds, what):
        while not path.exists():
            time.sleep(0.05)


@pytest.mark.parametrize("whole_group", [False, True], ids=["worker", "process-group"])
def test_sigterm_lets_a_flask_worker_finish_its_job_and_leaves_the_queue_for_the_next(database_url, tmp_path,
                                                                                      whole_group):
    """SIGTERM to the worker (docker, kubernetes: PID 1) or to its whole group with the rq scheduler it started
    (systemd's default KillMode=control-group, Ctrl+C in a terminal)."""
    redis = Redis.from_url(REDIS_URL)
    name = f"test-shutdown-{uuid.uuid4().hex[:8]}"
    queue = Queue(name, connection=redis)
    running = queue.enqueue(f"{__name__}.slow_job", str(tmp_path), "first", 3.0)
    waiting = queue.enqueue(f"{__name__}.slow_job", str(tmp_path), "second", 0.1)
    env = {**os.environ, "FLASK_APP": "wsgi.py", "DATABASE_URL": database_url, "REDIS_URL": REDIS_URL,
           "UPLOAD_DIR": str(tmp_path / "uploads")}
    worker = subprocess.Popen([sys.executable, "-m", "flask", "worker", "--queue", name], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        _wait_for(tmp_path / "first.started", 60, "the worker never started the job")
        lock = f"rq:scheduler-lock:{name}"
        with hang_guard(30, "the worker's scheduler never took its queue"):
            while not redis.exists(lock):
                time.sleep(0.05)
        time.sleep(0.5)  # the job is well under way
        if whole_group:
            os.killpg(worker.pid, signal.SIGTERM)
        else:
            worker.send_signal(signal.SIGTERM)  # what docker or kubernetes send first
        output, _ = worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0, output
    assert (tmp_path / "first.done").exists(), output
    assert running.get_status(refresh=True) == "finished"
    # The next job was not started: it waits in Redis for the worker that replaces this one.
    assert not (tmp_path / "second.started").exists()
    assert waiting.get_status(refresh=True) == "queued"
    # Its scheduler let go of the queue: the next worker's scheduler takes the delayed retries over at once.
    assert not redis.exists(lock)
    queue.delete(delete_jobs=True)


def test_the_embedded_job_thread_runs_the_queued_jobs_before_its_process_exits(tmp_path):
    """In embedded mode the jobs live in the web process: its exit (gunicorn's, after SIGTERM) waits for them."""
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from pathlib import Path
        from app import create_app
        from app.jobs.queue import PendingJob
        app = create_app({{"SQLALCHEMY_DATABASE_URI": "sqlite:///{tmp_path / 'm.db'}", "REDIS_URL": "",
                          "JOB_DISPATCH": "auto", "UPLOAD_DIR": "{tmp_path / 'uploads'}"}})
        dispatcher = app.extensions["motcua_jobs"]
        for name in ("a", "b", "c"):
            dispatcher.dispatch(PendingJob("notifications", "{__name__}.slow_job", ({str(tmp_path)!r}, name, 0.5)))
        print("queued", flush=True)
        sys.exit(0)
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.glob("*.done")) == ["a.done", "b.done", "c.done"], done.stderr


def test_the_embedded_drain_is_bounded(tmp_path):
    """A job that would outlast the drain time does not keep the process from exiting (gunicorn would kill it)."""
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from app import create_app
        from app.jobs.queue import PendingJob
        app = create_app({{"SQLALCHEMY_DATABASE_URI": "sqlite:///{tmp_path / 'm.db'}", "REDIS_URL": "",
                          "JOB_DISPATCH": "auto", "UPLOAD_DIR": "{tmp_path / 'uploads'}", "JOB_DRAIN_SECONDS": 1}})
        app.extensions["motcua_jobs"].dispatch(
            PendingJob("notifications", "{__name__}.slow_job", ({str(tmp_path)!r}, "long", 30)))
        sys.exit(0)
    """)
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 25
    assert "still running" in done.stderr or "1 job" in done.stderr, done.stderr
