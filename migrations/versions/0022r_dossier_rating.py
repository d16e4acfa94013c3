"""dossier_rating: the applicant's rating of how the dossier was handled, once per dossier, online or at the desk

Revision ID: 0022r_dossier_rating
Revises: 0021k_message_key
Create Date: 2026-12-01 02:20:00

"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0022r_dossier_rating'
down_revision = '0021k_message_key'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'dossier_rating',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('dossier_id', sa.Integer(), nullable=False),
        sa.Column('agency_id', sa.Integer(), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('answers', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'),
                  nullable=False),
        sa.Column('comment', sa.Text(), nullable=False),
        sa.Column('rated_by_id', sa.Integer(), nullable=True),
        sa.Column('recorded_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['dossier_id'], ['dossier.id']),
        sa.ForeignKeyConstraint(['agency_id'], ['agency.id']),
        sa.ForeignKeyConstraint(['rated_by_id'], ['app_user.id']),
        sa.ForeignKeyConstraint(['recorded_by_id'], ['app_user.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('dossier_id'),
    )
    with op.batch_alter_table('dossier_rating', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dossier_rating_agency_id'), ['agency_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_dossier_rating_created_at'), ['created_at'], unique=False)


def downgrade():
    op.drop_table('dossier_rating')
