"""due times and leases for every side effect, so a sweeper can find from the database alone what is owed
and re-enqueue it: service_call.lease_until (an attempt in progress), payment.next_check_at (the next
re-query of a pending payment), refund.next_attempt_at (when the sweeper may ask again for a refund still
pending), notification.attempts/next_attempt_at (a delivery retry) and
audit_event.notified_at (a status change whose notification is handled), with partial indexes on what is
still owed

Revision ID: 0014_due_times
Revises: 0013_idempotency
Create Date: 2026-11-30 16:50:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0014_due_times'
down_revision = '0013_idempotency'
branch_labels = None
depends_on = None

_UNNOTIFIED = "status_to IS NOT NULL AND notified_at IS NULL"
_PENDING = "state = 'pending'"


def upgrade():
    with op.batch_alter_table('service_call', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_check_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('refund', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attempts', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('notified_at', sa.DateTime(timezone=True), nullable=True))
    # What happened before the sweeper existed counts as handled: only new status changes are owed.
    op.execute("UPDATE audit_event SET notified_at = at WHERE status_to IS NOT NULL")
    op.create_index('ix_audit_event_unnotified', 'audit_event', ['id'],
                    postgresql_where=sa.text(_UNNOTIFIED), sqlite_where=sa.text(_UNNOTIFIED))
    op.create_index('ix_payment_next_check', 'payment', ['next_check_at'],
                    postgresql_where=sa.text(_PENDING), sqlite_where=sa.text(_PENDING))


def downgrade():
    op.drop_index('ix_payment_next_check', table_name='payment')
    op.drop_index('ix_audit_event_unnotified', table_name='audit_event')
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_column('notified_at')
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_column('next_attempt_at')
        batch_op.drop_column('attempts')
    with op.batch_alter_table('refund', schema=None) as batch_op:
        batch_op.drop_column('next_attempt_at')
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.drop_column('next_check_at')
    with op.batch_alter_table('service_call', schema=None) as batch_op:
        batch_op.drop_column('lease_until')
