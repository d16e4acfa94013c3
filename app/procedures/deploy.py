"""Deploying a checked package: versions are immutable; changed content becomes version N+1."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_babel import gettext
from sqlalchemy import func, select

from app.engine.analysis import Problem
from app.extensions import db
from app.models import Agency, Procedure, ProcedureVersion
from app.procedures import schedules
from app.procedures.package import PackageFiles, PackageReport, check_package, task_table
from app.procedures.versions import package_sources


def _pool_agencies(manifest: dict[str, Any], report: PackageReport) -> dict[str, int]:
    """The agencies an inter-agency procedure's pools name (procedure.json `participants`), by code; DeployRefused
    when one is not declared on the platform."""
    codes = sorted(set((manifest.get("participants") or {}).values()))
    if not codes:
        return {}
    found = {a.code: a.id for a in db.session.scalars(select(Agency).where(Agency.code.in_(codes)))}
    for pool, code in (manifest.get("participants") or {}).items():
        if code not in found:
            report.problems.append(Problem(
                "procedure.json", None, "/participants/" + pool.replace("~", "~0").replace("/", "~1"),
                "agency_unknown", gettext("Cơ quan có mã định danh «%(agency)s» chưa được khai báo trên hệ thống.",
                                          agency=code)))
    if len(found) < len(codes):
        raise DeployRefused(report)
    return found


class DeployRefused(Exception):
    """The package was not deployed; `report.problems` lists every reason."""

    def __init__(self, report: PackageReport) -> None:
        super().__init__("package has problems")
        self.report = report


@dataclass
class DeployResult:
    procedure: Procedure
    version: ProcedureVersion
    created: bool  # False when identical content was already deployed
    report: PackageReport


def deploy(pkg: PackageFiles, deployed_by: str = "", *, agency_id: int | None = None) -> DeployResult:
    """Check then deploy in the caller's transaction (the caller commits). `agency_id`: the deploying designer's
    agency, whose procedures alone they may deploy (None: a designer of every agency)."""
    report = check_package(pkg)
    if not report.ok or report.manifest is None or report.analysis is None:
        raise DeployRefused(report)
    manifest = report.manifest
    agency = db.session.scalar(select(Agency).where(Agency.code == manifest["agency"]))
    if agency is None:
        problem = Problem("procedure.json", None, "/agency", "agency_unknown",
                          gettext("Cơ quan có mã định danh «%(agency)s» chưa được khai báo trên hệ thống.",
                                  agency=manifest["agency"]))
        report.problems.append(problem)
        raise DeployRefused(report)
    procedure = db.session.scalar(select(Procedure).where(Procedure.code == manifest["code"]).with_for_update())
    owner = procedure.agency_id if procedure is not None else agency.id
    if agency_id is not None and (agency.id != agency_id or owner != agency_id):
        report.problems.append(Problem(
            "procedure.json", None, "/agency", "agency_not_yours",
            gettext("Bạn thiết kế thủ tục cho cơ quan của mình; thủ tục %(code)s thuộc cơ quan %(agency)s nên bạn "
                    "không triển khai được. Hãy nhờ người thiết kế của cơ quan đó.",
                    code=manifest["code"], agency=procedure.agency.name if procedure is not None else agency.name)))
        raise DeployRefused(report)
    process_id = report.analysis.process_id
    assert process_id is not None  # a deployable analysis always chose one
    tasks = task_table(report.analysis, manifest)
    pool_agencies = _pool_agencies(manifest, report)

    if procedure is None:
        procedure = Procedure(code=manifest["code"], slug=pkg.slug, name=manifest["name"], agency=agency)
        db.session.add(procedure)
        db.session.flush()
    content_hash = pkg.content_hash()
    existing = db.session.scalar(
        select(ProcedureVersion).where(
            ProcedureVersion.procedure_id == procedure.id, ProcedureVersion.content_hash == content_hash
        )
    )
    if existing is not None:
        return DeployResult(procedure, existing, created=False, report=report)
    last = db.session.scalar(
        select(func.max(ProcedureVersion.version)).where(ProcedureVersion.procedure_id == procedure.id)
    )
    version = ProcedureVersion(
        procedure_id=procedure.id,
        version=(last or 0) + 1,
        content_hash=content_hash,
        process_id=process_id,
        manifest=manifest,
        bpmn_files={name: data.decode("utf-8") for name, data in pkg.bpmn.items()},
        forms=report.forms,
        tasks={name: {**info, "agency_id": pool_agencies.get(info.get("agency") or "")} if "agency" in info else info
               for name, info in tasks.items()},
        deployed_by=deployed_by,
        source_files=package_sources(pkg),  # the files as uploaded: a download re-deploys to the same hash
    )
    db.session.add(version)
    db.session.flush()
    procedure.name = manifest["name"]
    procedure.agency = agency
    procedure.slug = pkg.slug
    procedure.current_version_id = version.id
    schedules.arm(version)  # a periodic procedure (timer start event): its next start
    return DeployResult(procedure, version, created=True, report=report)
