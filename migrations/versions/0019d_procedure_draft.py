"""procedure_draft: procedure packages being edited in the studio's modeller

Revision ID: 0019d_procedure_draft
Revises: 0018p_procedure_schedule
Create Date: 2026-12-01 01:10:00

"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0019d_procedure_draft'
down_revision = '0018p_procedure_schedule'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'procedure_draft',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('code', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=500), nullable=False),
        sa.Column('slug', sa.String(length=100), nullable=False),
        sa.Column('files', sa.JSON().with_variant(postgresql.JSON(astext_type=sa.Text()), 'postgresql'),
                  nullable=False),
        sa.Column('revision', sa.Integer(), nullable=False),
        sa.Column('base_version_id', sa.Integer(), nullable=True),
        sa.Column('deployed_version_id', sa.Integer(), nullable=True),
        sa.Column('created_by', sa.String(length=80), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_by', sa.String(length=80), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('deployed_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['base_version_id'], ['procedure_version.id']),
        sa.ForeignKeyConstraint(['deployed_version_id'], ['procedure_version.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('procedure_draft', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_procedure_draft_code'), ['code'], unique=False)


def downgrade():
    with op.batch_alter_table('procedure_draft', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_procedure_draft_code'))
    op.drop_table('procedure_draft')
