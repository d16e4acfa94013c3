"""Two officers completing the same task at once: exactly one wins, the other gets a clear 409."""

from __future__ import annotations

import threading

import requests

from app.accounts import set_password
from app.extensions import db
from app.models import User
from tests.conftest import user
from tests.samples import requests_uploader, start_data, task_data, with_uploads


def test_concurrent_completion_one_wins(live_server, live_token):
    base = live_server.url
    with live_server.app.app_context():
        if user("hotich2") is None:
            other = User(
                username="hotich2", full_name="Trần Văn Hai", roles=["chuyen_vien"], agency_id=user("hotich").agency_id
            )
            set_password(other, "x-not-used")
            db.session.add(other)
            db.session.commit()
        db.session.remove()
    citizen, reception = live_token("congdan"), live_token("tiepnhan")
    officers = [live_token("hotich"), live_token("hotich2")]

    code = requests.post(
        f"{base}/api/v1/procedures/1.001193/dossiers",
        json=with_uploads(requests_uploader(base), citizen, start_data("khai-sinh")),
        headers=citizen,
        timeout=10,
    ).json()["code"]
    first = next(
        t
        for t in requests.get(f"{base}/api/v1/tasks", headers=reception, timeout=10).json()["items"]
        if t["dossier_code"] == code
    )
    done = requests.post(
        f"{base}/api/v1/tasks/{first['id']}/complete",
        json=task_data("khai-sinh", first["form"]),
        headers=reception,
        timeout=10,
    )
    assert done.status_code == 200, done.text

    tasks = [
        next(
            t
            for t in requests.get(f"{base}/api/v1/tasks", headers=h, timeout=10).json()["items"]
            if t["dossier_code"] == code
        )
        for h in officers
    ]
    assert tasks[0]["id"] == tasks[1]["id"]
    task = tasks[0]
    barrier = threading.Barrier(2)
    results: list[requests.Response] = []

    def complete(headers: dict[str, str]) -> None:
        barrier.wait()
        results.append(
            requests.post(
                f"{base}/api/v1/tasks/{task['id']}/complete",
                json=task_data("khai-sinh", task["form"]),
                headers=headers,
                timeout=20,
            )
        )

    threads = [threading.Thread(target=complete, args=(h,)) for h in officers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200, 409], [r.text for r in results]
    loser = next(r for r in results if r.status_code == 409).json()
    assert loser["error"]["code"] in {"task_taken", "task_closed", "stale_workflow"}

    dossier = requests.get(f"{base}/api/v1/dossiers/{code}", headers=citizen, timeout=10).json()
    completed = [h for h in dossier["history"] if h["action"] == "completed" and h["task"] == task["title"]]
    assert len(completed) == 1
