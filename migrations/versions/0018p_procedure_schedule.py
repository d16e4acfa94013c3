"""procedure_schedule: when a periodic procedure (a timer start event) starts its next dossier

Revision ID: 0018p_procedure_schedule
Revises: 0017m_version_retire_sources
Create Date: 2026-11-30 23:50:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0018p_procedure_schedule'
down_revision = '0017m_version_retire_sources'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'procedure_schedule',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('procedure_id', sa.Integer(), nullable=False),
        sa.Column('procedure_version_id', sa.Integer(), nullable=False),
        sa.Column('timer_kind', sa.String(length=16), nullable=False),
        sa.Column('timer_value', sa.Text(), nullable=False),
        sa.Column('anchor_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('next_due_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_occurrence_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_dossier_id', sa.Integer(), nullable=True),
        sa.Column('started', sa.Integer(), server_default='0', nullable=False),
        sa.Column('missed', sa.Integer(), server_default='0', nullable=False),
        sa.Column('armed_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['procedure_id'], ['procedure.id']),
        sa.ForeignKeyConstraint(['procedure_version_id'], ['procedure_version.id']),
        sa.ForeignKeyConstraint(['last_dossier_id'], ['dossier.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('procedure_id'),
    )
    with op.batch_alter_table('procedure_schedule', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_procedure_schedule_next_due_at'), ['next_due_at'], unique=False)


def downgrade():
    with op.batch_alter_table('procedure_schedule', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_procedure_schedule_next_due_at'))
    op.drop_table('procedure_schedule')
