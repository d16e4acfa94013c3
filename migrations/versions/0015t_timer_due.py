"""workflow_instance.next_due_at: when the earliest armed BPMN timer of a dossier's workflow is due, kept by every
save of the workflow, with a partial index on the workflows that wait on time (the timer host picks from it)

Revision ID: 0015t_timer_due
Revises: 0015d_issued_documents
Create Date: 2026-11-30 19:50:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0015t_timer_due'
down_revision = '0015d_issued_documents'
branch_labels = None
depends_on = None

_ARMED = "next_due_at IS NOT NULL"


def upgrade():
    with op.batch_alter_table('workflow_instance', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_due_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index('ix_workflow_instance_next_due', 'workflow_instance', ['next_due_at'],
                    postgresql_where=sa.text(_ARMED), sqlite_where=sa.text(_ARMED))


def downgrade():
    op.drop_index('ix_workflow_instance_next_due', table_name='workflow_instance')
    with op.batch_alter_table('workflow_instance', schema=None) as batch_op:
        batch_op.drop_column('next_due_at')
