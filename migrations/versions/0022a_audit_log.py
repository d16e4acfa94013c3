"""audit_log and audit_chain: the security audit log, append-only (a trigger refuses UPDATE and DELETE) and chained
by hash per agency (app.audit)

Revision ID: 0022a_audit_log
Revises: 0022s_single_sign_on
Create Date: 2026-12-01 02:10:00

"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0022a_audit_log'
down_revision = '0022s_single_sign_on'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'audit_chain',
        sa.Column('chain', sa.String(length=40), nullable=False),
        sa.Column('seq', sa.BigInteger(), nullable=False),
        sa.Column('hash', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('chain'),
    )
    op.create_table(
        'audit_log',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('chain', sa.String(length=40), nullable=False),
        sa.Column('seq', sa.BigInteger(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('actor_id', sa.Integer(), nullable=True),
        sa.Column('actor_name', sa.String(length=255), nullable=False),
        sa.Column('actor_agency', sa.String(length=255), nullable=False),
        sa.Column('actor_role', sa.String(length=255), nullable=False),
        sa.Column('ip', sa.String(length=64), nullable=False),
        sa.Column('action', sa.String(length=40), nullable=False),
        sa.Column('object_kind', sa.String(length=40), nullable=False),
        sa.Column('object_ref', sa.String(length=255), nullable=False),
        sa.Column('reason', sa.String(length=500), nullable=False),
        sa.Column('subject', sa.String(length=40), nullable=True),
        sa.Column('dossier_id', sa.Integer(), nullable=True),
        sa.Column('detail', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'),
                  nullable=True),
        sa.Column('prev_hash', sa.String(length=64), nullable=False),
        sa.Column('hash', sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(['actor_id'], ['app_user.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('chain', 'seq'),
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_log_subject', ['subject'], unique=False)
        batch_op.create_index('ix_audit_log_dossier', ['dossier_id'], unique=False)
    # Append-only: the platform never changes nor deletes a row. Whoever can bypass this (the table's owner) is
    # what the hash chain is for.
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
                   "BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$")
        op.execute("CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
                   "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()")
        op.execute("CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
                   "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()")
    else:
        for verb in ('UPDATE', 'DELETE'):
            op.execute(f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
                       "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END")


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_dossier')
        batch_op.drop_index('ix_audit_log_subject')
    op.drop_table('audit_log')
    op.drop_table('audit_chain')
