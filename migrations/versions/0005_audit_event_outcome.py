"""audit event outcome: the decision a step was completed with (e.g. a leader's return)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 11:20:00

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('outcome', sa.String(length=255), server_default='', nullable=False))


def downgrade():
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_column('outcome')
