"""the desk: supplement requests (with the deadline the sweeper reads), and human tasks unique per engine task
among OPEN tasks only — a return to an earlier step (the engine's reset) makes that step's engine task ready
again under the same id, next to its completed row

Revision ID: 0015k_desk
Revises: 0015_outbox_lease
Create Date: 2026-11-30 19:40:00

"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0015k_desk'
down_revision = '0015_outbox_lease'
branch_labels = None
depends_on = None

_OPEN_TASK = "state IN ('ready', 'claimed')"
_OPEN_SUPPLEMENT = "state = 'open'"
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade():
    op.create_table(
        'supplement_request',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('dossier_id', sa.Integer(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('requested_by_id', sa.Integer(), nullable=True),
        sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('components', _JSON, nullable=False),
        sa.Column('deadline_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('status_before', sa.SmallInteger(), nullable=False),
        sa.Column('due_before', sa.DateTime(timezone=True), nullable=False),
        sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('answered_by_id', sa.Integer(), nullable=True),
        sa.Column('answered_channel', sa.String(length=16), nullable=False),
        sa.Column('received', _JSON, nullable=True),
        sa.Column('answer_note', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['dossier_id'], ['dossier.id']),
        sa.ForeignKeyConstraint(['requested_by_id'], ['app_user.id']),
        sa.ForeignKeyConstraint(['answered_by_id'], ['app_user.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_supplement_request_dossier_id', 'supplement_request', ['dossier_id'])
    op.create_index('ix_supplement_request_open_deadline', 'supplement_request', ['deadline_at'],
                    postgresql_where=sa.text(_OPEN_SUPPLEMENT), sqlite_where=sa.text(_OPEN_SUPPLEMENT))
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_constraint('human_task_engine_task_id_key', 'human_task', type_='unique')
    else:  # SQLite: the constraint has no name of its own; the batch copy names it to drop it
        with op.batch_alter_table('human_task', naming_convention={"uq": "uq_%(table_name)s_%(column_0_name)s"}) \
                as batch_op:
            batch_op.drop_constraint('uq_human_task_engine_task_id', type_='unique')
    op.create_index('ix_human_task_engine_task', 'human_task', ['engine_task_id'])
    op.create_index('ix_human_task_open_engine_task', 'human_task', ['engine_task_id'], unique=True,
                    postgresql_where=sa.text(_OPEN_TASK), sqlite_where=sa.text(_OPEN_TASK))


def downgrade():
    op.drop_index('ix_human_task_open_engine_task', table_name='human_task')
    op.drop_index('ix_human_task_engine_task', table_name='human_task')
    with op.batch_alter_table('human_task') as batch_op:
        batch_op.create_unique_constraint('human_task_engine_task_id_key', ['engine_task_id'])
    op.drop_index('ix_supplement_request_open_deadline', table_name='supplement_request')
    op.drop_index('ix_supplement_request_dossier_id', table_name='supplement_request')
    op.drop_table('supplement_request')
