"""the citizen's personal document store: results and digitized components of earlier dossiers, each with its kind,
source dossier, agency, validity and revocation; an attachment taken from the store names the row it came from,
and its dossier keeps where each taken file came from (dossier.reused_documents)

Revision ID: 0023p_personal_documents
Revises: 0022a_audit_log
Create Date: 2026-12-01 02:45:00

"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')

# revision identifiers, used by Alembic.
revision = '0023p_personal_documents'
down_revision = '0022a_audit_log'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'personal_document',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('owner_id', sa.Integer(), nullable=False),
        sa.Column('origin', sa.String(length=16), nullable=False),
        sa.Column('kind', sa.String(length=64), nullable=True),
        sa.Column('title', sa.String(length=500), nullable=False),
        sa.Column('component_code', sa.String(length=40), nullable=True),
        sa.Column('dossier_id', sa.Integer(), nullable=False),
        sa.Column('agency_id', sa.Integer(), nullable=False),
        sa.Column('attachment_id', sa.Integer(), nullable=False),
        sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('valid_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('revoked_reason', sa.Text(), nullable=False),
        sa.Column('revoked_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['owner_id'], ['app_user.id']),
        sa.ForeignKeyConstraint(['dossier_id'], ['dossier.id']),
        sa.ForeignKeyConstraint(['agency_id'], ['agency.id']),
        sa.ForeignKeyConstraint(['attachment_id'], ['attachment.id']),
        sa.ForeignKeyConstraint(['revoked_by_id'], ['app_user.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('attachment_id'),
    )
    with op.batch_alter_table('personal_document', schema=None) as batch_op:
        batch_op.create_index('ix_personal_document_owner_id', ['owner_id'], unique=False)
        batch_op.create_index('ix_personal_document_dossier_id', ['dossier_id'], unique=False)
        batch_op.create_index('ix_personal_document_owner_kind', ['owner_id', 'kind'], unique=False)
    with op.batch_alter_table('attachment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reused_from_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_attachment_reused_from_id', 'personal_document', ['reused_from_id'], ['id'])
    with op.batch_alter_table('dossier', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reused_documents', JSON_DOC, nullable=True))


def downgrade():
    with op.batch_alter_table('dossier', schema=None) as batch_op:
        batch_op.drop_column('reused_documents')
    with op.batch_alter_table('attachment', schema=None) as batch_op:
        batch_op.drop_constraint('fk_attachment_reused_from_id', type_='foreignkey')
        batch_op.drop_column('reused_from_id')
    op.drop_table('personal_document')
