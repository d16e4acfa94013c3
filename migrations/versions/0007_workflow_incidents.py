"""workflow incidents: engine errors that stopped a dossier's workflow, for operators to retry

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 12:05:00

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('workflow_incident',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dossier_id', sa.Integer(), nullable=False),
    sa.Column('engine_task_id', sa.String(length=36), nullable=False),
    sa.Column('spec_name', sa.String(length=255), nullable=False),
    sa.Column('task_title', sa.String(length=500), nullable=False),
    sa.Column('code', sa.String(length=80), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['dossier_id'], ['dossier.id'], ),
    sa.ForeignKeyConstraint(['resolved_by_id'], ['app_user.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('workflow_incident', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_workflow_incident_dossier_id'), ['dossier_id'], unique=False)
        batch_op.create_index('ix_workflow_incident_state', ['state', 'dossier_id'], unique=False)


def downgrade():
    with op.batch_alter_table('workflow_incident', schema=None) as batch_op:
        batch_op.drop_index('ix_workflow_incident_state')
        batch_op.drop_index(batch_op.f('ix_workflow_incident_dossier_id'))

    op.drop_table('workflow_incident')
