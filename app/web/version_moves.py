"""Moving a version's running dossiers, for the studio and the API: each dossier in a transaction of its own.

A dossier that moved is committed before the next one is tried; one that cannot move, or fails (changed meanwhile,
a database error), is rolled back alone and listed with its reason (app.dossiers.version_moves)."""

from __future__ import annotations

from app import audit
from app.dossiers import version_moves
from app.dossiers.errors import ServiceError
from app.dossiers.version_moves import MovePlan
from app.engine.migration import Obstacle
from app.extensions import db
from app.models import Dossier, ProcedureVersion, User


def move_all(source: ProcedureVersion, target: ProcedureVersion, user: User) -> list[MovePlan]:
    version_moves.check_pair(source, target)
    source_id, target_id, user_id = source.id, target.id, user.id
    done: list[MovePlan] = []
    for dossier_id in version_moves.running_ids(source):
        source_row = db.session.get(ProcedureVersion, source_id)
        target_row = db.session.get(ProcedureVersion, target_id)
        mover = db.session.get(User, user_id)
        assert source_row is not None and target_row is not None and mover is not None
        try:
            item = version_moves.move_dossier(dossier_id, source_row, target_row, mover)
            moved = db.session.get(Dossier, dossier_id)
            assert moved is not None
            audit.record_for_dossier(audit.MOVED, moved, actor=mover, object_kind="dossier",
                                     detail={"from": source_row.version, "to": target_row.version})
            db.session.commit()
        except ServiceError as exc:
            db.session.rollback()
            dossier = db.session.get(Dossier, dossier_id)
            item = MovePlan(dossier_id, dossier.code if dossier else "", dossier.status_label if dossier else "", [],
                            obstacles=[Obstacle(exc.code, exc.message)])
        done.append(item)
    return done
