"""`flask worker` runs each job in an app context of its own: a job whose transaction failed (a database
error, a failover) leaves nothing behind for the next job."""

from __future__ import annotations

import uuid

from redis import Redis
from rq import Queue
from sqlalchemy import func, select, text

from tests.conftest import REDIS_URL


def poison_session() -> str:
    from app.extensions import db

    try:
        db.session.execute(text("SELECT * FROM no_such_table"))
    except Exception:  # noqa: BLE001 - left failed on purpose, as a job hit by a database error would
        return "poisoned"
    return "not poisoned"


def count_users() -> int:
    from app.extensions import db
    from app.models import User

    return int(db.session.scalar(select(func.count()).select_from(User)) or 0)


def test_one_jobs_failed_transaction_does_not_reach_the_next(app, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", REDIS_URL)
    name = f"test-worker-{uuid.uuid4().hex[:8]}"
    queue = Queue(name, connection=Redis.from_url(REDIS_URL))
    first = queue.enqueue(f"{__name__}.poison_session")
    second = queue.enqueue(f"{__name__}.count_users")
    result = app.test_cli_runner().invoke(args=["worker", "--burst", "--queue", name])
    assert result.exit_code == 0, result.output
    assert first.latest_result().return_value == "poisoned"
    assert second.get_status(refresh=True) == "finished"
    assert second.latest_result().return_value >= 9  # the seeded users, read by a clean session


def test_the_worker_needs_redis(app, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", "")
    result = app.test_cli_runner().invoke(args=["worker", "--burst"])
    assert result.exit_code != 0 and "REDIS_URL" in result.output
