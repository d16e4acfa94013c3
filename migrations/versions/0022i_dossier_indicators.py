"""dossier.finished_verdict and dossier.withdrawn_at, for the statistics (QĐ 766 indicators): how a handled dossier
finished against its statutory date, by local date, and when it was withdrawn, each set once when it happens; the
dossiers finished or withdrawn before this migration get theirs from what they hold

Revision ID: 0022i_dossier_indicators
Revises: 0022r_dossier_rating
Create Date: 2026-12-01 02:30:00

"""
from datetime import timezone
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0022i_dossier_indicators'
down_revision = '0022r_dossier_rating'
branch_labels = None
depends_on = None

VN = ZoneInfo("Asia/Ho_Chi_Minh")


def _day(value):
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(VN).date()


def upgrade():
    with op.batch_alter_table('dossier', schema=None) as batch_op:
        batch_op.add_column(sa.Column('finished_verdict', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True))
    bind = op.get_bind()
    dossier = sa.table('dossier', sa.column('id', sa.Integer), sa.column('status', sa.SmallInteger),
                       sa.column('due_at', sa.DateTime(timezone=True)),
                       sa.column('finished_at', sa.DateTime(timezone=True)),
                       sa.column('finished_verdict', sa.String))
    rows = bind.execute(sa.select(dossier.c.id, dossier.c.due_at, dossier.c.finished_at)
                        .where(dossier.c.status.in_((9, 10)), dossier.c.finished_at.is_not(None))).all()
    for row_id, due_at, finished_at in rows:
        due, done = _day(due_at), _day(finished_at)
        verdict = 'truoc_han' if done < due else 'dung_han' if done == due else 'qua_han'
        bind.execute(dossier.update().where(dossier.c.id == row_id).values(finished_verdict=verdict))
    audit = sa.table('audit_event', sa.column('dossier_id', sa.Integer), sa.column('status_to', sa.SmallInteger),
                     sa.column('at', sa.DateTime(timezone=True)))
    withdrawn = bind.execute(sa.select(audit.c.dossier_id, sa.func.min(audit.c.at)).where(audit.c.status_to == 7)
                             .group_by(audit.c.dossier_id)).all()
    dossier_w = sa.table('dossier', sa.column('id', sa.Integer), sa.column('withdrawn_at', sa.DateTime(timezone=True)))
    for dossier_id, at in withdrawn:
        bind.execute(dossier_w.update().where(dossier_w.c.id == dossier_id).values(withdrawn_at=at))


def downgrade():
    with op.batch_alter_table('dossier', schema=None) as batch_op:
        batch_op.drop_column('withdrawn_at')
        batch_op.drop_column('finished_verdict')
