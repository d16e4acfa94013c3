"""portal_outbox.lease_until: the sending job's time-bounded hold on a dossier's next row. The advisory lock per
dossier lives on a database connection; when that connection dies (a terminated backend, a PostgreSQL restart)
the lock is gone while its job is still sending, and a second job could send the same row and the ones behind
it, so that the first job's late retry reached the portal after newer versions. The lease is kept in the row and
runs out only after the longest send can have ended.

Revision ID: 0015_outbox_lease
Revises: 0014_due_times
Create Date: 2026-11-30 20:15:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0015_outbox_lease'
down_revision = '0014_due_times'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('portal_outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('portal_outbox', schema=None) as batch_op:
        batch_op.drop_column('lease_until')
