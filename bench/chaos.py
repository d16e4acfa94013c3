"""Fault harness: the production layout driven through mixed lifecycles while processes die and services fail.

What it starts, on this machine, and stops at the end:

- a PRIVATE Redis server on a free port (so it can be restarted with its data lost without touching other users
  of 127.0.0.1:6379), and a throwaway PostgreSQL database (created, migrated, seeded, dropped);
- gunicorn (`--workers`, gthread), `--rq-workers` rq workers (`flask worker`, each with rq's scheduler inside),
  any `--extra NAME=COMMAND` process a later layout adds (a sweeper, a separate scheduler), each watched by a
  supervisor thread that restarts it when it exits, as systemd would (`--restart-delay`);
- the demo national services (`python -m sandbox`, with its SMTP sink) as a process of their own.

Then `--lifecycles` mixed lifecycles over the JSON API with bearer tokens, from `--clients` client threads: khai
sinh with both parents' IDs (two population look-ups), thường trú paid online on the demo platform's hosted page
(mostly straight through, some with a supplement loop, some refused at intake so the fee comes back). Khai sinh runs
with BPMN timers armed (`timer_process`): after reception the dossier waits on a short timer (WAIT_SECONDS), and its
examination has a non-interrupting boundary timer (BOUNDARY_SECONDS) that fires when the examination stays open that
long; some khai sinh dossiers keep the examination open until it has ("escalated"), others go through a desk
supplement loop while it is armed ("supplement": the examiner asks, the citizen answers SUPPLEMENT_PAUSE seconds later,
the dossier resumes and the examination is completed after the timer's first due time but before its moved one, so
a timer that did not move fires and is caught). Meanwhile a
fault injector (`--fault-rate` per minute, `--kinds`) kills gunicorn workers and rq workers with SIGKILL,
restarts Redis with its data lost, terminates the database's connections (pg_terminate_backend on the bench
database only; a real fast shutdown only with `--pg-restart-cmd`), makes the demo services answer 5xx, time out
or lag, takes the national portal down for a while, and drops, duplicates or delays payment callbacks.

After the load: faults stop, the driver finishes every dossier it left open (a person would come back to it),
then the harness waits for the platform to settle (`--settle`, earlier once nothing is owed) and checks the
invariants from the database and from what the demo services received:

- every acknowledged dossier exists, with a workflow document consistent with its projections;
- no dossier stuck (open service call, or waiting with nothing for a person to do) unless listed as an incident;
- each payment charged once (a second charge refunded), and what the platform has paid is applied to the dossier;
- every status change reached the national portal, in order, and no outbox row is left unsent;
- each status change made one notification, delivered once by email and once by SMS;
- each timer fired exactly once when it was due, never early, never twice, and never when the work it watches was
  done before its due time as the pauses moved it (`check_timers`, from the history and a model of the rule).

It prints the faults injected by kind, the violations by invariant (goal: 0) with examples, and how long the
platform took to recover after each kind of fault: until it was healthy again (web answers, every worker
registered, rq's scheduler running) and the work owed when the fault ended was done.

    .venv/bin/python -m bench.chaos --lifecycles 150 --clients 4 --fault-rate 15 --settle 120 --seed 1
    .venv/bin/python -m bench.chaos --lifecycles 60 --no-faults          # the control run

Nothing is asserted; the figures go to stdout (and `--json PATH`). Logs of every process stay in `--keep-logs`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import PG_ADMIN_URL, make_app, prepare_database  # noqa: E402
from tests.samples import MOTHER_ID, PDF_BYTES, start_data, task_data  # noqa: E402

BIN = Path(sys.executable).parent
TOKEN = "chaos-sandbox-token"  # noqa: S105 - the demo services' token for this run
PAYMENT_SECRET = "chaos-payment-secret"  # noqa: S105 - shared by the platform and the demo payment platform
HARNESS_APP_NAME = "motcua-chaos-harness"  # the harness's own database sessions, never terminated by a fault
PROCEDURES = {"khai-sinh": "1.001193", "thuong-tru": "1.004222"}
OFFICERS = {
    "khai-sinh": {"tiep_nhan": "tiepnhan", "chuyen_vien": "hotich", "lanh_dao_ky": "chutich",
                  "tra_ket_qua": "traketqua", "cong_dan": "congdan"},
    "thuong-tru": {"tiep_nhan": "ca.tiepnhan", "chuyen_vien": "ca.cutru", "lanh_dao_ky": "ca.truong",
                   "tra_ket_qua": "ca.tiepnhan", "cong_dan": "congdan"},
}
ADMIN = "chaos.admin"
FATHER = {"ho_ten": "Nguyễn Văn An", "so_dinh_danh": "001090012345", "nam_sinh": 1990, "dan_toc": "Kinh",
          "quoc_tich": "Việt Nam", "noi_cu_tru": "Số 12 ngõ 34 phố Kim Mã, phường Ngọc Hà, thành phố Hà Nội"}
FINAL = (3, 7, 10)
FAULT_KINDS = ("kill_web", "kill_worker", "redis_restart", "pg_terminate", "connector", "portal_outage",
               "callback", "kill_extra", "pg_restart")
# BPMN timers in khai sinh's diagram for the run (timer_process): the wait after reception, the examination's
# boundary timer, and the supplement loop's timing (seconds).
WAIT_SECONDS, BOUNDARY_SECONDS, SUPPLEMENT_PAUSE, AFTER_RESUME = 2, 8, 10, 3
WAIT_NAME, BOUNDARY_NAME, EXAMINATION = "Chờ sau tiếp nhận", "Quá hạn thẩm định", "Thẩm định, ghi sổ hộ tịch"
TIMER_TOLERANCE = 1.0  # seconds: a completion this close to a timer's due time may come before or after it
# Demo-service path prefixes a connector fault may hit (population, SMS gateway, payment platform, portal).
CONNECTOR_PREFIXES = ("/dan-cu", "/sms", "/thanh-toan", "/dvcqg")


def now() -> float:
    return time.monotonic()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# ================================================================ processes and their supervisor


class Proc:
    """One supervised process: started in its own session (so its whole group can be signalled), logged to a file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], logs: Path) -> None:
        self.name, self.argv, self.env = name, argv, env
        self.log_path = logs / f"{name}.log"
        self.popen: subprocess.Popen[bytes] | None = None
        self.started = 0.0
        self.starts = 0
        self.expected_exit = False  # set by whoever kills it on purpose (a fault), cleared at restart

    def start(self) -> None:
        out = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.popen = subprocess.Popen(self.argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                      start_new_session=True)
        out.close()
        self.started, self.starts, self.expected_exit = now(), self.starts + 1, False

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal_group(self, sig: int) -> None:
        if self.popen is not None and self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)

    def stop(self, timeout: float = 15.0) -> None:
        if self.popen is None:
            return
        self.expected_exit = True
        self.signal_group(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal_group(signal.SIGKILL)
            self.popen.wait(10)

    def children(self) -> list[int]:
        """Direct children (gunicorn's workers under its master)."""
        if not self.alive() or self.pid is None:
            return []
        try:
            text = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text()
        except OSError:
            return []
        return [int(p) for p in text.split()]


class Supervisor(threading.Thread):
    """Restarts a watched process that exited, after `delay` seconds, and counts exits nobody asked for."""

    def __init__(self, procs: list[Proc], delay: float) -> None:
        super().__init__(daemon=True, name="supervisor")
        self.procs, self.delay = procs, delay
        self.stopping = threading.Event()
        self.unexpected: Counter[str] = Counter()
        self.restarts: Counter[str] = Counter()
        self.lock = threading.Lock()

    def run(self) -> None:
        while not self.stopping.wait(0.2):
            for proc in list(self.procs):
                with self.lock:
                    if self.stopping.is_set() or proc.popen is None or proc.alive():
                        continue
                    if not proc.expected_exit:
                        self.unexpected[proc.name.rstrip("0123456789")] += 1
                time.sleep(self.delay)
                with self.lock:
                    if not self.stopping.is_set() and not proc.alive():
                        proc.start()
                        self.restarts[proc.name] += 1


class PrivatePostgres:
    """A PostgreSQL server of the run's own (initdb in its temporary directory, a free port, owned by the
    `postgres` system user since the server refuses to run as root), so that the pg_restart fault restarts it and
    nobody else's: a fast restart of the machine's server breaks every other user of it, tests included."""

    def __init__(self, tmp: Path, logs: Path) -> None:
        self.dir, self.log, self.kept_log = tmp / "pgdata", tmp / "postgres.log", logs / "postgres.log"
        self.port = free_port()
        self.bin = Path(subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                                       check=True).stdout.strip())
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.admin_url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str, timeout: float = 120) -> None:
        subprocess.run([*self.as_user, *argv], check=True, timeout=timeout, capture_output=True)

    def start(self) -> None:
        self.dir.mkdir()
        self.log.touch()
        if self.as_user:
            for path in (self.dir.parent, self.dir, self.log):
                os.chown(path, *_postgres_ids())
        self._run(str(self.bin / "initdb"), "-D", str(self.dir), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-instructions")
        self._ctl("start", "-w")

    def _ctl(self, *argv: str) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.dir), "-l", str(self.log), "-o",
                  f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=200 "
                  "-c fsync=on", *argv)

    def restart(self) -> str:
        self._ctl("restart", "-m", "fast", "-w")
        return f"private server on port {self.port}: fast restart"

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._ctl("stop", "-m", "fast", "-w")
        with contextlib.suppress(OSError):  # the server cannot write in the logs directory (root's, 0700)
            self.kept_log.write_bytes(self.log.read_bytes())


def _postgres_ids() -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam("postgres")
    return entry.pw_uid, entry.pw_gid


def timer_process(xml: bytes) -> bytes:
    """Khai sinh's diagram with timers: the accepted dossier waits WAIT_SECONDS before the examination
    (intermediate timer), and the examination carries a non-interrupting boundary timer of BOUNDARY_SECONDS (the
    escalation of an examination left open: its path only records that it fired, so the dossier's steps stay
    those the driver knows)."""
    from lxml import etree

    ns = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL"}
    b = f"{{{ns['bpmn']}}}"
    root = etree.fromstring(xml)
    process = root.find("bpmn:process", ns)

    def add(tag: str, **attrs: str) -> Any:
        return etree.SubElement(process, b + tag, attrs)

    def timer(event: Any, seconds: int) -> None:
        definition = etree.SubElement(event, b + "timerEventDefinition")
        etree.SubElement(definition, b + "timeDuration").text = f"PT{seconds}S"

    accepted = process.find("bpmn:sequenceFlow[@id='Flow_TiepNhan']", ns)
    accepted.set("targetRef", "Timer_Cho")
    for incoming in process.findall("bpmn:exclusiveGateway[@id='Gateway_VaoThamDinh']/bpmn:incoming", ns):
        if incoming.text == "Flow_TiepNhan":
            incoming.text = "Flow_SauCho"
    timer(add("intermediateCatchEvent", id="Timer_Cho", name=WAIT_NAME), WAIT_SECONDS)
    add("sequenceFlow", id="Flow_SauCho", sourceRef="Timer_Cho", targetRef="Gateway_VaoThamDinh")
    timer(add("boundaryEvent", id="Timer_QuaHan", name=BOUNDARY_NAME, cancelActivity="false",
              attachedToRef="Task_ThamDinh"), BOUNDARY_SECONDS)
    add("endEvent", id="End_QuaHan", name="Đã ghi nhận quá hạn thẩm định")
    add("sequenceFlow", id="Flow_QuaHan", sourceRef="Timer_QuaHan", targetRef="End_QuaHan")
    lane = process.find("bpmn:laneSet/bpmn:lane[@id='Lane_HoTich']", ns)
    for node in ("Timer_Cho", "Timer_QuaHan", "End_QuaHan"):
        etree.SubElement(lane, b + "flowNodeRef").text = node
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def deploy_timed_khai_sinh() -> None:
    """Khai sinh again, its diagram with timers (the run's dossiers all take this version)."""
    from app.extensions import db
    from app.procedures.deploy import deploy
    from app.procedures.package import load_directory

    pkg = load_directory(ROOT / "bpmn" / "khai-sinh")
    name = next(n for n in pkg.bpmn if n.endswith("process.bpmn"))
    pkg.bpmn[name] = timer_process(pkg.bpmn[name])
    deploy(pkg, deployed_by="chaos")
    db.session.commit()


def create_database(admin_url: str, prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{admin_url.rsplit('/', 1)[0].replace('postgresql://', 'postgresql+psycopg://')}/{name}"


def drop_database(admin_url: str, url: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


class Layout:
    """Everything the platform runs on for this run: Redis, PostgreSQL database, demo services, web, workers."""

    def __init__(self, args: argparse.Namespace, logs: Path) -> None:
        self.args, self.logs = args, logs
        self.tmp = Path(tempfile.mkdtemp(prefix="motcua-chaos-"))
        self.redis_port, self.sandbox_port, self.smtp_port, self.web_port = (free_port() for _ in range(4))
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.sandbox = f"http://127.0.0.1:{self.sandbox_port}"
        self.base = f"http://127.0.0.1:{self.web_port}"
        self.db_url = ""
        self.db_name = ""
        self.postgres = PrivatePostgres(self.tmp, logs) if args.private_postgres else None
        self.admin_url = self.postgres.admin_url if self.postgres else PG_ADMIN_URL
        self.procs: list[Proc] = []
        self.redis: Proc | None = None
        self.web: Proc | None = None
        self.workers: list[Proc] = []
        self.extras: list[Proc] = []
        self.supervisor = Supervisor(self.procs, args.restart_delay)
        self.app: Any = None
        self.tokens: dict[str, dict[str, str]] = {}

    # -------------------------------------------------------- set-up

    def platform_env(self) -> dict[str, str]:
        env = {**os.environ, "DATABASE_URL": self.db_url, "SECRET_KEY": "chaos-secret", "REDIS_URL": self.redis_url,
               "JOB_DISPATCH": "auto", "UPLOAD_DIR": str(self.tmp / "uploads"), "RATELIMIT_ENABLED": "0",
               "PUBLIC_URL": self.base, "PAYMENT_SECRET": PAYMENT_SECRET, "SMTP_HOST": "127.0.0.1",
               "SMTP_PORT": str(self.smtp_port), "SERVICE_CALL_DELAYS": self.args.service_call_delays,
               "PAYMENT_RECHECK": self.args.payment_recheck, "SERVICE_CALL_STALL": str(self.args.stall),
               "CONNECTOR_TIMEOUT": "5", "SWEEP_INTERVAL": str(self.args.sweep_interval), "PYTHONPATH": str(ROOT)}
        for provider in ("POPULATION", "BUSINESS", "TAX", "PAYMENT", "SMS", "PORTAL"):
            env[f"{provider}_URL"], env[f"{provider}_TOKEN"] = self.sandbox, TOKEN
        return env

    def start(self) -> None:
        if self.postgres is not None:
            self.postgres.start()
        self.db_url = create_database(self.admin_url, "motcua_chaos")
        self.db_name = self.db_url.rsplit("/", 1)[1]
        self.redis = self._proc("redis", ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
                                          "--save", "", "--appendonly", "no", "--dir", str(self.tmp)],
                                dict(os.environ))
        self.redis.start()
        sandbox_env = {**os.environ, "PAYMENT_SECRET": PAYMENT_SECRET, "PYTHONPATH": str(ROOT)}
        sandbox = self._proc("sandbox", [sys.executable, "-m", "sandbox", "--port", str(self.sandbox_port),
                                         "--smtp-port", str(self.smtp_port), "--token", TOKEN], sandbox_env)
        sandbox.start()
        self._prepare_database()
        env = self.platform_env()
        self.web = self._proc("gunicorn", [str(BIN / "gunicorn"), "--workers", str(self.args.web_workers),
                                           "--threads", str(self.args.threads), "--worker-class", "gthread",
                                           "--bind", f"127.0.0.1:{self.web_port}", "--timeout", "60",
                                           "--graceful-timeout", "10", "--log-level", "warning", "wsgi:app"], env)
        self.web.start()
        for i in range(self.args.rq_workers):
            worker = self._proc(f"worker{i + 1}", [str(BIN / "flask"), "--app", "wsgi", "worker"], env)
            worker.start()
            self.workers.append(worker)
        for i, spec in enumerate(self.args.extra):
            name, _, command = spec.partition("=")
            extra = self._proc(f"extra-{name or i}", ["/bin/sh", "-c", command], env)
            extra.start()
            self.extras.append(extra)
        self._wait_until(lambda: self._get(f"{self.sandbox}/health"), "the demo services")
        self._wait_until(lambda: self._get(f"{self.base}/"), "gunicorn")
        self.supervisor.start()

    def _proc(self, name: str, argv: list[str], env: dict[str, str]) -> Proc:
        proc = Proc(name, argv, env, self.logs)
        self.procs.append(proc)
        return proc

    @staticmethod
    def _get(url: str) -> bool:
        try:
            return requests.get(url, timeout=5).status_code < 500
        except requests.RequestException:
            return False

    @staticmethod
    def _wait_until(check: Callable[[], bool], what: str, timeout: float = 90.0) -> None:
        deadline = now() + timeout
        while now() < deadline:
            if check():
                return
            time.sleep(0.3)
        raise RuntimeError(f"{what} did not start")

    def _prepare_database(self) -> None:
        from app.accounts import issue_token
        from app.extensions import db

        self.app = make_app(self.db_url, self.tmp, PUBLIC_URL=self.base, SERVICE_CALL_STALL=self.args.stall)
        prepare_database(self.app)
        with self.app.app_context():
            deploy_timed_khai_sinh()
            self._add_admin()
            names = {n for roles in OFFICERS.values() for n in roles.values()} | {ADMIN}
            from tests.conftest import user

            self.tokens = {n: {"Authorization": f"Bearer {issue_token(user(n), 1)}"} for n in sorted(names)}
            db.session.commit()
            db.engine.dispose()

    @staticmethod
    def _add_admin() -> None:
        from app.extensions import db
        from app.models import User
        from app.models.user import ADMIN_ROLE

        db.session.add(User(username=ADMIN, full_name="Quản trị thử tải", roles=[ADMIN_ROLE]))
        db.session.flush()

    # -------------------------------------------------------- faults' handles

    def connect(self) -> psycopg.Connection[Any]:
        """A connection of the harness's own to the bench database (never terminated by a fault)."""
        url = self.db_url.replace("postgresql+psycopg://", "postgresql://")
        return psycopg.connect(url, autocommit=True, application_name=HARNESS_APP_NAME)

    def stop(self, keep_db: bool = False) -> None:
        self.supervisor.stopping.set()
        with self.supervisor.lock:
            for proc in reversed(self.procs):
                proc.stop()
        if self.app is not None:
            from app.extensions import db

            with self.app.app_context():
                db.engine.dispose()
        if self.postgres is not None:
            self.postgres.stop()  # the run's own server goes with its temporary directory
        elif self.db_url and not keep_db:
            drop_database(self.admin_url, self.db_url)


# ================================================================ faults


@dataclass
class Fault:
    kind: str
    detail: str
    start: float  # monotonic
    end: float  # when the fault itself was over (a kill: at once; an outage: when it ended)
    healthy_at: float | None = None  # first moment after it ended when the platform was healthy
    recovered_at: float | None = None  # ... and the work it caught was done too
    caught: frozenset[tuple[str, int]] = frozenset()  # work owed when it ended, created from shortly before it
    snapped: bool = False  # `caught` taken


class Injector(threading.Thread):
    """Injects one fault at a time at random moments (exponential gaps, `rate` per minute) until stopped."""

    def __init__(self, layout: Layout, rng: random.Random, rate: float, kinds: list[str]) -> None:
        super().__init__(daemon=True, name="injector")
        self.layout, self.rng, self.rate, self.kinds = layout, rng, rate, kinds
        self.stopping = threading.Event()
        self.faults: list[Fault] = []
        self.errors: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.timers: list[threading.Timer] = []
        self.actions: dict[str, Callable[[], tuple[str, float]]] = {
            "kill_web": self.kill_web, "kill_worker": self.kill_worker, "redis_restart": self.redis_restart,
            "pg_terminate": self.pg_terminate, "connector": self.connector, "portal_outage": self.portal_outage,
            "callback": self.callback, "kill_extra": self.kill_extra, "pg_restart": self.pg_restart,
        }

    def run(self) -> None:
        outage_until = 0.0
        while not self.stopping.wait(self.rng.expovariate(self.rate / 60.0)):
            kind = self.rng.choice(self.kinds)
            if kind == "portal_outage" and now() < outage_until:
                kind = self.rng.choice([k for k in self.kinds if k != "portal_outage"] or [kind])
                if kind == "portal_outage":
                    continue
            start = now()
            try:
                detail, duration = self.actions[kind]()
            except Exception as exc:  # noqa: BLE001 - a fault that could not be injected is counted, not fatal
                self.errors[f"{kind}: {type(exc).__name__}: {exc}"[:160]] += 1
                continue
            if duration > 0:  # an outage: called off by a timer, while other faults go on
                outage_until = start + duration
                timer = threading.Timer(duration, self.end_outage_quietly, (kind,))
                timer.daemon = True
                timer.start()
                self.timers.append(timer)
            with self.lock:
                self.faults.append(Fault(kind, detail, start, start + duration))

    def end_outage_quietly(self, kind: str) -> None:
        try:
            self.end_outage()
        except requests.RequestException as exc:
            self.errors[f"{kind} end: {exc}"[:160]] += 1

    def stop(self) -> None:
        """No new fault; an outage still on is called off now."""
        self.stopping.set()
        self.join(60)
        for timer in self.timers:
            if timer.is_alive():
                timer.cancel()
                self.end_outage_quietly("portal_outage")
        with self.lock:
            t = now()
            for fault in self.faults:
                fault.end = min(fault.end, t)

    # -------------------------------------------------------- the faults themselves

    def kill_web(self) -> tuple[str, float]:
        assert self.layout.web is not None
        workers = self.layout.web.children()
        if not workers:
            raise RuntimeError("no gunicorn worker to kill")
        pid = self.rng.choice(workers)
        os.kill(pid, signal.SIGKILL)  # gunicorn's master forks a new one
        return f"gunicorn worker {pid}", 0.0

    def _kill(self, procs: list[Proc]) -> str:
        alive = [p for p in procs if p.alive()]
        if not alive:
            raise RuntimeError("none alive")
        proc = self.rng.choice(alive)
        proc.expected_exit = True
        proc.signal_group(signal.SIGKILL)  # the supervisor starts it again
        return f"{proc.name} pid {proc.pid}"

    def kill_worker(self) -> tuple[str, float]:
        return self._kill(self.layout.workers), 0.0

    def kill_extra(self) -> tuple[str, float]:
        return self._kill(self.layout.extras), 0.0

    def redis_restart(self) -> tuple[str, float]:
        """SIGKILL, and no persistence: Redis comes back empty (queued and scheduled jobs are gone)."""
        assert self.layout.redis is not None
        return self._kill([self.layout.redis]), 0.0

    def pg_terminate(self) -> tuple[str, float]:
        with psycopg.connect(self.layout.admin_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                "AND pid <> pg_backend_pid() AND coalesce(application_name, '') <> %s",
                (self.layout.db_name, HARNESS_APP_NAME)).fetchall()
        return f"{len(rows)} connections", 0.0

    def pg_restart(self) -> tuple[str, float]:
        if self.layout.postgres is not None:
            return self.layout.postgres.restart(), 0.0
        command = self.layout.args.pg_restart_cmd
        subprocess.run(command, shell=True, check=True, timeout=120)  # noqa: S602 - the operator's own command
        return command, 0.0

    def connector(self) -> tuple[str, float]:
        prefix = self.rng.choice(CONNECTOR_PREFIXES)
        mode = self.rng.choice(("error", "timeout", "latency"))
        body: dict[str, Any] = {"path_prefix": prefix, "mode": mode, "count": self.rng.randint(1, 5),
                "status": self.rng.choice((500, 502, 503)),
                "delay_ms": {"error": 0, "timeout": 6000, "latency": 1500}[mode]}
        requests.post(f"{self.layout.sandbox}/_faults", json=body, timeout=5).raise_for_status()
        return f"{prefix} {mode} ×{body['count']}", 0.0

    def portal_outage(self) -> tuple[str, float]:
        mode = self.rng.choice(("http", "ma_loi"))
        requests.post(f"{self.layout.sandbox}/_portal/outage", json={"count": 100000, "mode": mode},
                      timeout=5).raise_for_status()
        seconds = self.rng.uniform(5, 30)
        return f"{mode} for {seconds:.0f} s", seconds

    def end_outage(self) -> None:
        requests.post(f"{self.layout.sandbox}/_portal/outage", json={"count": 0}, timeout=5).raise_for_status()

    def callback(self) -> tuple[str, float]:
        mode = self.rng.choice(("drop", "duplicate", "delay"))
        body: dict[str, Any] = {"mode": mode, "count": self.rng.randint(1, 2)}
        if mode == "duplicate":
            body["times"] = self.rng.randint(2, 4)
        if mode == "delay":
            body["delay_ms"] = self.rng.randint(2000, 20000)
        requests.post(f"{self.layout.sandbox}/_payment/callback-faults", json=body, timeout=5).raise_for_status()
        return f"{mode} ×{body['count']}", 0.0

    def counts(self) -> Counter[str]:
        with self.lock:
            return Counter(f.kind for f in self.faults)


# ================================================================ the driver: lifecycles over HTTP


@dataclass
class Plan:
    index: int
    slug: str
    variant: str  # normal | supplement | refused
    marker: str  # put into a free-text field of the form, so the dossier can be found without its code


@dataclass
class Outcome:
    plan: Plan
    code: str | None = None  # set once the submission was acknowledged (201)
    status: int | None = None
    finished: bool = False
    abandoned: str = ""  # why the driver gave up, if it did
    submit_attempts: int = 0
    unclear_submits: int = 0  # attempts whose answer was lost or a 5xx: the dossier may exist anyway


class Client:
    """HTTP calls that never raise: (status, body) with status 0 for a connection error; counts what went wrong."""

    def __init__(self, stats: Counter[str]) -> None:
        self.http = requests.Session()
        self.stats = stats

    def call(self, method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
        kwargs.setdefault("timeout", 30)
        try:
            response = self.http.request(method, url, **kwargs)
        except requests.RequestException:
            self.stats["connection errors"] += 1
            return 0, None
        if response.status_code >= 500 or response.status_code in (409, 429):
            self.stats[f"HTTP {response.status_code}"] += 1
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, None


class Driver:
    """Runs plans on client threads: submit (with uploads), pay when asked, claim and complete every task."""

    def __init__(self, layout: Layout, args: argparse.Namespace) -> None:
        self.layout, self.args = layout, args
        self.base, self.tokens = layout.base, layout.tokens
        self.stats: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.outcomes: list[Outcome] = []
        self.run_id = uuid.uuid4().hex[:6]
        self.patience = args.stuck_after  # seconds without progress before a client leaves a dossier for later
        self.poll = 0.5  # seconds between looks at a dossier waiting for background work

    def plans(self, n: int, rng: random.Random, prefix: str = "") -> list[Plan]:
        out = []
        for i in range(n):
            slug = "khai-sinh" if i % 2 == 0 else "thuong-tru"
            variant = "normal"
            if slug == "khai-sinh":
                variant = rng.choices(("normal", "escalated", "supplement"), weights=(6, 2, 2))[0]
            if slug == "thuong-tru":
                variant = rng.choices(("normal", "supplement", "refused"), weights=(8, 1, 1))[0]
            out.append(Plan(i, slug, variant, f"[chaos-{self.run_id}-{prefix}{i}]"))
        return out

    def form(self, plan: Plan) -> dict[str, Any]:
        data = start_data(plan.slug)
        if plan.slug == "khai-sinh":
            data["me"]["so_dinh_danh"] = MOTHER_ID
            data["cha"] = dict(FATHER)
            data["tre"]["noi_sinh"] = f"{data['tre']['noi_sinh']} {plan.marker}"
        else:
            data["noi_dung_de_nghi"] = f"{data['noi_dung_de_nghi']} {plan.marker}"
        return data

    # -------------------------------------------------------- one lifecycle

    def run_plans(self, plans: list[Plan], stop: threading.Event | None = None) -> list[Outcome]:
        queue = list(reversed(plans))
        done: list[Outcome] = []

        def worker() -> None:
            client = Client(self.stats)
            while True:
                with self.lock:
                    if not queue or (stop is not None and stop.is_set()):
                        return
                    plan = queue.pop()
                outcome = self.lifecycle(client, plan)
                with self.lock:
                    done.append(outcome)
                    n = len(done)
                if n % 25 == 0:
                    log(f"  {n}/{len(plans)} lifecycles driven")

        threads = [threading.Thread(target=worker, daemon=True) for _ in range(self.args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return done

    def lifecycle(self, client: Client, plan: Plan, code: str | None = None) -> Outcome:
        outcome = Outcome(plan, code=code)
        if code is None:
            code = self.submit(client, plan, outcome)
            if code is None:
                return outcome
        self.follow(client, plan, outcome, code)
        return outcome

    def upload(self, client: Client, name: str) -> str | None:
        for attempt in range(10):
            status, body = client.call("POST", f"{self.base}/api/v1/attachments", headers=self.tokens["congdan"],
                                       files={"file": (name, PDF_BYTES, "application/pdf")})
            if status == 201:
                return str(body["reference"])
            time.sleep(min(5.0, 0.5 * 2 ** attempt))
        return None

    def submit(self, client: Client, plan: Plan, outcome: Outcome) -> str | None:
        data = self.form(plan)
        for key, value in list(_file_fields(data)):
            reference = self.upload(client, value.removeprefix("FILE:"))
            if reference is None:
                outcome.abandoned = "upload failed"
                return None
            _set_path(data, key, reference)
        headers = {**self.tokens["congdan"], "Idempotency-Key": f"submit-{plan.marker}"}
        url = f"{self.base}/api/v1/procedures/{PROCEDURES[plan.slug]}/dossiers"
        for attempt in range(10):
            outcome.submit_attempts += 1
            status, body = client.call("POST", url, json=data, headers=headers)
            if status == 201:
                outcome.code = str(body["code"])
                return outcome.code
            if status == 0 or status >= 500:
                outcome.unclear_submits += 1
            elif status != 429:
                outcome.abandoned = f"submission refused: {status} {str(body)[:200]}"
                return None
            time.sleep(min(5.0, 0.5 * 2 ** attempt))
        outcome.abandoned = "submission never acknowledged"
        return None

    def follow(self, client: Client, plan: Plan, outcome: Outcome, code: str) -> None:
        citizen = self.tokens["congdan"]
        last_change, last_seen = now(), None
        paid: set[int] = set()
        asked_supplement = False
        while True:
            status, d = client.call("GET", f"{self.base}/api/v1/dossiers/{code}", headers=citizen)
            if status != 200:
                if now() - last_change > self.patience:
                    outcome.abandoned = f"dossier unreadable: {status}"
                    return
                time.sleep(0.5)
                continue
            outcome.status = d["status"]
            if d["status"] in FINAL:
                outcome.finished = True
                return
            asked_supplement |= d["status"] == 5
            seen = (d["status"], tuple(t["id"] for t in d["tasks"]), tuple(p["state"] for p in d["payments"]))
            if seen != last_seen:
                last_seen, last_change = seen, now()
            elif now() - last_change > self.patience:
                outcome.abandoned = f"no progress at status {d['status']}"
                return
            for payment in d["payments"]:
                if (payment["state"] == "pending" and payment["pay_url"] and payment["id"] not in paid
                        and self.pay(client, payment["pay_url"])):
                    paid.add(payment["id"])
            waiting_fee = any(c["operation"] == "payment.collect" and c["state"] in ("pending", "waiting")
                              for c in d["service_calls"])
            if waiting_fee and d["payments"] and not any(p["state"] in ("pending", "paid") for p in d["payments"]):
                # The payer's link expired unpaid (or was cancelled): as a person would, ask for a new one.
                status, fresh = client.call("POST", f"{self.base}/api/v1/dossiers/{code}/payments", headers=citizen)
                if status == 200 and fresh.get("pay_url") and fresh["id"] not in paid and self.pay(client,
                                                                                                  fresh["pay_url"]):
                    paid.add(fresh["id"])
            if plan.slug == "khai-sinh" and plan.variant != "normal" and self.timed_steps(client, plan, code, d):
                last_change = now()  # waiting on purpose
                time.sleep(self.poll)
                continue
            if not d["tasks"]:
                time.sleep(self.poll)
                continue
            task = d["tasks"][0]
            user = OFFICERS[plan.slug][task["role"]]
            headers = self.tokens[user]
            if task["state"] == "ready":
                client.call("POST", f"{self.base}/api/v1/tasks/{task['id']}/claim", headers=headers)
            data = self.task_form(plan, task["form"], asked_supplement)
            status, _ = client.call("POST", f"{self.base}/api/v1/tasks/{task['id']}/complete", json=data,
                                    headers={**headers, "Idempotency-Key": f"complete-{task['id']}"})
            if status == 422:
                outcome.abandoned = f"task form refused: {task['form']}"
                return
            if status != 200:
                time.sleep(0.3)

    def timed_steps(self, client: Client, plan: Plan, code: str, d: dict[str, Any]) -> bool:
        """Khai sinh's timer variants, while the examination (its boundary timer armed) is open: whether to wait
        rather than complete a task now. "escalated": the examiner leaves it open past the boundary timer's time;
        "supplement": the examiner asks for a supplement, the citizen answers SUPPLEMENT_PAUSE seconds later, and the
        examination is completed AFTER_RESUME seconds after the dossier resumed: after the timer's first due time,
        before the one the pause moved it to."""
        from datetime import UTC, datetime, timedelta

        exam = next((t for t in d["tasks"] if t["title"] == EXAMINATION), None)
        clock = datetime.now(UTC)
        if plan.variant == "escalated":
            opened = datetime.fromisoformat(exam["created_at"]) if exam is not None else None
            return opened is not None and clock - opened < timedelta(seconds=BOUNDARY_SECONDS + 2)
        asked = d.get("supplements") or []
        if d["status"] == 5 and asked and asked[-1]["state"] == "open":
            if clock - datetime.fromisoformat(asked[-1]["requested_at"]) < timedelta(seconds=SUPPLEMENT_PAUSE):
                return True
            reference = self.upload(client, "giay-chung-sinh-bo-sung.pdf")
            if reference is not None:
                client.call("POST", f"{self.base}/api/v1/dossiers/{code}/supplement-requests/answer",
                            json={"tep": {"0": reference}, "ghi_chu": "Bản rõ nét."},
                            headers={**self.tokens["congdan"], "Idempotency-Key": f"answer-{code}"})
            return True
        if exam is None or d["status"] != 4:
            return False
        if not asked:
            deadline = (clock + timedelta(days=10)).date().isoformat()
            client.call("POST", f"{self.base}/api/v1/dossiers/{code}/supplement-requests",
                        json={"ly_do": "Giấy chứng sinh bị mờ, không đọc được số.",
                              "thanh_phan": [{"code": "GCS", "note": "bản chụp rõ nét"}], "han_bo_sung": deadline},
                        headers={**self.tokens[OFFICERS[plan.slug]["chuyen_vien"]],
                                 "Idempotency-Key": f"supplement-{code}"})
            return True
        answered = asked[-1].get("answered_at")
        return bool(answered) and clock - datetime.fromisoformat(answered) < timedelta(seconds=AFTER_RESUME)

    def pay(self, client: Client, url: str) -> bool:
        """The payer's click on the hosted page; the browser comes back to the platform only sometimes."""
        status, _ = 0, None
        try:
            response = client.http.post(url, data={"hanh_dong": "thanh_toan"}, allow_redirects=False, timeout=30)
            status = response.status_code
        except requests.RequestException:
            return False
        if status in (302, 303) and random.random() < self.args.browser_return:
            with contextlib.suppress(requests.RequestException):
                client.http.get(response.headers["Location"], allow_redirects=False, timeout=30)
        return status in (200, 302, 303)

    @staticmethod
    def task_form(plan: Plan, form: str | None, asked_supplement: bool) -> dict[str, Any]:
        data = task_data(plan.slug, form)
        if plan.variant == "refused" and form == "tiep-nhan.schema.json":
            data.update(quyet_dinh_tiep_nhan="tu_choi", ly_do="Nơi đề nghị đăng ký không thuộc địa bàn.")
        if plan.slug == "thuong-tru" and plan.variant == "supplement" and form == "tham-dinh.schema.json" \
                and not asked_supplement:
            data.update(ket_qua_tham_dinh="bo_sung", noi_dung_bo_sung="Bổ sung hợp đồng thuê nhà có công chứng.")
        return data


def _file_fields(node: Any, path: tuple[Any, ...] = ()) -> Iterable[tuple[tuple[Any, ...], str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _file_fields(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _file_fields(value, (*path, i))
    elif isinstance(node, str) and node.startswith("FILE:"):
        yield path, node


def _set_path(node: Any, path: tuple[Any, ...], value: Any) -> None:
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


# ================================================================ health and owed work (for recovery times)


OWED_SQL = """
SELECT 'outbox', id, extract(epoch FROM created_at) FROM portal_outbox WHERE sent_at IS NULL
UNION ALL
SELECT 'email', id, extract(epoch FROM created_at) FROM notification
 WHERE channel = 'email' AND recipient <> '' AND sent_at IS NULL
UNION ALL
SELECT 'sms', n.id, extract(epoch FROM n.created_at) FROM notification n JOIN dossier d ON d.id = n.dossier_id
 WHERE d.applicant_phone <> '' AND n.sms_sent_at IS NULL
UNION ALL
SELECT 'notification', e.id, extract(epoch FROM e.at) FROM audit_event e
 WHERE e.action IN ('submitted', 'status') AND e.status_to IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM notification n WHERE n.audit_event_id = e.id)
UNION ALL
SELECT 'call', id, extract(epoch FROM created_at) FROM service_call WHERE state = 'pending'
UNION ALL
SELECT 'payment', p.id, extract(epoch FROM p.created_at) FROM payment p WHERE p.state = 'pending'
   AND p.transaction_id = ANY(%s)
UNION ALL
SELECT 'refund', id, extract(epoch FROM requested_at) FROM refund WHERE state = 'pending'
"""


CAUGHT_BEFORE = 10.0  # seconds before a fault from which the work owed when it ended counts as caught by it
PROBE_NOW = 15.0  # seconds within which a job put on a queue must have run, for the platform to count as healthy
PROBE_LATER = 20.0  # the same for a job put there for a second later (rq's scheduler moves it)


class Monitor(threading.Thread):
    """Every second: is the platform healthy, and what work does it owe? Marks faults recovered."""

    def __init__(self, layout: Layout, injector: Injector | None) -> None:
        super().__init__(daemon=True, name="monitor")
        self.layout, self.injector = layout, injector
        self.stopping = threading.Event()
        self.conn: psycopg.Connection[Any] | None = None
        self.healthy_samples: list[tuple[float, bool, str]] = []
        self.owed_now: dict[tuple[str, int], float] = {}
        self.epoch_offset = time.time() - now()  # wall clock = monotonic + offset
        self.canary: str | None = None
        self.probes: dict[tuple[str, str], dict[str, Any]] = {}

    def run(self) -> None:
        while not self.stopping.wait(1.0):
            try:
                self.tick()
            except Exception as exc:  # noqa: BLE001 - the monitor must outlive every fault
                self.healthy_samples.append((now(), False, f"monitor: {type(exc).__name__}"))
                self.conn = None

    def tick(self) -> None:
        healthy, why = self.health()
        t = now()
        self.healthy_samples.append((t, healthy, why))
        owed = self.owed()
        if owed is None:
            return
        self.owed_now = owed
        if self.injector is None:
            return
        with self.injector.lock:
            faults = list(self.injector.faults)
        for fault in faults:
            if fault.recovered_at is not None or fault.end > t:  # done with, or an outage still on
                continue
            if not fault.snapped:
                # Work owed when the fault ended and created from shortly before it: what the fault may have hit.
                since = fault.start - CAUGHT_BEFORE + self.epoch_offset
                fault.caught = frozenset(k for k, created in owed.items() if created >= since)
                fault.snapped = True
            # Healthy again once a probe job put on each queue (and one delayed) after the fault has run.
            fresh = min((h["ok_since"] for h in self.probes.values()), default=0.0)
            if healthy and fault.healthy_at is None and fresh >= fault.end:
                fault.healthy_at = t
            if fault.healthy_at is not None and not (fault.caught & owed.keys()):
                fault.recovered_at = t

    def health(self) -> tuple[bool, str]:
        """Healthy: every supervised process is up, a job put on each queue now is done within PROBE_NOW seconds and
        one put there for a second later (rq's scheduler must move it) within PROBE_LATER, and the web answers."""
        layout = self.layout
        down = [p.name for p in layout.procs if not p.alive()]
        if down:
            return False, f"process down: {', '.join(down)}"
        try:
            late = self.probe()
        except Exception as exc:  # noqa: BLE001 - Redis away, among others
            return False, f"redis: {type(exc).__name__}"
        if late:
            return False, f"jobs: {', '.join(late)}"
        if self.canary is None:
            return True, ""
        try:
            response = requests.get(f"{layout.base}/api/v1/dossiers/{self.canary}", headers=layout.tokens["congdan"],
                                    timeout=5)
        except requests.RequestException:
            return False, "web: no answer"
        return (response.status_code == 200), f"web: {response.status_code}"

    def probe(self) -> list[str]:
        """Keep one probe job (os.getpid) in flight per queue, immediate and delayed; which are late."""
        from datetime import timedelta

        import redis
        from rq import Queue
        from rq.exceptions import NoSuchJobError
        from rq.job import Job, JobStatus

        connection = redis.Redis.from_url(self.layout.redis_url, socket_timeout=2)
        late = []
        t = now()
        for name in ("connectors", "notifications"):
            queue = Queue(name, connection=connection)
            for kind, limit in (("now", PROBE_NOW), ("later", PROBE_LATER)):
                held = self.probes.setdefault((name, kind), {"job": None, "ok": t, "since": t, "ok_since": 0.0})
                if held["job"] is not None:
                    try:
                        status = Job.fetch(held["job"], connection=connection).get_status()
                    except NoSuchJobError:
                        status = None  # lost with Redis's data
                    if status == JobStatus.FINISHED:
                        held["ok"], held["ok_since"], held["job"] = t, held["since"], None
                    elif status in (None, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED):
                        held["job"] = None
                if held["job"] is None:
                    job_id = f"chaos-probe-{name}-{kind}-{uuid.uuid4().hex[:8]}"
                    if kind == "now":
                        queue.enqueue("os.getpid", job_id=job_id, result_ttl=60, failure_ttl=60)
                    else:
                        queue.enqueue_in(timedelta(seconds=1), "os.getpid", job_id=job_id, result_ttl=60,
                                         failure_ttl=60)
                    held["job"], held["since"] = job_id, t
                if t - held["ok"] > limit:
                    late.append(f"{name} {'delayed ' if kind == 'later' else ''}job late")
        return late

    def owed(self) -> dict[tuple[str, int], float] | None:
        try:
            if self.conn is None or self.conn.closed:
                self.conn = self.layout.connect()
            payments = requests.get(f"{self.layout.sandbox}/_payment/payments", timeout=10).json()["payments"]
            paid = [p["ma_giao_dich"] for p in payments if p["charges"] > 0]
            rows = self.conn.execute(OWED_SQL, (paid,)).fetchall()
        except (psycopg.Error, requests.RequestException):
            self.conn = None
            return None
        return {(kind, int(row_id)): float(created) for kind, row_id, created in rows}


# ================================================================ invariants


@dataclass
class Check:
    name: str
    violations: list[str] = field(default_factory=list)
    note: str = ""
    skipped: bool = False

    def add(self, example: str) -> None:
        self.violations.append(example)


class Evidence:
    """What the checks read: the bench database (through the platform's own models) and the demo services."""

    def __init__(self, layout: Layout, outcomes: list[Outcome]) -> None:
        self.layout, self.outcomes = layout, outcomes
        get = lambda path: requests.get(f"{layout.sandbox}{path}", timeout=30).json()  # noqa: E731
        self.portal = get("/_portal")["dossiers"]
        self.platform_payments = {p["ma_giao_dich"]: p for p in get("/_payment/payments")["payments"]}
        self.mail = Counter(m["message_id"] for m in get("/_mail")["messages"])
        self.sms = Counter(m["ma_tin"] for m in get("/_sms")["messages"])
        self.incidents = self._incidents()

    def _incidents(self) -> dict[str, set[str]]:
        """Dossier codes listed as incidents, by kind, as a platform administrator sees them over the API."""
        out: dict[str, set[str]] = defaultdict(set)
        headers = self.layout.tokens[ADMIN]
        for page in range(1, 101):
            answer = requests.get(f"{self.layout.base}/api/v1/incidents", params={"page": page, "size": 100},
                                  headers=headers, timeout=30).json()
            for call in answer["items"]:
                out["calls"].add(call["dossier_code"])
            for row in answer["portal_sync"]:
                out["sync"].add(row["dossier_code"])
            for row in answer["refunds"]:
                out["refunds"].add(row["dossier_code"])
            for row in answer["workflow"]:
                out["workflow"].add(row["dossier_code"])
            if not any((answer["paging"].get(k) or {}).get("has_next") for k in answer["paging"]):
                break
        return out


def check_dossiers(ev: Evidence) -> list[Check]:
    """Every acknowledged dossier exists; each workflow document agrees with the projections read from it."""
    from sqlalchemy import select

    from app.dossiers.progress import bundle_for
    from app.engine.runtime import WorkflowRun, is_compacted
    from app.extensions import db
    from app.models import AuditEvent, Dossier, HumanTask, ServiceCall, WorkflowInstance
    from app.models.dossier import OPEN_CALL_STATES, OPEN_TASK_STATES

    missing = Check("acknowledged dossiers missing")
    inconsistent = Check("dossiers inconsistent (document vs projections)")
    with ev.layout.app.app_context():
        codes = set(db.session.scalars(select(Dossier.code)))
        for outcome in ev.outcomes:
            if outcome.code is not None and outcome.code not in codes:
                missing.add(outcome.code)
        for dossier in db.session.scalars(select(Dossier).order_by(Dossier.id)):
            problems = []
            instance = db.session.scalar(select(WorkflowInstance).where(WorkflowInstance.dossier_id == dossier.id))
            tasks = {t.engine_task_id for t in db.session.scalars(select(HumanTask).where(
                HumanTask.dossier_id == dossier.id, HumanTask.state.in_(OPEN_TASK_STATES)))}
            calls = {c.engine_task_id for c in db.session.scalars(select(ServiceCall).where(
                ServiceCall.dossier_id == dossier.id, ServiceCall.state.in_(OPEN_CALL_STATES)))}
            last = db.session.scalar(select(AuditEvent.status_to).where(
                AuditEvent.dossier_id == dossier.id, AuditEvent.status_to.is_not(None)).order_by(AuditEvent.id.desc())
                .limit(1))
            if last != dossier.status:
                problems.append(f"status {dossier.status}, history says {last}")
            if instance is None:
                problems.append("no workflow document")
            elif instance.completed or is_compacted(instance.document):
                if not (instance.completed and is_compacted(instance.document)):
                    problems.append("completed flag and document disagree")
                if dossier.status not in FINAL:
                    problems.append(f"workflow finished, dossier open at status {dossier.status}")
                if tasks or calls:
                    problems.append(f"workflow finished with {len(tasks)} open tasks, {len(calls)} open calls")
            else:
                run = WorkflowRun.load(instance.document, bundle_for(dossier.procedure_version))
                ready = {t.id for t in run.ready_user_tasks()}
                waiting = {c.id for c in run.waiting_service_calls()}
                if ready != tasks:
                    problems.append(f"ready user tasks {len(ready)} ≠ open human tasks {len(tasks)}")
                if waiting != calls:
                    problems.append(f"waiting service tasks {len(waiting)} ≠ open service calls {len(calls)}")
                if dossier.status in FINAL:
                    problems.append(f"dossier final ({dossier.status}) but its workflow still runs")
            if problems:
                inconsistent.add(f"{dossier.code}: {'; '.join(problems)}")
        db.session.remove()
    return [missing, inconsistent]


STUCK_SQL = """
SELECT d.code, d.status,
       (SELECT string_agg(c.operation || ':' || c.state, ',') FROM service_call c
         WHERE c.dossier_id = d.id AND c.state IN ('pending', 'waiting', 'failed')) AS calls,
       EXISTS (SELECT 1 FROM human_task t WHERE t.dossier_id = d.id AND t.state IN ('ready', 'claimed')) AS has_task,
       EXISTS (SELECT 1 FROM workflow_incident i WHERE i.dossier_id = d.id AND i.state = 'open') AS wf_incident,
       (SELECT string_agg(p.transaction_id || ':' || p.state, ',') FROM payment p WHERE p.dossier_id = d.id) AS pays
FROM dossier d WHERE d.status NOT IN (3, 7, 10) ORDER BY d.id
"""


def check_stuck(ev: Evidence, conn: psycopg.Connection[Any]) -> list[Check]:
    """A dossier the platform should move (an open service call, or nothing for a person to do) is stuck; each stuck
    one must be listed as an incident. A payment the payer never made waits for a person, not for the platform."""
    stuck = Check("dossiers stuck and not listed as incidents")
    listed = ev.incidents["calls"] | ev.incidents["workflow"]
    total = listed_n = 0
    for code, status, calls, has_task, wf_incident, pays in conn.execute(STUCK_SQL).fetchall():
        waiting_for_payer = False
        if calls and all(c.startswith("payment.collect:waiting") for c in calls.split(",")):
            unpaid = [t for t, _, state in (p.rpartition(":") for p in (pays or "").split(",")) if state == "pending"]
            waiting_for_payer = bool(unpaid) and all(
                ev.platform_payments.get(t, {}).get("trang_thai") == "cho_thanh_toan" for t in unpaid)
        if waiting_for_payer or (has_task and not calls and not wf_incident):
            continue
        total += 1
        if code in listed:
            listed_n += 1
        else:
            why = f"open calls {calls}" if calls else "nothing open: waits for nothing"
            stuck.add(f"{code} at status {status}: {why}")
    stuck.note = f"stuck: {total}, listed as incidents: {listed_n}"
    return [stuck]


def check_payments(ev: Evidence, conn: psycopg.Connection[Any]) -> list[Check]:
    twice = Check("payments charged more than once (not refunded)")
    not_applied = Check("paid at the platform, not applied to the dossier")
    refused_kept = Check("fee of a refused dossier not refunded")
    rows = conn.execute(
        "SELECT p.transaction_id, p.state, d.code, d.status, c.state FROM payment p "
        "JOIN dossier d ON d.id = p.dossier_id LEFT JOIN service_call c ON c.id = p.service_call_id").fetchall()
    ours = {t: (state, code, status, call) for t, state, code, status, call in rows}
    charged: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for transaction, p in ev.platform_payments.items():
        if p["charges"] > 1:
            twice.add(f"{p['ma_ho_so']}: {transaction} charged {p['charges']} times")
        if p["charges"] >= 1:
            charged[p["ma_ho_so"]].append(p)
            state, code, status, call = ours.get(transaction, (None, p["ma_ho_so"], None, None))
            if state not in ("paid", "refunded"):
                not_applied.add(f"{code}: {transaction} paid at the platform, {state} here")
            elif call in ("pending", "waiting") and status not in FINAL:
                not_applied.add(f"{code}: {transaction} paid, its payment step still {call}")
    statuses = {code: status for _, code, status, _ in ours.values()}
    for code, paid in charged.items():
        kept = [p for p in paid if p["so_tien_hoan"] < p["so_tien"]]
        if len(kept) > 1:
            twice.add(f"{code}: {len(kept)} payments kept")
        if statuses.get(code) == 3 and kept:
            refused_kept.add(f"{code}: refused, {sum(p['so_tien'] - p['so_tien_hoan'] for p in kept)} đ kept")
    twice.note = f"payments at the platform: {len(ev.platform_payments)}, charged: {sum(map(len, charged.values()))}"
    return [twice, not_applied, refused_kept]


def check_portal(ev: Evidence, conn: psycopg.Connection[Any]) -> list[Check]:
    never, behind = Check("dossiers never at the national portal"), Check("dossiers behind at the portal")
    order = Check("portal versions out of order or with gaps")
    unsent = Check("outbox rows still unsent")
    steps_missing = Check("process steps missing at the portal")
    for code, version, status in conn.execute("SELECT code, portal_version, status FROM dossier ORDER BY id"):
        held = ev.portal.get(code)
        if held is None:
            never.add(code)
            continue
        if held["applied_version"] != version or (held["current"] or {}).get("trang_thai") != status:
            behind.add(f"{code}: portal at version {held['applied_version']} "
                       f"(status {(held['current'] or {}).get('trang_thai')}), platform {version} (status {status})")
        arrived = [v for v in held["versions"]]
        firsts = list(dict.fromkeys(arrived))  # each version once, in the order it first arrived
        if held["out_of_order"] or firsts != sorted(firsts) or set(firsts) != set(range(1, max(firsts, default=0) + 1)):
            order.add(f"{code}: versions arrived {arrived}")
    for code, n in conn.execute("SELECT d.code, count(*) FROM portal_outbox o JOIN dossier d ON d.id = o.dossier_id "
                                "WHERE o.sent_at IS NULL GROUP BY d.code ORDER BY d.code"):
        unsent.add(f"{code}: {n} rows")
    steps = conn.execute("SELECT payload #>> '{ma_ho_so}', payload #>> '{buoc,ma_buoc}' FROM portal_outbox "
                         "WHERE kind = 'step'").fetchall()
    for code, step in steps:
        have = {s.get("ma_buoc") for s in (ev.portal.get(code) or {}).get("steps", [])}
        if step not in have:
            steps_missing.add(f"{code}: step {step}")
    unsent.note = f"portal dossiers: {len(ev.portal)}, steps owed: {len(steps)}"
    return [never, behind, order, unsent, steps_missing]


def check_notifications(ev: Evidence, conn: psycopg.Connection[Any]) -> list[Check]:
    missing = Check("status changes with no notification created")
    email_missing, email_twice = Check("emails missing"), Check("emails sent more than once")
    sms_missing, sms_twice = Check("SMS missing"), Check("SMS sent more than once")
    rows = conn.execute(
        "SELECT d.code, e.id, e.status_to, n.id, n.channel, n.recipient, d.applicant_phone FROM audit_event e "
        "JOIN dossier d ON d.id = e.dossier_id LEFT JOIN notification n ON n.audit_event_id = e.id "
        "WHERE e.action IN ('submitted', 'status') AND e.status_to IS NOT NULL ORDER BY e.id").fetchall()
    for code, event_id, status, note_id, channel, recipient, phone in rows:
        if note_id is None:
            missing.add(f"{code}: status {status} (event {event_id})")
            continue
        if channel == "email" and recipient:
            sent = ev.mail.get(f"<thong-bao-{note_id}@motcua>", 0)
            if sent == 0:
                email_missing.add(f"{code}: notification {note_id}")
            elif sent > 1:
                email_twice.add(f"{code}: notification {note_id} emailed {sent} times")
        if phone:
            texted = ev.sms.get(f"thong-bao-{note_id}", 0)
            if texted == 0:
                sms_missing.add(f"{code}: notification {note_id}")
            elif texted > 1:
                sms_twice.add(f"{code}: notification {note_id} texted {texted} times")
    missing.note = f"status changes: {len(rows)}, emails received: {sum(ev.mail.values())}, SMS: {sum(ev.sms.values())}"
    return [missing, email_missing, email_twice, sms_missing, sms_twice]


TIMER_SQL = """
SELECT d.id, d.code,
       (SELECT json_agg(json_build_array(extract(epoch FROM t.created_at), extract(epoch FROM t.completed_at),
                                         t.state) ORDER BY t.id)
          FROM human_task t WHERE t.dossier_id = d.id AND t.spec_name = 'Task_ThamDinh') AS exams,
       (SELECT json_agg(json_build_array(e.task_title, extract(epoch FROM e.step_due_at), extract(epoch FROM e.at))
                        ORDER BY e.id)
          FROM audit_event e WHERE e.dossier_id = d.id AND e.action = 'timer_fired') AS fired,
       (SELECT count(*) FROM audit_event e WHERE e.dossier_id = d.id AND e.action = 'timer_moved') AS moved,
       (SELECT json_agg(json_build_array(extract(epoch FROM r.requested_at), extract(epoch FROM r.answered_at))
                        ORDER BY r.id)
          FROM supplement_request r WHERE r.dossier_id = d.id) AS pauses
FROM dossier d JOIN procedure_version v ON v.id = d.procedure_version_id
WHERE v.process_id = 'dang_ky_khai_sinh' ORDER BY d.id
"""


def boundary_due(armed: float, pauses: list[list[float | None]]) -> tuple[float, bool]:
    """When the examination's boundary timer is due by the rule (app.dossiers.timers): BOUNDARY_SECONDS after it
    was armed, each desk pause that began before it was due adding its elapsed length (an unanswered one: never);
    and whether a pause began so close to a due time that the timer may rightly have fired first."""
    due, close = armed + BOUNDARY_SECONDS, False
    for asked, answered in pauses:
        if asked is None or asked < armed - TIMER_TOLERANCE:
            continue
        close |= abs(asked - due) <= TIMER_TOLERANCE
        if asked >= due:
            continue
        if answered is None:
            return float("inf"), close
        due += answered - asked
    return due, close


def check_timers(ev: Evidence, conn: psycopg.Connection[Any]) -> list[Check]:
    """Each BPMN timer fired exactly once when due, from the dossiers' histories (one `timer_fired` entry per
    firing, with its due time) against what should have fired:

    - the wait after reception: once for every dossier whose examination began (it comes only after the wait);
    - the examination's boundary timer: due BOUNDARY_SECONDS after the examination began, moved by every desk pause
      begun before then (boundary_due, an independent statement of the rule); it must have fired once if the
      examination was still open at that time, never if it was done before (within TIMER_TOLERANCE either way),
      and its recorded due time must be the model's;
    - no timer fired before its due time or twice for the same due time; none still armed and overdue."""
    once = Check("timers fired more or less than once")
    early = Check("timers fired before they were due")
    moved_wrong = Check("timers not moved by a pause as the rule says")
    counts: Counter[str] = Counter()
    for _, code, exams, fired, moved, pauses in conn.execute(TIMER_SQL).fetchall():
        exams, fired, pauses = exams or [], fired or [], pauses or []
        counts["dossiers"] += 1
        counts["timers moved"] += moved
        counts["supplement loops"] += sum(1 for _, answered in pauses if answered is not None)
        seen = Counter((title, due) for title, due, _ in fired)
        for (title, due), n in seen.items():
            if n > 1:
                once.add(f"{code}: {title} (due {due}) fired {n} times")
        for title, due, at in fired:
            if due is not None and at < due - 0.5:
                early.add(f"{code}: {title} fired {due - at:.1f} s before its due time")
        waits = [f for f in fired if f[0] == WAIT_NAME]
        counts["wait timers fired"] += len(waits)
        if len(waits) != (1 if exams else 0):
            once.add(f"{code}: the wait fired {len(waits)} times, examination {'began' if exams else 'not begun'}")
        boundaries = [f for f in fired if f[0] == BOUNDARY_NAME]
        counts["boundary timers fired"] += len(boundaries)
        for armed, completed, state in exams:
            due, close = boundary_due(armed, pauses)
            # This examination's firings: those whose due time fell within its life (a firing in the completion's
            # own step is recorded when that step's engine run ends, which may be a moment after the completion's
            # time was taken; its due time is what places it).
            mine = [f for f in boundaries if f[1] is not None and f[1] >= armed - TIMER_TOLERANCE
                    and (completed is None or f[1] <= completed + TIMER_TOLERANCE)]
            if completed is None and state != "cancelled":
                completed = time.time()
            if completed is None or close:
                expected: set[int] = {0, 1}
            elif completed > due + TIMER_TOLERANCE:
                expected = {1}
            elif completed < due - TIMER_TOLERANCE:
                expected = {0}
            else:
                expected = {0, 1}
            counts[f"boundary expected {'/'.join(map(str, sorted(expected)))}"] += 1
            if len(mine) not in expected:
                once.add(f"{code}: boundary fired {len(mine)} times, expected {sorted(expected)} (examination "
                         f"{completed - armed if completed else 0:.1f} s, due after {due - armed:.1f} s)")
            for _, fired_due, _ in mine:
                if fired_due is not None and abs(fired_due - due) > TIMER_TOLERANCE:
                    moved_wrong.add(f"{code}: boundary recorded due {fired_due - armed:.1f} s after arming, the "
                                    f"rule says {due - armed:.1f} s")
    overdue = conn.execute(
        "SELECT d.code, extract(epoch FROM now() - w.next_due_at) FROM workflow_instance w "
        "JOIN dossier d ON d.id = w.dossier_id WHERE w.next_due_at < now() - interval '120 seconds' "
        "AND d.status NOT IN (5, 8)").fetchall()
    for code, late in overdue:
        once.add(f"{code}: a timer overdue by {late:.0f} s has not fired")
    once.note = ", ".join(f"{k}: {v}" for k, v in counts.items())
    return [once, early, moved_wrong]


def check_duplicates(ev: Evidence, conn: psycopg.Connection[Any]) -> list[Check]:
    """Dossiers a retried submission created beyond the one acknowledged (the client could not tell it had worked)."""
    dup = Check("dossiers created twice by a retried submission")
    rows = conn.execute("SELECT coalesce(form_data #>> '{tre,noi_sinh}', form_data #>> '{noi_dung_de_nghi}'), code "
                        "FROM dossier ORDER BY id").fetchall()
    by_marker: dict[str, list[str]] = defaultdict(list)
    for text, code in rows:
        marker = (text or "").rpartition(" ")[2]
        by_marker[marker].append(code)
    for marker, codes in by_marker.items():
        if len(codes) > 1:
            dup.add(f"{marker}: {', '.join(codes)}")
    return [dup]


CHECKS = (check_stuck, check_payments, check_portal, check_notifications, check_timers, check_duplicates)


def run_checks(layout: Layout, outcomes: list[Outcome]) -> list[Check]:
    ev = Evidence(layout, outcomes)
    results = check_dossiers(ev)
    with layout.connect() as conn:
        for check in CHECKS:
            results.extend(check(ev, conn))
    return results


# ================================================================ the run


def settle(layout: Layout, monitor: Monitor, seconds: float) -> float | None:
    """Wait until nothing is owed for 5 s in a row (seconds taken) or `seconds` passed (None)."""
    start = now()
    quiet_since: float | None = None
    while now() - start < seconds:
        time.sleep(1.0)
        if not monitor.owed_now and monitor.healthy_samples and monitor.healthy_samples[-1][1]:
            quiet_since = quiet_since or now()
            if now() - quiet_since >= 5.0:
                return quiet_since - start
        else:
            quiet_since = None
    return None


def finish_open(layout: Layout, driver: Driver, outcomes: list[Outcome]) -> list[Outcome]:
    """Drive every dossier still open to its end (people come back to what they left), faults over."""
    with layout.connect() as conn:
        left = [r[0] for r in conn.execute("SELECT code FROM dossier WHERE status NOT IN (3, 7, 10) ORDER BY id")]
    by_code = {o.code: o for o in outcomes if o.code}
    results: list[Outcome] = []
    lock = threading.Lock()

    def work(codes: list[str]) -> None:
        client = Client(driver.stats)
        for code in codes:
            known = by_code.get(code)
            plan = known.plan if known is not None else Plan(-1, _slug_of(code), "normal", "")
            result = driver.lifecycle(client, plan, code)
            with lock:
                results.append(result)
            if known is not None:
                known.finished, known.status = result.finished, result.status

    driver.patience, driver.poll = driver.args.sweep_patience, 1.0
    n = max(driver.args.clients, 16)
    threads = [threading.Thread(target=work, args=(left[i::n],), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lifecycles", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=4, help="client threads driving lifecycles")
    parser.add_argument("--fault-rate", type=float, default=15.0, help="faults per minute")
    parser.add_argument("--kinds", nargs="+", choices=FAULT_KINDS,
                        help="fault kinds to inject (default: all that apply to the layout)")
    parser.add_argument("--duration", type=float, default=0.0,
                        help="stop starting lifecycles after this many seconds (0: when all are done)")
    parser.add_argument("--settle", type=float, default=120.0, help="seconds to wait for the platform to settle")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-faults", action="store_true", help="the control run: no fault at all")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--rq-workers", type=int, default=2)
    parser.add_argument("--extra", action="append", default=[], metavar="NAME=COMMAND",
                        help="another supervised platform process (e.g. a sweeper); its kills are kind kill_extra")
    parser.add_argument("--restart-delay", type=float, default=1.0, help="supervisor's pause before a restart")
    parser.add_argument("--pg-restart-cmd", default="",
                        help="a command restarting PostgreSQL (fast shutdown); disturbs every user of the server, "
                             "so only given on a machine of its own; enables kind pg_restart")
    parser.add_argument("--private-postgres", action="store_true",
                        help="run on a PostgreSQL server of the run's own (initdb on a free port, removed at the end), "
                             "whose fast restarts disturb nobody else; enables kind pg_restart")
    parser.add_argument("--stuck-after", type=float, default=20.0,
                        help="during the load, a client leaves a dossier that shows no progress for this long "
                             "(it is finished after the faults)")
    parser.add_argument("--sweep-patience", type=float, default=45.0,
                        help="after the faults, how long a dossier may show no progress before it is left open")
    parser.add_argument("--browser-return", type=float, default=0.3,
                        help="share of payers whose browser comes back to the platform after paying")
    parser.add_argument("--stall", type=float, default=60.0, help="SERVICE_CALL_STALL for the platform (seconds)")
    parser.add_argument("--sweep-interval", type=float, default=5.0,
                        help="SWEEP_INTERVAL for the platform (seconds): how often due timers are looked for")
    parser.add_argument("--service-call-delays", default="1,2,5")
    parser.add_argument("--payment-recheck", default="20,60,180")
    parser.add_argument("--json", type=Path, help="write the report as JSON here too")
    parser.add_argument("--keep-logs", type=Path, help="keep the processes' logs in this directory")
    parser.add_argument("--keep-db", action="store_true", help="do not drop the database at the end")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a terminated run still stops what it started

    kinds = args.kinds or [k for k in FAULT_KINDS if k not in ("kill_extra", "pg_restart")]
    if args.extra and not args.kinds:
        kinds.append("kill_extra")
    if (args.pg_restart_cmd or args.private_postgres) and not args.kinds:
        kinds.append("pg_restart")
    logs = args.keep_logs or Path(tempfile.mkdtemp(prefix="motcua-chaos-logs-"))
    logs.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    random.seed(args.seed)
    layout = Layout(args, logs)
    report: dict[str, Any] = {}
    try:
        log(f"starting the layout (logs in {logs})")
        layout.start()
        driver = Driver(layout, args)
        plans = driver.plans(args.lifecycles, rng)
        monitor_injector = None if args.no_faults else Injector(layout, random.Random(args.seed + 1), args.fault_rate,
                                                                  kinds)
        monitor = Monitor(layout, monitor_injector)
        warm = driver.run_plans(driver.plans(2, random.Random(0), "warm"))  # spec caches, connections, the PDF renderer
        monitor.canary = next((o.code for o in warm if o.code), None)
        monitor.start()
        started = now()
        stop = threading.Event()
        if args.duration:
            threading.Timer(args.duration, stop.set).start()
        if monitor_injector is not None:
            monitor_injector.start()
        log(f"driving {len(plans)} lifecycles with {args.clients} clients"
            + ("" if monitor_injector is None else f", {args.fault_rate:g} faults/min of {', '.join(kinds)}"))
        outcomes = warm + driver.run_plans(plans, stop)
        load_seconds = now() - started
        if monitor_injector is not None:
            monitor_injector.stop()
        log(f"load done in {load_seconds:.0f} s; finishing the dossiers left open")
        sweep_started = now()
        swept = finish_open(layout, driver, outcomes)
        log(f"finished {sum(1 for o in swept if o.finished)} of {len(swept)} open dossiers in "
            f"{now() - sweep_started:.0f} s; settling (up to {args.settle:.0f} s)")
        settled = settle(layout, monitor, args.settle)
        monitor.stopping.set()
        monitor.join(10)
        log("checking the invariants")
        checks = run_checks(layout, outcomes)
        report = build_report(args, kinds, layout, driver, outcomes, monitor_injector, monitor, checks,
                              load_seconds, settled, swept)
        print_report(report)
        if args.json:
            args.json.write_text(json.dumps(report, ensure_ascii=False, indent=1))
    finally:
        layout.stop(keep_db=args.keep_db)
    return 0


def _slug_of(code: str) -> str:
    return "thuong-tru" if code.startswith("000.00.02.") else "khai-sinh"


# ================================================================ the report


def build_report(args: argparse.Namespace, kinds: list[str], layout: Layout, driver: Driver, outcomes: list[Outcome],
                 injector: Injector | None, monitor: Monitor, checks: list[Check], load_seconds: float,
                 settled: float | None, swept: list[Outcome]) -> dict[str, Any]:
    faults = injector.faults if injector is not None else []
    recovery: dict[str, dict[str, Any]] = {}
    for kind in sorted({f.kind for f in faults}):
        mine = [f for f in faults if f.kind == kind]
        healthy = [f.healthy_at - f.end for f in mine if f.healthy_at is not None]
        done = [f.recovered_at - f.end for f in mine if f.recovered_at is not None]
        recovery[kind] = {"faults": len(mine), "healthy": len(healthy), "healthy_median_s": _median(healthy),
                          "healthy_max_s": _max(healthy), "recovered": len(done), "recovered_median_s": _median(done),
                          "recovered_max_s": _max(done), "caught_median": _median([len(f.caught) for f in mine])}
    unhealthy = Counter(why.split(":")[0] for _, ok, why in monitor.healthy_samples if not ok)
    return {
        "run": {"lifecycles": args.lifecycles, "clients": args.clients, "fault_rate_per_min": 0 if args.no_faults
                else args.fault_rate, "kinds": [] if args.no_faults else kinds, "seed": args.seed,
                "web_workers": args.web_workers, "rq_workers": args.rq_workers, "load_s": round(load_seconds, 1),
                "settle_limit_s": args.settle, "settled_after_s": None if settled is None else round(settled, 1)},
        "driver": {"acknowledged": sum(1 for o in outcomes if o.code), "finished_by_load":
                   sum(1 for o in outcomes if o.finished), "abandoned": Counter(o.abandoned.split(":")[0]
                                                                                 for o in outcomes if o.abandoned),
                   "finished_after_faults": sum(1 for o in swept if o.finished), "left_open_after_sweep":
                   sum(1 for o in swept if not o.finished), "unclear_submissions":
                   sum(o.unclear_submits for o in outcomes), "client_errors": dict(driver.stats)},
        "faults": dict(Counter(f.kind for f in faults)),
        "faults_not_injected": dict(injector.errors) if injector else {},
        "fault_details": [{"kind": f.kind, "detail": f.detail, "at_s": round(f.start - faults[0].start, 1),
                           "healthy_s": None if f.healthy_at is None else round(f.healthy_at - f.end, 1),
                           "recovered_s": None if f.recovered_at is None else round(f.recovered_at - f.end, 1),
                           "caught": len(f.caught)}
                          for f in faults],
        "process_exits_not_injected": dict(layout.supervisor.unexpected),
        "unhealthy_seconds_by_reason": dict(unhealthy),
        "recovery": recovery,
        "invariants": [{"name": c.name, "violations": len(c.violations), "examples": c.violations[:3],
                        "note": c.note, "skipped": c.skipped} for c in checks],
    }


def print_report(report: dict[str, Any]) -> None:
    run, drv = report["run"], report["driver"]
    print()
    settled = (f"{run['settled_after_s']} s" if run["settled_after_s"] is not None
               else f"not within {run['settle_limit_s']:.0f} s")
    print(f"lifecycles: {run['lifecycles']} ({run['clients']} clients), gunicorn {run['web_workers']} workers, "
          f"{run['rq_workers']} rq workers; load {run['load_s']} s; settled: {settled}")
    print(f"driver: {drv['acknowledged']} acknowledged, {drv['finished_by_load']} finished during the load, "
          f"{drv['finished_after_faults']} finished afterwards, {drv['left_open_after_sweep']} left open; "
          f"abandoned: {dict(drv['abandoned']) or 0}; unclear submissions: {drv['unclear_submissions']}; "
          f"client errors: {drv['client_errors'] or 0}")
    if report["faults"]:
        print()
        print("recovery after each fault: 'healthy' = processes up, a job and a delayed job run, the web answers; "
              "'work done' = healthy and the work owed when it ended (created from 10 s before it) done")
        print(f"{'fault':<16} {'injected':>8} {'healthy':>8} {'median s':>9} {'max s':>7} {'work done':>10} "
              f"{'median s':>9} {'max s':>7} {'never':>6}")
        for kind, n in sorted(report["faults"].items()):
            r = report["recovery"][kind]
            print(f"{kind:<16} {n:>8} {r['healthy']:>8} {_fmt(r['healthy_median_s']):>9} {_fmt(r['healthy_max_s']):>7} "
                  f"{r['recovered']:>10} {_fmt(r['recovered_median_s']):>9} {_fmt(r['recovered_max_s']):>7} "
                  f"{n - r['recovered']:>6}")
        print(f"{'total':<16} {sum(report['faults'].values()):>8}")
        if report["faults_not_injected"]:
            print(f"faults that could not be injected: {report['faults_not_injected']}")
        print(f"process exits nobody injected: {report['process_exits_not_injected'] or 0}; "
              f"seconds unhealthy by reason: {report['unhealthy_seconds_by_reason'] or 0}")
    print()
    print(f"{'invariant':<52} {'violations':>10}")
    for inv in report["invariants"]:
        count = "skipped" if inv["skipped"] else str(inv["violations"])
        print(f"{inv['name']:<52} {count:>10}" + (f"   ({inv['note']})" if inv["note"] else ""))
        for example in inv["examples"]:
            print(f"    e.g. {example[:150]}")
    total = sum(inv["violations"] for inv in report["invariants"])
    print(f"{'total':<52} {total:>10}")


def _median(values: list[float] | list[int]) -> float | None:
    return round(float(statistics.median(values)), 1) if values else None


def _max(values: list[float]) -> float | None:
    return round(max(values), 1) if values else None


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


if __name__ == "__main__":
    raise SystemExit(main())
