"""Every setting the platform reads from the environment, declared once with its default.

The defaults describe the embedded mode (SQLite file, in-process jobs); production sets
DATABASE_URL, REDIS_URL and SECRET_KEY.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from app.clock import DEFAULT_SERVICE_CALL_DELAYS, DEFAULT_STALL_SECONDS, DEFAULT_TIMEZONE

BASE_DIR = Path(__file__).resolve().parent.parent


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def json_text(value: Any) -> str:
    """The JSON text the database driver writes for a JSON column: `json.dumps(value)`, or the same text from a
    value that writes it itself, cheaper (a workflow document reusing the text of the entries that did not change:
    app.engine.runtime.WorkflowDocument)."""
    write = getattr(value, "__json_text__", None)
    return write() if write is not None else json.dumps(value)


class Config:
    # Signing key for sessions and CSRF tokens; the embedded default is for demos only.
    SECRET_KEY = _env("SECRET_KEY", "dev-only-change-me")
    # SQLAlchemy URL; embedded default is a SQLite file under var/.
    SQLALCHEMY_DATABASE_URI = _env("DATABASE_URL", f"sqlite:///{BASE_DIR / 'var' / 'motcua.db'}")
    # JSON columns are written by `json_text` (below): json.dumps, or the text a value writes itself.
    SQLALCHEMY_ENGINE_OPTIONS: dict[str, Any] = {"pool_pre_ping": True, "json_serializer": json_text}
    # Redis for rq queues; empty means jobs run in an in-process worker thread.
    REDIS_URL = _env("REDIS_URL", "")
    # "auto": rq when REDIS_URL is set, else an in-process thread; "record": keep jobs for tests to run.
    JOB_DISPATCH = _env("JOB_DISPATCH", "auto")
    # Embedded mode: at most this many seconds a process exiting (gunicorn after SIGTERM) spends running the jobs
    # its job thread still holds; keep gunicorn's --graceful-timeout above it.
    JOB_DRAIN_SECONDS = float(_env("JOB_DRAIN_SECONDS", "20"))
    # Where uploaded dossier files are stored (outside the web root), by content hash.
    UPLOAD_DIR = _env("UPLOAD_DIR", str(BASE_DIR / "var" / "uploads"))
    # The browser packages of package.json, installed by `npm ci` (scripts/run.sh and scripts/test.sh): the platform
    # serves the files its pages need from here (app.web.vendor; bpmn-js draws the diagrams), never from a CDN.
    NODE_MODULES = _env("NODE_MODULES", str(BASE_DIR / "node_modules"))
    # Largest accepted request body (procedure packages and eForm uploads), in bytes.
    MAX_CONTENT_LENGTH = int(_env("MAX_CONTENT_LENGTH", str(20 * 1024 * 1024)))
    # Request bodies of every other endpoint (app/web/limits.py says which gets which), in bytes.
    MAX_BODY_DEFAULT = int(_env("MAX_BODY_DEFAULT", str(256 * 1024)))
    # JSON bodies of the API (a dossier's form data, a task's form data, a refund).
    MAX_BODY_JSON = int(_env("MAX_BODY_JSON", str(1024 * 1024)))
    # Login form and the payment platform's callbacks.
    MAX_BODY_SMALL = int(_env("MAX_BODY_SMALL", str(16 * 1024)))
    # Most items a repeatable eForm group may hold when its schema declares no maxItems.
    FORM_MAX_ITEMS = int(_env("FORM_MAX_ITEMS", "100"))
    # Largest single uploaded file in an eForm, in bytes.
    MAX_UPLOAD_FILE_BYTES = int(_env("MAX_UPLOAD_FILE_BYTES", str(10 * 1024 * 1024)))
    # Largest BPMN/DMN file accepted by the parser, in bytes.
    MAX_BPMN_BYTES = int(_env("MAX_BPMN_BYTES", str(5 * 1024 * 1024)))
    # Default interface language (vi) and the ones a user can switch to.
    BABEL_DEFAULT_LOCALE = _env("BABEL_DEFAULT_LOCALE", "vi")
    BABEL_DEFAULT_TIMEZONE = _env("BABEL_DEFAULT_TIMEZONE", DEFAULT_TIMEZONE)
    LANGUAGES = ("vi", "en")
    # Local time zone in which office hours, dossier codes and deadlines are counted.
    TIMEZONE = _env("TIMEZONE", DEFAULT_TIMEZONE)
    # Procedure packages deployed at start-up by `flask procedures deploy-all` (run command).
    PROCEDURES_DIR = _env("PROCEDURES_DIR", str(BASE_DIR / "bpmn"))
    FORMS_DIR = _env("FORMS_DIR", str(BASE_DIR / "forms"))
    # Lifetime of a bearer token issued by `flask users token`, in days.
    API_TOKEN_DAYS = int(_env("API_TOKEN_DAYS", "30"))
    # Lifetime of a client-credentials token of another system (POST /oauth/token), in seconds.
    API_CLIENT_TOKEN_SECONDS = int(_env("API_CLIENT_TOKEN_SECONDS", "3600"))
    # How long the answer of an API request sent with an Idempotency-Key is kept for its retries, in hours; older
    # keys count as unused and `flask api prune` deletes them.
    IDEMPOTENCY_KEY_HOURS = float(_env("IDEMPOTENCY_KEY_HOURS", "24"))
    # National systems. Empty URL = that connector is not configured. The run command points them at the
    # demo services (sandbox/); production sets the real endpoints and secrets.
    POPULATION_URL = _env("POPULATION_URL", "")
    POPULATION_TOKEN = _env("POPULATION_TOKEN", "")
    BUSINESS_URL = _env("BUSINESS_URL", "")
    BUSINESS_TOKEN = _env("BUSINESS_TOKEN", "")
    TAX_URL = _env("TAX_URL", "")
    TAX_TOKEN = _env("TAX_TOKEN", "")
    # The social-insurance office (BHXH): health-insurance cards for children under 6 (khai sinh – thường trú – BHYT).
    SOCIAL_INSURANCE_URL = _env("SOCIAL_INSURANCE_URL", "")
    SOCIAL_INSURANCE_TOKEN = _env("SOCIAL_INSURANCE_TOKEN", "")
    PAYMENT_URL = _env("PAYMENT_URL", "")
    PAYMENT_TOKEN = _env("PAYMENT_TOKEN", "")
    # Shared secret of the payment platform's MaXacThuc signature on callbacks.
    PAYMENT_SECRET = _env("PAYMENT_SECRET", "")
    # Callbacks refused at verification are recorded (cut to 2 KB each); only this many of the newest are kept.
    PAYMENT_REFUSED_CALLBACKS_KEPT = int(_env("PAYMENT_REFUSED_CALLBACKS_KEPT", "1000"))
    # Seconds after creating a payment at which a still-pending one is re-queried (then given up on).
    PAYMENT_RECHECK = _env("PAYMENT_RECHECK", "120,600,1800,7200")
    SMS_URL = _env("SMS_URL", "")
    SMS_TOKEN = _env("SMS_TOKEN", "")
    PORTAL_URL = _env("PORTAL_URL", "")
    PORTAL_TOKEN = _env("PORTAL_TOKEN", "")
    # Sent portal-outbox rows older than this many days are deleted by `flask portal prune` (the portal has them).
    PORTAL_OUTBOX_KEEP_DAYS = int(_env("PORTAL_OUTBOX_KEEP_DAYS", "30"))
    # Pauses (seconds) before the 2nd, 3rd, … attempt of a service call or portal sync after a transient error.
    SERVICE_CALL_DELAYS = _env("SERVICE_CALL_DELAYS", DEFAULT_SERVICE_CALL_DELAYS)
    # Seconds after which a pending call with no attempt made or due counts as stalled (its job was lost).
    SERVICE_CALL_STALL = float(_env("SERVICE_CALL_STALL", str(DEFAULT_STALL_SECONDS)))
    # Seconds one attempt of a service call may run; past it its worker counts as dead and the call is retried.
    # Keep it above CONNECTOR_TIMEOUT × CONNECTOR_ATTEMPTS plus their pauses.
    SERVICE_CALL_LEASE = float(_env("SERVICE_CALL_LEASE", "120"))
    # The sweeper (app.jobs.sweeper): every SWEEP_INTERVAL seconds, in each `flask worker` (one at a time) or in
    # the embedded job thread, it re-enqueues work the database says is due for more than SWEEP_GRACE seconds
    # whose job never ran (lost after commit, with Redis, or with its worker): at most SWEEP_BATCH per kind.
    # SWEEP_INTERVAL 0 turns the periodic sweep off (`flask sweep` still runs one).
    SWEEP_INTERVAL = float(_env("SWEEP_INTERVAL", "10"))
    SWEEP_GRACE = float(_env("SWEEP_GRACE", "30"))
    SWEEP_BATCH = int(_env("SWEEP_BATCH", "500"))
    # Platform deadlines (app.dossiers.watch): an open step due within this many WORKING hours (the agency's
    # calendar) warns the officer holding it, or those who may take it, once per step and deadline.
    DEADLINE_WARNING_HOURS = float(_env("DEADLINE_WARNING_HOURS", "4"))
    # Workflows each process keeps alive between steps (app.engine.live): at most this many, and this many tasks
    # together (a task holds 1-10 KB in memory with its data and text, measured: khai sinh ~1.5 KB, a 300-item
    # multi-instance task ~5 KB, so the default stays under ~50 MB a process); 0 runs turns keeping off.
    WORKFLOW_CACHE_SIZE = int(_env("WORKFLOW_CACHE_SIZE", "500"))
    WORKFLOW_CACHE_TASKS = int(_env("WORKFLOW_CACHE_TASKS", "10000"))
    # Script tasks and pre/post scripts (app.engine.scripts): each runs in a forked child of a warm sandbox process,
    # within this much CPU time, wall-clock time, memory added to the child's own, and size of what it hands back.
    SCRIPT_CPU_SECONDS = float(_env("SCRIPT_CPU_SECONDS", "1"))
    SCRIPT_WALL_SECONDS = float(_env("SCRIPT_WALL_SECONDS", "3"))
    SCRIPT_MEMORY_MB = int(_env("SCRIPT_MEMORY_MB", "256"))
    SCRIPT_OUTPUT_BYTES = int(_env("SCRIPT_OUTPUT_BYTES", str(256 * 1024)))
    # The platform's own feedback procedure (phản ánh, kiến nghị: bpmn/phan-anh-kien-nghi), linked from the catalogue.
    FEEDBACK_PROCEDURE_CODE = _env("FEEDBACK_PROCEDURE_CODE", "9.000165")
    # Where citizens' browsers and the payment platform's callbacks reach this platform.
    PUBLIC_URL = _env("PUBLIC_URL", "http://127.0.0.1:5000")
    # Outgoing email to applicants (status notifications); empty host = messages stay on the dossier page.
    SMTP_HOST = _env("SMTP_HOST", "")
    SMTP_PORT = int(_env("SMTP_PORT", "25"))
    MAIL_SENDER = _env("MAIL_SENDER", "motcua@localhost")
    # Per call: seconds before a request counts as timed out, and tries (the first included).
    CONNECTOR_TIMEOUT = float(_env("CONNECTOR_TIMEOUT", "5"))
    CONNECTOR_ATTEMPTS = int(_env("CONNECTOR_ATTEMPTS", "3"))
    # Prefill happens while a person waits for the page: one try, short timeout, then an empty form.
    PREFILL_TIMEOUT = float(_env("PREFILL_TIMEOUT", "2"))
    # Rate limits (Flask-Limiter syntax, ";" between several). Counters in Redis when REDIS_URL is set.
    RATELIMIT_ENABLED = _env("RATELIMIT_ENABLED", "1").lower() not in ("0", "false", "no", "off")
    # Where the counters live; empty = REDIS_URL, or process memory in the embedded mode.
    RATELIMIT_STORAGE_URI = _env("RATELIMIT_STORAGE_URI", "")
    # Login attempts from one address; failed logins for one user name from one address; failed logins for one
    # user name from anywhere (looser, so a guesser cannot lock the owner out cheaply). Then 429 for the window.
    RATELIMIT_LOGIN_IP = _env("RATELIMIT_LOGIN_IP", "30 per minute;300 per hour")
    RATELIMIT_LOGIN_USER = _env("RATELIMIT_LOGIN_USER", "5 per minute;20 per hour")
    RATELIMIT_LOGIN_ACCOUNT = _env("RATELIMIT_LOGIN_ACCOUNT", "100 per hour")
    # Form posts that submit or complete (web and API together), per user.
    RATELIMIT_SUBMIT = _env("RATELIMIT_SUBMIT", "60 per minute;600 per hour")
    # File and package uploads, per user.
    RATELIMIT_UPLOAD = _env("RATELIMIT_UPLOAD", "30 per minute;300 per hour")
    # Public status look-ups (page and API together), per address.
    RATELIMIT_LOOKUP = _env("RATELIMIT_LOOKUP", "20 per minute;200 per hour")
    # Payment callbacks and returns, per address.
    RATELIMIT_CALLBACK = _env("RATELIMIT_CALLBACK", "600 per minute")
    # Operations (app.monitoring, docs/operations.md). GET /metrics answers only with `Authorization: Bearer
    # <METRICS_TOKEN>` when it is set (empty: open; then keep /metrics off the public proxy).
    METRICS_TOKEN = _env("METRICS_TOKEN", "")
    # Dossiers by status are counted (one GROUP BY over every dossier) at most once per this many seconds per
    # process; scrapes in between get the last count. 0 counts on every scrape.
    METRICS_DOSSIER_STATUS_SECONDS = float(_env("METRICS_DOSSIER_STATUS_SECONDS", "60"))
    # GET /readyz: each check's time limit (seconds); what answers 503 when it fails (comma-separated, among
    # database, job_thread, redis, workers, scheduler, sweeper, national_services; any other failed check only makes
    # the answer "degraded", still 200).
    READYZ_TIMEOUT = float(_env("READYZ_TIMEOUT", "2"))
    READYZ_CRITICAL = _env("READYZ_CRITICAL", "database,job_thread")
    # An rq worker counts as alive while its last heartbeat is this recent; the sweeper as running while its last
    # pass is (default: 3 × SWEEP_INTERVAL, at least 60 s).
    READYZ_WORKER_HEARTBEAT = float(_env("READYZ_WORKER_HEARTBEAT", "120"))
    READYZ_SWEEP_AGE = float(_env("READYZ_SWEEP_AGE", "0"))
    # Origins (space-separated) forms may post to besides this site and the payment platform's URL (CSP).
    CSP_FORM_ACTION = _env("CSP_FORM_ACTION", "")
    # Behind a reverse proxy: how many proxies set X-Forwarded-For/-Proto (0 = none; werkzeug ProxyFix).
    PROXY_FIX_HOPS = int(_env("PROXY_FIX_HOPS", "0"))
    # Single sign-on: the national identity provider (OpenID Connect, authorization code with PKCE). The embedded
    # default is the demo provider of the demo national services (scripts/run.sh starts them on :8090); production
    # sets the real issuer and the client registered there. Empty OIDC_ISSUER turns single sign-on off.
    OIDC_ISSUER = _env("OIDC_ISSUER", "http://127.0.0.1:8090/vneid")
    OIDC_CLIENT_ID = _env("OIDC_CLIENT_ID", "motcua")
    OIDC_CLIENT_SECRET = _env("OIDC_CLIENT_SECRET", "motcua-demo-secret")
    OIDC_SCOPE = _env("OIDC_SCOPE", "openid profile vneid")
    # The audience the provider's access tokens must name to be accepted by the API (empty: OIDC_CLIENT_ID).
    OIDC_API_AUDIENCE = _env("OIDC_API_AUDIENCE", "")
    # Seconds a call to the provider may take, and how long its published keys (JWKS) are kept between fetches.
    OIDC_TIMEOUT = float(_env("OIDC_TIMEOUT", "5"))
    # After the provider failed to answer a login's first request, logins are told at once that it cannot be reached
    # for this many seconds, instead of each holding a web thread for OIDC_TIMEOUT (0: try every time).
    OIDC_RETRY_SECONDS = float(_env("OIDC_RETRY_SECONDS", "30"))
    OIDC_JWKS_SECONDS = float(_env("OIDC_JWKS_SECONDS", "300"))
    # Passwords are for the break-glass administrator only: on (the default), a password login of anyone without
    # the administrator role is refused and people log in through the identity provider. "0" lets every account
    # with a password in (the test suite's demo logins).
    PASSWORD_LOGIN_ADMIN_ONLY = _env("PASSWORD_LOGIN_ADMIN_ONLY", "1").lower() not in ("0", "false", "no", "off")
    # A login lasts until logout, a password change, or this many days (sessions are stored server-side).
    SESSION_MAX_AGE_DAYS = float(_env("SESSION_MAX_AGE_DAYS", "30"))
    WTF_CSRF_TIME_LIMIT = None
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    # Secure is added per request when it came over HTTPS or PUBLIC_URL is https (app/web/sessions.py).
    REMEMBER_COOKIE_HTTPONLY = True
    TESTING = False
