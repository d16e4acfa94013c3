"""Flask CLI: `flask procedures …`, `flask users …`, `flask seed`, `flask worker`, `flask sweep`, `flask portal …`,
`flask api …`, `flask api-clients …`, `flask uploads …`, `flask audit verify`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import select

from app.extensions import db


def _print_report(report: object, label: str) -> None:
    from app.procedures.package import PackageReport

    assert isinstance(report, PackageReport)
    verdict_text = {"deployable": "có thể triển khai", "not_executable": "không thực thi được",
                    "invalid": "không hợp lệ"}[report.verdict]
    click.echo(f"{label}: {verdict_text} ({report.verdict})")
    if report.analysis is not None and report.analysis.verdict != "deployable":
        click.echo(f"  {report.analysis.reason}")
    for p in report.problems:
        where = p.file + (f":{p.line}" if p.line else "") + (f"#{p.pointer}" if p.pointer else "")
        click.echo(f"  [{p.severity}] {where}: {p.message} ({p.code})")


def _in_batches(prune: Callable[[datetime], int], cutoff: datetime) -> int:
    """Run a retention batch (rows older than `cutoff`) and commit, until one deletes nothing; the total."""
    total = 0
    while batch := prune(cutoff):
        db.session.commit()
        total += batch
    return total


def register_cli(app: Flask) -> None:
    procedures = AppGroup("procedures", help="Kiểm tra và triển khai gói thủ tục.")

    @procedures.command("check")
    @click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
    def check(paths: tuple[Path, ...]) -> None:
        """Validate packages (folders, zips) or single BPMN files without deploying."""
        from app.engine.analysis import analyze_bpmn
        from app.procedures.package import check_package, load_directory

        failed = False
        for path in paths:
            if path.is_file() and path.suffix in (".bpmn", ".xml"):
                analysis = analyze_bpmn({path.name: path.read_bytes()})
                click.echo(f"{path}: {analysis.verdict} — {analysis.reason}")
                for p in analysis.problems:
                    click.echo(f"  [{p.severity}] {p.file}:{p.line or '-'}: {p.message} ({p.code})")
                failed |= analysis.verdict != "deployable"
                continue
            report = check_package(load_directory(path))
            _print_report(report, str(path))
            failed |= not report.ok
        sys.exit(1 if failed else 0)

    @procedures.command("deploy")
    @click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
    @click.option("--all", "deploy_all", is_flag=True, help="Triển khai mọi gói trong thư mục bpmn/.")
    def deploy_cmd(paths: tuple[Path, ...], deploy_all: bool) -> None:
        """Deploy packages; identical content is not deployed twice."""
        from app import audit
        from app.procedures.deploy import DeployRefused, deploy
        from app.procedures.package import load_directory

        targets = list(paths)
        if deploy_all:
            root = Path(current_app.config["PROCEDURES_DIR"])
            targets += sorted(p for p in root.iterdir() if p.is_dir() and (p / "procedure.json").exists())
        if not targets:
            raise click.UsageError("Chỉ ra đường dẫn gói thủ tục hoặc dùng --all.")
        failed = False
        for path in targets:
            try:
                result = deploy(load_directory(path), deployed_by="cli")
                audit.record(audit.DEPLOYED, agency=result.procedure.agency, object_kind="procedure_version",
                             object_ref=f"{result.procedure.code}@{result.version.version}",
                             reason="flask procedures deploy",
                             detail={"content_hash": result.version.content_hash, "created": result.created})
                db.session.commit()
            except DeployRefused as exc:
                db.session.rollback()
                _print_report(exc.report, str(path))
                failed = True
                continue
            state = "phiên bản mới" if result.created else "không đổi"
            click.echo(f"{path}: {result.procedure.code} {result.procedure.name} — v{result.version.version} ({state})")
        sys.exit(1 if failed else 0)

    app.cli.add_command(procedures)

    users = AppGroup("users", help="Người dùng và mã truy cập API.")

    @users.command("token")
    @click.argument("username")
    def token(username: str) -> None:
        """Print a new bearer token for USERNAME."""
        from app import audit
        from app.accounts import issue_token
        from app.models import User

        user = db.session.scalar(select(User).where(User.username == username))
        if user is None:
            raise click.ClickException(f"Không có người dùng «{username}».")
        value = issue_token(user, current_app.config["API_TOKEN_DAYS"])
        audit.record(audit.TOKEN_ISSUED, agency=user.agency, object_kind="user", object_ref=user.username,
                     reason="flask users token", detail={"days": current_app.config["API_TOKEN_DAYS"]})
        db.session.commit()
        click.echo(value)

    @users.command("password")
    @click.argument("username")
    @click.password_option(prompt="Mật khẩu mới")
    def password(username: str, password: str) -> None:
        """Set USERNAME's password; every session and API token of that user ends."""
        from app.accounts import MIN_PASSWORD_LENGTH, change_password
        from app.models import User

        user = db.session.scalar(select(User).where(User.username == username))
        if user is None:
            raise click.ClickException(f"Không có người dùng «{username}».")
        if len(password) < MIN_PASSWORD_LENGTH:
            raise click.ClickException(f"Mật khẩu cần ít nhất {MIN_PASSWORD_LENGTH} ký tự.")
        change_password(user, password)
        db.session.commit()
        click.echo(f"Đã đổi mật khẩu của «{username}»; các phiên đăng nhập và mã truy cập API của người này "
                   "đã hết hiệu lực.")

    app.cli.add_command(users)

    agencies = AppGroup("agencies", help="Cơ quan: nạp cây đơn vị hành chính.")

    @agencies.command("load")
    def agencies_load() -> None:
        """Create the People's Committee of every province and commune (vietnam-provinces, the units in force
        since 1/7/2025) as agencies; idempotent. Derived identifiers are provisional until an administrator
        confirms them in the administration area."""
        from app.administration.units import load_units

        report = load_units()
        db.session.commit()
        click.echo(f"Đơn vị hành chính: {report.provinces} tỉnh/thành phố, {report.communes} xã/phường; "
                   f"tạo mới {report.created} cơ quan, gắn {report.attached} cơ quan có sẵn vào tỉnh.")
        if report.clashes:
            click.echo(f"Mã định danh dự kiến đã bị cơ quan khác dùng, cần quản trị xử lý: {', '.join(report.clashes)}")

    app.cli.add_command(agencies)

    @app.cli.command("seed")
    def seed() -> None:
        """Create the demo agencies and users (idempotent)."""
        from app.seed import DEMO_PASSWORD, seed_demo

        rows = seed_demo()
        db.session.commit()
        click.echo(f"Tài khoản demo (mật khẩu: {DEMO_PASSWORD}):")
        for username, full_name, roles in rows:
            click.echo(f"  {username:<12} {full_name:<22} {roles}")

    @app.cli.command("worker")
    @click.option("--burst", is_flag=True, help="Chạy hết hàng đợi rồi dừng.")
    @click.option("--queue", "queues", multiple=True,
                  help="Chỉ phục vụ hàng đợi này (lặp lại được); mặc định: connectors và notifications.")
    def worker(burst: bool, queues: tuple[str, ...]) -> None:
        """Run an rq worker (needs REDIS_URL); each job runs in an app context of its own. Its loop also runs the
        sweeper every SWEEP_INTERVAL seconds and restarts rq's scheduler at once when it died.

        SIGTERM (or Ctrl+C) stops it gently: the job it is running finishes, queued jobs stay in Redis for the
        next worker, its scheduler lets go of the queues; a second signal stops it at once."""
        from redis import Redis

        from app.jobs import sweeper
        from app.jobs.queue import QUEUES, app_worker

        url = current_app.config["REDIS_URL"]
        if not url:
            raise click.ClickException(
                "REDIS_URL chưa được đặt; chế độ nhúng chạy công việc ngay trong tiến trình web."
            )
        app_ = current_app._get_current_object()  # type: ignore[attr-defined]
        interval = float(current_app.config["SWEEP_INTERVAL"])
        worker = app_worker(app_, list(queues or QUEUES), Redis.from_url(url),
                            periodic=(lambda: sweeper.tick(app_)) if interval > 0 else None, interval=interval or 10.0)
        worker.work(burst=burst, with_scheduler=True)

    @app.cli.command("sweep")
    def sweep() -> None:
        """Re-enqueue, once, every side effect the database says is due whose job was lost (the workers and the
        embedded job thread do this every SWEEP_INTERVAL seconds)."""
        from app.jobs import sweeper

        counts = sweeper.sweep()
        click.echo("Đã xếp hàng lại: " + ", ".join(f"{name} {n}" for name, n in counts.items()) if counts
                   else "Một tiến trình khác đang quét; không làm gì.")

    portal = AppGroup("portal", help="Đồng bộ hồ sơ lên Cổng Dịch vụ công quốc gia.")

    @portal.command("resend")
    def portal_resend() -> None:
        """Re-queue every dossier with updates not yet accepted by the national portal (after an outage,
        a lost job or a fixed refusal); without Redis they are sent right here."""
        from app.dossiers.portal_sync import configured, pending_summary, resend
        from app.jobs.portal import sync_dossier
        from app.jobs.queue import ThreadDispatcher

        if not configured():
            raise click.ClickException("Chưa cấu hình kết nối Cổng Dịch vụ công quốc gia (PORTAL_URL, PORTAL_TOKEN); "
                                       f"đang chờ gửi: {pending_summary()['unsent']} bản ghi.")
        # Embedded mode's worker thread would die with this command: send in this process instead.
        inline = isinstance(current_app.extensions.get("motcua_jobs"), ThreadDispatcher)
        ids = resend(enqueue=not inline)
        db.session.commit()
        for dossier_id in ids if inline else []:
            click.echo(f"  hồ sơ #{dossier_id}: {sync_dossier(dossier_id)}")
        summary = pending_summary()
        click.echo(f"{'Đã gửi lại' if inline else 'Đã xếp hàng gửi lại'} {len(ids)} hồ sơ; còn chờ: "
                   f"{summary['unsent']} bản ghi của {summary['dossiers']} hồ sơ "
                   f"(bị từ chối: {summary['refused']}, đang thử lại: {summary['retrying']}).")

    @portal.command("prune")
    @click.option("--days", type=int, default=None, help="Giữ bản ghi đã gửi trong số ngày này "
                  "(mặc định PORTAL_OUTBOX_KEEP_DAYS).")
    def portal_prune(days: int | None) -> None:
        """Delete outbox rows the portal accepted more than N days ago (unsent rows are never deleted)."""
        from app.dossiers.retention import outbox_cutoff, prune_sent_outbox

        keep = current_app.config["PORTAL_OUTBOX_KEEP_DAYS"] if days is None else days
        cutoff = outbox_cutoff(keep)
        total = _in_batches(prune_sent_outbox, cutoff)
        click.echo(f"Đã xóa {total} bản ghi đã gửi trước {cutoff:%Y-%m-%d %H:%M} UTC.")

    app.cli.add_command(portal)

    clients = AppGroup("api-clients", help="Hệ thống khác gọi API bằng client credentials (OAuth 2).")

    @clients.command("create")
    @click.argument("name")
    @click.option("--scope", "scopes", multiple=True, default=("api:read",), show_default=True,
                  help="api:read (GET), api:write (mọi phương thức); lặp lại để cấp nhiều quyền.")
    @click.option("--agency", "agency_code", default=None, help="Mã định danh cơ quan mà hệ thống thay mặt.")
    @click.option("--role", "roles", multiple=True, help="Vai trò của tài khoản dịch vụ (như một cán bộ).")
    def create_client(name: str, scopes: tuple[str, ...], agency_code: str | None, roles: tuple[str, ...]) -> None:
        """Issue a client: its id and secret are printed once (only the secret's hash is kept)."""
        from app.administration.services import issue_api_client
        from app.dossiers.errors import Invalid

        try:
            client, secret = issue_api_client(None, name, list(scopes), agency_code or "", list(roles))
        except Invalid as exc:
            raise click.UsageError(" ".join(str(v) for v in (exc.details or {}).values()) or exc.message) from None
        db.session.commit()
        click.echo(f"client_id={client.client_id}")
        click.echo(f"client_secret={secret}")
        click.echo(f"scope={' '.join(client.scopes)}")

    @clients.command("list")
    def list_clients() -> None:
        """Every client, live or revoked."""
        from app.models import ApiClient

        for client in db.session.scalars(select(ApiClient).order_by(ApiClient.id)):
            state = f"thu hồi {client.revoked_at.isoformat()}" if client.revoked_at else "đang hoạt động"
            click.echo(f"{client.client_id}\t{client.name}\t{' '.join(client.scopes)}\t{state}")

    @clients.command("revoke")
    @click.argument("client_id")
    def revoke_client(client_id: str) -> None:
        """Revoke a client: its tokens stop at once."""
        from app.accounts import api_client
        from app.administration.services import revoke_api_client

        client = api_client(client_id)
        if client is None:
            raise click.UsageError(f"Không có client đang hoạt động {client_id}.")
        revoke_api_client(None, client)
        db.session.commit()
        click.echo(f"Đã thu hồi {client_id}.")

    app.cli.add_command(clients)

    api = AppGroup("api", help="API JSON (khóa Idempotency-Key).")

    @api.command("prune")
    @click.option("--hours", type=float, default=None, help="Giữ khóa trong số giờ này "
                  "(mặc định IDEMPOTENCY_KEY_HOURS).")
    def api_prune(hours: float | None) -> None:
        """Delete stored Idempotency-Key answers older than N hours (their retries are no longer honoured)."""
        from app.dossiers.retention import idempotency_cutoff, prune_idempotency_keys

        keep = current_app.config["IDEMPOTENCY_KEY_HOURS"] if hours is None else hours
        cutoff = idempotency_cutoff(keep)
        total = _in_batches(prune_idempotency_keys, cutoff)
        click.echo(f"Đã xóa {total} khóa Idempotency-Key tạo trước {cutoff:%Y-%m-%d %H:%M} UTC.")

    app.cli.add_command(api)

    uploads = AppGroup("uploads", help="Tệp đính kèm đã tải lên.")

    @uploads.command("settle")
    @click.option("--hours", type=float, default=1.0, help="Chỉ xét tệp tạm cũ hơn số giờ này (mặc định 1).")
    def uploads_settle(hours: float) -> None:
        """Finish what processes killed mid-request left in UPLOAD_DIR/.staging: a file a saved attachment names
        is moved into place, any other is deleted."""
        from app.dossiers.attachments import settle_staged

        moved, deleted = settle_staged(older_than_seconds=hours * 3600)
        click.echo(f"Đã chuyển {moved} tệp vào chỗ, xóa {deleted} tệp tạm bỏ dở.")

    app.cli.add_command(uploads)

    audit = AppGroup("audit", help="Nhật ký kiểm toán (chuỗi băm theo cơ quan).")

    @audit.command("verify")
    @click.option("--agency", "agency_code", default=None, help="Chỉ kiểm tra chuỗi của cơ quan có mã này "
                  "(«platform»: chuỗi của nền tảng).")
    def audit_verify(agency_code: str | None) -> None:
        """Walk each agency's audit chain (or one) and say OK, or the first row where it breaks; exit 1 on a break.
        The head hash printed for each chain can be kept outside the database to check against later."""
        from app import audit as audit_log

        reports = audit_log.verify(agency_code)
        if not reports:
            click.echo("Chưa có nhật ký kiểm toán nào.")
        broken = False
        for r in reports:
            if r.ok:
                click.echo(f"{r.chain}: OK — {r.rows} bản ghi, đầu chuỗi #{r.head_seq} {r.head_hash}")
                continue
            broken = True
            where = f"bản ghi id={r.broken_id} (số thứ tự {r.broken_seq})" if r.broken_id is not None else "đầu chuỗi"
            click.echo(f"{r.chain}: HỎNG tại {where}: {r.kind} — {r.message}", err=False)
        if broken:
            sys.exit(1)

    app.cli.add_command(audit)
