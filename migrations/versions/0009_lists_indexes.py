"""list indexes: open human tasks by agency and role, one applicant's dossiers, a procedure's open dossiers,
the unsent portal outbox (partial) and its sent rows by date (pruning)

Revision ID: 0009_lists
Revises: 0008
Create Date: 2026-11-30 14:05:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0009_lists'
down_revision = '0008'
branch_labels = None
depends_on = None

OPEN_TASK = "state IN ('ready', 'claimed')"
OPEN_DOSSIER = "status NOT IN (3, 7, 10)"
UNSENT = "sent_at IS NULL"


def _where(condition):
    return {"postgresql_where": sa.text(condition), "sqlite_where": sa.text(condition)}


def upgrade():
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.drop_index('ix_human_task_inbox')
        batch_op.create_index('ix_human_task_open', ['agency_id', 'role', 'due_at', 'id'], unique=False,
                              **_where(OPEN_TASK))
    with op.batch_alter_table('dossier', schema=None) as batch_op:
        batch_op.drop_index('ix_dossier_applicant_user_id')
        batch_op.create_index('ix_dossier_applicant_submitted', ['applicant_user_id', 'submitted_at', 'id'],
                              unique=False)
        batch_op.create_index('ix_dossier_open_version_submitted', ['procedure_version_id', 'submitted_at', 'id'],
                              unique=False, **_where(OPEN_DOSSIER))
    with op.batch_alter_table('portal_outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_portal_outbox_pending')
        batch_op.create_index('ix_portal_outbox_unsent', ['dossier_id', 'id'], unique=False, **_where(UNSENT))
        batch_op.create_index('ix_portal_outbox_sent_at', ['sent_at'], unique=False)


def downgrade():
    with op.batch_alter_table('portal_outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_portal_outbox_sent_at')
        batch_op.drop_index('ix_portal_outbox_unsent')
        batch_op.create_index('ix_portal_outbox_pending', ['dossier_id', 'sent_at', 'id'], unique=False)
    with op.batch_alter_table('dossier', schema=None) as batch_op:
        batch_op.drop_index('ix_dossier_open_version_submitted')
        batch_op.drop_index('ix_dossier_applicant_submitted')
        batch_op.create_index('ix_dossier_applicant_user_id', ['applicant_user_id'], unique=False)
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.drop_index('ix_human_task_open')
        batch_op.create_index('ix_human_task_inbox', ['agency_id', 'role', 'state', 'due_at'], unique=False)
