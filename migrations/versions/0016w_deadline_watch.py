"""platform deadlines: deadline_notice (a warning before a step is due, an escalation when a step or a dossier is
overdue: once per subject and due time, by its unique indexes), human_task.warned_due_at (the deadline its
officers were warned of, for the inbox) and dossier.appointment_at (the appointment an apology moved; due_at stays
the statutory deadline)

Revision ID: 0016w_deadline_watch
Revises: 0016l_leave_lateness
Create Date: 2026-11-30 22:30:00

"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0016w_deadline_watch'
down_revision = '0016l_leave_lateness'
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
_TASK = "human_task_id IS NOT NULL"
_DOSSIER = "human_task_id IS NULL"
_UNSENT = "sent_at IS NULL"


def upgrade():
    with op.batch_alter_table('dossier', schema=None) as batch_op:
        batch_op.add_column(sa.Column('appointment_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.add_column(sa.Column('warned_due_at', sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        'deadline_notice',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('dossier_id', sa.Integer(), nullable=False),
        sa.Column('human_task_id', sa.Integer(), nullable=True),
        sa.Column('agency_id', sa.Integer(), nullable=False),
        sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('recipients', _JSON, nullable=False),
        sa.Column('emailed', _JSON, nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['dossier_id'], ['dossier.id']),
        sa.ForeignKeyConstraint(['human_task_id'], ['human_task.id']),
        sa.ForeignKeyConstraint(['agency_id'], ['agency.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_deadline_notice_dossier_id', 'deadline_notice', ['dossier_id'])
    op.create_index('ix_deadline_notice_human_task_id', 'deadline_notice', ['human_task_id'])
    op.create_index('ux_deadline_notice_task', 'deadline_notice', ['kind', 'human_task_id', 'due_at'], unique=True,
                    postgresql_where=sa.text(_TASK), sqlite_where=sa.text(_TASK))
    op.create_index('ux_deadline_notice_dossier', 'deadline_notice', ['kind', 'dossier_id', 'due_at'], unique=True,
                    postgresql_where=sa.text(_DOSSIER), sqlite_where=sa.text(_DOSSIER))
    op.create_index('ix_deadline_notice_unsent', 'deadline_notice', ['id'],
                    postgresql_where=sa.text(_UNSENT), sqlite_where=sa.text(_UNSENT))


def downgrade():
    op.drop_index('ix_deadline_notice_unsent', table_name='deadline_notice')
    op.drop_index('ux_deadline_notice_dossier', table_name='deadline_notice')
    op.drop_index('ux_deadline_notice_task', table_name='deadline_notice')
    op.drop_index('ix_deadline_notice_human_task_id', table_name='deadline_notice')
    op.drop_index('ix_deadline_notice_dossier_id', table_name='deadline_notice')
    op.drop_table('deadline_notice')
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.drop_column('warned_due_at')
    with op.batch_alter_table('dossier', schema=None) as batch_op:
        batch_op.drop_column('appointment_at')
